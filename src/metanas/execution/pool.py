"""A local process pool that survives its workers: each worker is a long-lived process fed one job
at a time over a pipe, so the driver always knows which job a worker holds.

A worker that dies mid-job (killed, segfault, out of memory) is replaced and its job retried up to
``max_retries`` times, then recorded as failed with the reason; a job past its time limit or memory
cap is killed the same way, with the processes its job started.
``concurrent.futures`` cannot do this: one dead worker breaks its pool.

With more than one worker, results come back as they finish, so a seeded search's order (and
what its strategy proposes next) may differ between runs; one worker reproduces the inline run.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.reduction import ForkingPickler
from typing import Any

from metanas.execution.base import Job, JobOutcome, check_limits, failed, prepare
from metanas.types import Result, UserInputError

_POLL = 0.05
_STARTED = "started"  # a worker's word that its job's own work (and time limit) begins
_UNLOADABLE = "unloadable"  # ... that it cannot unpickle the job it was sent
#: workers in a row that die before they are ready: they cannot start, retrying will not help
_FAILED_STARTS = 3


_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def limit_threads(threads: int | None) -> None:
    """Cap the math threads of this process without importing torch.

    The environment variables take effect when torch (or numpy's BLAS) is first imported by a job;
    if torch is already loaded, its thread count is set directly. Table-only jobs never pay for
    importing torch.
    """
    if threads is None:
        return
    for var in _THREAD_VARS:
        os.environ[var] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def _worker_main(conn: Connection, threads: int | None, driver: int | None = None) -> None:
    """Worker loop: receive a job, run it, send back the result, until told to stop."""
    # Ctrl-C reaches the whole process group: the driver stops the workers itself, and a worker
    # must not print its own traceback of the interrupted job
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if driver is not None:
        threading.Thread(target=_exit_with, args=(driver,), daemon=True).start()
    limit_threads(threads)
    if not _send(conn, "ready"):
        return
    while True:
        try:
            job_id = conn.recv()  # the job's id, then the job itself
            if job_id is None:
                return
            job = conn.recv()
        except EOFError:
            return
        except Exception as e:  # e.g. an objective defined in a script run with -c
            if not _send(conn, (_UNLOADABLE, f"{type(e).__name__}: {e}")):
                return
            continue
        limit_threads(threads)  # a previous job may have imported torch or changed its threads
        result = prepare(job)  # a cold worker's imports and data are not the job's time
        if result is None:
            if not _send(conn, _STARTED):  # the driver starts the job's clock now
                return
            result = _run(job)
        try:
            sent = _send(conn, JobOutcome(job_id, result))  # pickled whole before it is written
        except Exception as e:  # e.g. a generator among the metrics
            sent = _send(
                conn,
                JobOutcome(
                    job_id,
                    Result.failed(
                        f"the result cannot be sent back from the worker process "
                        f"({type(e).__name__}: {e}); return plain numbers and strings."
                    ),
                ),
            )
        if not sent:
            return


def _exit_with(driver: int) -> None:
    """End this worker, and what its job started, once the driver is gone (killed with SIGKILL,
    it cannot stop its workers: they ran their jobs on, beside a resume's new ones)."""
    while os.getppid() == driver:
        time.sleep(1.0)
    _kill_all(_descendants(os.getpid()))
    os._exit(1)


def _send(conn: Connection, message: Any) -> bool:
    """Send to the driver; ``False`` when it is gone (killed): no one to report to, and no
    traceback to print for it."""
    try:
        conn.send(message)
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


def _run(job: Job) -> Result:
    try:
        return job.fn(*job.args)
    except (Exception, SystemExit, KeyboardInterrupt) as e:  # the job's failure, not the worker's
        return failed(e)


@dataclass
class _Worker:
    proc: Any
    conn: Connection
    job: Job | None = None
    started: float | None = None  # when the job itself began (after its worker's preparation)
    ready: bool = False


def _kill(proc: Any) -> None:
    """Kill a worker and the processes its job started (found before the worker dies: then
    they are adopted by init). Workers stay in the driver's process group, so a signal to the
    group (a terminal's hangup, ``timeout``) still ends them with the driver."""
    if not proc.is_alive():
        return
    children = _descendants(proc.pid)
    proc.kill()
    _kill_all(children)


def _kill_all(pids: list[int]) -> None:
    """SIGKILL each of ``pids`` that is still there (and ours to kill)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (Linux /proc; none where it is missing)."""
    parent: dict[int, int] = {}
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with (
                    contextlib.suppress(OSError, IndexError, ValueError),
                    open(f"/proc/{entry}/stat") as f,
                ):
                    parent[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
    out, frontier = [], [pid]
    while frontier:
        below = [c for c, p in parent.items() if p in frontier]
        out += below
        frontier = below
    return out


def _rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux /proc; 0 where unavailable)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class ProcessPoolExecutor:
    """Run jobs on ``workers`` local processes (default: one per core).

    Args:
        workers: number of worker processes.
        threads_per_worker: torch/OpenMP threads in each worker (default: cores // workers, at
            least 1), so workers do not fight over cores.
        max_retries: times a job is re-run after its worker died, before it is recorded as failed.
        time_limit: seconds a job may run before its worker is killed (None: no limit).
        memory_limit_mb: resident memory a worker may reach before it is killed (None: no limit).
        start_method: multiprocessing start method; "spawn" is safe with torch threads.
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        threads_per_worker: int | None = None,
        max_retries: int = 1,
        time_limit: float | None = None,
        memory_limit_mb: float | None = None,
        start_method: str = "spawn",
    ) -> None:
        check_limits(
            workers,
            {"threads_per_worker": threads_per_worker, "max_retries": max_retries,
             "time_limit": time_limit, "memory_limit_mb": memory_limit_mb},
        )  # fmt: skip
        self.workers = workers
        self.threads_per_worker = threads_per_worker
        self.max_retries = max_retries
        self.time_limit = time_limit
        self.memory_limit_mb = memory_limit_mb
        self.start_method = start_method
        self._pool: list[_Worker] = []
        self._queue: deque[Job] = deque()
        self._done: list[JobOutcome] = []
        self._attempts: dict[int, int] = {}
        self._failed_starts = 0

    @property
    def capacity(self) -> int:
        return self.workers or os.cpu_count() or 1

    # ----------------------------------------------------------------- workers
    def _spawn(self) -> _Worker:
        ctx = mp.get_context(self.start_method)
        parent, child = ctx.Pipe()
        threads = self.threads_per_worker or max(1, (os.cpu_count() or 1) // self.capacity)
        proc = ctx.Process(  # type: ignore[attr-defined]
            target=_worker_main, args=(child, threads, os.getpid()), daemon=True
        )
        proc.start()
        child.close()
        return _Worker(proc=proc, conn=parent)

    def _ensure_started(self) -> None:
        while len(self._pool) < self.capacity:
            self._pool.append(self._spawn())

    def _replace(self, w: _Worker, reason: str | None = None) -> None:
        """Kill a worker (and the processes its job started), requeue or fail its job, and start
        a fresh one in its place. ``reason`` ``None``: the worker died by itself."""
        job = w.job
        ran = 0.0 if w.started is None else time.monotonic() - w.started  # the job's own time
        if reason is None:  # its pipe closed: let it finish exiting, so its exit code is its own
            w.proc.join(timeout=1)
        _kill(w.proc)
        w.proc.join(timeout=5)
        w.conn.close()
        if reason is None:
            reason = f"worker died (exit code {w.proc.exitcode})"
            if not w.ready:
                self._failed_starts += 1
                if self._failed_starts >= _FAILED_STARTS:
                    raise UserInputError(
                        f"worker processes exit before they start ({reason}); a script that "
                        "searches with workers must be a file that guards its search with "
                        "'if __name__ == \"__main__\":' (workers import it again), or search "
                        "without workers."
                    )
        self._pool[self._pool.index(w)] = self._spawn()
        if job is None:
            return
        tries = self._attempts.get(job.id, 0) + 1
        self._attempts[job.id] = tries
        retryable = reason.startswith("worker died")
        if retryable and tries <= self.max_retries:
            self._queue.appendleft(job)
        else:
            # the time it ran is what it cost (a multi-fidelity strategy prices budgets by it)
            failed_result = Result.failed(f"{reason} (attempt {tries})", cost=ran)
            self._deliver(JobOutcome(job.id, failed_result))

    def _deliver(self, outcome: JobOutcome) -> None:
        self._attempts.pop(outcome.id, None)  # a job id may come again (another study)
        self._done.append(outcome)

    # ----------------------------------------------------------------- Executor protocol
    def submit(self, job: Job) -> None:
        self._queue.append(job)
        self._ensure_started()
        self._dispatch()

    def _dispatch(self) -> None:
        for w in list(self._pool):
            if w.ready and w.job is None and self._queue:
                job = self._queue.popleft()
                try:  # pickled whole (as Connection.send would) before anything is sent
                    payload = ForkingPickler.dumps(job)
                except (pickle.PicklingError, AttributeError, TypeError) as e:
                    raise UserInputError(
                        f"job {job.id} cannot be sent to a worker process ({e}); define the "
                        "objective or evaluator at module level, or use the inline executor."
                    ) from None
                # the id first: a worker that cannot unpickle the job can still say which
                try:
                    w.conn.send(job.id)
                    w.conn.send_bytes(payload)
                except OSError:  # it died while idle (killed): the job goes to its successor
                    self._queue.appendleft(job)
                    self._replace(w)
                    continue
                w.job, w.started = job, None

    def _check_limits(self) -> None:
        now = time.monotonic()
        for w in list(self._pool):
            if not w.proc.is_alive():
                self._replace(w)
            elif w.job is None:
                continue
            elif (
                self.time_limit is not None
                and w.started is not None
                and now - w.started > self.time_limit
            ):
                self._replace(w, f"time limit of {self.time_limit:g} s exceeded")
            elif (
                self.memory_limit_mb is not None
                and _rss_bytes(w.proc.pid) > self.memory_limit_mb * 2**20
            ):
                self._replace(w, f"memory limit of {self.memory_limit_mb:g} MB exceeded")

    def wait(self, timeout: float | None = None) -> list[JobOutcome]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done:
            busy = [w for w in self._pool if w.job is not None or not w.ready]
            if not self._queue and all(w.job is None for w in self._pool):
                break
            ready = wait([w.conn for w in busy], timeout=_POLL)
            for conn in ready:
                w = next(x for x in self._pool if x.conn is conn)
                try:
                    outcome: Any = w.conn.recv()
                except (EOFError, OSError):
                    self._replace(w)
                    continue
                if outcome == "ready":
                    w.ready = True
                    self._failed_starts = 0
                    continue
                if outcome == _STARTED:
                    w.started = time.monotonic()
                    continue
                if isinstance(outcome, tuple) and outcome[0] == _UNLOADABLE:
                    raise UserInputError(
                        f"a worker process cannot load the job ({outcome[1]}); define the "
                        "objective or evaluator in a module or script file the workers can "
                        "import (not in python -c or stdin), or search without workers."
                    )
                w.job = None
                self._deliver(outcome)
            self._check_limits()
            self._dispatch()
            if deadline is not None and time.monotonic() >= deadline:
                break
        out, self._done = self._done, []
        return out

    def shutdown(self) -> None:
        for w in self._pool:
            with contextlib.suppress(BrokenPipeError, OSError):
                w.conn.send(None)
        for w in self._pool:
            w.proc.join(timeout=2)
            _kill(w.proc)
            w.conn.close()
        self._pool.clear()
        # jobs of an interrupted run must not come back if the pool is used again
        self._queue.clear()
        self._done.clear()
        self._attempts.clear()

    def __enter__(self) -> ProcessPoolExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
