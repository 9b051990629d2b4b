"""Run jobs in the calling process, one at a time: the default, and the easiest to debug."""

from __future__ import annotations

from collections import deque

from metanas.execution.base import Job, JobOutcome, prepare


class InlineExecutor:
    """Run each submitted job when :meth:`wait` is called, in submission order.

    Exceptions from the job (including ``KeyboardInterrupt``) propagate to the caller; jobs built
    by the study already turn evaluator errors into failed results.
    """

    capacity: int = 1

    def __init__(self) -> None:
        self._queue: deque[Job] = deque()

    def submit(self, job: Job) -> None:
        self._queue.append(job)

    def wait(self, timeout: float | None = None) -> list[JobOutcome]:
        # one job per call, so the study records each result before the next one starts
        if not self._queue:
            return []
        job = self._queue.popleft()
        # as a pool worker does: the process's first-use costs (torch's imports, the data set)
        # are not the first trial's time, nor its cost
        failed = prepare(job)
        return [JobOutcome(job.id, failed if failed is not None else job.fn(*job.args))]

    def shutdown(self) -> None:
        self._queue.clear()

    def __enter__(self) -> InlineExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
