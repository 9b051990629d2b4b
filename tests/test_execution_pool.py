"""The process pool: results come back, a killed worker's job is retried or failed, limits hold."""

from __future__ import annotations

import subprocess
import sys

from faulty_jobs import always_die, boom, die_once, hang, lost_connection, square
from metanas.execution.base import Job
from metanas.execution.pool import ProcessPoolExecutor
from metanas.types import Result, TrialState


def collect(ex: ProcessPoolExecutor, n: int) -> dict[int, Result]:
    out: dict[int, Result] = {}
    while len(out) < n:
        for o in ex.wait(timeout=30):
            out[o.id] = o.result
    return out


def test_pool_runs_jobs_on_workers():
    with ProcessPoolExecutor(2) as ex:
        for i in range(6):
            ex.submit(Job(i, square, (i,)))
        res = collect(ex, 6)
    assert {i: r.value for i, r in res.items()} == {i: float(i * i) for i in range(6)}


def test_killed_worker_job_is_retried_then_failed(tmp_path):
    with ProcessPoolExecutor(2, max_retries=1) as ex:
        ex.submit(Job(0, die_once, (str(tmp_path / "m"),)))
        ex.submit(Job(1, always_die))
        ex.submit(Job(2, square, (3,)))
        res = collect(ex, 3)
    assert res[0].value == 1.0
    assert res[1].state is TrialState.FAILED and "worker died" in (res[1].error or "")
    assert res[2].value == 9.0


def test_time_limit_and_exceptions_become_failures():
    with ProcessPoolExecutor(2, time_limit=1.0) as ex:
        ex.submit(Job(0, hang))
        ex.submit(Job(1, boom))
        ex.submit(Job(2, square, (2,)))
        ex.submit(Job(3, lost_connection))  # the evaluator's own, not the driver's pipe
        res = collect(ex, 4)
    assert res[0].state is TrialState.FAILED and "time limit" in (res[0].error or "")
    assert res[1].state is TrialState.FAILED and "boom" in (res[1].error or "")
    assert res[2].value == 4.0
    assert "BrokenPipeError: the evaluator's own download" in (res[3].error or "")


_DRIVER_GONE = """
import multiprocessing as mp, sys, time
from metanas.execution.base import Job
from metanas.execution.pool import _worker_main

if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_worker_main, args=(child, 1))
    proc.start()
    child.close()
    assert parent.recv() == "ready"
    parent.send(Job(id=0, fn=time.sleep, args=(1.0,)))
    assert parent.recv() == "started"
    parent.close()  # as a killed driver's end closes
    proc.join(30)
    print("exit", proc.exitcode)
"""


def test_a_worker_whose_driver_is_gone_exits_quietly(tmp_path):
    """kill -9 of the driver: the worker finishes its trial, finds no one to send it to and
    exits without a BrokenPipeError traceback."""
    script = tmp_path / "driver.py"
    script.write_text(_DRIVER_GONE)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.stdout.strip() == "exit 0", out.stderr
    assert "Traceback" not in out.stderr, out.stderr
