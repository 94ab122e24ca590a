"""The message contract: which keys may cross the wire between a hospital and the coordinator.

Invariant 1 of cardiofed is that no patient-level data leaves a hospital. This module is the single
definition of what *may* leave: the model's arrays and aggregate numbers whose keys match the patterns
below. The hospital's egress guard checks every outgoing message against it, and the server uses the same
key builders to read replies, so the two sides cannot drift apart.
"""

from __future__ import annotations

import re

from shared.metrics.subgroups import SUBGROUPS

# --- message sections --------------------------------------------------------------------------------
ARRAYS = "arrays"  # ArrayRecord: the model's state dict (train replies only)
METRICS = "metrics"  # MetricRecord: aggregate numbers
CONFIG = "config"  # ConfigRecord: instructions (server -> hospital) or short facts (hospital -> server)
NUM_EXAMPLES = "num-examples"  # the weight Flower's strategies aggregate by
#: An error reply's reason is free text: short and on one line, so it names a problem but cannot carry data.
MAX_ERROR_REASON_CHARS = 400


def histogram_key(task: str, label: int, cls: str, subgroup: str | None = None) -> str:
    """Key of a score histogram: `hist/<task>/<label>/<pos|neg>[/<subgroup>]`."""
    if cls not in ("pos", "neg"):
        raise ValueError(f"histogram class must be 'pos' or 'neg', not {cls!r}")
    base = f"hist/{task}/{label}/{cls}"
    return base if subgroup is None else f"{base}/{subgroup}"


def subgroup_count_key(subgroup: str) -> str:
    """Key of a subgroup's patient count (sent so the server can show what was suppressed)."""
    return f"subgroup-patients/{subgroup}"


def census_count_key(split: str, task: str | None = None, label: int | None = None) -> str:
    """Census keys: records per split, and positives per split, task and label."""
    return f"census/{split}/records" if task is None else f"census/{split}/positives/{task}/{label}"


def clinical_stat_key(stat: str, feature: str) -> str:
    """Key of a per-feature aggregate of the training split's clinical features (count, sum, sumsq)."""
    return f"clinical/{stat}/{feature}"


def lead_importance_key(task: str, lead: str) -> str:
    """Key of one lead's occlusion importance for a task; its value is `[mean importance, records]`."""
    return f"lead-importance/{task}/{lead}"


_SUBGROUP_RE = "|".join(re.escape(s) for s in SUBGROUPS)
_NAME = r"[A-Za-z0-9_\-]+"

#: Metric keys a hospital may send, as full-match regular expressions.
ALLOWED_METRIC_PATTERNS: tuple[str, ...] = (
    re.escape(NUM_EXAMPLES),
    r"train-loss",
    r"eval-loss",
    r"ecg-per-second",
    r"epochs",
    r"local-steps",
    # differential privacy (spent budget is aggregate by construction)
    r"dp-epsilon",
    r"dp-delta",
    r"dp-noise-multiplier",
    r"dp-sample-rate",
    r"dp-steps",
    r"dp-refused",
    # score histograms, overall and per subgroup, and subgroup sizes
    rf"hist/{_NAME}/\d+/(pos|neg)",
    rf"hist/{_NAME}/\d+/(pos|neg)/({_SUBGROUP_RE})",
    rf"subgroup-patients/({_SUBGROUP_RE})",
    # census
    r"census/(train|val|test|all)/records",
    rf"census/(train|val|test|all)/positives/{_NAME}/\d+",
    r"census/patients",
    r"census/sampling-rate/\d+(\.\d+)?",
    r"census/records-found",
    r"census/skipped",
    rf"census/flag/{_NAME}",
    rf"clinical/(count|sum|sumsq)/{_NAME}",
    # federated lead importance: per-lead means and counts
    rf"lead-importance/{_NAME}/(I|II|III|aVR|aVL|aVF|V[1-6])",
)

#: Short textual facts a hospital may send in a ConfigRecord.
ALLOWED_CONFIG_KEYS: frozenset[str] = frozenset({"hospital", "refusal-reason", "device", "clinical-names"})

_ALLOWED_METRIC_RE = re.compile("|".join(f"(?:{p})" for p in ALLOWED_METRIC_PATTERNS))


def is_allowed_metric(key: str) -> bool:
    """Whether `key` names an aggregate a hospital may send."""
    return _ALLOWED_METRIC_RE.fullmatch(key) is not None
