"""Combining proxies: a rank vote (Abdelfattah et al. 2021) and a learned combination.

Both work on ranks, not raw values: proxies live on unrelated scales (ln synflow ~ 40, nwot ~ 400,
grad_norm ~ 5) and undefined scores (NaN, e.g. a cell whose output ignores its input) rank last.

Example:
    >>> import numpy as np
    >>> s = {"synflow": np.array([1.0, 3, 2]), "jacob_cov": np.array([1.0, 2, 3]),
    ...      "snip": np.array([1.0, 3, 2])}
    >>> rank_vote(s).tolist()
    [0.0, 0.8333333333333334, 0.6666666666666666]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import rankdata

from metanas.types import UserInputError

#: the paper's vote: synflow, jacob_cov and snip
VOTE_PROXIES: tuple[str, ...] = ("synflow", "jacob_cov", "snip")


def quantile_ranks(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Average ranks scaled to [0, 1] (ties share a rank; NaN ranks lowest)."""
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        return np.zeros(v.size)
    v = np.where(np.isnan(v), -np.inf, v)
    return (rankdata(v) - 1.0) / (v.size - 1)


def rank_vote(
    scores: Mapping[str, Sequence[float] | np.ndarray], names: Sequence[str] = VOTE_PROXIES
) -> np.ndarray:
    """Mean quantile rank over ``names`` (a Borda count; the paper's pairwise majority vote of
    three proxies orders cells the same way except where the proxies disagree in cycles)."""
    missing = [n for n in names if n not in scores]
    if missing:
        raise UserInputError(
            f"the vote needs scores of {list(names)}; compute the missing {missing} too."
        )
    return np.mean([quantile_ranks(scores[n]) for n in names], axis=0)


class LearnedCombination:
    """A regression of the objective on per-proxy quantiles, fitted on a few hundred labelled cells.

    A new cell's features are the quantiles of its proxy scores within the fitting sample (so the
    model applies to one cell at a time). ``model="ridge"`` is linear; ``"gbm"`` a small gradient-
    boosted ensemble (sklearn) that can learn interactions such as "large AND trainable".

    Example:
        >>> rng = np.random.default_rng(0)
        >>> a, b = rng.normal(size=200), rng.normal(size=200)
        >>> comb = LearnedCombination("ridge").fit({"a": a, "b": b}, a + b)
        >>> round(float(np.corrcoef(comb.predict({"a": a, "b": b}), a + b)[0, 1]), 1)
        1.0
    """

    def __init__(
        self, model: str = "gbm", names: Sequence[str] | None = None, seed: int = 0
    ) -> None:
        if model not in ("ridge", "gbm"):
            raise UserInputError(f"combination model must be 'ridge' or 'gbm', got {model!r}.")
        self.model = model
        self.names = list(names) if names is not None else None
        self.seed = seed
        self._ref: dict[str, np.ndarray] = {}
        self._est: Any = None

    def _features(self, scores: Mapping[str, Sequence[float] | np.ndarray]) -> np.ndarray:
        assert self.names is not None
        cols = []
        for n in self.names:
            if n not in scores:
                raise UserInputError(f"the combination was fitted with proxy {n!r}; score it too.")
            v = np.asarray(scores[n], dtype=float)
            v = np.where(np.isnan(v), -np.inf, v)
            ref = self._ref[n]
            # mid-rank of each value within the fitting sample, in [0, 1]
            lo = np.searchsorted(ref, v, side="left")
            hi = np.searchsorted(ref, v, side="right")
            cols.append((lo + hi) / (2.0 * len(ref)))
        return np.stack(cols, axis=1)

    def fit(
        self, scores: Mapping[str, Sequence[float] | np.ndarray], y: Sequence[float] | np.ndarray
    ) -> LearnedCombination:
        if self.names is None:
            self.names = sorted(scores)
        target = np.asarray(y, dtype=float)
        if target.size < 10:
            raise UserInputError(f"fit the combination on at least 10 cells, got {target.size}.")
        for n in self.names:
            v = np.asarray(scores.get(n, []), dtype=float)
            if v.size != target.size:
                raise UserInputError(
                    f"proxy {n!r} has {v.size} scores for {target.size} targets; give one per cell."
                )
            self._ref[n] = np.sort(np.where(np.isnan(v), -np.inf, v))
        x = self._features(scores)
        if self.model == "ridge":
            from sklearn.linear_model import RidgeCV

            self._est = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(x, target)
        else:
            from sklearn.ensemble import GradientBoostingRegressor

            # single-threaded and small: a few hundred cells, a handful of features
            self._est = GradientBoostingRegressor(
                n_estimators=150,
                learning_rate=0.05,
                max_depth=3,
                subsample=0.8,
                random_state=self.seed,
            ).fit(x, target)
        return self

    def predict(self, scores: Mapping[str, Sequence[float] | np.ndarray]) -> np.ndarray:
        if self._est is None:
            raise UserInputError("call fit() on labelled cells before predict().")
        return np.asarray(self._est.predict(self._features(scores)), dtype=float)
