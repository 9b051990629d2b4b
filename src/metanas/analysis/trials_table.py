"""A study's trials as a flat table, one row per trial, for pandas, a spreadsheet or a plot of
your own: its number, state, value, cost, budget and timing, each decision of the architecture
(``arch.<name>``, empty where a conditional decision is absent) and each recorded metric
(``metric.<name>``).

Example (``metanas studies metanas.db --study s --csv trials.csv`` does the same)::

    rows = trial_rows(load_study("metanas.db", "s"))
    import pandas as pd; df = pd.DataFrame(rows)  # if you have pandas
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metanas.analysis._trials import check_study
from metanas.types import TrialState, UserInputError

if TYPE_CHECKING:
    from metanas.study import Study

#: the columns every row has, before the decisions and metrics
BASE_COLUMNS = (
    "number", "state", "value", "cost", "epochs", "duration", "error", "key", "architecture",
)  # fmt: skip


def trial_rows(study: Study) -> list[dict[str, Any]]:
    """One dict per trial, in trial order, each with the same keys (missing values are None).

    A trial's ``state`` is ``"stopped"`` where it was left running by a process that ended
    (interrupted or killed; a resume runs it again), as ``metanas studies`` says.
    """
    check_study(study, "trial_rows")
    trials = sorted(study.trials, key=lambda t: t.number)
    left = _left_running(study)
    space = study.space
    decisions = (
        [d.name for d in space.dims]
        if space is not None
        else sorted({n for t in trials for n in t.arch})
    )
    metrics = sorted({m for t in trials for m in t.metrics})
    rows = []
    for t in trials:
        row: dict[str, Any] = {
            "number": t.number,
            "state": "stopped" if left and t.state == TrialState.RUNNING else t.state.value,
            "value": t.value,
            "cost": t.cost,
            "epochs": None if t.budget is None else t.budget.epochs,
            "duration": t.duration,
            "error": t.error,
            "key": t.key,
            "architecture": space.describe(t.arch) if space is not None else None,
        }
        row.update({f"arch.{n}": t.arch.get(n) for n in decisions})
        row.update({f"metric.{m}": t.metrics.get(m) for m in metrics})
        rows.append(row)
    return rows


def _left_running(study: Study) -> bool:
    """Whether the study's running trials belong to no live process (its store holds no lock)."""
    store: Any = getattr(study, "store", None)
    if not hasattr(store, "writer"):
        return False
    info = store.get_study(study.name)
    return info is not None and store.writer(info.id) is None


def write_trials_csv(study: Study, path: str | Path) -> int:
    """Write :func:`trial_rows` to ``path`` as CSV (empty cells for None); return the rows written."""
    check_study(study, "write_trials_csv")
    rows = trial_rows(study)
    out = Path(path)
    try:
        with out.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            columns = list(rows[0]) if rows else list(BASE_COLUMNS)
            writer.writerow(columns)
            writer.writerows([["" if r[c] is None else r[c] for c in columns] for r in rows])
    except OSError as e:
        raise UserInputError(
            f"cannot write the trials to {str(out)!r} ({e.strerror}); give a writable file path."
        ) from None
    return len(rows)


__all__ = ["BASE_COLUMNS", "trial_rows", "write_trials_csv"]
