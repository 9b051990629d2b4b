"""Multi-fidelity schedulers as strategies: each candidate carries ``Budget(epochs=b)``.

A promotion asks the same architecture again with a larger budget: its key repeats, its budget
differs (studies identify a trial by ``(key, budget)``). Candidate ``info`` holds the bracket and
rung so results find their way back, also after a replay.

* ``successive_halving``: brackets of ``eta**s_max`` new architectures at the smallest budget; when
  a rung is complete its top ``1/eta`` go on to the next budget. A new bracket starts whenever no
  job is ready, so parallel workers never idle (brackets overlap).
* ``hyperband``: the same, cycling through the brackets ``s = s_max .. 0`` (Li et al. 2018).
* ``asha``: asynchronous promotions (Li et al. 2020): on every ask, promote the best
  not-yet-promoted architecture in the top ``1/eta`` of the highest possible rung, else start a
  new one at the smallest budget. :meth:`ASHA.should_stop` offers the same rule for per-epoch
  early stopping in a training loop of your own (a study stops no trial early: it runs each
  at its budget).
* A failed result is never promoted (``promote_failed=True``: as before 0.2.5, it may fill a
  place no result took), nor a pruned one, whose value is from fewer epochs than its rung's
  (``promote_pruned=True``: as before 0.2.7, it ranks with the rung's results).
* ``bohb``: Hyperband whose new architectures come from a TPE model of the results at the largest
  budget with at least ``n_min`` observations (Falkner et al. 2018); a share ``random_fraction``
  stays random.

Every scheduler takes ``sampler=``: ``"random"`` (the papers' default), ``"mutation"`` (regularized
evolution's proposal) or ``"bananas"`` (the UCB pick of a BANANAS predictor ensemble), each fed
with the results of the largest budget that has ``n_min`` of them, as BOHB does with TPE; or
``"bananas_mf"``: one BANANAS model of every rung's results with the rung as an input
(:class:`RungBananas`), picking what it predicts best at the top budget.

Budgets: geometric ``max_budget * eta**-i`` from ``min_budget``, or explicit ``budgets=`` (e.g.
``(12, 200)`` for the NAS-Bench-201 tables, ``(4, 12, 36, 108)`` for NAS-Bench-101).

Example:
    >>> from metanas.space import Space, Choice
    >>> st = SuccessiveHalving(Space([Choice("a", tuple(range(30)))]), seed=0, min_budget=1, max_budget=9)
    >>> st.ask().budget.epochs
    1.0
"""

from __future__ import annotations

import bisect
import inspect
import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metanas.space.base import Space
from metanas.strategies.base import Strategy, register_strategy, strategy_class
from metanas.strategies.bayesopt import Bananas, tpe_propose
from metanas.types import Budget, Candidate, Result, TrialState, UserInputError


