"""metanas.execution: where evaluations run (inline by default; process pools, Ray)."""

from metanas.execution.base import Executor, Job, JobOutcome
from metanas.execution.inline import InlineExecutor

__all__ = ["Executor", "InlineExecutor", "Job", "JobOutcome"]


def __getattr__(name: str) -> object:
    # the pool pulls in multiprocessing machinery; load it only when asked for
    if name == "ProcessPoolExecutor":
        from metanas.execution.pool import ProcessPoolExecutor

        return ProcessPoolExecutor
    raise AttributeError(f"module 'metanas.execution' has no attribute {name!r}")
