"""Run search strategies x seeds on a benchmark table, with the NAS-Bench-201 protocol.

The strategy sees the objective (validation accuracy); after ``n`` distinct queries we report the
``report`` metric (test accuracy) of the architecture with the best objective so far. A query is
one distinct (canonical key, budget) pair: a repeated or isomorphic candidate is answered from a
cache, told to the strategy, and not counted. Used by ``metanas bench`` and the scripts in
``benchmarks/``.

Example:
    >>> from metanas.benchrun import run_bench
    >>> from metanas.evaluation.tabular import nb201_table
    >>> res = run_bench(nb201_table("cifar10"), None, ["random"], seeds=[0, 1], n_queries=20)
    >>> res.summaries["random"].n_seeds
    2
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from metanas.evaluation.base import continue_always
from metanas.evaluation.tabular import TableEvaluator, TableSpace
from metanas.space.base import Space
from metanas.types import Result, UserInputError, did_you_mean

OPTUNA_TPE = "optuna-tpe"
#: ``make(strategy_name, seed, options) -> Strategy``, e.g. :func:`metanas.meta.hook.warm_factory`
StrategyFactory = Callable[[str, int, Mapping[str, Any]], Any]
#: asks allowed per counted query before a run gives up (strategies that keep repeating themselves)
MAX_ASKS_PER_QUERY = 20


@dataclass
class SeedRun:
    """One strategy, one seed: the distinct computations in evaluation order."""

    strategy: str
    seed: int
    archs: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)
    reports: list[float | None] = field(default_factory=list)
    #: whether each query ran at the table's largest budget (a multi-fidelity run's cheaper
    #: results neither count as its best nor as finding the optimum)
    full: list[bool] = field(default_factory=list)
    #: candidates asked, repeats included
    n_asks: int = 0

    def add(
        self, arch: str, key: str, result: Result, report_name: str | None, full: bool = True
    ) -> None:
        self.archs.append(arch)
        self.keys.append(key)
        self.values.append(result.value)
        rep = result.metrics.get(report_name) if report_name else result.value
        self.reports.append(None if rep is None else float(rep))
        self.full.append(full)

    def best_at(self, n: int) -> tuple[float | None, float | None]:
        """(best objective, its report metric) among the first ``n`` queries' full-budget ones."""
        best: tuple[float | None, float | None] = (None, None)
        for v, r, full in zip(self.values[:n], self.reports[:n], self.full[:n]):
            if full and v is not None and (best[0] is None or v > best[0]):
                best = (v, r)
        return best

    def queries_to(self, key: str) -> int | None:
        """1-based number of distinct queries until ``key`` was evaluated at the full budget,
        or ``None``."""
        for i, (k, full) in enumerate(zip(self.keys, self.full)):
            if k == key and full:
                return i + 1
        return None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        del d["strategy"]
        return d


@dataclass(frozen=True)
class Summary:
    """Statistics of one strategy over seeds (std is the sample std, 0 for one seed)."""

    strategy: str
    n_seeds: int
    n_queries: int
    report_mean: float
    report_std: float
    best_value_mean: float
    best_value_std: float
    #: median distinct queries to the table's best architecture; ``None`` when it is "> n_queries"
    median_queries_to_best: float | None
    n_reached: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BenchResult:
    table: str
    objective: str
    report: str | None
    n_queries: int
    best_key: str
    best_arch: str
    best_value: float
    runs: dict[str, list[SeedRun]]
    summaries: dict[str, Summary]

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "objective": self.objective,
            "report": self.report,
            "queries": self.n_queries,
            "table_best": {"arch": self.best_arch, "key": self.best_key, "value": self.best_value},
            "summary": {k: s.to_json() for k, s in self.summaries.items()},
            "runs": {k: [r.to_json() for r in rs] for k, rs in self.runs.items()},
        }


def _mean_std(xs: Sequence[float]) -> tuple[float, float]:
    if not xs:
        return math.nan, math.nan
    return statistics.fmean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0


