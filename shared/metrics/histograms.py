"""Score histograms: the only form in which a hospital's predictions leave it.

For each task and label a hospital sends two histograms of its predicted scores (probabilities in [0, 1]):
one over its positive records and one over its negative records. Every hospital uses the same fixed bins,
so the coordinator pools hospitals by adding their histograms, and every metric in `shared.metrics` is
computed from histograms alone.

Binning
-------
`SCORE_BINS` = 4096 bins, uniform in logit space: the interior edges are `expit(x)` for `x` stepping by
1/128 from -16 + 1/128 to 16 - 1/128; the two outer bins are open and reach 0 and 1. Uniform in logit
space rather than in probability space because models push scores towards 0 and 1: a probability grid
would lump every confident prediction into its first or last bin, while a logit grid resolves scores
near 1 (0.999 vs 0.9999) as finely as scores near 0.5. A bin is half-open, [edge k, edge k+1). The last
edge lies just above 1.0 so that a threshold there predicts no record positive, a score of exactly 1.0
included; thresholds everywhere in `shared.metrics` mean "predicted positive iff score >= threshold".

Worst-case error of AUROC
-------------------------
The exact AUROC is the mean over (positive, negative) pairs of 1 if the positive scores higher, 1/2 if
they tie and 0 otherwise. From histograms, pairs in different bins are ordered exactly; a pair in the
same bin cannot be ordered and counts as a tie (1/2). The error is therefore confined to within-bin
pairs, each off by at most 1/2:

    |AUROC_histogram - AUROC_exact| <= 1/2 * sum_b pos_b * neg_b / (positives * negatives)

which `shared.metrics.curves.auroc_binning_error_bound` computes from the histograms themselves. For
scores spread over a few logit units the bound is below 0.001; for all scores crowded uniformly in
[0.95, 1.0] it is about 0.002. The realised error is far smaller (about 1e-4 in both cases), because
within-bin pairs err in both directions; it nears the bound only when every within-bin pair is
ordered the same way, e.g. when all scores are squeezed into a range narrower than one bin (1/128 in
logit, about 0.002 in probability around 0.5), where histograms cannot rank them at all. With few
records each pair weighs a lot: with 3 positives and 57 negatives one within-bin pair can move the
AUROC by 1/342, about 0.003.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.special import expit

#: Number of score bins every hospital uses (histograms from different hospitals can be summed).
SCORE_BINS: int = 4096
#: Logit range the interior bins cover; the outer bins extend from it to probability 0 and 1.
LOGIT_RANGE: tuple[float, float] = (-16.0, 16.0)

HistogramPair = tuple[np.ndarray, np.ndarray]


def _logit_grid(points: int) -> np.ndarray:
    low, high = LOGIT_RANGE
    return np.linspace(low, high, points)


def _make_edges() -> np.ndarray:
    edges = expit(_logit_grid(SCORE_BINS + 1))
    edges[0] = 0.0
    edges[-1] = np.nextafter(1.0, 2.0)
    edges.flags.writeable = False
    return edges


def _make_centres() -> np.ndarray:
    logit_edges = _logit_grid(SCORE_BINS + 1)
    centres = expit((logit_edges[:-1] + logit_edges[1:]) / 2)
    centres.flags.writeable = False
    return centres


_EDGES = _make_edges()
_CENTRES = _make_centres()


def bin_edges() -> np.ndarray:
    """The `SCORE_BINS + 1` bin edges in probability space (read-only; 0 first, just above 1 last)."""
    return _EDGES


def bin_centres() -> np.ndarray:
    """Each bin's centre in logit space, as a probability (read-only); used where a score is needed."""
    return _CENTRES


