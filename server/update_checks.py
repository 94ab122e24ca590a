"""What a hospital's reply means before any of it is used: a failure, a refusal, a misfit update, or fine.

Invariant 4: a malformed update (missing or extra arrays, wrong shapes, NaN/Inf, an absurd norm, no example
count) is rejected with the reason, never averaged.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from flwr.app import ArrayRecord, Message, RecordDict

from shared import contract

#: How a reply that cannot be used is recorded in a round's report.
Problem = tuple[Literal["failed", "refused", "rejected"], str]


def reply_problem(
    reply: Message | None, sent: ArrayRecord | None = None, max_update_norm: float = 0.0
) -> Problem | None:
    """Why `reply` cannot be used, or None. `sent` (train replies): the model the update must fit."""
    if reply is None:
        return "failed", "no reply"
    if reply.has_error():
        return "failed", str(reply.error.reason)
    if (reason := refusal_reason(reply)) is not None:
        return "refused", reason
    if sent is not None and (problem := update_problem(reply.content, sent, max_update_norm)) is not None:
        return "rejected", problem
    return None


def refusal_reason(reply: Message) -> str | None:
    """The hospital's reason when its train reply declines the request, else None."""
    metrics = reply.content.metric_records.get(contract.METRICS)
    if metrics is None or not metrics.get("dp-refused"):
        return None
    facts = reply.content.config_records.get(contract.CONFIG)
    return str(facts["refusal-reason"]) if facts and "refusal-reason" in facts else "refused without a reason"


def update_problem(content: RecordDict, global_arrays: ArrayRecord, max_update_norm: float) -> str | None:
    """Why a train reply must not be aggregated (bad arrays, NaN/Inf, absurd norm), or None if it may."""
    if contract.ARRAYS not in content.array_records:
        return "reply carries no model arrays"
    if (
        contract.METRICS not in content.metric_records
        or contract.NUM_EXAMPLES not in content.metric_records[contract.METRICS]
    ):
        return f"reply carries no {contract.NUM_EXAMPLES}"
    examples = content.metric_records[contract.METRICS][contract.NUM_EXAMPLES]
    if not isinstance(examples, int | float) or examples <= 0:
        return f"{contract.NUM_EXAMPLES} is {examples!r}, not a positive count"
    update = content.array_records[contract.ARRAYS]
    missing = sorted(set(global_arrays) - set(update))
    if missing:
        return f"update lacks array {missing[0]!r}"
    extra = sorted(set(update) - set(global_arrays))
    if extra:
        return f"update has unexpected array {extra[0]!r}"
    squared_distance = 0.0
    for key, reference in global_arrays.items():
        new, old = update[key].numpy(), reference.numpy()
        if new.shape != old.shape:
            return f"array {key!r} has shape {new.shape}, expected {old.shape}"
        if not np.all(np.isfinite(new)):
            return f"array {key!r} contains NaN or Inf"
        squared_distance += float(np.sum((new.astype(np.float64) - old.astype(np.float64)) ** 2))
    norm = squared_distance**0.5
    if norm > max_update_norm:
        return f"update norm {norm:.3g} exceeds the limit {max_update_norm:.3g}"
    return None