def summarize(name: str, runs: Sequence[SeedRun], n_queries: int, best_key: str) -> Summary:
    """Mean ± std of report and best objective at ``n_queries``; median queries to ``best_key``."""
    bests = [r.best_at(n_queries) for r in runs]
    reports = [b[1] for b in bests if b[1] is not None]
    values = [b[0] for b in bests if b[0] is not None]
    reached = [r.queries_to(best_key) for r in runs]
    # seeds that never reach the optimum count as infinitely many queries
    med = statistics.median([math.inf if q is None else q for q in reached]) if runs else math.inf
    return Summary(
        strategy=name,
        n_seeds=len(runs),
        n_queries=n_queries,
        report_mean=_mean_std(reports)[0],
        report_std=_mean_std(reports)[1],
        best_value_mean=_mean_std(values)[0],
        best_value_std=_mean_std(values)[1],
        median_queries_to_best=None if math.isinf(med) else float(med),
        n_reached=sum(q is not None for q in reached),
    )


# --------------------------------------------------------------------- one seed
def _evaluate(ev: TableEvaluator, arch: Mapping[str, Any], budget: Any) -> Result:
    return ev.evaluate(arch, budget, continue_always)


def _done(run: SeedRun, n_queries: int, stop: tuple[str, int] | None) -> bool:
    if len(run.keys) >= n_queries:
        return True
    # early stop: the target key was evaluated and at least the minimum number of queries is in
    return stop is not None and len(run.keys) >= stop[1] and run.queries_to(stop[0]) is not None


def run_strategy(
    ev: TableEvaluator,
    space: Space,
    strategy: str,
    seed: int,
    n_queries: int,
    stop: tuple[str, int] | None = None,
    options: Mapping[str, Any] | None = None,
    factory: StrategyFactory | None = None,
) -> SeedRun:
    """Drive ``strategy``'s ask/tell directly (no store) until ``n_queries`` distinct keys.

    ``stop=(key, m)`` ends the run early once ``key`` was evaluated and ``m`` queries are in.
    ``options`` are the strategy's keyword arguments; ``options["strategy"]`` names the registered
    strategy when ``strategy`` is only a label (e.g. ``"bananas-ucb"``). ``factory(name, seed,
    options)`` builds the strategy instead (e.g. :func:`metanas.meta.hook.warm_factory`: warm starts).
    """
    if strategy == OPTUNA_TPE:
        if factory is not None:
            raise UserInputError("optuna-tpe cannot be warm-started; drop it or --warm-start.")
        return run_optuna_tpe(ev, space, seed, n_queries, stop)
    from metanas.strategies import get_strategy

    kw = dict(options or {})
    if factory is not None:
        strat = factory(kw.pop("strategy", strategy), seed, kw)
    else:
        strat = get_strategy(kw.pop("strategy", strategy), space, seed=seed, **kw)
    report = ev.metric_names[1] if _has_report(ev) else None
    return drive(strat, ev, n_queries, report, stop, label=strategy, seed=seed)


def drive(
    strategy: Any,
    evaluator: Any,
    n_queries: int,
    report: str | None = "test_acc",
    stop: tuple[str, int] | None = None,
    label: str | None = None,
    seed: int | None = None,
) -> SeedRun:
    """Ask/tell ``strategy`` until ``n_queries`` distinct keys (repeats answered from a cache).

    ``stop=(key, m)`` ends early once ``key`` was evaluated and ``m`` queries are in; ``label``
    and ``seed`` name the run (default: the strategy's registered name and seed).
    """
    from metanas.strategies import SpaceExhausted

    run = SeedRun(label or strategy.name, seed if seed is not None else int(strategy.seed or 0))
    cache: dict[tuple[str, Any], Result] = {}
    space = strategy.space
    while not _done(run, n_queries, stop) and run.n_asks < MAX_ASKS_PER_QUERY * n_queries + 100:
        try:
            cand = strategy.ask()
        except SpaceExhausted:
            break
        run.n_asks += 1
        ck = (cand.key, cand.budget)
        res = cache.get(ck)
        if res is None:
            res = evaluator.evaluate(cand.arch, cand.budget, continue_always)
            cache[ck] = res
            run.add(space.describe(cand.arch), cand.key, res, report, _full(evaluator, res))
        strategy.tell(cand, res)
    return run


