"""The process pool: results come back, a killed worker's job is retried or failed, limits hold."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from faulty_jobs import (
    always_die,
    boom,
    die_once,
    exit_with,
    hang,
    interrupt,
    lost_connection,
    square,
    start_sleeper,
    unsendable,
)
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
    assert 1.0 <= res[0].cost < 3.0  # what it ran, not 0 (multi-fidelity prices budgets by it)
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
    parent.send(0)
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


_DRIVER_KILLED = """
import os, signal, sys, time
from metanas.execution.base import Job
from metanas.execution.pool import ProcessPoolExecutor
from faulty_jobs import start_sleeper

if __name__ == "__main__":
    ex = ProcessPoolExecutor(1)
    ex.submit(Job(0, start_sleeper, (sys.argv[1],)))
    while not os.path.exists(sys.argv[1]):
        ex.wait(0.1)
    time.sleep(0.5)
    print(ex._pool[0].proc.pid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no shutdown: what kill -9 leaves
"""


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"  # exited, not yet reaped
    except FileNotFoundError:
        return True


def test_workers_and_their_jobs_end_when_the_driver_is_killed(tmp_path):
    """They ran on after kill -9 of the driver (and beside a resume's new trials)."""
    script = tmp_path / "driver.py"
    script.write_text(_DRIVER_KILLED)
    env = {**os.environ, "PYTHONPATH": os.path.dirname(__file__)}
    pid_file = tmp_path / "sleeper"
    out = subprocess.run([sys.executable, str(script), str(pid_file)], capture_output=True,
                         text=True, timeout=120, env=env)  # fmt: skip
    worker, sleeper = int(out.stdout.split()[0]), int(pid_file.read_text())
    deadline = time.monotonic() + 20
    while not (_gone(worker) and _gone(sleeper)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _gone(worker) and _gone(sleeper)


def test_an_idle_worker_that_died_is_replaced_when_the_next_job_comes():
    """A pool kept across studies: a worker killed between them broke the next send."""
    with ProcessPoolExecutor(2) as ex:
        for i in range(2):
            ex.submit(Job(i, square, (i,)))
        collect(ex, 2)
        for w in ex._pool:
            os.kill(w.proc.pid, signal.SIGKILL)
        time.sleep(0.5)
        for i in range(2, 6):
            ex.submit(Job(i, square, (i,)))
        assert {i: r.value for i, r in collect(ex, 4).items()} == {i: i * i for i in range(2, 6)}


def test_a_job_that_exits_or_raises_keyboardinterrupt_fails_with_its_reason():
    """It was "worker died (exit code -9)", and retried."""
    with ProcessPoolExecutor(1, max_retries=1) as ex:
        ex.submit(Job(0, exit_with, (4,)))
        ex.submit(Job(1, interrupt))
        ex.submit(Job(2, square, (3,)))
        res = collect(ex, 3)
    assert res[0].state is TrialState.FAILED and "SystemExit: 4" in (res[0].error or "")
    assert "KeyboardInterrupt" in (res[1].error or "")
    assert "attempt" not in (res[0].error or "") + (res[1].error or "")
    assert res[2].value == 9.0


@pytest.mark.parametrize("bad", [{"workers": -1}, {"workers": "2"}, {"workers": 2.5},
                                 {"time_limit": 0}, {"max_retries": -1}])  # fmt: skip
def test_a_pool_built_directly_refuses_bad_settings(bad):
    """ProcessPoolExecutor(-1) hung forever (no worker ever started)."""
    from metanas.types import UserInputError

    workers = bad.pop("workers", 2)
    with pytest.raises(UserInputError, match="must be"):
        ProcessPoolExecutor(workers, **bad)


def test_a_result_that_cannot_be_sent_back_fails_its_job_once(tmp_path):
    with ProcessPoolExecutor(1, max_retries=1) as ex:
        ex.submit(Job(0, unsendable))
        ex.submit(Job(1, square, (3,)))
        res = collect(ex, 2)
    assert res[0].state is TrialState.FAILED
    assert "cannot be sent back" in (res[0].error or "") and "generator" in (res[0].error or "")
    assert "attempt" not in (res[0].error or "")  # not taken for a dead worker and retried
    assert res[1].value == 9.0


def test_retries_are_counted_per_job_not_per_id_across_runs(tmp_path):
    """Two studies on one pool both number their first trial 0: each may be retried once."""
    with ProcessPoolExecutor(1, max_retries=1) as ex:
        for run in range(2):
            ex.submit(Job(0, die_once, (str(tmp_path / f"m{run}"),)))
            assert collect(ex, 1)[0].value == 1.0


def test_a_time_limit_kills_the_processes_the_job_started(tmp_path):
    pid_file = tmp_path / "pid"
    with ProcessPoolExecutor(1, time_limit=1.5) as ex:
        ex.submit(Job(0, start_sleeper, (str(pid_file),)))
        res = collect(ex, 1)
    assert "time limit" in (res[0].error or "")
    pid = int(pid_file.read_text())
    for _ in range(100):  # killed with its worker's group; reaped by whoever adopted it
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
        except FileNotFoundError:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        raise AssertionError("the job's subprocess outlived the time limit")


_UNGUARDED = """
from metanas.evaluation.function import FunctionEvaluator
from metanas.execution.pool import ProcessPoolExecutor
from metanas.space import IntRange, Space
from metanas.study import create_study

def objective(a):
    return float(a["w"])

# no `if __name__ == "__main__":` guard: each spawned worker runs this search again
create_study(Space([IntRange("w", 0, 9)]), "random", FunctionEvaluator(objective),
             executor=ProcessPoolExecutor(2)).optimize(4)
"""


@pytest.mark.parametrize("how", ["file", "-c"])
def test_workers_that_cannot_start_or_load_the_job_stop_the_search_with_a_sentence(tmp_path, how):
    """A script without a __main__ guard made the pool respawn dying workers for ever; an
    objective defined under python -c could not be unpickled and read as 'worker died'."""
    if how == "file":
        script = tmp_path / "search.py"
        script.write_text(_UNGUARDED)
        cmd = [sys.executable, str(script)]
        expected = "guards its search with 'if __name__"
    else:  # guarded, but the objective lives in -c's __main__, which workers cannot import
        guarded = _UNGUARDED.replace("create_study(", "if __name__ == '__main__':\n  create_study(")
        cmd = [sys.executable, "-c", guarded]
        expected = "cannot load the job"
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode != 0
    assert expected in out.stderr.splitlines()[-1], out.stderr[-2000:]
