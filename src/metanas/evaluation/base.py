"""The evaluator interface: turn an architecture and a budget into a :class:`Result`.

Evaluators may call ``report(step, metrics)`` after each epoch (or fidelity step): a study
keeps the reports as the trial's learning curve and answers :attr:`Decision.CONTINUE` (its
multi-fidelity schedulers give each trial its budget instead); a reporter of your own may answer
:attr:`Decision.STOP` to end a trial early (e.g. by ``ASHA.should_stop``). Evaluators know
nothing of strategies or storage and must be picklable, so executors can ship them to workers.
Optionally, ``settings()`` returns what decides a score besides the architecture (a training
recipe, the data's split): the study stores it, and a resume with other settings is refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from metanas.types import Architecture, Budget, Decision, Result, TaskInfo, UserInputError


class Reporter(Protocol):
    def __call__(self, step: int, metrics: Mapping[str, float]) -> Decision: ...


def continue_always(step: int, metrics: Mapping[str, float]) -> Decision:
    """The default reporter: never stops a trial."""
    return Decision.CONTINUE


@runtime_checkable
class Evaluator(Protocol):
    #: name of the metric the study maximises by default (e.g. "val_acc")
    objective: str

    def evaluate(self, arch: Architecture, budget: Budget | None, report: Reporter) -> Result: ...

    def task_info(self) -> TaskInfo: ...


def objective_value(
    metrics: Mapping[str, Any], objective: str, minimize: bool = False
) -> float | None:
    """The strategy-facing value (higher is better) of ``objective`` in ``metrics``; ``None``
    when it is missing, NaN or infinite (an infinite value would outrank every real one)."""
    v = metrics.get(objective)
    if v is None:
        return None
    v = float(v)
    if not math.isfinite(v):
        return None
    return -v if minimize else v


def as_metrics(out: Mapping[Any, Any]) -> dict[str, float]:
    """``out`` as metric name -> number; a value that is no number is named in the error."""
    metrics = {}
    for k, v in out.items():
        try:
            metrics[str(k)] = float(v)
        except (TypeError, ValueError, OverflowError):  # 10 ** 400 overflows a float
            raise UserInputError(
                f"metric {str(k)!r} is {v!r}, not a number; report only numbers as metrics."
            ) from None
    return metrics