def _full(evaluator: Any, result: Result) -> bool:
    """Whether ``result`` ran at the evaluator's largest budget (always, with one budget)."""
    top = max(getattr(evaluator, "fidelities", None) or [0.0])
    return not top or result.metrics.get("epochs", top) >= top


def _has_report(ev: TableEvaluator) -> bool:
    return any(rep is not None for _, rep in ev.fidelities.values())


def run_optuna_tpe(
    ev: TableEvaluator,
    space: Space,
    seed: int,
    n_queries: int,
    stop: tuple[str, int] | None = None,
) -> SeedRun:
    """Optuna's TPESampler as a peer: one categorical parameter per dimension, in-memory study."""
    try:
        import optuna
    except ImportError:
        raise UserInputError(
            "strategy optuna-tpe needs Optuna; install it with `pip install optuna` "
            "(or `pip install metanas[bench]`)."
        ) from None
    from metanas.space.dims import Choice

    # TPE proposes anywhere in the product of choices: the table must cover the whole space
    if isinstance(space, TableSpace) or any(
        not isinstance(d, Choice) or d.when is not None for d in space.dims
    ):
        raise UserInputError(
            "optuna-tpe needs a table covering a space of unconditional choices (e.g. nb201); "
            "use another strategy here."
        )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists: dict[str, optuna.distributions.BaseDistribution] = {
        d.name: optuna.distributions.CategoricalDistribution(list(d.values())) for d in space.dims
    }
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    run = SeedRun(OPTUNA_TPE, seed)
    cache: dict[str, Result] = {}
    report = ev.metric_names[1] if _has_report(ev) else None
    while not _done(run, n_queries, stop) and run.n_asks < MAX_ASKS_PER_QUERY * n_queries + 100:
        trial = study.ask(dists)
        run.n_asks += 1
        arch = {d.name: trial.params[d.name] for d in space.dims}
        key = space.key(arch)
        res = cache.get(key)
        if res is None:  # a repeat is answered from the cache and not counted
            res = _evaluate(ev, arch, None)
            cache[key] = res
            run.add(space.describe(arch), key, res, report)
        if res.value is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, res.value)
    return run


def run_with_study(
    ev: TableEvaluator,
    space: Space,
    strategy: str,
    seed: int,
    n_queries: int,
    storage: str,
    factory: StrategyFactory | None = None,
    options: Mapping[str, Any] | None = None,
) -> SeedRun:
    """The same run through the real study loop and a store (``--storage``); ``options`` are
    the strategy's keyword arguments."""
    if strategy == OPTUNA_TPE:
        raise UserInputError("--storage does not apply to optuna-tpe; drop --storage for it.")
    from metanas.study import create_study

    # a warm run is its own study: it must neither resume nor be resumed by the cold one
    warm = "-warm" if factory is not None else ""
    kw = dict(options or {})
    name = kw.pop("strategy", strategy)
    study = create_study(
        space,
        name if factory is None else factory(name, seed, kw),
        ev,
        storage=storage,
        study_name=f"bench-{ev.name}-{strategy}{warm}-s{seed}-q{n_queries}",
        seed=seed,
        resume=True,
        strategy_kwargs=None if factory is not None else kw,
    )
    study.optimize(n_queries)
    run = SeedRun(strategy, seed)
    report = ev.metric_names[1] if _has_report(ev) else None
    seen: set[tuple[str, Any]] = set()  # as drive() counts: each (key, budget) once
    for t in sorted(study.trials, key=lambda t: t.number):
        res = t.result
        if res is None or (t.key, t.budget) in seen:
            continue
        seen.add((t.key, t.budget))
        run.add(space.describe(t.arch), t.key, res, report, _full(ev, res))
        run.n_asks += 1
    return run


