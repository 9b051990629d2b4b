"""``metanas studies STORAGE [--study NAME [--csv PATH]]``: list the studies of a store, or one
study's best trials; with ``--csv``, write all of that study's trials as a table."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from metanas.cli.app import app, table_console
from metanas.types import TrialState, UserInputError


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.6g}"


@app.command("studies")
def studies(
    storage: Annotated[str, typer.Argument(help="Store file or sqlite:///path.db URL.")],
    study: Annotated[
        str | None, typer.Option("--study", "-s", help="Show this study's top trials.")
    ] = None,
    top: Annotated[int, typer.Option("--top", "-n", min=1, help="How many trials to show.")] = 10,
    csv: Annotated[
        str | None,
        typer.Option(
            help="Also write every trial of --study here as CSV: number, state, value, cost, "
            "epochs (the budget), duration, error, key, architecture, each decision (arch.*) "
            "and each metric (metric.*)."
        ),
    ] = None,
) -> None:
    """List the studies in STORAGE, or the best trials of one study."""
    from rich.table import Table

    from metanas.storage.sqlite import SQLiteStore

    console = table_console()
    if csv is not None and study is None:
        raise UserInputError("--csv writes one study's trials; name the study with --study.")
    if csv is not None:
        from metanas.storage.sqlite import check_not_a_store

        check_not_a_store(csv, "--csv")
    with SQLiteStore(storage, readonly=True) as store:
        if study is None:
            table = Table(title=f"studies in {storage}")
            table.add_column("name", overflow="fold")
            for col in ("strategy", "space"):
                table.add_column(col, overflow="fold")
            for col in ("complete", "pruned", "failed", "running", "best"):
                table.add_column(col, justify="right", no_wrap=True)
            table.add_column("created", no_wrap=True)
            stopped = False
            damaged: list[str] = []
            for s in store.studies(on_damaged=damaged.append):  # the intact ones still list
                running = str(s.n_running)
                if s.n_running and store.writer(s.id) is None:
                    running, stopped = f"{s.n_running} stopped", True
                table.add_row(
                    s.name,
                    str(s.config.get("strategy", "?")),
                    str(s.space.get("name", s.space.get("kind", "?"))),
                    str(s.n_complete),
                    str(s.n_pruned),
                    str(s.n_failed),
                    running,
                    _fmt(s.best_value),
                    dt.datetime.fromtimestamp(s.created_at).strftime("%Y-%m-%d %H:%M"),
                )
            console.print(table)
            if stopped:
                console.print(
                    "stopped: trials left running by a process that ended (interrupted or "
                    "killed); `metanas search ... --resume` runs them again."
                )
            if damaged:
                more = f" ({len(damaged) - 1} more damaged study rows)" if len(damaged) > 1 else ""
                raise UserInputError(damaged[0].rstrip(".") + more + ".")
            return
        from metanas.study import load_study

        st = load_study(store, study)
        written = None
        if csv is not None:  # first: an unwritable path is an error before any output
            from metanas.analysis.trials_table import write_trials_csv

            written = write_trials_csv(st, csv)
        cfg = st.store.get_study(study).config
        minimize = cfg.get("direction") == "minimize"
        # a pruned trial's value is a partial run's: it does not rank with finished ones
        done = [t for t in st.trials if t.value is not None and t.state is TrialState.COMPLETE]
        done.sort(key=lambda t: float(t.value or 0.0) * (1 if minimize else -1))
        table = Table(
            title=f"{study}: top {min(top, len(done))} of {len(st.trials)} trials "
            f"({cfg.get('direction', 'maximize')} {cfg.get('objective', '?')})"
        )
        for col in ("#", "value", "state", "cost s", "architecture"):
            table.add_column(col, justify="left" if col == "architecture" else "right")
        for t in done[:top]:
            arch = st.space.describe(t.arch) if st.space is not None else str(dict(t.arch))
            table.add_row(str(t.number), _fmt(t.value), t.state.value, f"{t.cost:.3g}", arch)
        console.print(table)
        failed = [t for t in st.trials if t.error]
        if failed:  # why trials failed is the first thing to read when none completed
            last = failed[-1]
            console.print(
                f"{len(failed)} failed; the last (trial {last.number}): {last.error}",
                markup=False,
            )
        if written is not None:
            console.print(f"wrote {written} trials to {csv}")
