"""The local-only baseline: each hospital trains a model on its own data alone, nothing is aggregated.

Each model is then scored everywhere: on its own hospital's test split (the diagonal of the cross-site
matrix) and on all the data of every other hospital. The threshold transferred to other hospitals is the
Youden point of the model's own validation split, as a hospital deploying its own model would choose it.
"""

from __future__ import annotations

from typing import Any

from server.evaluation import stored_histograms, subgroup_table, summarise
from server.experiment import Experiment, arrays_from_numpy, arrays_to_numpy
from server.lead_importance import lead_importance_table


def run_local(experiment: Experiment, state: dict[str, Any]) -> dict[str, Any]:
    """Run (or resume) local training and the cross-site evaluation."""
    config, federation = experiment.config, experiment.federation
    hospitals = federation.hospitals
    if "models" not in state:
        initial = {h: arrays_to_numpy(experiment.initial_model(f"local-{h}", [h])) for h in hospitals}
        state.update(round=0, models=initial, rounds=[])
    models = {h: arrays_from_numpy(values) for h, values in state["models"].items()}
    for server_round in range(state["round"] + 1, config.rounds + 1):
        instructions = {"server-round": server_round, "planned-rounds": config.rounds}
        updated, train = federation.train_each(models, instructions, config.max_update_norm)
        models.update(updated)
        state["rounds"].append(experiment.round_record(server_round, train, None))
        state.update(round=server_round, models={h: arrays_to_numpy(a) for h, a in models.items()})
        experiment.checkpoints.save(state)  # saved before announced: a kill after the event can resume it
        experiment.progress.emit("round", round=server_round, rounds=config.rounds)

    tasks = config.tasks
    cross_site: dict[str, dict[str, Any]] = {}
    per_hospital, off_site_reports = {}, {}
    per_hospital_histograms, own_site_reports = {}, {}
    instructions = {"server-round": config.rounds}
    for owner, arrays in models.items():
        experiment.save_model(f"local-{owner}", arrays)
        own_validation = federation.evaluate(arrays, {owner: "val"}, instructions).metrics
        splits = {h: ("test" if h == owner else "all") for h in hospitals}
        reports = federation.evaluate(arrays, splits, experiment.final_evaluation(instructions)).metrics
        cross_site[owner] = {
            h: summarise({h: m}, tasks, transfer_from=own_validation) for h, m in reports.items()
        }
        if owner in reports:
            per_hospital[owner] = cross_site[owner][owner]
            per_hospital_histograms[owner] = stored_histograms({owner: reports[owner]}, tasks)
            own_site_reports[owner] = reports[owner]
        off_site_reports.update({f"{owner}->{h}": m for h, m in reports.items() if h != owner})
    metrics = {
        # "pooled" here is every model scored at the hospitals that did not train it.
        "pooled": summarise(off_site_reports, tasks),
        "per_hospital": per_hospital,
        "histograms": {
            "pooled": stored_histograms(off_site_reports, tasks),
            "per_hospital": per_hospital_histograms,
        },
        "cross_site": cross_site,
        "subgroups": subgroup_table(off_site_reports, tasks),
    }
    if config.lead_importance:
        # Each hospital's own model on its own test split: what a hospital's model learned to look at.
        metrics["lead_importance"] = lead_importance_table(own_site_reports, tasks)
    return {"rounds": state["rounds"], "metrics": metrics}
