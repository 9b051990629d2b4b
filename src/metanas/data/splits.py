"""Seeded stratified splits on label vectors (numpy only).

Every function takes a ``numpy.random.Generator`` so callers own their random state; the same
generator state and labels always give the same indices.
"""

from __future__ import annotations

import numpy as np

from metanas.types import UserInputError

#: stream ids so the validation split and the train subsample of one seed are independent draws
VAL_STREAM = 1
TEST_STREAM = 2
LIMIT_STREAM = 3


def rng_for(seed: int, stream: int) -> np.random.Generator:
    """The generator of one (seed, purpose) pair."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserInputError(f"seed must be a non-negative integer, got {seed!r}; e.g. seed=0.")
    return np.random.default_rng([int(seed), int(stream)])


def _take_counts(counts: np.ndarray, n_take: int) -> np.ndarray:
    """How many of each class to take so the total is ``n_take`` and shares stay proportional.

    Largest-remainder rounding; a class is never emptied (one sample always stays behind) so a
    small class keeps a training example.
    """
    total = int(counts.sum())
    ideal = counts * (n_take / total)
    take = np.minimum(np.floor(ideal).astype(np.int64), np.maximum(counts - 1, 0))
    short = n_take - int(take.sum())
    if short > 0:
        room = (counts - 1 - take) > 0
        # largest fractional part first; ties broken by class index for determinism
        order = np.lexsort((np.arange(len(counts)), -(ideal - take)))
        for c in order:
            if short == 0:
                break
            if room[c]:
                take[c] += 1
                short -= 1
    return take


def stratified_split(
    y: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (kept, taken) with about ``fraction`` of every class in ``taken``.

    Both index arrays are sorted. Classes with a single sample stay entirely in ``kept``.
    """
    if not 0.0 <= fraction < 1.0:
        raise UserInputError(f"a split fraction must be in [0, 1), got {fraction}; use e.g. 0.1.")
    y = np.asarray(y)
    n = len(y)
    classes, inverse = np.unique(y, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(classes))
    n_take = round(n * fraction)
    if fraction > 0 and n_take == 0 and n >= 2:
        n_take = 1
    take = _take_counts(counts, n_take)
    taken: list[np.ndarray] = []
    for c in range(len(classes)):
        members = np.flatnonzero(inverse == c)
        taken.append(rng.permutation(members)[: take[c]])
    taken_idx = np.sort(np.concatenate(taken)) if taken else np.zeros(0, dtype=np.int64)
    mask = np.ones(n, dtype=bool)
    mask[taken_idx] = False
    return np.flatnonzero(mask), taken_idx.astype(np.int64)


def stratified_subsample(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``n`` samples with class shares as in ``y`` (every class kept if n allows)."""
    y = np.asarray(y)
    if n >= len(y):
        return np.arange(len(y))
    classes, inverse = np.unique(y, return_inverse=True)
    if n < len(classes):
        raise UserInputError(
            f"limit={n} is smaller than the number of classes ({len(classes)}); "
            f"use limit >= {len(classes)}."
        )
    counts = np.bincount(inverse, minlength=len(classes))
    # drop (len - n) samples: the complement of a proportional take keeps >= 1 per class
    drop = _take_counts(counts, len(y) - n)
    keep: list[np.ndarray] = []
    for c in range(len(classes)):
        members = rng.permutation(np.flatnonzero(inverse == c))
        keep.append(members[drop[c] :])
    return np.sort(np.concatenate(keep))
