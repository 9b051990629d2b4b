"""The executor interface: run picklable jobs somewhere and hand back their outcomes."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from metanas.types import Result, UserInputError


@dataclass(frozen=True)
class Job:
    """One evaluation: ``fn(*args)`` must return a :class:`Result`; everything must pickle."""

    id: int
    fn: Callable[..., Result]
    args: tuple[Any, ...] = ()
    #: what a fresh worker must do before it can run ``fn`` (imports, loading the data set);
    #: cheap once done in a process, and a job's time limit only starts after it
    prepare: Callable[[], Any] | None = None


def failed(e: BaseException) -> Result:
    """The failed result of a job that raised (evaluators should not, but user code may)."""
    return Result.failed(f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}")


def prepare(job: Job) -> Result | None:
    """Run the job's preparation; a failed result if it raised, else ``None``."""
    try:
        if job.prepare is not None:
            job.prepare()
    except Exception as e:
        return failed(e)
    return None


@dataclass(frozen=True)
class JobOutcome:
    id: int
    result: Result


class Executor(Protocol):
    #: how many jobs may run at once
    capacity: int

    def submit(self, job: Job) -> None: ...

    def wait(self, timeout: float | None = None) -> list[JobOutcome]:
        """Block until at least one job finishes (or ``timeout``); return all finished ones."""

    def shutdown(self) -> None: ...


_LIMITS = ("max_retries", "time_limit", "memory_limit_mb", "threads_per_worker")


def check_limits(workers: int | None, limits: dict[str, Any]) -> None:
    """Refuse an executor's worker count or limits in one sentence (before any process starts)."""
    unknown = sorted(set(limits) - set(_LIMITS))
    if unknown:
        raise UserInputError(
            f"unknown executor option(s) {', '.join(unknown)}; use {', '.join(_LIMITS)}."
        )
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise UserInputError(f"workers must be a positive integer, got {workers!r}.")
    for k in ("time_limit", "memory_limit_mb"):
        v = limits.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
            raise UserInputError(f"{k} must be a positive number or None, got {v!r}.")
    for k, low in (("max_retries", 0), ("threads_per_worker", 1)):
        v = limits.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < low):
            raise UserInputError(f"{k} must be an integer >= {low}, got {v!r}.")