def bin_indices(scores: np.ndarray) -> np.ndarray:
    """The bin each score falls in (scores must be finite probabilities in [0, 1])."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"scores must be a 1-D array, got shape {scores.shape}")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{int((~np.isfinite(scores)).sum())} scores are NaN or infinite")
    outside = (scores < 0.0) | (scores > 1.0)
    if outside.any():
        raise ValueError(
            f"{int(outside.sum())} scores lie outside [0, 1] (e.g. {scores[outside][0]!r}); "
            "histograms take probabilities, not logits"
        )
    return np.searchsorted(_EDGES, scores, side="right") - 1


def score_histograms(scores: np.ndarray, labels: np.ndarray) -> HistogramPair:
    """Histograms of the scores of positive and of negative records, for one label.

    `labels` holds 0/1 (bool, int or float) per record. Returns `(pos_counts, neg_counts)`, int64 arrays
    of length `SCORE_BINS`; empty input gives two all-zero histograms.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be a 1-D array (one label at a time), got shape {labels.shape}")
    indices = bin_indices(scores)
    if indices.shape != labels.shape:
        raise ValueError(f"{indices.size} scores but {labels.size} labels")
    is_positive = labels == 1
    if not np.all(is_positive | (labels == 0)):
        raise ValueError("labels must be 0 or 1; found other values (NaN or a missing label?)")
    pos = np.bincount(indices[is_positive], minlength=SCORE_BINS).astype(np.int64)
    neg = np.bincount(indices[~is_positive], minlength=SCORE_BINS).astype(np.int64)
    return pos, neg


def _as_counts(counts: np.ndarray | Sequence[float], what: str) -> np.ndarray:
    array = np.asarray(counts)
    if array.shape != (SCORE_BINS,):
        raise ValueError(f"{what} has shape {array.shape}, expected ({SCORE_BINS},) score bins")
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{what} must hold numbers, not {array.dtype}")
    if not np.all(np.isfinite(array)) or np.any(array < 0) or np.any(array != np.round(array)):
        raise ValueError(f"{what} must hold non-negative whole counts")
    return array.astype(np.int64)


def validate_histograms(
    pos: np.ndarray | Sequence[float], neg: np.ndarray | Sequence[float], source: str | None = None
) -> HistogramPair:
    """Check a (positives, negatives) histogram pair and return it as int64 arrays.

    `source` (e.g. "hospital 'A'") prefixes error messages so a bad reply can be traced to its sender.
    """
    prefix = f"{source}: " if source else ""
    return (
        _as_counts(pos, f"{prefix}positive-score histogram"),
        _as_counts(neg, f"{prefix}negative-score histogram"),
    )


def merge_histograms(histograms: Mapping[str, HistogramPair] | Sequence[HistogramPair]) -> HistogramPair:
    """Pool histogram pairs by adding them: the result is the histogram of all their scores together.

    Pass a mapping from hospital id to pair so that a malformed pair is reported with its hospital.
    """
    named = (
        {f"hospital {name!r}": pair for name, pair in histograms.items()}
        if isinstance(histograms, Mapping)
        else {f"histogram pair #{i}": pair for i, pair in enumerate(histograms)}
    )
    if not named:
        raise ValueError("no histograms to merge")
    pos_total = np.zeros(SCORE_BINS, dtype=np.int64)
    neg_total = np.zeros(SCORE_BINS, dtype=np.int64)
    for source, (pos, neg) in named.items():
        pos_checked, neg_checked = validate_histograms(pos, neg, source)
        pos_total += pos_checked
        neg_total += neg_checked
    return pos_total, neg_total


def tail_counts(counts: np.ndarray) -> np.ndarray:
    """Records at or above each bin edge: element k counts scores >= `bin_edges()[k]` (length bins + 1)."""
    return np.concatenate([np.cumsum(counts[::-1])[::-1], [0]])


def missing_class_reason(pos: np.ndarray, neg: np.ndarray) -> str | None:
    """Why a metric needing both classes cannot be computed ("no positive records", ...), or None."""
    positives, negatives = int(pos.sum()), int(neg.sum())
    if positives == 0 and negatives == 0:
        return "no records"
    if positives == 0:
        return "no positive records"
    if negatives == 0:
        return "no negative records"
    return None
