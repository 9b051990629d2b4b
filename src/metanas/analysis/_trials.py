"""The trials an analysis reads: the complete ones with a value, and their budgets."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from metanas.types import Trial, TrialState, UserInputError


def valued(trials: Iterable[Trial]) -> list[Trial]:
    """The complete trials that have an objective value, in their order."""
    return [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]


def at_top_budget(trials: Iterable[Trial]) -> list[Trial]:
    """The valued trials at the largest budget any has: results at different budgets measure
    different things."""
    done = valued(trials)
    top = max((t.epochs for t in done), default=None)
    return [t for t in done if t.epochs == top]


def check_study(study: Any, what: str) -> None:
    """Refuse what is not a study (a store's path, say) in one sentence naming the fix."""
    if not (hasattr(study, "trials") and hasattr(study, "direction")):
        got = repr(study) if isinstance(study, (str, bytes)) else type(study).__name__
        raise UserInputError(f"{what} needs a Study (e.g. load_study(store, name)), got {got}.")
