"""Leave-one-hospital-out: for each hospital, train on all the others and evaluate where it never trained.

Each fold starts from a fresh model. Every round is a train round on the training hospitals only; every
`evaluate-every` rounds and after the last it is followed by a held-out evaluation round: the held-out
hospital scores the new global model on all its data and the training hospitals score it on their
validation split. The held-out hospital never receives a train message in its fold (invariant 2; its node
refuses one anyway).
"""

from __future__ import annotations

from typing import Any

from server.evaluation import headline_auroc, stored_histograms, subgroup_table, summarise
from server.experiment import Experiment, arrays_from_numpy, arrays_to_numpy
from server.lead_importance import combine_lead_importance, lead_importance_table
from server.strategies import build_strategy


def run_loho(experiment: Experiment, state: dict[str, Any]) -> dict[str, Any]:
    """Run (or resume) every fold; returns the `folds` part of results.json."""
    config, federation = experiment.config, experiment.federation
    state.setdefault("folds", [])
    done = {fold["held_out"] for fold in state["folds"]}
    for held_out in federation.hospitals:
        if held_out in done:
            continue
        trainers = [h for h in federation.hospitals if h != held_out]
        current = state.get("current")
        if current is None or current["held_out"] != held_out:
            current = {
                "held_out": held_out,
                "round": 0,
                "arrays": arrays_to_numpy(experiment.initial_model(held_out, trainers)),
                "strategy": build_strategy(config, len(trainers)),
                "rounds": [],
            }
        arrays = arrays_from_numpy(current["arrays"])
        for server_round in range(current["round"] + 1, config.rounds + 1):
            # A hospital trains in every fold but its own; it sizes its DP noise for all of them.
            planned = (len(federation.hospitals) - 1) * config.rounds
            instructions = {"held-out": held_out, "server-round": server_round, "planned-rounds": planned}
            new_arrays, train = federation.train_round(
                current["strategy"], server_round, arrays, trainers, instructions, config.max_update_norm
            )
            arrays = new_arrays if new_arrays is not None else arrays
            splits = {held_out: "all", **{h: "val" for h in trainers}}
            final = server_round == config.rounds
            evaluation = None
            if config.validates_after(server_round):  # always true for the final round
                evaluation = federation.evaluate(
                    arrays, splits, experiment.final_evaluation(instructions) if final else instructions
                )
            record = experiment.round_record(server_round, train, evaluation)
            held_out_report = {
                h: m for h, m in (evaluation.metrics if evaluation else {}).items() if h == held_out
            }
            record["held_out_auroc"] = (
                headline_auroc(held_out_report, config.tasks[0]) if held_out_report else None
            )
            current.update(round=server_round, arrays=arrays_to_numpy(arrays))
            current["rounds"].append(record)
            if final:
                experiment.save_model(held_out, arrays)
                state["folds"].append(
                    _fold_result(experiment, held_out, trainers, current["rounds"], evaluation)
                )
                state["current"] = None
            else:
                state["current"] = current
            experiment.checkpoints.save(state)  # saved before announced: a kill after an event can resume it
            experiment.progress.emit(
                "round",
                fold=held_out,
                round=server_round,
                rounds=config.rounds,
                held_out_auroc=record["held_out_auroc"],
            )
            if final:
                experiment.progress.emit("fold", fold=held_out, held_out_auroc=record["held_out_auroc"])
    outcome: dict[str, Any] = {"folds": state["folds"]}
    if config.lead_importance:
        # Every hospital's data counted once, each scored by the model of the fold that never trained on it.
        tables = (fold.get("lead_importance", {}) for fold in state["folds"])
        outcome["lead_importance"] = combine_lead_importance(tables)
    return outcome


def _fold_result(
    experiment: Experiment, held_out: str, trainers: list[str], rounds: list[dict[str, Any]], evaluation: Any
) -> dict[str, Any]:
    """The fold's entry: held-out metrics with the training pool's Youden threshold transferred."""
    tasks = experiment.config.tasks
    held_out_report = {h: m for h, m in evaluation.metrics.items() if h == held_out}
    validation = {h: m for h, m in evaluation.metrics.items() if h in trainers}
    return {
        "held_out": held_out,
        "trained_on": trainers,
        "rounds": rounds,
        "held_out_metrics": summarise(held_out_report, tasks, transfer_from=validation),
        "held_out_histograms": stored_histograms(held_out_report, tasks),
        "validation_metrics": summarise(validation, tasks),
        "subgroups": subgroup_table(held_out_report, tasks),
        "held_out_failed": evaluation.failed.get(held_out),
        "lead_importance": lead_importance_table(held_out_report, tasks),
    }
