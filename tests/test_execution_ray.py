"""RayExecutor on a private local Ray instance: results, killed workers, time limits, a study."""

from __future__ import annotations

import os
import signal
import time

import pytest

from faulty_jobs import always_die, boom, die_once, exit_with, hang, interrupt, square
from metanas.evaluation.function import FunctionEvaluator
from metanas.execution.base import Job
from metanas.space.base import Space
from metanas.space.dims import IntRange
from metanas.study import create_study
from metanas.types import TrialState

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # starting Ray takes ~10 s


def objective(a: dict) -> float:
    if a["width"] == 4 and not os.path.exists(a["marker"]):  # the first try kills its worker
        open(a["marker"], "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return float(a["width"])


@pytest.fixture(scope="module")
def ex():
    from metanas.execution.ray import RayExecutor

    # Ray's workers must import this module to run its functions
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.dirname(__file__), old]))
    e = RayExecutor(num_cpus=2, max_retries=1)
    try:
        e._start()  # while PYTHONPATH holds the tests folder
        yield e
    finally:
        e.shutdown()
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def collect(ex, n):
    out = {}
    deadline = time.monotonic() + 120
    while len(out) < n and time.monotonic() < deadline:
        out.update({o.id: o.result for o in ex.wait(30)})
    return out


def test_ray_results_faults_and_limits(ex, tmp_path):
    ex.submit(Job(0, die_once, (str(tmp_path / "m"),)))
    ex.submit(Job(1, always_die))
    ex.submit(Job(2, boom))
    ex.submit(Job(3, square, (3,)))
    res = collect(ex, 4)
    assert res[0].value == 1.0  # retried by Ray after its worker was killed
    assert res[1].state is TrialState.FAILED and "worker died" in (res[1].error or "")
    assert res[2].state is TrialState.FAILED and "boom" in (res[2].error or "")
    assert res[3].value == 9.0


def test_a_ray_job_that_exits_or_raises_keyboardinterrupt_fails_with_its_reason(ex):
    """Ray read a job's KeyboardInterrupt as a cancellation, which the executor formatted with
    its time limit: a TypeError without one, a false "time limit" with one."""
    ex.submit(Job(0, interrupt))
    ex.submit(Job(1, exit_with, (4,)))
    res = collect(ex, 2)
    assert res[0].state is TrialState.FAILED and "KeyboardInterrupt" in (res[0].error or "")
    assert "SystemExit: 4" in (res[1].error or "")


def test_ray_time_limit(ex):
    from metanas.execution.ray import RayExecutor

    # the clock starts at submission (Ray gives no cheap start time), so only hang is submitted
    limited = RayExecutor(num_cpus=2, time_limit=3)  # joins the instance the fixture started
    limited.submit(Job(0, hang))
    res = collect(limited, 1)
    limited.shutdown()  # does not stop a Ray instance it did not start
    assert res[0].state is TrialState.FAILED and "time limit of 3 s" in (res[0].error or "")
    ex.submit(Job(1, square, (2,)))
    assert collect(ex, 1)[1].value == 4.0


def test_study_on_ray_survives_a_killed_worker(ex, tmp_path):
    from metanas.space.dims import Choice

    space = Space([IntRange("width", 1, 6), Choice("marker", [str(tmp_path / "kill")])])
    study = create_study(
        space, "grid", FunctionEvaluator(objective), storage=tmp_path / "s.db", executor=ex
    )
    study.optimize(6)
    assert sorted(t.arch["width"] for t in study.trials) == [1, 2, 3, 4, 5, 6]
    assert all(t.state is TrialState.COMPLETE for t in study.trials)
    assert (tmp_path / "kill").exists()


def test_a_job_ray_cannot_serialize_is_one_sentence(ex):
    import threading

    from metanas.types import UserInputError

    with pytest.raises(UserInputError, match="cannot be sent to a Ray worker"):
        ex.submit(Job(99, square, (threading.Lock(),)))
