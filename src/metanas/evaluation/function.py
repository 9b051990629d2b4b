"""Wrap a plain Python function as an evaluator.

Example:
    >>> from metanas.evaluation.function import FunctionEvaluator
    >>> ev = FunctionEvaluator(lambda arch: arch["width"] / 64, objective="score")
    >>> ev.evaluate({"width": 32}, None, lambda step, m: None).metrics
    {'score': 0.5}
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from typing import Any

from metanas.evaluation.base import Reporter, as_metrics
from metanas.types import Architecture, Budget, Result, TaskInfo, TrialState, UserInputError


class FunctionEvaluator:
    """Evaluate ``fn(arch)`` or ``fn(arch, budget, report)``.

    ``fn`` returns a float (stored as metric ``objective``) or a mapping of metric names to
    floats that includes ``objective``. Exceptions propagate; the study turns them into failed
    trials. ``fn`` must be picklable (a module-level function) to run in a process pool.
    """

    def __init__(
        self, fn: Callable[..., Any], objective: str = "value", task: TaskInfo | None = None
    ) -> None:
        if not callable(fn):
            raise UserInputError(
                f"FunctionEvaluator needs a function fn(arch) or fn(arch, budget, report), got "
                f"{type(fn).__name__} {fn!r}."
            )
        if not isinstance(objective, str) or not objective:
            raise UserInputError(
                f"FunctionEvaluator's objective names a metric, got {objective!r}; e.g. "
                "objective='val_acc'."
            )
        self.fn = fn
        self.objective = objective
        self.task = task
        self._arity()  # a function that takes no architecture is refused now, not per trial

    def _arity(self) -> int:
        """How many of (arch, budget, report) ``fn`` accepts."""
        try:
            params = inspect.signature(self.fn).parameters.values()
        except (TypeError, ValueError):  # builtins without a signature
            return 1
        n = 0
        for p in params:
            if p.kind is p.VAR_POSITIONAL:
                return 3
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                n += 1
        if n == 0:
            raise UserInputError(
                f"objective function {getattr(self.fn, '__name__', self.fn)!r} takes no arguments; "
                "define it as fn(arch) or fn(arch, budget, report)."
            )
        return min(n, 3)

    def evaluate(self, arch: Architecture, budget: Budget | None, report: Reporter) -> Result:
        n = self.__dict__.get("_n_args")
        if n is None:  # inspecting a signature costs more than a cheap objective; do it once
            n = self.__dict__["_n_args"] = self._arity()
        args = (arch, budget, report)[:n]
        out = self.fn(*args)
        if isinstance(out, Result):
            return out
        if isinstance(out, Mapping):
            try:
                metrics = as_metrics(out)
            except UserInputError as e:
                return Result.failed(f"objective function: {e}")
            if self.objective not in metrics:  # the study may optimise another metric
                return Result(value=None, metrics=metrics)
        else:
            try:
                metrics = {self.objective: float(out)}
            except (TypeError, ValueError):
                return Result.failed(
                    f"objective function returned {type(out).__name__}, not a number or a mapping of metrics."
                )
        value = metrics[self.objective]
        if not math.isfinite(value):
            return Result(
                value=None,
                metrics=metrics,
                state=TrialState.FAILED,
                error=f"objective {self.objective!r} is {value}, not a finite number",
            )
        return Result(value=value, metrics=metrics)

    def task_info(self) -> TaskInfo:
        return self.task or TaskInfo(name=getattr(self.fn, "__name__", "function"))

    def __repr__(self) -> str:
        return f"FunctionEvaluator({getattr(self.fn, '__name__', self.fn)!r}, objective={self.objective!r})"
