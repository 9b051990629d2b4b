"""``metanas analyze STORAGE --study NAME``: which decisions mattered in a study and which of their
values won; with ``--pareto METRIC``, the trials on the front of the objective and that metric;
with ``--fidelity``, how well each smaller budget or epoch ranks the final results; with
``--plots DIR``, the same as figures (needs matplotlib: ``pip install 'metanas[plot]'``)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any

import typer

from metanas.cli.app import app, table_console
from metanas.types import UserInputError

if TYPE_CHECKING:
    from metanas.analysis import BudgetAgreement


def _value(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


@app.command("analyze")
def analyze(
    storage: Annotated[str, typer.Argument(help="Store file or sqlite:///path.db URL.")],
    study: Annotated[str, typer.Option("--study", "-s", help="The study to analyse.")],
    pareto: Annotated[
        str | None,
        typer.Option(help="Also show the front of the objective and this metric (e.g. params)."),
    ] = None,
    maximize_metric: Annotated[
        bool, typer.Option(help="The --pareto metric is better when higher (default: lower).")
    ] = False,
    fidelity: Annotated[
        bool,
        typer.Option(
            help="Also show how well each smaller budget (rung or epoch) ranks the final results."
        ),
    ] = False,
    plots: Annotated[
        str | None,
        typer.Option(
            help="Also write figures (history, importance, effects, fidelity, the --pareto front) "
            "here."
        ),
    ] = None,
    plot_format: Annotated[
        str | None, typer.Option(help="Figure file format of --plots: png (default), svg or pdf.")
    ] = None,
    trees: Annotated[int, typer.Option(min=1, help="Trees in the importance forest.")] = 64,
    seed: Annotated[
        int,
        typer.Option(min=0, max=2**32 - 1, help="Seed of the forest and its reference samples."),
    ] = 0,
) -> None:
    """Show which decisions of STUDY mattered (fANOVA shares) and the best value of each."""

    from metanas.analysis import study_fidelity, study_importance, study_pareto
    from metanas.analysis._trials import at_top_budget
    from metanas.analysis.importance import MIN_TRIALS
    from metanas.study import load_study

    # an option that only shapes output not asked for is a mistake, not something to ignore
    if plot_format is not None and plots is None:
        raise UserInputError("--plot-format sets the format of --plots; add --plots FOLDER.")
    if maximize_metric and pareto is None:
        raise UserInputError("--maximize-metric applies to --pareto METRIC; add it.")
    plot_format = plot_format or "png"
    console = table_console()
    if plots is not None:
        from metanas.analysis.plots import check_can_plot

        if not str(plots).strip():
            raise UserInputError("--plots is empty; give a folder such as --plots figs.")
        check_can_plot(plot_format)
        from metanas.cli.search import check_out_dir

        check_out_dir(plots, "figure folder", "--plots")  # before any output, not after it
    st = load_study(storage, study)
    # the front first: a metric the trials lack is an error before any output
    front = None if pareto is None else study_pareto(st, pareto, maximize_metric=maximize_metric)
    try:
        agreement = study_fidelity(st) if fidelity else None
    except UserInputError as e:  # before anything is printed: one sentence, then nothing else
        raise UserInputError(
            f"{str(e).rstrip('.')}; run without --fidelity for this study."
        ) from None
    # with other output asked for, too few trials for importance is a note, not the end
    imp = None
    more = pareto is not None or fidelity or plots is not None
    if len(at_top_budget(st.trials)) >= MIN_TRIALS or not more:
        imp = study_importance(st, n_trees=trees, seed=seed)
        _print_importance(console, st, imp)
    else:
        console.print(
            f"importance needs at least {MIN_TRIALS} finished trials at the largest budget; "
            "run more trials to see which decisions mattered."
        )
    if agreement is not None:
        _print_fidelity(console, agreement)
    if front is not None and pareto is not None:
        _print_front(console, st, front, pareto)
    if plots is not None:
        from metanas.analysis.plots import save_study_plots

        paths = save_study_plots(
            st,
            plots,
            importance=imp,
            fidelity=agreement,
            pareto=pareto,
            maximize_metric=maximize_metric,
            fmt=plot_format,
        )
        console.print(f"figures written: {', '.join(str(p) for p in paths)}")


def _print_importance(console: Any, st: Any, imp: Any) -> None:
    from rich.table import Table

    table = Table(
        title=f"{st.name}: what mattered ({imp.n_trials} trials, {st.direction} {st.objective})"
    )
    for col in ("decision", "share", "± trees", "best value", "effect", "worst value", "effect"):
        table.add_column(col, justify="right" if col in ("share", "± trees", "effect") else "left")
    for d in imp.decisions:
        table.add_row(
            d.name,
            f"{d.share:.1%}",
            f"{d.std:.1%}",
            _value(d.best),
            f"{d.effect(d.best):.4g}",
            _value(d.worst),
            f"{d.effect(d.worst):.4g}",
        )
    console.print(table)
    console.print(
        f"interactions (what decisions do only together): {imp.interactions:.1%}. "
        "An effect is the forest's mean prediction with the decision fixed to that value."
    )


def _print_front(console: Any, st: Any, front: Any, pareto: str) -> None:
    from rich.table import Table

    table = Table(title=f"Pareto front: {st.objective} vs {pareto} ({len(front)} trials)")
    for col in ("#", st.objective or "value", pareto, "architecture"):
        table.add_column(col, justify="left" if col == "architecture" else "right")
    for t in front:
        arch = st.space.describe(t.arch) if st.space is not None else str(dict(t.arch))
        table.add_row(str(t.number), f"{t.value:.6g}", f"{t.metrics[pareto]:.6g}", arch)
    console.print(table)


def _print_fidelity(console: Any, agr: Any) -> None:
    from rich.table import Table

    what = agr.unit
    table = Table(title=f"How well each {what} ranks the results at {agr.top:g}")
    for col in (what, "architectures", "rank correlation", "90% interval", "top third kept"):
        table.add_column(col, justify="right")
    for b in agr.budgets:
        table.add_row(
            f"{b.budget:g}",
            str(b.n),
            "all equal" if math.isnan(b.rho) else f"{b.rho:.2f}",
            _interval(b),
            f"{b.kept:.0%}",
        )
    console.print(table)
    console.print(
        "A successive-halving search that starts at a budget whose correlation is low throws "
        "good architectures away; a random cut keeps a third of the top third."
    )


def _interval(b: BudgetAgreement) -> str:
    if math.isnan(b.rho):
        return "cannot rank"  # every result at one of the two budgets is the same
    return "too few" if math.isnan(b.low) else f"{b.low:.2f} .. {b.high:.2f}"
