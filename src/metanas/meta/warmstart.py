"""Warm start: a strategy that begins where similar past tasks left off, and lets go if wrong.

:class:`WarmStart` wraps a cold strategy (any registered one). It first proposes the best
architectures of the past tasks, then climbs from the best new results through neighbours
ordered by the past tasks' scores (a prior-guided local search). After every result it measures
how well the past predicts the present: the Spearman correlation between the prior score and the
new values of everything evaluated so far. Each past task is re-weighted by its own correlation;
when the combined correlation falls below ``min_corr`` (after ``n_check`` results), or the climb
stops improving for ``patience`` results, control passes to the cold strategy. The cold strategy's
first random samples are the architectures already evaluated, best first; they are repeats,
answered from the store without cost, so the warm phase is never wasted work for it.

Example:
    >>> from metanas.space import Space, IntRange
    >>> from metanas.types import Result
    >>> space = Space([IntRange("w", 1, 50)])
    >>> past = Prior("old", [{"w": i} for i in range(1, 51)], [-abs(i - 30) for i in range(1, 51)])
    >>> s = WarmStart(space, seed=0, priors=[past])
    >>> s.ask().arch
    {'w': 30}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from metanas.meta.prior import Prior, PriorModel, as_prior
from metanas.meta.similarity import spearman
from metanas.space.base import Space
from metanas.space.wrapper import SpaceWrapper
from metanas.strategies.base import Strategy, get_strategy, register_strategy
from metanas.types import Budget, Candidate, Result, UserInputError

WARM = "warm"
COLD = "cold"


class SeededSpace(SpaceWrapper):
    """``inner`` whose first ``sample`` calls return ``seeds`` in order, then random samples.

    Strategies draw their initial population through ``sample``; handing them the architectures
    already evaluated (best first) lets a cold strategy start from the warm phase's findings.
    """

    def __init__(self, inner: Space, seeds: Sequence[Mapping[str, Any]]) -> None:
        super().__init__(inner)
        self.seeds = [dict(a) for a in seeds]
        self._next = 0

    def sample(self, rng: np.random.Generator | int | None = None) -> dict[str, Any]:
        if self._next < len(self.seeds):
            self._next += 1
            return dict(self.seeds[self._next - 1])
        return self.inner.sample(rng)


@register_strategy("warm_start")
class WarmStart(Strategy):
    """Prior-guided search that falls back to ``inner`` when the past stops predicting the present.

    Args:
        inner: the cold strategy's registered name; ``inner_kwargs`` its options.
        priors: past tasks (:class:`Prior` or their ``to_dict()``), e.g. from
            :func:`metanas.meta.load_priors`. Without priors this is the cold strategy.
        n_seed: best past architectures always in the candidate pool.
        n_parents: the pool also holds the unseen neighbours of this many best new results.
        n_check: results needed before trust is judged.
        min_corr: trust threshold on the Spearman correlation of prior score and new values.
        patience: warm results without a new best before handing over to ``inner``.
    """

    def __init__(
        self,
        space: Space,
        seed: int | None = 0,
        inner: str = "local_search",
        inner_kwargs: Mapping[str, Any] | None = None,
        priors: Sequence[Prior | Mapping[str, Any]] = (),
        n_seed: int = 5,
        n_parents: int = 1,
        n_check: int = 6,
        min_corr: float = 0.1,
        patience: int = 30,
    ) -> None:
        super().__init__(space, seed)
        if inner == "warm_start":
            raise UserInputError("warm_start cannot wrap itself; give a cold strategy as inner.")
        for name, v in (
            ("n_seed", n_seed),
            ("n_parents", n_parents),
            ("n_check", n_check),
            ("patience", patience),
        ):
            if not isinstance(v, int) or v < 1:
                raise UserInputError(f"warm_start {name} must be a positive integer, got {v!r}.")
        self.inner = inner
        self.inner_kwargs = dict(inner_kwargs or {})
        # stored as plain dicts: the study keeps them in its config, so a resume rebuilds the same
        self.priors = [as_prior(p).to_dict() for p in priors]
        self.n_seed = n_seed
        self.n_parents = n_parents
        self.n_check = n_check
        self.min_corr = float(min_corr)
        self.patience = patience
        self.mode = WARM if self.priors else COLD
        #: why the warm phase ended (None while it runs)
        self.handover: str | None = None if self.priors else "no priors"
        self.trust: float = float("nan")
        #: distinct architectures evaluated when the warm phase ended
        self.handover_at: int | None = None if self.priors else 0
        self._model: PriorModel | None = None
        self._cold: Strategy | None = None
        self._of_inner: dict[int, Candidate] = {}  # our candidate id -> the inner's candidate
        self._evals: dict[str, tuple[Mapping[str, Any], float]] = {}  # key -> (arch, new value)
        self._scores: dict[str, np.ndarray] = {}  # key -> per-task prior scores
        self._n_warm = 0
        self._since_best = 0
        self._best = -np.inf

    # ----------------------------------------------------------------- setup
    def _get_model(self) -> PriorModel:
        if self._model is None:
            self._model = PriorModel(self.space, [Prior.from_dict(p) for p in self.priors])
            self.weights = self._model.weights.copy()
            self._ranked = self._model.ranked()
        return self._model

    def _task_scores(self, key: str, arch: Mapping[str, Any]) -> np.ndarray:
        s = self._scores.get(key)
        if s is None:
            s = self._get_model().task_scores(arch, key)
            self._scores[key] = s
        return s

    def _score(self, key: str, arch: Mapping[str, Any]) -> float:
        w = self.weights
        return float(self._task_scores(key, arch) @ w / w.sum()) if w.sum() > 0 else 0.5

    # ----------------------------------------------------------------- ask
    def _ask(self) -> Any:
        if self.mode == WARM:
            arch = self._warm_proposal()
            if arch is not None:
                self._n_warm += 1
                return arch
            self._switch("the prior has nothing unseen left to propose")
        return self._ask_cold()

    def _warm_proposal(self) -> dict[str, Any] | None:
        self._get_model()
        key, seen = self.space.key, self.seen
        pool: dict[str, Mapping[str, Any]] = {}
        for a in self._ranked:  # the best past architectures not yet proposed
            if len(pool) >= self.n_seed:
                break
            k = key(a)
            if k not in seen:
                pool[k] = a
        parents = sorted(self._evals.values(), key=lambda e: -e[1])[: self.n_parents]
        for arch, _ in parents:
            for nb in self.space.neighbours(arch):
                k = key(nb)
                if k not in seen:
                    pool.setdefault(k, nb)
        if not pool:
            return None
        best = max(pool.items(), key=lambda kv: self._score(*kv))
        return dict(best[1])

    def _ask_cold(self) -> tuple[dict[str, Any], Budget | None, Mapping[str, Any]]:
        if self._cold is None:
            # the cold strategy's first samples are our results so far, best first (free repeats)
            done = sorted(self._evals.values(), key=lambda e: -e[1])
            seeded = SeededSpace(self.space, [a for a, _ in done])
            self._cold = get_strategy(self.inner, seeded, seed=self.seed, **self.inner_kwargs)
        cand = self._cold.ask()
        self._of_inner[self.n_asked] = cand
        return dict(cand.arch), cand.budget, cand.info

    # ----------------------------------------------------------------- tell
    def _tell(self, candidate: Candidate, result: Result) -> None:
        inner_cand = self._of_inner.pop(candidate.id, None)
        if inner_cand is not None and self._cold is not None:
            self._cold.tell(inner_cand, result)
        if result.value is None:
            return
        v = float(result.value)
        old = self._evals.get(candidate.key)
        if old is None or v > old[1]:
            self._evals[candidate.key] = (dict(candidate.arch), v)
        if self.mode == WARM:
            if v > self._best:
                self._best, self._since_best = v, 0
            else:
                self._since_best += 1
            self._judge()

    def _judge(self) -> None:
        """Re-weight the past tasks by how well each predicts the new values; maybe let go."""
        if len(self._evals) < self.n_check:
            return
        keys = list(self._evals)
        y = np.array([self._evals[k][1] for k in keys])
        s = np.array([self._task_scores(k, self._evals[k][0]) for k in keys])  # (n, tasks)
        model = self._get_model()
        corr = np.array([spearman(s[:, t], y) for t in range(s.shape[1])])
        self.task_corr = corr
        self.weights = model.weights * np.clip(np.nan_to_num(corr, nan=0.0), 0.0, None)
        self.trust = spearman(s @ self.weights, y) if self.weights.sum() > 0 else float("nan")
        if not self.trust >= self.min_corr:  # nan (no usable task) counts as no trust
            self._switch(f"the past predicts the new values poorly (rank corr {self.trust:.2f})")
        elif self._since_best >= self.patience:
            self._switch(f"no improvement in {self.patience} warm results")

    def _switch(self, reason: str) -> None:
        self.mode = COLD
        self.handover_at = len(self._evals)
        self.handover = reason


__all__ = ["SeededSpace", "WarmStart"]
