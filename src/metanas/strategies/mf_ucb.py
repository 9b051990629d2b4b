"""Multi-fidelity UCB: one model of every rung decides what to train next, and for how long.

The schedulers of :mod:`~metanas.strategies.multifidelity` spend the same share of their time on
every rung and promote by a rung's own ranking. When a cheap rung ranks the top one poorly
(NAS-Bench-101: 4 epochs against 108, Spearman 0.45) they cut good architectures early and pay
for many cheap results that teach little. ``mf_ucb`` (after MF-GP-UCB, Kandasamy et al. 2016)
instead:

1. fits :class:`~metanas.strategies._surrogates.RungGP` on every result, the rung as an input,
   so the data say how far each rung's ranking carries to the top rung;
2. picks the architecture with the highest upper confidence bound at the *top* rung among all
   not yet trained there (unseen ones and those with cheaper results alike);
3. trains it at the cheapest rung above its last one whose one result would resolve a share of
   at least ``sqrt(budget / top budget)`` of its top-rung posterior variance, else at the top
   rung. A cheap rung that carries little is skipped; one that carries much screens.

A promotion is simply a later pick of an architecture that has cheaper results, and retrains
(as NAS-Bench-101's separate training runs do). A rung's price is what its results measured
against the same architectures' top-rung results (the median ratio of their costs, once three
architectures have both), so a one-epoch training that spends most of its time loading data and
scoring is not taken for 1/27 of a 27-epoch one. Before that, and with ``costs="budget"``, prices
are the budgets' ratios, which is also what costs proportional to the budget measure.

Example:
    >>> from metanas.space import Space, Choice
    >>> st = MultiFidelityUCB(Space([Choice("a", tuple(range(30)))]), budgets=(1, 3, 9))
    >>> st.ask().budget.epochs
    1.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from metanas.space.base import Space
from metanas.strategies._surrogates import RungGP
from metanas.strategies.base import Strategy, register_strategy
from metanas.strategies.bayesopt import (
    _transform,
    candidate_pool,
    pool_kind,
    refit_due,
    unique_archs,
)
from metanas.strategies.multifidelity import _checked_rungs
from metanas.types import Budget, Candidate, Result, UserInputError


@register_strategy("mf_ucb")
class MultiFidelityUCB(Strategy):
    """Multi-fidelity UCB over every rung with a rung-correlated Gaussian process.

    Args:
        min_budget, max_budget, eta, budgets: the rungs, as for the schedulers.
        n_init: random architectures at the lowest rung before the first model.
        ucb_beta: weight of the top-rung posterior spread in the pick.
        pool: ``"auto"`` (every unseen architecture when ``space.size <= pool_max``, else
            neighbours and mutations of the best plus random samples), ``"all"`` or ``"local"``.
        top_k, n_mutate, n_random: the local pool, as for ``bananas``.
        refit_every: refit after this share of new results (0: every result); the model is
            always refitted while fewer than 100 results exist.
        costs: ``"measured"`` (a rung's price from the results' costs, see above) or
            ``"budget"`` (the budgets' ratios, the only prices before metanas 0.2.1).
    """

    uses_budgets = True

    def __init__(
        self,
        space: Space,
        seed: int | None = 0,
        min_budget: float = 1.0,
        max_budget: float = 27.0,
        eta: float = 3.0,
        budgets: Sequence[float] | None = None,
        n_init: int = 10,
        ucb_beta: float = 1.0,
        pool: str = "auto",
        pool_max: int = 100_000,
        top_k: int = 5,
        n_mutate: int = 50,
        n_random: int = 20,
        refit_every: float = 0.1,
        costs: str = "measured",
    ) -> None:
        super().__init__(space, seed)
        if costs not in ("measured", "budget"):
            raise UserInputError(f"mf_ucb costs must be 'measured' or 'budget', got {costs!r}.")
        self.costs = costs
        self.budgets = _checked_rungs(min_budget, max_budget, eta, budgets)
        if n_init < 1:
            raise UserInputError(f"mf_ucb needs n_init >= 1 random starts, got {n_init}; raise it.")
        if ucb_beta < 0 or refit_every < 0:
            raise UserInputError(
                f"mf_ucb needs ucb_beta >= 0 and refit_every >= 0, got {ucb_beta} and {refit_every}."
            )
        self.n_init, self.ucb_beta, self.refit_every = n_init, ucb_beta, refit_every
        self.top_k, self.n_mutate, self.n_random = top_k, n_mutate, n_random
        self.pool = pool_kind(space, pool, pool_max)
        self.top = len(self.budgets) - 1
        # per key: the architecture and its results by rung (None: failed)
        self._archs: dict[str, dict[str, Any]] = {}
        self._results: dict[str, dict[int, float | None]] = {}
        self._spent: dict[str, dict[int, float]] = {}  # per key: positive measured costs by rung
        self._n_results = 0
        self._model: RungGP | None = None
        self._n_fit = 0
        # the full pool, one row per unique key; its top-rung UCB is computed once per model
        self._all: list[dict[str, Any]] | None = None
        self._all_index: dict[str, int] = {}
        self._all_X: np.ndarray | None = None
        self._open: np.ndarray | None = None  # rows not yet trained at the top rung
        self._all_ucb: tuple[RungGP, np.ndarray] | None = None

    # ------------------------------------------------------------------------------ bookkeeping
    def _tell(self, candidate: Candidate, result: Result) -> None:
        rung = int(candidate.info.get("rung", 0))
        self._archs.setdefault(candidate.key, dict(candidate.arch))
        self._results.setdefault(candidate.key, {})[rung] = result.value
        if result.cost > 0:
            self._spent.setdefault(candidate.key, {})[rung] = float(result.cost)
        self._n_results += 1
        if rung == self.top and self._open is not None and candidate.key in self._all_index:
            self._open[self._all_index[candidate.key]] = False

    def _last_rung(self, key: str) -> int:
        """The highest rung ``key`` was trained at (-1: never)."""
        return max(self._results.get(key, {}), default=-1)

    def _busy(self) -> set[str]:
        return {c.key for c in self.pending.values()}

    # ------------------------------------------------------------------------------------ model
    def _features(
        self, archs: Sequence[Mapping[str, Any]], rung: int | Sequence[int]
    ) -> np.ndarray:
        X = np.stack([self.space.features(a) for a in archs]).astype(np.float64)
        col = np.broadcast_to(np.asarray(rung, dtype=np.float64), (len(archs),))
        return np.hstack([X, col[:, None]])

    def _fit(self) -> RungGP:
        n = self._n_results
        if self._model is not None and not refit_due(n, self._n_fit, self.refit_every):
            return self._model
        archs, rungs, ys = [], [], []
        for r in range(len(self.budgets)):
            rows = [(k, res[r]) for k, res in self._results.items() if r in res]
            ok = [v for _, v in rows if v is not None]
            if not ok:
                continue
            # a failure counts as its rung's worst result; each rung is reshaped and
            # standardised on its own, since budgets differ in scale
            y = _transform(np.array([ok[0] if v is None else v for _, v in rows]), "loggap")
            y = np.where([v is None for _, v in rows], y.min(), y)
            ys.append((y - y.mean()) / (y.std() + 1e-12))
            archs += [self._archs[k] for k, _ in rows]
            rungs += [r] * len(rows)
        model = RungGP(int(self.rng.integers(2**31)))
        model.fit(self._features(archs, rungs), np.concatenate(ys))
        self._model, self._n_fit = model, n
        return model

    # -------------------------------------------------------------------------------------- ask
    def _ask(self) -> tuple[dict[str, Any], Budget, dict[str, Any]]:
        if self._n_results < self.n_init or not any(
            v is not None for res in self._results.values() for v in res.values()
        ):
            return self._at(self.sample_unseen(), 0)
        model = self._fit()
        archs, ucb = self._scored(model)
        if not archs:
            return self._at(self.sample_unseen(), 0)
        best = archs[int(np.argmax(ucb))]
        return self._at(best, self._rung_for(model, best))

    def _at(self, arch: dict[str, Any], rung: int) -> tuple[dict[str, Any], Budget, dict[str, Any]]:
        return arch, Budget(epochs=self.budgets[rung]), {"rung": rung}

    def _scored(self, model: RungGP) -> tuple[list[dict[str, Any]], np.ndarray]:
        """Architectures not trained at the top rung nor pending, and their top-rung UCB."""
        busy = self._busy()
        if self.pool == "all":
            if self._all is None:
                self._build_all()
            assert self._all is not None and self._all_X is not None and self._open is not None
            if self._all_ucb is None or self._all_ucb[0] is not model:
                mu, sd = model.predict(self._all_X)
                self._all_ucb = (model, mu + self.ucb_beta * sd)
            open_ = self._open.copy()
            open_[[self._all_index[k] for k in busy if k in self._all_index]] = False
            rows = np.flatnonzero(open_)
            return [self._all[i] for i in rows], self._all_ucb[1][rows]
        cheap = [
            self._archs[k] for k in self._results if k not in busy and self._last_rung(k) < self.top
        ]
        top_keys = sorted(
            (k for k, res in self._results.items() if res.get(self.top) is not None),
            key=lambda k: -(self._results[k][self.top] or 0.0),
        )[: self.top_k]
        pool = cheap + candidate_pool(
            self, [self._archs[k] for k in top_keys], self.n_mutate, self.n_random
        )
        if not pool:
            return [], np.empty(0)
        mu, sd = model.predict(self._features(pool, self.top))
        return pool, mu + self.ucb_beta * sd

    def _build_all(self) -> None:
        archs = unique_archs(self.space)
        self._all = list(archs.values())
        self._all_index = {k: i for i, k in enumerate(archs)}
        X = np.stack([self.space.features(a) for a in self._all]).astype(np.float64)
        # at the top rung, and read-only: the model keeps its products with the results
        self._all_X = np.hstack([X, np.full((len(X), 1), float(self.top))])
        self._all_X.flags.writeable = False
        self._open = np.array([self._last_rung(k) < self.top for k in archs])

    def _rung_for(self, model: RungGP, arch: dict[str, Any]) -> int:
        """The cheapest rung above ``arch``'s last that is worth its price as a screen, else
        the top rung.

        A rung ``r`` screens when one result there resolves at least a share
        ``sqrt(budget_r / budget_top)`` of the top-rung posterior variance of ``arch`` (MF-GP-UCB's
        threshold, which grows with the cost of the fidelity): a rung 27 times cheaper must
        resolve a fifth of it, one 3 times cheaper more than half.
        """
        first = self._last_rung(self.space.key(arch)) + 1
        rungs = list(range(first, self.top + 1))
        _, cov = model.posterior(self._features([arch] * len(rungs), rungs))
        var = cov[-1, -1]  # the top rung's
        for i, r in enumerate(rungs[:-1]):
            gain = cov[-1, i] ** 2 / (cov[i, i] + model.noise(r))
            if gain >= var * np.sqrt(self._price(r)):
                return r
        return self.top

    def _price(self, rung: int) -> float:
        """A result at ``rung`` as a share of one at the top rung: the median ratio of measured
        costs over architectures trained at both (pairs, so which architectures reached the top
        does not bias it), once there are three; else the budgets' ratio."""
        if self.costs == "measured":
            ratios = [
                c[rung] / c[self.top] for c in self._spent.values() if rung in c and self.top in c
            ]
            if len(ratios) >= 3:
                return min(1.0, float(np.median(ratios)))
        return self.budgets[rung] / self.budgets[self.top]
