"""Run jobs as Ray tasks: on a local Ray instance, or on a cluster given its address.

Ray is an optional extra (``pip install 'metanas[ray]'``) and is imported only when a
:class:`RayExecutor` starts. A task whose worker dies is re-run by Ray up to ``max_retries`` times,
then recorded as failed with the reason; a task past ``time_limit`` is cancelled (its worker is
killed) and recorded as failed. Exceptions never reach the study: they become failed results.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any

from metanas.execution.base import Job, JobOutcome, check_limits, failed, prepare
from metanas.types import Result, UserInputError

_MISSING = "Ray is not installed: pip install 'metanas[ray]'"


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserInputError(_MISSING + ", or choose another executor (inline, pool).") from None
    return ray


def _run_job(job: Job, threads: int | None) -> JobOutcome:
    """The Ray task body: the same contract as a pool worker (never raises for a job error; a
    fresh worker's preparation is not the job's cost)."""
    from metanas.execution.pool import limit_threads

    limit_threads(threads)
    result = prepare(job)
    if result is None:
        try:
            result = job.fn(*job.args)
        except (Exception, SystemExit, KeyboardInterrupt) as e:  # Ray read these as cancelled
            result = failed(e)
    return JobOutcome(job.id, result)


def _check_reachable(address: str) -> None:
    """Refuse a ``host:port`` (or ``ray://host:port``) where nothing listens, at once: Ray itself
    retries such an address for minutes, printing connection warnings."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto" or a form Ray resolves itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5.0).close()
    except OSError as e:
        raise UserInputError(
            f"cannot reach a Ray cluster at {address!r} ({e.strerror or e}); start it with "
            "'ray start --head' there, check the address, or omit --address for a local instance."
        ) from None


class RayExecutor:
    """Run each job as a Ray task with one CPU.

    Args:
        address: a running cluster (``"auto"``, ``"ray://host:10001"``, ``"host:6379"``); ``None``
            starts a private local instance without a dashboard, shut down with the executor.
        num_cpus: CPUs of the local instance, and jobs run at once (default: all the cluster's).
        threads_per_worker: torch/OpenMP threads per task (default 1, as Ray sets).
        max_retries: times Ray re-runs a task whose worker died before it is recorded as failed.
        time_limit: seconds a task may run before it is cancelled and recorded as failed.
    """

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        *,
        threads_per_worker: int | None = 1,
        max_retries: int = 1,
        time_limit: float | None = None,
    ) -> None:
        check_limits(
            num_cpus,
            {"threads_per_worker": threads_per_worker, "max_retries": max_retries,
             "time_limit": time_limit},
        )  # fmt: skip
        self.address = address
        self.num_cpus = num_cpus
        self.threads_per_worker = threads_per_worker
        self.max_retries = max_retries
        self.time_limit = time_limit
        self._ray: Any = None
        self._remote: Any = None
        self._owns_ray = False
        self._refs: dict[Any, tuple[Job, float]] = {}  # object ref -> (job, submitted at)
        self._timed_out: set[Any] = set()  # refs cancelled for their time limit
        self._done: list[JobOutcome] = []

    # ----------------------------------------------------------------- start and stop
    def _start(self) -> Any:
        if self._ray is not None:
            return self._ray
        ray = _import_ray()
        if not ray.is_initialized():
            # Ray's start-up notes (a local instance started, its token) are not the user's
            # business; its errors still print
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "logging_level": logging.ERROR,
            }
            if self.address is None:
                # a private instance; Ray >= 2.5x guards its ports with a generated token, but
                # binds them to the node's address (it maps 127.0.0.1 to it on purpose)
                kwargs["num_cpus"] = self.num_cpus
            else:
                _check_reachable(self.address)
            try:
                ray.init(address=self.address, **kwargs)
            except ConnectionError as e:
                raise UserInputError(
                    f"cannot reach a Ray cluster at {self.address!r} ({e}); start it with "
                    "'ray start --head' or omit --address for a local instance."
                ) from None
            self._owns_ray = True
        self._remote = ray.remote(num_cpus=1, max_retries=self.max_retries)(_run_job)
        self._ray = ray
        return ray

    def connect(self) -> None:
        """Start or join Ray now rather than at the first job (a wrong address fails here)."""
        self._start()

    @property
    def capacity(self) -> int:
        if self.num_cpus is not None:
            return int(self.num_cpus)
        ray = self._start()
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def shutdown(self) -> None:
        if self._ray is None:
            return
        for ref in list(self._refs):
            self._ray.cancel(ref, force=True)
        self._refs.clear()
        self._timed_out.clear()
        if self._owns_ray:
            self._ray.shutdown()
        self._ray = self._remote = None
        self._owns_ray = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ----------------------------------------------------------------- Executor protocol
    def submit(self, job: Job) -> None:
        self._start()
        try:
            ref = self._remote.remote(job, self.threads_per_worker)
        except TypeError as e:  # Ray: "Could not serialize the argument ..."
            raise UserInputError(
                f"job {job.id} cannot be sent to a Ray worker ({str(e).splitlines()[0]}); keep "
                "locks, open files and other unpicklable objects out of the evaluator."
            ) from None
        self._refs[ref] = (job, time.monotonic())

    def _collect(self, ref: Any) -> None:
        ray = self._ray
        job, _ = self._refs.pop(ref)
        try:
            outcome = ray.get(ref)
        except ray.exceptions.TaskCancelledError:
            timed_out = ref in self._timed_out and self.time_limit is not None
            self._timed_out.discard(ref)
            reason = f"time limit of {self.time_limit:g} s exceeded" if timed_out else "cancelled"
            outcome = JobOutcome(job.id, Result.failed(reason))
        except ray.exceptions.RayError as e:  # worker crashed (after Ray's retries), node lost ...
            lines = [ln for ln in str(e).splitlines() if ln.strip()]
            reason = f"worker died ({type(e).__name__}: {lines[-1].strip() if lines else ''})"
            outcome = JobOutcome(
                job.id, Result.failed(f"{reason} (attempt {self.max_retries + 1})")
            )
        self._done.append(outcome)

    def _check_limits(self) -> None:
        if self.time_limit is None:
            return
        now = time.monotonic()
        for ref, (_, started) in list(self._refs.items()):
            # the clock starts at submission: Ray gives no cheap start time; the loop submits
            # no more than the capacity, so queued time is short
            if now - started > self.time_limit and ref not in self._timed_out:
                self._timed_out.add(ref)
                self._ray.cancel(ref, force=True)

    def wait(self, timeout: float | None = None) -> list[JobOutcome]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done and self._refs:
            step = 0.5 if self.time_limit is None else min(0.5, self.time_limit / 4)
            if deadline is not None:
                step = max(0.0, min(step, deadline - time.monotonic()))
            ready, _ = self._ray.wait(list(self._refs), num_returns=1, timeout=step)
            if ready:  # take every finished task, not just the first
                ready, _ = self._ray.wait(list(self._refs), num_returns=len(self._refs), timeout=0)
            for ref in ready:
                self._collect(ref)
            self._check_limits()
            if deadline is not None and time.monotonic() >= deadline:
                break
        out, self._done = self._done, []
        return out
