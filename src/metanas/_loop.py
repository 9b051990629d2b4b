"""The optimize loop and the job every executor runs; :class:`metanas.study.Study` drives them.

Kept apart from the study so the job function (which executors pickle and ship to workers) imports
nothing but the evaluator interface and value types.
"""

from __future__ import annotations

import inspect
import numbers
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from metanas.execution.base import Job
from metanas.types import Architecture, Budget, Decision, Result, Trial, UserInputError

if TYPE_CHECKING:
    from metanas.study import Study

#: seconds an executor is waited on before the loop looks again (e.g. at its deadline)
_WAIT_S = 60.0


def run_evaluation(evaluator: Any, arch: Architecture, budget: Budget | None) -> Result:
    """Evaluate one architecture; never raises for an evaluator error (it becomes a failed result).

    Per-step reports are collected as the learning curve when the evaluator returns none itself,
    and the wall time becomes the cost when the evaluator reports none.
    """
    curve: list[dict[str, float]] = []

    def report(step: int, metrics: Mapping[str, float]) -> Decision:
        curve.append({"step": float(step), **{k: float(v) for k, v in metrics.items()}})
        return Decision.CONTINUE

    t0 = time.perf_counter()
    try:
        result = evaluator.evaluate(arch, budget, report)
        if not isinstance(result, Result):
            raise TypeError(f"evaluator returned {type(result).__name__}, not a Result")
    except (Exception, SystemExit) as e:  # the search goes on; the trial records why it failed
        # (an objective's sys.exit() too: inline it ended the search, and every resume again)
        return Result.failed(f"{type(e).__name__}: {e}", cost=time.perf_counter() - t0, metrics={})
    changes: dict[str, Any] = {}
    if not result.curve and curve:
        changes["curve"] = tuple(curve)
    if not result.cost:
        changes["cost"] = time.perf_counter() - t0
    if changes:
        from dataclasses import replace

        result = replace(result, **changes)
    return result


def optimize(
    study: Study,
    n_trials: int,
    *,
    timeout: float | None = None,
    progress: bool = False,
    callbacks: Iterable[Callable[[Study, Trial], None]] = (),
) -> None:
    """Run ``study`` until it holds ``n_trials`` finished trials, the strategy runs dry, or
    ``timeout`` seconds pass (running trials are then finished, none started)."""
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 0:
        raise UserInputError(f"n_trials must be a non-negative integer, got {n_trials!r}.")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not timeout > 0
    ):
        raise UserInputError(f"timeout must be positive seconds, got {timeout!r}.")
    if study.evaluator is None:
        raise UserInputError(
            "this study has no evaluator (loaded read-only); pass one to create_study."
        )
    if study.strategy is None:
        raise UserInputError(
            "this study has no strategy (loaded read-only); resume it with create_study."
        )
    if callable(callbacks):  # one function given without its list
        callbacks = (callbacks,)
    if not isinstance(callbacks, Iterable):
        raise UserInputError(
            f"callbacks must be a list of functions cb(study, trial), got {callbacks!r}."
        )
    callbacks = tuple(callbacks)
    for cb in callbacks:
        if not callable(cb) or not _takes_two(cb):
            raise UserInputError(
                f"callbacks must be functions cb(study, trial), got {type(cb).__name__} {cb!r}."
            )
    own_executor = study.executor is None
    if own_executor:
        from metanas.execution.inline import InlineExecutor

        executor: Any = InlineExecutor()
    else:
        executor = study.executor
    capacity = max(1, int(executor.capacity))
    prepare = getattr(study.evaluator, "prepare", None)  # a fresh worker's set-up (see Job)
    deadline = None if timeout is None else time.monotonic() + timeout
    bar = _Progress(n_trials, study.n_finished) if progress else None
    inflight: set[int] = set()
    asking = True
    # once the strategy proposed only repeats while trials ran, it gets one proposal per result
    # that comes in (each repeat is stored); with nothing running, a full streak decides
    waiting = False
    credits = 0
    ok = False
    try:
        while True:
            while len(inflight) < capacity:
                # a trial cut off earlier runs again too, but not past n_trials or the deadline
                if study.n_finished + len(inflight) >= n_trials:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    asking = False
                    break
                trial = study._next_rerun()
                if trial is None:
                    if not asking:
                        break
                    tries = None
                    if waiting and inflight:
                        if credits == 0:
                            break  # wait for a result
                        credits, tries = credits - 1, 1
                    trial = study._ask_trial(tries)
                    if trial is None:
                        if study._waiting and inflight:
                            waiting = True
                        else:  # it ran dry, and the study says why
                            asking = False
                        break
                inflight.add(trial.number)
                job_args = (study.evaluator, trial.arch, study._effective_budget(trial.budget))
                executor.submit(
                    Job(id=trial.number, fn=run_evaluation, args=job_args, prepare=prepare)
                )
            if not inflight:
                break
            for outcome in executor.wait(_WAIT_S):
                if outcome.id not in inflight:
                    continue
                finished = study._finish(outcome.id, outcome.result)
                inflight.discard(outcome.id)  # after: a result not stored is run again
                credits += waiting
                if bar is not None:
                    bar.update(study)
                for cb in callbacks:
                    cb(study, finished)
        ok = True
    finally:
        if bar is not None:
            bar.close()
        if not ok:  # the next optimize() on this study runs the cut-off trials again, as a resume
            # (not one stored as finished, whose strategy tell was what got cut off)
            cut = [n for n in sorted(inflight) if not study._trials[n].state.finished]
            study._rerun[:0] = [n for n in cut if n not in study._rerun]
        # an interrupted run must not leave workers busy; a caller's executor survives a clean run
        if own_executor or not ok:
            executor.shutdown()


class _Progress:
    """A rich progress bar on stderr, counting finished trials and showing the best value."""

    def __init__(self, total: int, done: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._p = Progress(
            TextColumn("[bold]trials"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[best]}"),
            console=Console(stderr=True),
            transient=False,
        )
        self._p.start()
        self._task = self._p.add_task("trials", total=total, completed=min(done, total), best="")

    def update(self, study: Study) -> None:
        best = study.best_trial
        text = f"best {best.value:.6g}" if best is not None and best.value is not None else ""
        self._p.update(self._task, completed=study.n_finished, best=text)

    def close(self) -> None:
        self._p.stop()


def _takes_two(fn: Callable[..., Any]) -> bool:
    """Whether ``fn(study, trial)`` binds (a callable without a signature is given the benefit)."""
    try:
        inspect.signature(fn).bind(None, None)
    except TypeError:
        return False
    except ValueError:
        return True
    return True
