"""metanas.execution: where evaluations run (inline by default; process pools, Ray)."""

from __future__ import annotations

from typing import Any

from metanas.execution.base import Executor, Job, JobOutcome, check_limits
from metanas.execution.inline import InlineExecutor
from metanas.types import UserInputError

__all__ = [
    "EXECUTORS",
    "Executor",
    "InlineExecutor",
    "Job",
    "JobOutcome",
    "ProcessPoolExecutor",
    "RayExecutor",
    "make_executor",
]

#: names accepted by :func:`make_executor` (and ``--executor`` on the command line)
EXECUTORS = ("inline", "pool", "ray")


def make_executor(
    name: str, workers: int | None = None, address: str | None = None, **limits: Any
) -> Any:
    """An executor by name: ``"inline"``, ``"pool"`` (local processes) or ``"ray"``.

    ``workers`` is the number of jobs run at once (pool: processes, default one per core; Ray:
    CPUs of a local instance). ``address`` is a Ray cluster address (``None``: a local instance).
    ``limits``: ``max_retries``, ``time_limit`` (s), ``memory_limit_mb``, ``threads_per_worker``.
    """
    check_limits(workers, limits)
    if address is not None and name != "ray":
        raise UserInputError(
            f"--address is a Ray cluster address, but the executor is {name!r}; add --executor ray."
        )
    if name == "inline":
        if any(limits.get(k) is not None for k in ("time_limit", "memory_limit_mb")):
            raise UserInputError(
                "time and memory limits need a separate process; use --executor pool or ray."
            )
        return InlineExecutor()
    if name in ("pool", "process", "processes"):
        from metanas.execution.pool import ProcessPoolExecutor

        return ProcessPoolExecutor(workers, **limits)
    if name == "ray":
        from metanas.execution.ray import RayExecutor, _import_ray

        _import_ray()  # fail now, with the install hint, rather than at the first trial
        if limits.get("memory_limit_mb") is not None:
            raise UserInputError(
                "memory_limit_mb is not supported with Ray; rely on Ray's memory monitor or use "
                "--executor pool."
            )
        limits.pop("memory_limit_mb", None)
        return RayExecutor(address=address, num_cpus=workers, **limits)
    raise UserInputError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}.")


def __getattr__(name: str) -> object:
    # the pool pulls in multiprocessing machinery and Ray is optional: load them only when asked
    if name == "ProcessPoolExecutor":
        from metanas.execution.pool import ProcessPoolExecutor

        return ProcessPoolExecutor
    if name == "RayExecutor":
        from metanas.execution.ray import RayExecutor

        return RayExecutor
    raise AttributeError(f"module 'metanas.execution' has no attribute {name!r}")