def rung_budgets(
    min_budget: float, max_budget: float, eta: float, budgets: Sequence[float] | None = None
) -> list[float]:
    """The ascending list of rung budgets."""
    if budgets is not None:
        try:
            if isinstance(budgets, str):
                raise TypeError
            bs = sorted(float(b) for b in budgets)
        except (TypeError, ValueError):
            raise UserInputError(
                f"budgets must be a list of numbers such as [12, 200], got {budgets!r}."
            ) from None
        if not bs or bs[0] <= 0 or len(set(bs)) != len(bs) or not math.isfinite(bs[-1]):
            raise UserInputError(f"budgets must be distinct positive numbers, got {list(budgets)}.")
        return bs
    for k, v in (("min_budget", min_budget), ("max_budget", max_budget), ("eta", eta)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise UserInputError(f"{k} must be a finite number, got {v!r}.")
    if not (0 < min_budget <= max_budget):
        raise UserInputError(
            f"need 0 < min_budget <= max_budget, got {min_budget} and {max_budget}."
        )
    if eta <= 1:
        raise UserInputError(f"eta must be above 1, got {eta}; use e.g. eta=3.")
    s_max = math.floor(math.log(max_budget / min_budget) / math.log(eta) + 1e-9)
    return [float(max_budget * eta ** -(s_max - i)) for i in range(s_max + 1)]


def fidelity_rungs(
    name: str, fidelities: Iterable[float], options: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``options`` of strategy ``name`` with an evaluator's ``fidelities`` (a table's 12 and 200
    epochs, say) as the rungs when the strategy uses budgets and the options set none: its
    default rungs (1 to 27 epochs) would all be answered from the lowest fidelity. Rungs set
    by the options must be among the fidelities, which are all such an evaluator can answer."""
    fids = sorted(float(f) for f in fidelities)
    opts = dict(options or {})
    cls = strategy_class(name)
    if len(fids) < 2 or not cls.uses_budgets:
        return opts
    if not {"budgets", "min_budget", "max_budget"} & set(opts):
        opts["budgets"] = tuple(fids)
        return opts
    params = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
    min_b, max_b, eta = (
        opts.get(k, params[k].default) for k in ("min_budget", "max_budget", "eta")
    )
    rungs = rung_budgets(min_b, max_b, eta, opts.get("budgets"))
    off = [b for b in rungs if b not in fids]
    if off:
        raise UserInputError(
            f"{name}'s rungs {_epochs(rungs)} include {_epochs(off)}, which the evaluator does "
            f"not hold (it has {_epochs(fids)}); set budgets among those, or none to use them all."
        )
    return opts


def _epochs(bs: Iterable[float]) -> str:
    return "/".join(f"{b:g}" for b in bs) + " epochs"


#: new-architecture samplers of every scheduler; BOHB adds "tpe"
SCHEDULER_SAMPLERS = ("random", "mutation", "bananas", "bananas_mf")
SAMPLERS = (*SCHEDULER_SAMPLERS, "tpe")


def _checked_rungs(
    min_budget: float, max_budget: float, eta: float, budgets: Sequence[float] | None
) -> list[float]:
    out = rung_budgets(min_budget, max_budget, eta, budgets)
    if eta <= 1:
        raise UserInputError(f"eta must be above 1, got {eta}; use e.g. eta=3.")
    return out


def model_data(
    by_rung: Sequence[Sequence[tuple[dict[str, Any], float | None]]], n_min: int
) -> Sequence[tuple[dict[str, Any], float | None]] | None:
    """Results of the largest budget with at least ``n_min`` successful ones (BOHB's rule)."""
    for data in reversed(by_rung):
        if sum(v is not None for _, v in data) >= n_min:
            return data
    return None


def mutation_propose(
    strat: Strategy,
    data: Sequence[tuple[dict[str, Any], float | None]],
    population: int,
    tournament: int,
    tries: int = 10,
) -> dict[str, Any]:
    """An unseen mutation of a tournament winner among the last ``population`` results.

    Regularized evolution's proposal (Real et al. 2019) on one budget's results: the most recent
    ``population`` results form the population (aging), the best of ``tournament`` random members
    is the parent. A seen child is re-mutated (``tries`` times, then one step further away).
    """
    pop = [(a, v) for a, v in data[-population:] if v is not None]
    if not pop:
        return strat.sample_unseen()
    rng, key, seen = strat.rng, strat.space.key, strat.seen
    k = min(tournament, len(pop))
    idx = rng.choice(len(pop), size=k, replace=False)
    parent = max((pop[int(i)] for i in idx), key=lambda av: av[1])[0]  # type: ignore[arg-type,return-value]
    child = strat.space.mutate(parent, rng)
    for _ in range(tries):
        if key(child) not in seen:
            return child
        child = strat.space.mutate(parent, rng)
    for _ in range(tries):
        if key(child) not in seen:
            return child
        child = strat.space.mutate(child, rng)
    return child if key(child) not in seen else strat.sample_unseen()


class _AtRung(dict):  # type: ignore[type-arg]
    """An architecture as a result of one rung: the rung index rides along to the encoder."""

    def __init__(self, arch: Mapping[str, Any], rung: int) -> None:
        super().__init__(arch)
        self.rung = rung


def _sampler_model(seed: int, options: Mapping[str, Any]) -> dict[str, Any]:
    """A scheduler's bananas model: the scheduler's random_fraction already explores (no
    patience, no sweep), one start, and the MLP ensemble (fed all four of NB101's rungs, mostly
    4-epoch results, the quadratic process took asha 2.3x as long; benchmarks/README.md) on the
    space's features alone (option counts were chosen for bananas, not measured here);
    ``options`` (the user's ``sampler_options``) override."""
    return {
        "seed": seed,
        "n_init": 1,
        "patience": 0,
        "sweep_after": 0,
        "predictor": "mlp",
        "counts": False,
        **options,
    }


class RungBananas(Bananas):
    """Multi-fidelity BANANAS: one predictor of every rung's results, the rung one-hot encoded
    next to the architecture's features; unseen architectures are scored at the top rung.

    Unlike BOHB's rule (a model of the largest budget with enough results), low-budget results
    inform the pick from the start, and the network learns how far each rung's ranking carries
    to the top one.
    """

    def __init__(self, space: Space, seed: int, n_rungs: int, **options: Any) -> None:
        super().__init__(space, **_sampler_model(seed, options))
        self.n_rungs = n_rungs
        self._fed = [0] * n_rungs  # results of each rung already in the model's data

    def propose_rungs(
        self, by_rung: Sequence[Sequence[tuple[dict[str, Any], float | None]]], seen: set[str]
    ) -> dict[str, Any]:
        """The next architecture given every rung's (append-only) results; ``seen`` are the
        keys not to propose."""
        self.seen = seen
        for r, rung in enumerate(by_rung):
            self._feed((_AtRung(a, r), v) for a, v in rung[self._fed[r] :])
            self._fed[r] = len(rung)
        return self._ask()

    def _encode(self, archs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        onehot = np.zeros((len(archs), self.n_rungs))
        rungs = [getattr(a, "rung", self.n_rungs - 1) for a in archs]  # the pool: the top rung
        onehot[np.arange(len(archs)), rungs] = 1.0
        return np.hstack([super()._encode(archs), onehot])


class _Proposer:
    """How a scheduler draws its new (lowest-budget) architectures: ``sampler`` is ``"random"``,
    ``"mutation"`` (regularized evolution on the largest budget with ``n_min`` results),
    ``"bananas"`` (a :class:`~metanas.strategies.bayesopt.Bananas` model of those results),
    ``"bananas_mf"`` (a :class:`RungBananas` model of all rungs, used once ``n_min`` results
    exist) or, for BOHB, ``"tpe"``; a share ``random_fraction`` stays random under a model.
    ``sampler_options`` go to the bananas samplers' model (e.g. ``{"predictor": "quadratic"}``)."""

    space: Space  # the strategy's (a mixin of Strategy)
    sampler: str
    random_fraction: float
    n_min: int
    population: int
    tournament: int
    gamma: float
    n_candidates: int
    failures_good: bool
    promote_pruned: bool

    def _promotable(self, result: Result) -> bool:
        """Whether ``result`` ranks in its rung: a value of the rung's whole budget (a pruned
        run's is from fewer epochs; ranked as before 0.2.7 with ``promote_pruned``)."""
        return result.value is not None and (
            result.state is not TrialState.PRUNED or self.promote_pruned
        )

    def _init_sampler(
        self,
        sampler: str,
        random_fraction: float,
        population: int,
        tournament: int,
        allowed: Sequence[str],
        sampler_options: Mapping[str, Any] | None = None,
    ) -> None:
        if sampler not in allowed:
            raise UserInputError(f"sampler must be one of {', '.join(allowed)}, got {sampler!r}.")
        self.sampler_options = dict(sampler_options or {})
        if self.sampler_options:
            if sampler not in ("bananas", "bananas_mf"):
                raise UserInputError(
                    f"sampler_options apply to the bananas samplers only, not {sampler!r}; "
                    "drop them or use sampler='bananas' or 'bananas_mf'."
                )
            try:  # bad options fail now, not once the model is first used mid-run
                Bananas(self.space, **self.sampler_options)
            except TypeError as e:
                raise UserInputError(f"sampler_options: {e}; see Bananas' arguments.") from None
        if not 0 <= random_fraction <= 1:
            raise UserInputError(f"random_fraction must be in [0, 1], got {random_fraction}.")
        if population < 1 or tournament < 1:
            raise UserInputError(
                f"population and tournament must be at least 1, got {population} and "
                f"{tournament}; e.g. population=20, tournament=5."
            )
        self.sampler, self.random_fraction = sampler, random_fraction
        self._bananas: Bananas | None = None
        self._rung_model: RungBananas | None = None
        self.population, self.tournament = population, tournament

    def _propose(
        self: Any, by_rung: Sequence[Sequence[tuple[dict[str, Any], float | None]]]
    ) -> dict[str, Any]:
        if self.sampler == "random" or self.rng.random() < self.random_fraction:
            return self.sample_unseen()  # type: ignore[no-any-return]
        if self.sampler == "bananas_mf":
            if self._rung_model is None:
                if sum(v is not None for rung in by_rung for _, v in rung) < self.n_min:
                    return self.sample_unseen()  # type: ignore[no-any-return]
                seed = int(self.rng.integers(2**31))
                self._rung_model = RungBananas(
                    self.space, seed, len(by_rung), **self.sampler_options
                )
            return self._rung_model.propose_rungs(by_rung, self.seen)
        data = model_data(by_rung, self.n_min)
        if data is None:
            return self.sample_unseen()  # type: ignore[no-any-return]
        if self.sampler == "mutation":
            return mutation_propose(self, data, self.population, self.tournament)
        if self.sampler == "bananas":
            if self._bananas is None:  # seeded from the scheduler: replays stay exact
                seed = int(self.rng.integers(2**31))
                self._bananas = Bananas(self.space, **_sampler_model(seed, self.sampler_options))
            return self._bananas.propose(data, self.seen)
        return tpe_propose(
            self, data, self.gamma, self.n_candidates, failures_good=self.failures_good
        )


@dataclass
class _Bracket:
    id: int
    sizes: list[int]  # configurations per rung of this bracket
    first: int  # index of this bracket's first rung in the global budget list
    rung: int = 0  # current rung, relative to ``first``
    to_sample: int = 0  # new architectures still to ask (rung 0 only)
    queue: list[dict[str, Any]] = field(default_factory=list)  # promoted, not yet asked
    asked: int = 0
    #: by candidate id: an architecture asked twice in a rung (a nearly exhausted space) fills
    #: two of its places, else the rung would never fill
    results: dict[int, tuple[dict[str, Any], float]] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.rung >= len(self.sizes)


class _Hyperband(_Proposer, Strategy):
    """Shared machinery of successive halving, Hyperband and BOHB.

    Args:
        min_budget, max_budget, eta, budgets: the rungs.
        sampler: new architectures ``"random"`` (default), ``"mutation"``: regularized
            evolution on the largest budget with ``n_min`` results (``population`` most recent,
            best of ``tournament``), or ``"bananas"``: the UCB pick of a predictor ensemble fitted
            on those results, or ``"bananas_mf"``: one such model of every rung's results with the
            rung as an input; a share ``random_fraction`` stays random.
        sampler_options: keyword arguments of the bananas samplers' model (by default the
            MLP ensemble), e.g. ``{"predictor": "quadratic"}``.
        promote_failed: fill a rung's places with failed results when too few succeeded (as
            before 0.2.5); by default only results are promoted, and the next rung is smaller.
        promote_pruned: rank a pruned result (stopped before its rung's budget) with the
            rung's results (as before 0.2.7); by default it goes no further, as a failed one.
    """

    uses_budgets = True
    _cycle: bool = True  # Hyperband cycles through brackets; successive halving keeps s = s_max
    _samplers: tuple[str, ...] = SCHEDULER_SAMPLERS

    def __init__(
        self,
        space: Space,
        seed: int | None = 0,
        min_budget: float = 1.0,
        max_budget: float = 27.0,
        eta: float = 3.0,
        budgets: Sequence[float] | None = None,
        sampler: str = "random",
        random_fraction: float = 1 / 3,
        n_min: int | None = None,
        population: int = 20,
        tournament: int = 5,
        sampler_options: Mapping[str, Any] | None = None,
        promote_failed: bool = False,
        promote_pruned: bool = False,
    ) -> None:
        super().__init__(space, seed)
        self._init_sampler(
            sampler, random_fraction, population, tournament, self._samplers, sampler_options
        )
        self.promote_failed = bool(promote_failed)
        self.promote_pruned = bool(promote_pruned)
        self.n_min = n_min if n_min is not None else self._default_n_min(space)
        self.budgets = _checked_rungs(min_budget, max_budget, eta, budgets)
        self.eta = eta
        self.s_max = len(self.budgets) - 1
        self.brackets: dict[int, _Bracket] = {}
        self._n_brackets = 0
        # (arch, value) of every result, per rung index (for BOHB's model and for users)
        self.by_rung: list[list[tuple[dict[str, Any], float | None]]] = [[] for _ in self.budgets]

    def _new_bracket(self) -> _Bracket:
        s = self.s_max - (self._n_brackets % (self.s_max + 1)) if self._cycle else self.s_max
        n = (
            math.ceil((self.s_max + 1) / (s + 1) * self.eta**s)
            if self._cycle
            else round(self.eta**s)
        )
        sizes = [max(1, int(n * self.eta**-i)) for i in range(s + 1)]
        br = _Bracket(id=self._n_brackets, sizes=sizes, first=self.s_max - s, to_sample=sizes[0])
        self._n_brackets += 1
        self.brackets[br.id] = br
        return br

    def _default_n_min(self, space: Space) -> int:
        return self.tournament if self.sampler == "mutation" else len(space.dims) + 1

    def _sample_new(self) -> dict[str, Any]:
        return self._propose(self.by_rung)

    def _job(self, br: _Bracket) -> tuple[dict[str, Any], Budget, dict[str, Any]] | None:
        if br.done or br.asked >= br.sizes[br.rung]:
            return None
        if br.rung == 0:
            arch = self._sample_new()
        elif br.queue:
            arch = br.queue.pop(0)
        else:
            return None
        br.asked += 1
        level = br.first + br.rung
        return arch, Budget(epochs=self.budgets[level]), {"bracket": br.id, "rung": level}

    def _ask(self) -> tuple[dict[str, Any], Budget, dict[str, Any]]:
        for br in self.brackets.values():
            job = self._job(br)
            if job is not None:
                return job
        job = self._job(self._new_bracket())
        assert job is not None
        return job

    def _tell(self, candidate: Candidate, result: Result) -> None:
        level = int(candidate.info.get("rung", 0))
        self.by_rung[level].append((dict(candidate.arch), result.value))
        br = self.brackets.get(int(candidate.info.get("bracket", -1)))
        if br is None or br.done:
            return
        v = float(result.value) if self._promotable(result) else -math.inf  # type: ignore[arg-type]
        br.results[candidate.id] = (dict(candidate.arch), v)
        if len(br.results) < br.sizes[br.rung]:
            return
        ranked = sorted(br.results.values(), key=lambda av: -av[1])
        br.rung += 1
        br.asked, br.results = 0, {}
        keep = ranked[: br.sizes[br.rung]] if not br.done else []
        if not self.promote_failed:  # a failed run is worth no larger budget
            keep = [av for av in keep if av[1] > -math.inf]
            if keep:
                br.sizes[br.rung] = len(keep)  # the rung waits for these results only
        if br.done or not keep:
            del self.brackets[br.id]
            return
        br.queue = [a for a, _ in keep]


@register_strategy("successive_halving")
class SuccessiveHalving(_Hyperband):
    """Successive halving with ``eta**s_max`` architectures per bracket; see the module docstring.

    Args:
        min_budget, max_budget, eta, budgets: the rungs.
        sampler, random_fraction, n_min, population, tournament, sampler_options: new
            architectures, as for :class:`Hyperband`.
    """

    _cycle = False


@register_strategy("hyperband")
class Hyperband(_Hyperband):
    """Hyperband: successive-halving brackets of every aggressiveness, in turn.

    Args:
        min_budget, max_budget, eta, budgets: the rungs.
        sampler: new architectures: ``"random"`` (default), ``"mutation"`` (regularized
            evolution on the largest budget with ``n_min`` results: the ``population`` most
            recent, best of ``tournament``), ``"bananas"`` (the UCB pick of a model of those
            results) or ``"bananas_mf"`` (one model of every rung's results, the rung an input).
        random_fraction: share of new architectures that stay random under a model sampler.
        n_min: results a rung needs before a sampler uses it (default: ``tournament`` for
            ``"mutation"``, else the number of decisions + 1).
        sampler_options: the bananas samplers' model options (default the MLP ensemble), e.g.
            ``{"predictor": "quadratic"}``.
    """


@register_strategy("bohb")
class BOHB(_Hyperband):
    """Hyperband with TPE-sampled new architectures (model on the largest budget with data).

    Args:
        sampler: ``"tpe"`` (default, Falkner et al. 2018), ``"bananas"``, ``"bananas_mf"``,
            ``"mutation"`` or ``"random"``.
        n_min: observations a budget needs before its model is used (default: dims + 1 for TPE,
            ``tournament`` for mutation).
        random_fraction: share of new architectures drawn at random regardless of the model.
        gamma, n_candidates, failures_good: TPE settings (see :class:`~metanas.strategies.TPE`).
        promote_failed, promote_pruned: as for :class:`Hyperband`.
    """

    _samplers = SAMPLERS

    def __init__(
        self,
        space: Space,
        seed: int | None = 0,
        min_budget: float = 1.0,
        max_budget: float = 27.0,
        eta: float = 3.0,
        budgets: Sequence[float] | None = None,
        n_min: int | None = None,
        random_fraction: float = 1 / 3,
        gamma: float = 0.15,
        n_candidates: int = 48,
        sampler: str = "tpe",
        population: int = 20,
        tournament: int = 5,
        sampler_options: Mapping[str, Any] | None = None,
        failures_good: bool = False,
        promote_failed: bool = False,
        promote_pruned: bool = False,
    ) -> None:
        super().__init__(
            space,
            seed,
            min_budget,
            max_budget,
            eta,
            budgets,
            sampler=sampler,
            random_fraction=random_fraction,
            n_min=n_min,
            population=population,
            tournament=tournament,
            sampler_options=sampler_options,
            promote_failed=promote_failed,
            promote_pruned=promote_pruned,
        )
        if not 0 < gamma < 1 or n_candidates < 1:
            raise UserInputError(
                f"bohb needs 0 < gamma < 1 and n_candidates >= 1, got {gamma} and {n_candidates}; "
                "use e.g. 0.15 and 48."
            )
        self.gamma, self.n_candidates = gamma, n_candidates
        self.failures_good = failures_good


@register_strategy("asha")
class ASHA(_Proposer, Strategy):
    """Asynchronous successive halving; see the module docstring.

    Args:
        min_budget, max_budget, eta, budgets: the rungs.
        metric: the metric :meth:`should_stop` compares (higher is better), for a training loop
            of your own that calls it; in a study ASHA promotes by budgets and stops no trial.
        sampler, random_fraction, n_min, population, tournament, sampler_options: new
            architectures, as for :class:`Hyperband` (``n_min`` defaults to ``tournament``).
        promote_failed: let a failed result be promoted (it ranks last in its rung; as before
            0.2.5); by default a failed run goes no further.
        promote_pruned: let a pruned result (stopped before its rung's budget) be promoted by
            its value, as a finished one (as before 0.2.7); by default it goes no further.
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
        metric: str = "value",
        sampler: str = "random",
        random_fraction: float = 1 / 3,
        n_min: int | None = None,
        population: int = 20,
        tournament: int = 5,
        sampler_options: Mapping[str, Any] | None = None,
        promote_failed: bool = False,
        promote_pruned: bool = False,
    ) -> None:
        super().__init__(space, seed)
        self._init_sampler(
            sampler, random_fraction, population, tournament, SCHEDULER_SAMPLERS, sampler_options
        )
        self.promote_failed = bool(promote_failed)
        self.promote_pruned = bool(promote_pruned)
        self.n_min = n_min if n_min is not None else tournament
        self.budgets = _checked_rungs(min_budget, max_budget, eta, budgets)
        self.eta, self.metric = eta, metric
        self.rungs: list[dict[str, tuple[dict[str, Any], float]]] = [{} for _ in self.budgets]
        self.promoted: list[set[str]] = [set() for _ in self.budgets]
        self._reports: list[list[float]] = [[] for _ in self.budgets]
        # per rung, (-value, arrival, key) sorted: all results, and those not yet promoted;
        # keeps each ask O(log n) instead of sorting the rung again (long runs: 10^4 trials)
        self._ranked: list[list[tuple[float, int, str]]] = [[] for _ in self.budgets]
        self._waiting: list[list[tuple[float, int, str]]] = [[] for _ in self.budgets]
        self._arrivals = 0
        self._arrived: list[list[tuple[dict[str, Any], float | None]]] = [[] for _ in self.budgets]

    def _ask(self) -> tuple[dict[str, Any], Budget, dict[str, Any]]:
        for k in range(len(self.budgets) - 2, -1, -1):
            waiting = self._waiting[k]
            if not waiting:
                continue
            # the best unpromoted result is promotable iff it ranks in the rung's top 1/eta
            if bisect.bisect_left(self._ranked[k], waiting[0]) < int(
                len(self._ranked[k]) / self.eta
            ):
                key = waiting.pop(0)[2]
                self.promoted[k].add(key)
                return self.rungs[k][key][0], Budget(epochs=self.budgets[k + 1]), {"rung": k + 1}
        return self._sample_new(), Budget(epochs=self.budgets[0]), {"rung": 0}

    def _sample_new(self) -> dict[str, Any]:
        return self._propose(self._arrived)

    def _tell(self, candidate: Candidate, result: Result) -> None:
        k = int(candidate.info.get("rung", 0))
        v = float(result.value) if self._promotable(result) else -math.inf  # type: ignore[arg-type]
        if candidate.key in self.rungs[k]:  # a repeat told again: the first result stands
            return
        self.rungs[k][candidate.key] = (dict(candidate.arch), v)
        self._arrived[k].append((self.rungs[k][candidate.key][0], result.value))
        entry = (-v, self._arrivals, candidate.key)
        self._arrivals += 1
        bisect.insort(self._ranked[k], entry)
        promotable = self._promotable(result) or (result.value is None and self.promote_failed)
        if k < len(self.budgets) - 1 and candidate.key not in self.promoted[k] and promotable:
            bisect.insort(self._waiting[k], entry)

    def should_stop(self, candidate: Candidate, step: int, metrics: Mapping[str, float]) -> bool:
        """Per-epoch rule for real training: stop at a rung unless in the top ``1/eta`` there.

        Call it after each epoch ``step`` (1-based) with the epoch's metrics; it records the value
        at rung budgets (a rung of 2.5 epochs at step 3, the first report past it) and answers
        ``True`` when the run should stop early.
        """
        if self.metric not in metrics:  # it would never stop a run: a wrong name, not a rule
            raise UserInputError(
                f"ASHA.should_stop compares metric {self.metric!r}, which the reported metrics "
                f"({', '.join(sorted(metrics)) or 'none'}) lack; build ASHA with metric= one of "
                "them."
            )
        for k, b in enumerate(self.budgets[:-1]):
            if math.ceil(round(b, 6)) == step:
                vals = self._reports[k]
                v = float(metrics[self.metric])
                vals.append(v)
                if len(vals) < self.eta:
                    return False
                cutoff = sorted(vals, reverse=True)[max(0, int(len(vals) / self.eta) - 1)]
                return v < cutoff
        return False
