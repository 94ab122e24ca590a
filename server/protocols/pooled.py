"""Generalisation across hospitals (`pooled`) and its centralised upper bound (`centralized`).

`pooled`: every hospital trains on its training split in every round, aggregated by the strategy.
`centralized` (simulation only): one process trains the same model for the same epochs on the union of all
hospitals' training splits. Both are evaluated identically: each hospital scores the model on its
validation split every `evaluate-every` rounds and after the last, and on its test split at the end;
metrics are reported per hospital and for the pool, at the pool's own Youden point and at the threshold
transferred from the pooled validation data.
"""

from __future__ import annotations

from typing import Any

from server.evaluation import headline_auroc, stored_histograms, subgroup_table, summarise
from server.experiment import Experiment, arrays_from_numpy, arrays_to_numpy
from server.lead_importance import lead_importance_table
from server.strategies import build_strategy


def run_pooled(experiment: Experiment, state: dict[str, Any], centralized: bool) -> dict[str, Any]:
    """Run (or resume) the rounds; returns the `rounds` and `metrics` parts of results.json."""
    config, federation = experiment.config, experiment.federation
    hospitals = federation.hospitals
    if "arrays" not in state:
        state.update(
            round=0,
            arrays=arrays_to_numpy(experiment.initial_model("pooled", hospitals)),
            strategy=build_strategy(config, len(hospitals)),
            rounds=[],
        )
    arrays = arrays_from_numpy(state["arrays"])
    for server_round in range(state["round"] + 1, config.rounds + 1):
        instructions: dict[str, str | int | bool] = {
            "server-round": server_round,
            "planned-rounds": config.rounds,
        }
        if centralized:
            # The centralised baseline is one node training on everyone's data, through the same ClientApp.
            trainer = hospitals[0]
            updated, train = federation.train_each(
                {trainer: arrays}, {**instructions, "pooled": True}, config.max_update_norm
            )
            arrays = updated.get(trainer, arrays)
        else:
            new_arrays, train = federation.train_round(
                state["strategy"], server_round, arrays, hospitals, instructions, config.max_update_norm
            )
            arrays = new_arrays if new_arrays is not None else arrays
        validation = None
        if config.validates_after(server_round):
            validation = federation.evaluate(arrays, dict.fromkeys(hospitals, "val"), instructions)
            state["validation"] = validation.metrics  # the last round always validates: test transfers it
        record = experiment.round_record(server_round, train, validation)
        record["pooled_validation_auroc"] = (
            None if validation is None else headline_auroc(validation.metrics, config.tasks[0])
        )
        state["rounds"].append(record)
        state.update(round=server_round, arrays=arrays_to_numpy(arrays))
        experiment.checkpoints.save(state)  # saved before announced: a kill after the event can resume it
        experiment.progress.emit(
            "round",
            round=server_round,
            rounds=config.rounds,
            pooled_validation_auroc=record["pooled_validation_auroc"],
        )
    experiment.save_model("final", arrays)
    test = federation.evaluate(
        arrays, dict.fromkeys(hospitals, "test"), experiment.final_evaluation({"server-round": config.rounds})
    )
    return {
        "rounds": state["rounds"],
        "metrics": _metrics(experiment, test.metrics, state["validation"], test.failed),
    }


def _metrics(
    experiment: Experiment, test: dict[str, Any], validation: dict[str, Any], failed: dict[str, str]
) -> dict[str, Any]:
    tasks = experiment.config.tasks
    metrics = {
        "pooled": summarise(test, tasks, transfer_from=validation),
        "per_hospital": {h: summarise({h: m}, tasks, transfer_from=validation) for h, m in test.items()},
        "histograms": {
            "pooled": stored_histograms(test, tasks),
            "per_hospital": {h: stored_histograms({h: m}, tasks) for h, m in test.items()},
        },
        "subgroups": subgroup_table(test, tasks),
        "evaluation_failed": failed,
    }
    if experiment.config.lead_importance:
        metrics["lead_importance"] = lead_importance_table(test, tasks)
    return metrics
