"""Model-based strategies: BANANAS (a predictor on architecture features + UCB) and TPE.

Both propose only keys not asked before (pending ones included), so they work in batches.

``bananas`` (White et al. 2021): fit a predictor on ``space.features`` of the evaluated
architectures (by default a Gaussian process on the features and their pairwise products;
BANANAS' own MLP ensemble is an option), score a pool of unseen candidates and ask the best under
the acquisition: ``"ucb"`` (mean + beta * predicted spread, the default), independent Thompson
sampling ``"its"`` (one normal draw per candidate) or the plain mean ``"mean"``.

The pool (a generic rule, the same for every space): when the space is finite and small
(``space.size <= pool_max``, 100k by default; e.g. NAS-Bench-201's 15,625 cells, 6,466 unique
keys, or a table's members) it is *every* unseen unique architecture: features are computed once
and predictions once per refit, so an ask costs one pass over a mask. Otherwise it is the
neighbours and random mutations of the best architectures plus some random samples.

``tpe``: Parzen estimators per dimension for the good (top ``gamma`` quantile) and the other
architectures; the candidate maximising ``l(x) / g(x)`` among samples from ``l`` is asked.
Conditional dimensions count only where they are active.

Example:
    >>> from metanas.space import Space, Choice
    >>> s = Space([Choice("a", (1, 2, 3)), Choice("b", ("x", "y"))])
    >>> st = TPE(s, seed=0)
    >>> c = st.ask(); sorted(c.arch) == ["a", "b"]
    True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from metanas.space.base import Space
from metanas.space.dims import Choice, Dim, FloatRange
from metanas.strategies._surrogates import PREDICTORS, make_predictor
from metanas.strategies.base import Strategy, register_strategy
from metanas.types import Candidate, Result, UserInputError

#: bananas' default ``sweep_after`` (chosen on tuning seeds 100-139, benchmarks/README.md)
SWEEP_AFTER = 10
_FINITE_MAX = 64  # dims with at most this many values get a categorical estimator


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise UserInputError(msg)


def candidate_pool(
    strat: Strategy, top: Sequence[Mapping[str, Any]], n_mutate: int, n_random: int
) -> list[dict[str, Any]]:
    """Unseen, distinct candidates: all neighbours of ``top``, 2-step mutations, random samples."""
    space, rng = strat.space, strat.rng
    out: dict[str, dict[str, Any]] = {}

    def add(a: dict[str, Any]) -> None:
        k = space.key(a)
        if k not in strat.seen and k not in out:
            out[k] = a

    for a in top:
        for nb in space.neighbours(a):
            add(nb)
    for _ in range(n_mutate):
        if not top:
            break
        parent = top[int(rng.integers(len(top)))]
        add(space.mutate(space.mutate(parent, rng), rng))
    for _ in range(n_random):
        add(space.sample(rng))
    return list(out.values())


def pool_kind(space: Space, pool: str, pool_max: int) -> str:
    """``"all"`` or ``"local"``: ``"auto"`` picks every unseen architecture when the space is
    finite with at most ``pool_max`` of them, else the local pool."""
    _check(
        pool in ("auto", "all", "local"), f"unknown pool {pool!r}; use 'auto', 'all' or 'local'."
    )
    if pool != "auto":
        return pool
    size = space.size
    return "all" if size is not None and size <= pool_max else "local"


def refit_due(n: int, n_fit: int, refit_every: float) -> bool:
    """Whether a model fitted on ``n_fit`` results is stale at ``n``: after every new result
    while fewer than 100 exist, then after a share ``refit_every`` of those beyond 100."""
    return n - n_fit >= max(1, refit_every * (n - 100))


def unique_archs(space: Space) -> dict[str, dict[str, Any]]:
    """Every architecture of a finite space, the first one per canonical key, in order."""
    archs: dict[str, dict[str, Any]] = {}
    for a in space.enumerate():
        archs.setdefault(space.key(a), a)
    return archs


def _transform(y: np.ndarray, how: str) -> np.ndarray:
    """Reshape targets so the predictor resolves differences among the best architectures.

    ``"loggap"``: ``-log(best - y + spread)``, which stretches the top and squashes the long tail
    of broken architectures; ``"clip"``: values below the median raised to the median.
    """
    if how == "clip":
        return np.maximum(y, np.median(y))
    if how == "loggap":
        q = np.quantile(y, [0.5, 0.9])
        spread = max(float(q[1] - q[0]), 1e-12) * 0.1
        return -np.log(y.max() - y + spread)
    return y


@register_strategy("bananas")
class Bananas(Strategy):
    """BANANAS: a predictor on architecture features, UCB over every unseen architecture or a
    local pool.

    Args:
        n_init: random architectures before the first model.
        predictor: ``"quadratic"`` (default: a Gaussian process on the features and their
            pairwise products, the fewest queries on NAS-Bench-201 and -101, see
            benchmarks/README.md; past 400 results it fits the best 200 and a random 200 of the
            rest), ``"mlp"`` (BANANAS' numpy ensemble of 5 nets), ``"gb"``, ``"rf"`` or ``"gp"``.
        acquisition: ``"ucb"`` (default), ``"its"`` (independent Thompson sampling) or ``"mean"``.
        ucb_beta: weight of the predicted spread in ``"ucb"``; by default 1 for the
            ``"quadratic"`` process and 0.5 for the ensembles, whose spread is narrower (each
            chosen on tuning seeds).
        pool: ``"auto"`` (all unseen architectures when ``space.size <= pool_max``, else the
            local pool), ``"all"`` or ``"local"``.
        top_k: how many of the best architectures seed the local candidate pool.
        n_mutate, n_random: extra 2-step mutants and random samples in the pool.
        refit_every: refit after this share of new results (0 = after every result); the model
            is always refitted while fewer than 100 results exist.
        transform: target reshaping before the fit: ``"loggap"`` (default: ``-log(best - y + c)``
            resolves the top), ``"clip"`` (floor at the median) or ``"none"``.
        n_models, epochs: ensemble size and training epochs of the predictor.
        patience: once this many results in a row have not improved on the best, the run is
            stuck (0: never). A model trained on one good basin can be sure that everything else
            is worse and never leave it.
        on_stuck: what a stuck run does. ``"restart"`` (default; TuRBO's restart, Eriksson et
            al. 2019): the model forgets every result and the run begins afresh from ``n_init``
            random architectures, knowing only which ones were seen, so the basin's results no
            longer steer it (and again if the new run stalls). ``"explore"``: every other pick
            is a random unseen architecture until one improves on the best.
        keep_late: whether results asked before a restart but told after it (asynchronous runs)
            join the new run's data, as they did before 0.2.3. By default they stay out of it,
            as the rest of the old run's results do.
        sweep_after: once this many results in a row have not improved on the best, the picks
            are the best architecture's unseen neighbours, in acquisition order, and then the
            neighbours of each new best they find, until the best has no unseen neighbour left
            (0: never). Near the top the ensemble cannot rank near-ties, and the optimum is often
            one edit from a near-tie: local search's hill climb.
        local_share: with the pool of every unseen architecture, the share of picks (outside
            sweeps) made among the best ``top_k`` architectures' unseen neighbours (0: never).
        hidden: hidden units of each net of the ``"mlp"`` ensemble.
        encoding: the predictor's inputs: ``"space"`` (default: the space's own
            :meth:`~metanas.space.Space.features`, which adds BANANAS' path indicators on
            NAS-Bench-201 and -101) or ``"decisions"`` (one-hot choices and scaled ranges only,
            :meth:`~metanas.space.Space.decision_features`; the same on spaces without paths).
        counts: add how often each option is chosen among choices that offer the same options
            (:meth:`~metanas.space.Space.count_features`: NAS-Bench-201's ops over its six
            edges), so the model learns an op's worth across the edges at once. On by default
            since 0.2.3 (chosen on tuning seeds, benchmarks/README.md).
    """

    def __init__(
        self,
        space: Space,
        seed: int | None = 0,
        n_init: int = 5,
        predictor: str = "quadratic",
        acquisition: str = "ucb",
        top_k: int = 5,
        n_mutate: int = 50,
        n_random: int = 20,
        ucb_beta: float | None = None,
        refit_every: float = 0.1,
        transform: str = "loggap",
        n_models: int = 5,
        epochs: int = 100,
        pool: str = "auto",
        pool_max: int = 100_000,
        local_share: float = 0.0,
        hidden: int = 32,
        patience: int = 40,
        sweep_after: int = SWEEP_AFTER,
        encoding: str = "space",
        on_stuck: str = "restart",
        keep_late: bool = False,
        counts: bool = True,
    ) -> None:
        super().__init__(space, seed)
        _check(
            on_stuck in ("restart", "explore"),
            f"unknown on_stuck {on_stuck!r}; use 'restart' or 'explore'.",
        )
        self.on_stuck = on_stuck
        self.n_restarts = 0
        self.keep_late = bool(keep_late)
        self._run_of: dict[
            int, int
        ] = {}  # pending candidate id -> the run (restart) it was asked in
        _check(
            encoding in ("decisions", "space"),
            f"unknown encoding {encoding!r}; use 'decisions' or 'space'.",
        )
        self.encoding = encoding
        self.counts = bool(counts)
        _check(sweep_after >= 0, f"bananas sweep_after must be >= 0 (0: never), got {sweep_after}.")
        self.sweep_after = sweep_after
        _check(patience >= 0, f"bananas patience must be >= 0 (0: never explore), got {patience}.")
        self.patience = patience
        _check(
            predictor in PREDICTORS,
            f"unknown predictor {predictor!r}; use one of {', '.join(PREDICTORS)}.",
        )
        _check(
            acquisition in ("its", "ts", "ucb", "mean"),
            f"unknown acquisition {acquisition!r}; use 'its', 'ts', 'ucb' or 'mean'.",
        )
        _check(0 <= local_share <= 1, f"bananas local_share must be in [0, 1], got {local_share}.")
        self.local_share, self.hidden = local_share, hidden
        _check(n_init >= 1 and top_k >= 1, "bananas needs n_init >= 1 and top_k >= 1; raise them.")
        _check(n_models >= 1 and epochs >= 1, "bananas needs n_models >= 1 and epochs >= 1.")
        self.n_init, self.predictor_name, self.acquisition = n_init, predictor, acquisition
        self.n_models, self.epochs = n_models, epochs
        self.top_k, self.n_mutate, self.n_random = top_k, n_mutate, n_random
        _check(
            transform in ("none", "clip", "loggap"),
            f"unknown transform {transform!r}; use 'none', 'clip' or 'loggap'.",
        )
        if ucb_beta is None:
            ucb_beta = 1.0 if predictor == "quadratic" else 0.5
        _check(ucb_beta >= 0, f"bananas ucb_beta must be >= 0 (0: the mean alone), got {ucb_beta}.")
        _check(refit_every >= 0, f"bananas refit_every must be >= 0, got {refit_every}.")
        self.ucb_beta, self.refit_every, self.transform = ucb_beta, refit_every, transform
        self._model: Any = None
        self._n_fit = 0
        self._data: list[tuple[dict[str, Any], float]] = []
        self.pool = pool_kind(space, pool, pool_max)
        # full pool: one row per unique key; features scored once per refit, not per ask
        self._all: list[dict[str, Any]] | None = None
        self._all_keys: dict[str, int] = {}
        self._all_X: np.ndarray | None = None
        self._avail: np.ndarray | None = None
        self._masked: set[str] = set()
        self._pred: tuple[np.ndarray, np.ndarray] | None = None
        self._failed: list[dict[str, Any]] = []
        # (best architecture, its neighbours by key): a stalled run asks for them at every pick
        self._sweep_cache: tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]] | None = None
        self._climbing = False  # a sweep found a new best: sweep on from it
        self._source: object = None  # the external results :meth:`propose` last modelled
        self._n_fed = 0  # how many of them are in ``_data`` / ``_failed``

    def _tell(self, candidate: Candidate, result: Result) -> None:
        run = self._run_of.pop(candidate.id, self.n_restarts)
        if run != self.n_restarts and not self.keep_late:
            return  # the old run's result: the new one does not learn from it
        if result.value is not None:
            self._data.append((dict(candidate.arch), float(result.value)))
        else:  # failed (e.g. over its time limit): the model learns to avoid its neighbourhood
            self._failed.append(dict(candidate.arch))

    def _fit(self) -> None:
        n = len(self._data) + len(self._failed)
        if self._model is not None and not refit_due(n, self._n_fit, self.refit_every):
            return
        worst = min(v for _, v in self._data)  # failures count as the worst result seen
        data = self._data + [(a, worst) for a in self._failed]
        X = self._encode([a for a, _ in data])
        y = _transform(np.array([v for _, v in data]), self.transform)
        self._model = make_predictor(
            self.predictor_name,
            int(self.rng.integers(2**31)),
            self.n_models,
            self.epochs,
            self.hidden,
        )
        self._model.fit(X, (y - y.mean()) / (y.std() + 1e-12))
        self._n_fit = n
        self._pred = None

    def _build_all(self) -> None:
        by_key = unique_archs(self.space)
        self._all_keys = {k: i for i, k in enumerate(by_key)}
        self._all = list(by_key.values())
        self._all_X = self._encode(self._all)
        self._all_X.flags.writeable = False  # fixed for the run, so the model may cache on it
        self._avail = np.ones(len(self._all), dtype=bool)

    def _ask_all(self) -> dict[str, Any]:
        if self._all is None:
            self._build_all()
        assert self._all is not None and self._avail is not None and self._all_X is not None
        for k in self.seen - self._masked:  # keys proposed since the last ask
            i = self._all_keys.get(k)
            if i is not None:
                self._avail[i] = False
        self._masked |= self.seen
        idx = np.flatnonzero(self._avail)
        if not len(idx):
            return self.sample_unseen()
        near = np.empty(0, dtype=int)
        if self._sweeping():
            near = self._swept_rows()
            self._climbing = len(near) > 0
        elif self.local_share and self.rng.random() < self.local_share:
            near = self._near_best(self.top_k)
        if len(near):
            idx = near
        if self._pred is None:  # predictions change only with the model
            self._pred = self._predict(self._all_X)
        i = int(idx[int(np.argmax(self._score_pred(self._pred, idx)))])
        self._avail[i] = False
        return self._all[i]

    def _near_best(self, k: int) -> np.ndarray:
        """Pool rows of the unseen neighbours of the ``k`` best architectures (a trust region)."""
        keys = (self.space.key(nb) for a in self._top(k) for nb in self.space.neighbours(a))
        return self._unseen_rows(self._rows_of(keys))

    def _swept_rows(self) -> np.ndarray:
        """Pool rows of the best architecture's unseen neighbours."""
        return self._unseen_rows(self._rows_of(k for k, _ in self._best_neighbours()))

    def _rows_of(self, keys: Iterable[str]) -> np.ndarray:
        """Sorted pool rows of ``keys`` (keys outside the pool are skipped)."""
        return np.array(sorted({self._all_keys[k] for k in keys if k in self._all_keys}), dtype=int)

    def _unseen_rows(self, rows: np.ndarray) -> np.ndarray:
        assert self._avail is not None
        return rows[self._avail[rows]] if len(rows) else rows

    def _top(self, k: int) -> list[dict[str, Any]]:
        """The ``k`` best architectures seen, best first (ties in arrival order)."""
        return [a for a, _ in sorted(self._data, key=lambda av: -av[1])[:k]]

    def _best_arch(self) -> dict[str, Any]:
        return max(self._data, key=lambda av: av[1])[0]

    def _predict(self, X: np.ndarray) -> Any:
        if self.acquisition == "ts" and hasattr(self._model, "predict_members"):
            return self._model.predict_members(X)
        return self._model.predict(X)

    def _score_pred(self, pred: Any, idx: np.ndarray | None = None) -> np.ndarray:
        if isinstance(pred, np.ndarray):  # members (ts): one member's opinion per ask
            row = pred[int(self.rng.integers(len(pred)))]
            return row if idx is None else row[idx]
        mu, sd = pred
        if idx is not None:
            mu, sd = mu[idx], sd[idx]
        return self._score(mu, sd)

    def _score(self, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
        if self.acquisition in ("its", "ts"):
            return mu + sd * self.rng.standard_normal(len(mu))
        if self.acquisition == "ucb":
            return mu + self.ucb_beta * sd
        return mu

    def propose(
        self, data: Sequence[tuple[Mapping[str, Any], float | None]], seen: set[str]
    ) -> dict[str, Any]:
        """The next architecture for results held elsewhere, e.g. one rung of a multi-fidelity
        scheduler (BOHB's rule with this predictor); ``seen`` are the keys not to propose.

        ``data`` only grows between calls (a scheduler's rung), so only its new results are
        added; a new sequence (the scheduler moved to a larger budget) replaces what the model
        knows and rebuilds it, else it is refitted on the usual schedule.
        """
        if data is not self._source:
            self._source, self._model, self._n_fed = data, None, 0
            self._data, self._failed = [], []
        self.seen = seen
        self._feed((dict(a), v) for a, v in data[self._n_fed :])
        self._n_fed = len(data)
        return self._ask()

    def _feed(self, results: Iterable[tuple[dict[str, Any], float | None]]) -> None:
        """Add results held elsewhere: successes to the fit, failures to those it avoids."""
        for a, v in results:
            if v is None:
                self._failed.append(a)
            else:
                self._data.append((a, float(v)))

    def _stale(self) -> int:
        """How many results in a row have not improved on the best one."""
        vals = [v for _, v in self._data]
        return len(vals) - 1 - int(np.argmax(vals)) if vals else 0

    def _stuck(self) -> bool:
        """Whether the last ``patience`` results all failed to improve on the best one."""
        return bool(self.patience) and self._stale() >= self.patience

    def _sweeping(self) -> bool:
        return bool(self.sweep_after) and (self._climbing or self._stale() >= self.sweep_after)

    def _ask(self) -> dict[str, Any]:
        # a model sure of a poor basin never leaves it: a stuck run restarts or explores
        if self._stuck() and self.on_stuck == "restart":
            self._restart()
        if self.on_stuck == "restart":  # the id ask() gives this candidate
            self._run_of[self.n_asked] = self.n_restarts
        if len(self._data) < self.n_init:
            return self.sample_unseen()
        if self._stuck() and self.rng.random() < 0.5:
            return self.sample_unseen()
        self._fit()
        if self.pool == "all":
            return self._ask_all()
        pool = self._unseen_neighbours() if self._sweeping() else []
        self._climbing = bool(pool)  # only a sweep fills it
        pool = pool or candidate_pool(self, self._top(self.top_k), self.n_mutate, self.n_random)
        if not pool:
            return self.sample_unseen()
        return pool[int(np.argmax(self._score_pred(self._predict(self._encode(pool)))))]

    def _restart(self) -> None:
        """Begin a new run: forget the results and the model, not which keys were seen."""
        self._data, self._failed = [], []
        self._model, self._pred = None, None
        self._sweep_cache, self._climbing = None, False
        self.n_restarts += 1

    def _unseen_neighbours(self) -> list[dict[str, Any]]:
        """The best architecture's unseen neighbours, one per key."""
        return [nb for k, nb in self._best_neighbours() if k not in self.seen]

    def _best_neighbours(self) -> list[tuple[str, dict[str, Any]]]:
        """(key, architecture) of the best architecture's neighbours, the first per key; cached
        while it stays best, since canonical keys are not free."""
        best = self._best_arch()
        if self._sweep_cache is None or self._sweep_cache[0] is not best:
            by_key: dict[str, dict[str, Any]] = {}
            for nb in self.space.neighbours(best):
                by_key.setdefault(self.space.key(nb), nb)
            self._sweep_cache = (best, list(by_key.items()))
        return self._sweep_cache[1]

    def _encode(self, archs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """The predictor's inputs: one row per architecture (see ``encoding``)."""
        encode = (
            self.space.decision_features if self.encoding == "decisions" else self.space.features
        )
        X = np.stack([encode(a) for a in archs]).astype(np.float64)
        if self.counts and self.space.n_count_features:
            X = np.hstack([X, np.stack([self.space.count_features(a) for a in archs])])
        return X


# ------------------------------------------------------------------------------------------- TPE
class ParzenModel:
    """Per-dimension Parzen estimator over architectures (categorical or kernel in [0, 1])."""

    def __init__(
        self, space: Space, archs: Sequence[Mapping[str, Any]], prior_weight: float = 1.0
    ) -> None:
        self.space = space
        self.dims: dict[str, tuple[str, Any]] = {}
        for d in space.dims:
            xs = [a[d.name] for a in archs if d.name in a]
            self.dims[d.name] = self._fit_dim(d, xs, prior_weight)

    @staticmethod
    def _fit_dim(d: Dim, xs: list[Any], pw: float) -> tuple[str, Any]:
        card = d.cardinality
        # a choice is categorical however many options it has; only large ranges get a kde
        if isinstance(d, Choice) or (card is not None and card <= _FINITE_MAX):
            assert card is not None
            vals = list(d.values())
            w = np.full(card, pw / card)
            idx = {repr(v): i for i, v in enumerate(vals)}
            for x in xs:
                w[idx[repr(x)]] += 1.0
            w /= w.sum()
            # the cdf makes a draw one searchsorted instead of rng.choice's argument checks
            cdf = np.cumsum(w)
            cdf[-1] = 1.0
            return "cat", (vals, idx, w, cdf)
        lo, hi = getattr(d, "low", 0), getattr(d, "high", 1)
        unit = (
            (lambda v: d._to_unit(v))
            if isinstance(d, FloatRange)
            else (lambda v: (v - lo) / max(hi - lo, 1))
        )
        centres = np.array([unit(x) for x in xs], dtype=float)
        bw = 0.5 * max(len(xs), 1) ** -0.2
        return "kde", (centres, bw, pw / (pw + len(xs)), unit)

    def logpdf(self, arch: Mapping[str, Any]) -> float:
        s = 0.0
        for name, (kind, p) in self.dims.items():
            if name not in arch:
                continue
            if kind == "cat":
                _vals, idx, w, _cdf = p
                s += math.log(w[idx[repr(arch[name])]])
            else:
                centres, bw, wprior, unit = p
                u = unit(arch[name])
                dens = wprior
                if len(centres):
                    k = np.exp(-0.5 * ((u - centres) / bw) ** 2) / (bw * math.sqrt(2 * math.pi))
                    dens += (1 - wprior) * float(k.mean())
                s += math.log(dens + 1e-12)
        return s

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for d in self.space.dims:
            if d.when is not None and not d.when.holds(out):
                continue
            kind, p = self.dims[d.name]
            if kind == "cat":
                vals, _, _w, cdf = p
                out[d.name] = vals[
                    min(int(np.searchsorted(cdf, rng.random(), "right")), len(vals) - 1)
                ]
                continue
            centres, bw, wprior, _ = p
            if not len(centres) or rng.random() < wprior:
                out[d.name] = d.sample(rng)
                continue
            u = float(np.clip(centres[int(rng.integers(len(centres)))] + bw * rng.normal(), 0, 1))
            if isinstance(d, FloatRange):
                # clipped: exp(log(high)) can overshoot high by one ulp
                out[d.name] = min(max(d._from_unit(u), d.low), d.high)
            else:
                out[d.name] = round(d.low + u * (d.high - d.low))  # type: ignore[attr-defined]
        return out


def split_good_bad(
    data: Sequence[tuple[Mapping[str, Any], float | None]],
    gamma: float,
    failures_good: bool = False,
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """Top ``ceil(gamma * n)`` by value (failures last) and the rest. ``failures_good`` ranks
    failures first instead: metanas' rule before 0.2.2, kept so older studies resume exactly."""
    last = -np.inf if failures_good else np.inf
    order = sorted(data, key=lambda av: last if av[1] is None else -av[1])
    n_good = max(1, math.ceil(gamma * len(order)))
    return [a for a, _ in order[:n_good]], [a for a, _ in order[n_good:]]


def tpe_propose(
    strat: Strategy,
    data: Sequence[tuple[Mapping[str, Any], float | None]],
    gamma: float,
    n_candidates: int,
    prior_weight: float = 1.0,
    failures_good: bool = False,
) -> dict[str, Any]:
    """The unseen candidate with the highest ``log l(x) - log g(x)``.

    Candidates come from ``l``; invalid or already-seen draws are replaced by a local pool around
    the good architectures, so constrained spaces (e.g. table members only) still work.
    """
    space, rng = strat.space, strat.rng
    good, bad = split_good_bad(data, gamma, failures_good)
    lm, gm = ParzenModel(space, good, prior_weight), ParzenModel(space, bad, prior_weight)
    cands: dict[str, dict[str, Any]] = {}
    for _ in range(n_candidates):
        a = lm.sample(rng)
        if space.is_valid(a):
            k = space.key(a)
            if k not in strat.seen:
                cands[k] = a
    if len(cands) < n_candidates // 2:
        for a in candidate_pool(strat, good[:5], n_candidates, n_candidates // 4):
            cands.setdefault(space.key(a), a)
    if not cands:
        return strat.sample_unseen()
    pool = list(cands.values())
    score = np.array([lm.logpdf(a) - gm.logpdf(a) for a in pool])
    return pool[int(np.argmax(score))]


@register_strategy("tpe")
class TPE(Strategy):
    """Tree-structured Parzen estimator over the space's dimensions.

    Args:
        n_startup: random architectures before the density model.
        gamma: share of results counted as good.
        n_candidates: draws from ``l`` scored per ask.
        prior_weight: pseudo-count of the uniform prior in each estimator.
        failures_good: count failed trials among the good ones (metanas' rule before 0.2.2,
            set for the studies it made so they resume exactly); by default they are the worst.
    """

    def __init__(
        self,
        space: Space,
        seed: int | None = 0,
        n_startup: int = 10,
        gamma: float = 0.15,
        n_candidates: int = 48,
        prior_weight: float = 1.0,
        failures_good: bool = False,
    ) -> None:
        super().__init__(space, seed)
        _check(0 < gamma < 1, f"tpe gamma must be in (0, 1), got {gamma}; use e.g. 0.15.")
        _check(n_candidates >= 1, "tpe n_candidates must be >= 1; use e.g. 48.")
        _check(prior_weight >= 0, f"tpe prior_weight must be >= 0, got {prior_weight}; use e.g. 1.")
        self.n_startup, self.gamma, self.n_candidates = n_startup, gamma, n_candidates
        self.prior_weight, self.failures_good = prior_weight, failures_good
        self._data: list[tuple[dict[str, Any], float | None]] = []

    def _tell(self, candidate: Candidate, result: Result) -> None:
        self._data.append((dict(candidate.arch), result.value))

    def _ask(self) -> dict[str, Any]:
        if len(self._data) < max(self.n_startup, 2):
            return self.sample_unseen()
        return tpe_propose(
            self, self._data, self.gamma, self.n_candidates, self.prior_weight, self.failures_good
        )
