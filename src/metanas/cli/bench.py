"""``metanas bench nb201|nb101|table``: strategies x seeds on a benchmark table.

The strategy searches on the objective (validation accuracy); the table printed reports, per
strategy, the report metric (test accuracy) of the best-by-objective architecture after N distinct
queries, the best objective, and the median number of distinct queries to the table's best
architecture (seeds that never reach it count as "> N").
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from metanas.cli.app import app, check_writable_file, strict_json, table_console

if TYPE_CHECKING:
    from metanas.benchrun import BenchResult
    from metanas.evaluation.tabular import TableEvaluator

bench_app = typer.Typer(
    name="bench",
    help="Benchmark search strategies on tables (NAS-Bench-201, NAS-Bench-101 subset, your CSV).",
    no_args_is_help=True,
)
app.add_typer(bench_app, name="bench")

StrategyOpt = Annotated[
    str,
    typer.Option(
        "--strategy",
        "-s",
        help="Registered strategy name(s), comma-separated (random, evolution, local_search, ...), "
        "or optuna-tpe (needs Optuna).",
    ),
]
QueriesOpt = Annotated[
    int, typer.Option("--queries", "-n", help="Distinct queries per run (repeats are free).")
]
SeedsOpt = Annotated[int, typer.Option("--seeds", "-k", help="Runs per strategy, seeds 0..K-1.")]
JsonOpt = Annotated[
    Path | None,
    typer.Option("--json", help="Write every run's architectures and values here (JSON)."),
]
StorageOpt = Annotated[
    str | None,
    typer.Option(
        "--storage", help="Run through the study loop and record in this store (path or URL)."
    ),
]
WarmOpt = Annotated[
    str | None,
    typer.Option(
        "--warm-start",
        "--warm-start-from",
        metavar="STORE",
        help="Warm-start every run from the earlier studies of this space in STORE.",
    ),
]

StartOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--start-from",
        metavar="ARCH",
        help="Start every run from this architecture (JSON, NAS-Bench-201's |op~0|+... "
        "string or NAS-Bench-101's OPS_CODE:ADJ_BITS); repeat for more.",
    ),
]

# the options every bench command takes, with their defaults
_COMMON = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=ann, default=default)
    for name, ann, default in (
        ("strategy", StrategyOpt, "random"),
        ("queries", QueriesOpt, 100),
        ("seeds", SeedsOpt, 10),
        ("json_path", JsonOpt, None),
        ("storage", StorageOpt, None),
        ("warm_start", WarmOpt, None),
        ("start_from", StartOpt, None),
    )
]


def _bench_command(
    name: str, after: int = 0
) -> Callable[[Callable[..., TableEvaluator]], Callable[..., TableEvaluator]]:
    """Register ``make_table(**own options) -> TableEvaluator`` as ``metanas bench NAME``, taking
    the shared options (``_COMMON``) too and running the benchmark on the table it returns.

    ``after``: how many shared options ``--help`` lists before the command's own.
    """

    def register(make_table: Callable[..., TableEvaluator]) -> Callable[..., TableEvaluator]:
        def command(**kw: Any) -> None:
            common = [kw.pop(p.name) for p in _COMMON]
            _run(make_table(**kw), *common)

        # the return annotation names a type imported for checking only: stand in for it
        sig = inspect.signature(make_table, locals={"TableEvaluator": Any}, eval_str=True)
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in sig.parameters.values()]
        params = [*_COMMON[:after], *own, *_COMMON[after:]]
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__name__, command.__doc__ = make_table.__name__, make_table.__doc__
        bench_app.command(name)(command)
        return make_table

    return register


_MAX_SEEDS = 100_000


def _run(
    ev: TableEvaluator,
    strategy: str,
    queries: int,
    seeds: int,
    json_path: Path | None,
    storage: str | None,
    warm_start: str | None = None,
    start_from: list[str] | None = None,
) -> BenchResult:
    import warnings

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from metanas.benchrun import parse_strategies, run_bench
    from metanas.types import UserInputError

    names = parse_strategies(strategy)
    if seeds < 1:
        raise UserInputError(f"--seeds must be at least 1, got {seeds}.")
    if seeds > _MAX_SEEDS:  # each seed is a whole run; a typo here must not exhaust memory
        raise UserInputError(f"--seeds must be at most {_MAX_SEEDS}, got {seeds}.")
    if queries < 1:
        raise UserInputError(f"--queries must be at least 1, got {queries}.")
    if json_path is not None:  # fail now rather than after the whole benchmark
        check_writable_file(json_path, "--json")
    console = Console(stderr=True)
    if start_from:
        if warm_start is not None:
            raise UserInputError("give either --warm-start or --start-from, not both.")
        space, factory = _seeded(ev, names, start_from)
    else:
        space, factory = _warm(ev, warm_start)
    from metanas.benchrun import default_space

    size = (space if space is not None else default_space(ev)).size
    if isinstance(size, int) and queries > size:
        raise UserInputError(
            f"--queries {queries} exceeds the {size} rows of table {ev.name}; "
            f"give --queries {size} or fewer."
        )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"{ev.name}", total=len(names) * seeds)

        def done(run: object) -> None:
            progress.update(
                task,
                advance=1,
                description=f"{ev.name} {getattr(run, 'strategy', '')} seed {getattr(run, 'seed', '')}",
            )

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a study stopping early is visible in the counts
            res = run_bench(
                ev, space, names, list(range(seeds)), queries, storage, on_done=done,
                factory=factory,
            )  # fmt: skip
    _print(res)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        data = res.to_json()
        if warm_start is not None:
            data["warm_start"] = warm_start
        if start_from:
            data["start_from"] = start_from
        json_path.write_text(strict_json(data, indent=1))
        Console(markup=False).print(f"wrote {json_path}")
    return res


def _warm(ev: TableEvaluator, store: str | None) -> tuple[Any, Any]:
    """(space, strategy factory) for ``--warm-start STORE``; (None, None) without it."""
    if store is None:
        return None, None
    from metanas.benchrun import default_space
    from metanas.meta.hook import warm_factory

    space = default_space(ev)
    factory = warm_factory(store, space, ev)
    probe = factory("random", 0, {})  # cheap: the priors are read once, by warm_factory
    if probe.name == "warm_start":
        n = len(getattr(probe, "priors", []))
        typer.echo(f"warm start from {store}: {n} earlier task(s) on this space", err=True)
    else:
        typer.echo(f"warm start: {store} holds no study of this space; the runs are cold", err=True)
    return space, factory


def _seeded(ev: TableEvaluator, names: list[str], start_from: list[str]) -> tuple[Any, Any]:
    """(space, strategy factory) for ``--start-from``: each run gets its own seeded space."""
    from metanas.benchrun import OPTUNA_TPE, default_space
    from metanas.space import SeededSpace
    from metanas.strategies import get_strategy
    from metanas.strategies.base import check_can_start_from
    from metanas.types import UserInputError

    space = default_space(ev)
    SeededSpace(space, start_from)  # a bad architecture fails here, before any run
    for n in names:
        if n == OPTUNA_TPE:
            raise UserInputError(
                f"strategy {n!r} does not start from samples, so it cannot take --start-from."
            )
        check_can_start_from(n, "--start-from")

    def factory(name: str, seed: int, options: dict[str, Any]) -> Any:
        return get_strategy(name, SeededSpace(space, start_from), seed=seed, **options)

    return space, factory


def _pm(mean: float, std: float, digits: int) -> str:
    if mean != mean:
        return "-"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _print(res: BenchResult) -> None:
    from rich.table import Table

    digits = 2 if res.best_value > 1.5 else 4  # percent vs fraction tables
    obj = res.objective
    t = Table(
        title=f"{res.table}: {res.n_queries} distinct queries; table best {obj} "
        f"{res.best_value:.{digits}f}"
    )
    t.add_column("strategy")
    t.add_column("seeds", justify="right")
    if res.report is not None:
        t.add_column(f"{res.report} of best {obj}", justify="right")
    t.add_column(f"best {obj}", justify="right")
    t.add_column("median queries to table best", justify="right")
    t.add_column("reached", justify="right")
    for s in res.summaries.values():
        med = s.median_queries_to_best
        cells = [s.strategy, str(s.n_seeds)]
        if res.report is not None:
            cells.append(_pm(s.report_mean, s.report_std, digits))
        cells += [
            _pm(s.best_value_mean, s.best_value_std, digits),
            f"{med:g}" if med is not None else f"> {res.n_queries}",
            f"{s.n_reached}/{s.n_seeds}",
        ]
        t.add_row(*cells)
    if any(s.best_value_mean != s.best_value_mean for s in res.summaries.values()):
        t.caption = (
            f"-: no run got a result on {obj} within {res.n_queries} queries (a scheduler "
            "that promoted nothing to the top budget); raise --queries."
        )
    table_console().print(t)


@_bench_command("nb201", after=1)
def bench_nb201(
    dataset: Annotated[
        str, typer.Option("--dataset", "-d", help="cifar10 or cifar100.")
    ] = "cifar10",
) -> TableEvaluator:
    """NAS-Bench-201: search on validation accuracy, report test accuracy (200 epochs)."""
    from metanas.evaluation.tabular import nb201_table

    return nb201_table(dataset)


@_bench_command("nb101")
def bench_nb101() -> TableEvaluator:
    """The NAS-Bench-101 subset (10,250 cells): search and report val_acc_108."""
    from metanas.evaluation.tabular import nb101_table

    return nb101_table()


@_bench_command("table")
def bench_table(
    csv: Annotated[Path, typer.Option("--csv", help="Your table (CSV, optionally .gz).")],
    objective: Annotated[str, typer.Option("--objective", help="Column to maximise.")],
    space: Annotated[
        str, typer.Option("--space", help="Space of the arch column (nb201 only).")
    ] = "nb201",
    arch_column: Annotated[
        str, typer.Option("--arch-column", help="Column of architecture strings.")
    ] = "arch",
    report: Annotated[
        str | None, typer.Option("--report", help="Column to report for the best architecture.")
    ] = None,
) -> TableEvaluator:
    """Your own table: one row per architecture, an arch-string column and numeric columns."""
    import zlib

    import numpy as np

    from metanas.evaluation.tabular import TableEvaluator
    from metanas.types import UserInputError

    try:
        ev = TableEvaluator.from_csv(
            csv, space=space, arch_column=arch_column, objective=objective, report=report
        )
    except UnicodeDecodeError:
        raise UserInputError(
            f"table file {str(csv)!r} is not UTF-8 text; give a CSV file (optionally gzipped)."
        ) from None
    except (OSError, EOFError, zlib.error) as e:  # a .gz name on a file that is not gzip
        raise UserInputError(
            f"cannot read table file {str(csv)!r} ({e}); give a CSV file, gzipped only if "
            "its name ends in .gz."
        ) from None
    if np.isnan(ev.values()).all():  # no rows, or none with a value
        raise UserInputError(
            f"table file {str(csv)!r} has no row with a number in column {objective!r}; "
            "add rows below the header."
        )
    return ev
