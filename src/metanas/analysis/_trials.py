"""The trials an analysis reads: the complete ones with a value, and their budgets."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from metanas.types import Trial, TrialState, UserInputError


def valued(trials: Iterable[Trial]) -> list[Trial]:
    """The complete trials that have an objective value, in their order."""
    return [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]


def epochs(t: Trial) -> float:
    """A trial's budget in epochs (``inf``: the full, unbudgeted evaluation)."""
    e = t.budget.epochs if t.budget is not None else None
    return math.inf if e is None else float(e)


def at_top_budget(trials: Iterable[Trial]) -> list[Trial]:
    """The valued trials at the largest budget any has: results at different budgets measure
    different things."""
    done = valued(trials)
    top = max((epochs(t) for t in done), default=None)
    return [t for t in done if epochs(t) == top]


def check_study(study: Any, what: str) -> None:
    """Refuse what is not a study (a store's path, say) in one sentence naming the fix."""
    if not (hasattr(study, "trials") and hasattr(study, "direction")):
        got = repr(study) if isinstance(study, (str, bytes)) else type(study).__name__
        raise UserInputError(f"{what} needs a Study (e.g. load_study(store, name)), got {got}.")