@dataclass(frozen=True)
class TargetRun:
    """Simulated training time one seed spent until a full-fidelity result reached a target."""

    strategy: str
    seed: int
    #: summed ``Result.cost`` (``inf`` when ``max_cost`` ran out first)
    cost: float
    n_evaluations: int
    best_value: float | None


#: asks in a row without a new evaluation before :func:`time_to_target` gives a seed up (a
#: strategy that only repeats itself would otherwise loop forever at no simulated cost)
MAX_STALLED_ASKS = 2000


def run_to_target(
    ev: TableEvaluator,
    space: Space,
    strategy: str,
    seed: int,
    target: float,
    max_cost: float,
    options: Mapping[str, Any] | None = None,
) -> TargetRun:
    """Sum the evaluations' simulated cost until a result at the table's highest fidelity reaches
    ``target``; lower-fidelity results never count as found (the user needs a fully trained net).

    Every evaluation is charged in full (:func:`time_to_target` with ``charge="full"``).
    """
    return time_to_target(ev, space, strategy, seed, target, max_cost, options, "full")


def time_to_target(
    ev: TableEvaluator,
    space: Space,
    strategy: str,
    seed: int,
    target: float,
    max_cost: float,
    options: Mapping[str, Any] | None = None,
    charge: str = "full",
    max_stalled: int = MAX_STALLED_ASKS,
) -> TargetRun:
    """Like :func:`run_to_target`, with a cost convention and a guard against endless repeats.

    ``charge="full"``: every evaluation costs its budget's ``Result.cost`` (a promotion retrains
    from scratch, as NAS-Bench-101's and NAS-Bench-201's budgets are separate training runs with
    their own learning-rate schedules). ``charge="continue"``: a promotion of a key already
    evaluated at a lower budget costs only the difference (a resumed checkpoint). A repeated
    ``(key, budget)`` is answered from a cache at no cost; after ``max_stalled`` asks in a row
    without a new evaluation the seed counts as not reached (``cost = inf``).
    """
    from metanas.strategies import SpaceExhausted, get_strategy

    if charge not in ("full", "continue"):
        raise UserInputError(f"charge must be 'full' or 'continue', got {charge!r}.")
    kw = dict(options or {})
    strat = get_strategy(kw.pop("strategy", strategy), space, seed=seed, **kw)
    cache: dict[tuple[str, Any], Result] = {}
    paid: dict[str, float] = {}  # key -> cost already charged for its highest budget so far
    spent, n, best, stalled = 0.0, 0, None, 0
    while spent < max_cost and stalled < max_stalled:
        try:
            cand = strat.ask()
        except SpaceExhausted:
            break
        ck = (cand.key, cand.budget)
        res = cache.get(ck)
        if res is None:
            res = cache[ck] = _evaluate(ev, cand.arch, cand.budget)
            cost = res.cost or 0.0
            if charge == "continue":
                before = paid.get(cand.key, 0.0)
                paid[cand.key] = max(before, cost)
                cost = max(0.0, cost - before)
            spent += cost
            n += 1
            stalled = 0
            if _full(ev, res) and res.value is not None:
                best = res.value if best is None else max(best, res.value)
                if res.value >= target:
                    return TargetRun(strategy, seed, spent, n, best)
        else:
            stalled += 1
        strat.tell(cand, res)
    return TargetRun(strategy, seed, math.inf, n, best)


