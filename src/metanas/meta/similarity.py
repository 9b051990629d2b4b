"""How alike two tasks are: descriptor distance and rank correlation of shared architectures.

Pure numpy; used by the knowledge base (``metanas kb``) and by warm starts to weigh past tasks.

Example:
    >>> spearman([1, 2, 3, 4], [10, 20, 40, 30])
    0.8
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from metanas.types import TaskInfo

#: descriptor distance at which the descriptor similarity has fallen to 1/e
DESCRIPTOR_SCALE = 2.0


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 0..n-1 with ties sharing their mean rank."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=float)
    ranks[order] = np.arange(len(x), dtype=float)
    vals = x[order]
    i = 0
    while i < len(x):  # average the ranks of each run of ties
        j = i
        while j + 1 < len(x) and vals[j + 1] == vals[i]:
            j += 1
        if j > i:
            ranks[order[i : j + 1]] = (i + j) / 2.0
        i = j + 1
    return ranks


def spearman(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Spearman rank correlation; ``nan`` for fewer than 3 pairs or a constant side."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) != len(y):
        raise ValueError(f"spearman needs equal lengths, got {len(x)} and {len(y)}")
    if len(x) < 3:
        return math.nan
    rx, ry = _ranks(x), _ranks(y)
    rx -= rx.mean()
    ry -= ry.mean()
    den = math.sqrt(float(rx @ rx) * float(ry @ ry))
    return math.nan if den == 0 else round(float(rx @ ry) / den, 12)


def quantiles(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Each value's rank scaled to [0, 1] (1 = best); a lone value gets 0.5."""
    v = np.asarray(values, dtype=float)
    if len(v) <= 1:
        return np.full(len(v), 0.5)
    return _ranks(v) / (len(v) - 1)


def descriptor_distance(a: TaskInfo, b: TaskInfo) -> float:
    """Distance between task descriptors: modality, classes, samples and input size.

    Counts (classes, samples, input elements) compare on a log scale, so 10 vs 100 classes is as
    far as 100 vs 1000; an unknown (0) count or modality adds nothing either way.
    """
    d = 0.0
    if a.modality != "unknown" and b.modality != "unknown" and a.modality != b.modality:
        d += 1.0
    for x, y in (
        (a.n_classes, b.n_classes),
        (a.n_samples, b.n_samples),
        (_n_inputs(a), _n_inputs(b)),
    ):
        if x > 0 and y > 0:
            d += abs(math.log10(x) - math.log10(y))
    return d


def _n_inputs(t: TaskInfo) -> int:
    return int(np.prod(t.input_shape)) if t.input_shape else 0


def probe_correlation(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[float, int]:
    """Spearman of the probe features two tasks share (``probe/...`` entries), and their count."""
    shared = sorted(k for k in a if k.startswith("probe/") and k in b)
    if len(shared) < 3:
        return math.nan, len(shared)
    return spearman([a[k] for k in shared], [b[k] for k in shared]), len(shared)


@dataclass(frozen=True)
class Similarity:
    """How alike two tasks are. ``score`` in [0, 1] combines what is known.

    ``rank`` is the Spearman correlation of the values both tasks measured for the same
    architectures (``n_shared`` of them; probe features count too), ``nan`` when too few.
    """

    descriptor_distance: float
    rank: float
    n_shared: int
    score: float


def task_similarity(
    a: TaskInfo,
    b: TaskInfo,
    values_a: Mapping[str, float] | None = None,
    values_b: Mapping[str, float] | None = None,
    min_shared: int = 5,
) -> Similarity:
    """Similarity of two tasks from descriptors and, when they share architectures, ranks.

    ``values_*`` map canonical keys to objective values (higher is better). With at least
    ``min_shared`` shared keys (or shared probe features) the rank correlation decides, clipped
    at 0: unrelated or opposed tasks get score 0. Otherwise descriptors decide.
    """
    dist = descriptor_distance(a, b)
    desc_score = math.exp(-dist / DESCRIPTOR_SCALE)
    rank, n = math.nan, 0
    if values_a and values_b:
        shared = sorted(set(values_a) & set(values_b))
        n = len(shared)
        if n >= min_shared:
            rank = spearman([values_a[k] for k in shared], [values_b[k] for k in shared])
    if math.isnan(rank):
        rank, n_probe = probe_correlation(a.features, b.features)
        n = max(n, n_probe)
    if math.isnan(rank):
        return Similarity(dist, math.nan, n, desc_score)
    return Similarity(dist, rank, n, max(0.0, rank) * (0.5 + 0.5 * desc_score))


__all__ = [
    "Similarity",
    "descriptor_distance",
    "probe_correlation",
    "quantiles",
    "spearman",
    "task_similarity",
]
