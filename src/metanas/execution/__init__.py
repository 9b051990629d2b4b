"""metanas.execution: where evaluations run (inline by default; process pools, Ray)."""

from __future__ import annotations

from typing import Any

from metanas.execution.base import Executor, Job, JobOutcome
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
_LIMITS = ("max_retries", "time_limit", "memory_limit_mb", "threads_per_worker")


def _check_limits(workers: int | None, limits: dict[str, Any]) -> None:
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


def make_executor(
    name: str, workers: int | None = None, address: str | None = None, **limits: Any
) -> Any:
    """An executor by name: ``"inline"``, ``"pool"`` (local processes) or ``"ray"``.

    ``workers`` is the number of jobs run at once (pool: processes, default one per core; Ray:
    CPUs of a local instance). ``address`` is a Ray cluster address (``None``: a local instance).
    ``limits``: ``max_retries``, ``time_limit`` (s), ``memory_limit_mb``, ``threads_per_worker``.
    """
    _check_limits(workers, limits)
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