# --------------------------------------------------------------------- many strategies x seeds
def run_bench(
    ev: TableEvaluator,
    space: Space | None,
    strategies: Sequence[str],
    seeds: Sequence[int],
    n_queries: int,
    storage: str | None = None,
    on_done: Callable[[SeedRun], None] | None = None,
    stop_at_best_after: int | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    factory: StrategyFactory | None = None,
) -> BenchResult:
    """Run every strategy with every seed; ``space`` defaults to the table's space, restricted
    to the table's rows when the table does not cover it (e.g. the NAS-Bench-101 subset).

    ``stop_at_best_after=m`` ends a run once it has found the table's best architecture and made
    ``m`` queries (saves time when measuring queries-to-optimum; figures at more than ``m``
    queries are then not meaningful). ``options[name]`` are strategy ``name``'s keyword
    arguments (see :func:`run_strategy`). ``factory(name, seed, options)`` builds every strategy
    instead of the registry (``metanas bench --warm-start STORE``).
    """
    if n_queries < 1:
        raise UserInputError(f"--queries must be a positive integer, got {n_queries}.")
    if not seeds:
        raise UserInputError("--seeds must be at least 1.")
    if space is None:
        space = default_space(ev)
    best_row = ev.best_row()
    best_arch = ev.arch(best_row)
    best_key = space.key(best_arch)
    stop = None if stop_at_best_after is None else (best_key, stop_at_best_after)
    runs: dict[str, list[SeedRun]] = {}
    for name in strategies:
        runs[name] = []
        opts = table_budgets(ev, name, (options or {}).get(name))
        for seed in seeds:
            if storage is None:
                r = run_strategy(ev, space, name, seed, n_queries, stop, opts, factory)
            else:
                r = run_with_study(ev, space, name, seed, n_queries, storage, factory, opts)
            runs[name].append(r)
            if on_done is not None:
                on_done(r)
    return BenchResult(
        table=ev.name,
        objective=ev.objective,
        report=ev.metric_names[1] if _has_report(ev) else None,
        n_queries=n_queries,
        best_key=best_key,
        best_arch=space.describe(best_arch),
        best_value=float(ev.values()[best_row]),
        runs=runs,
        summaries={k: summarize(k, rs, n_queries, best_key) for k, rs in runs.items()},
    )


def table_budgets(
    ev: TableEvaluator, name: str, options: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``options`` with the table's fidelities as ``budgets`` when ``name`` uses budgets and the
    options set none (:func:`~metanas.strategies.multifidelity.fidelity_rungs`)."""
    from metanas.strategies.multifidelity import fidelity_rungs

    opts = dict(options or {})
    if name == OPTUNA_TPE:
        return opts
    return fidelity_rungs(opts.get("strategy", name), ev.fidelities, opts)


def default_space(ev: TableEvaluator) -> Space:
    """The table's space, restricted to its rows when the table does not cover all of it."""
    from metanas.evaluation.tabular import _space

    space = _space(ev.space_name)
    size = space.size
    if size is None or len(ev) < size:
        return ev.restrict(space)
    return space


def parse_strategies(text: str) -> list[str]:
    """``"random,evolution"`` -> names, checked against the registry (plus ``optuna-tpe``)."""
    from metanas.strategies import strategy_names

    names = [s.strip() for s in text.split(",")]
    if len(names) > 1 and "" in names:  # a doubled or trailing comma: a name left out?
        raise UserInputError(
            f"--strategy {text!r} has an empty name; separate the names by single commas."
        )
    names = [n for n in names if n]
    known = [*strategy_names(), OPTUNA_TPE]
    for n in names:
        if n not in known:
            raise UserInputError(
                f"unknown strategy {n!r}; {did_you_mean(n, known)}use one of {', '.join(known)}."
            )
    if not names:
        raise UserInputError("--strategy is empty; name at least one strategy, e.g. random.")
    return names


__all__ = [
    "OPTUNA_TPE",
    "BenchResult",
    "SeedRun",
    "Summary",
    "TargetRun",
    "default_space",
    "parse_strategies",
    "run_bench",
    "run_optuna_tpe",
    "run_strategy",
    "run_to_target",
    "run_with_study",
    "summarize",
    "time_to_target",
]
