"""Executors behind one interface: make_executor, thread limits, faults inside a study."""

from __future__ import annotations

import math
import os
import sys
import time

import pytest

from metanas.evaluation.function import FunctionEvaluator
from metanas.execution import InlineExecutor, make_executor
from metanas.execution.base import Job
from metanas.execution.pool import ProcessPoolExecutor, limit_threads
from metanas.space.base import Space
from metanas.space.dims import IntRange
from metanas.study import create_study
from metanas.types import Result, TrialState, UserInputError


def env_threads() -> Result:
    return Result(
        value=float(os.environ.get("OMP_NUM_THREADS", "0")),
        metrics={"torch_loaded": float("torch" in sys.modules)},
    )


def torch_threads() -> Result:
    import torch

    return Result(value=float(torch.get_num_threads()))


def grab_memory(mb: int) -> Result:
    chunks = []
    for _ in range(mb // 10):  # grow step by step, as a real model would, so the monitor sees it
        chunks.append(bytearray(10 * 2**20))
        time.sleep(0.01)
    time.sleep(5)
    return Result(value=float(len(chunks)))


def faulty(arch: dict) -> float:
    """Objective with a fault for some widths: hang, raise, NaN."""
    w = arch["width"]
    if w == 3:
        time.sleep(60)
    if w == 5:
        raise RuntimeError("diverged")
    if w == 7:
        return math.nan
    return float(w)


def test_make_executor_names_and_errors():
    assert isinstance(make_executor("inline"), InlineExecutor)
    pool = make_executor("pool", 2, time_limit=5, max_retries=0)
    assert isinstance(pool, ProcessPoolExecutor) and pool.capacity == 2 and pool.time_limit == 5
    cases = [
        (("gpu",), {}, "unknown executor 'gpu'"),
        (("pool", 0), {}, "workers must be a positive integer"),
        (("pool", 2), {"time_limit": -1}, "time_limit must be a positive number"),
        (("pool", 2), {"max_retries": -1}, "max_retries must be an integer >= 0"),
        (("pool", 2), {"gpus": 1}, "unknown executor option(s) gpus"),
        (("inline",), {"time_limit": 3}, "need a separate process"),
        (("pool", 2, "127.0.0.1:6379"), {}, "add --executor ray"),
    ]
    for args, kw, msg in cases:
        with pytest.raises(UserInputError, match=msg.replace("(", r"\(").replace(")", r"\)")):
            make_executor(*args, **kw)


@pytest.mark.parametrize("form", ["127.0.0.1:{port}", "ray://127.0.0.1:{port}"])
def test_ray_address_where_nothing_listens_is_refused_at_once(monkeypatch, form):
    """Ray would retry such an address for minutes, printing warnings; we ask the port first."""
    import socket
    import types

    from metanas.execution import ray as ray_module

    with socket.socket() as s:  # a port that was free a moment ago and is closed now
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def init(**kw):
        raise AssertionError("ray.init must not be tried")

    fake = types.SimpleNamespace(is_initialized=lambda: False, init=init)
    monkeypatch.setattr(ray_module, "_import_ray", lambda: fake)
    address = form.format(port=port)
    with pytest.raises(UserInputError, match=f"cannot reach a Ray cluster at '{address}'"):
        ray_module.RayExecutor(address=address).connect()


def test_ray_missing_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(UserInputError, match=r"pip install 'metanas\[ray\]'"):
        make_executor("ray", 2)


def test_limit_threads_sets_env_and_loaded_torch(monkeypatch):
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    import torch

    before = torch.get_num_threads()
    try:
        limit_threads(1)
        assert os.environ["OMP_NUM_THREADS"] == "1" and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_pool_workers_get_threads_without_importing_torch():
    with ProcessPoolExecutor(2, threads_per_worker=1) as ex:
        ex.submit(Job(0, env_threads))
        ex.submit(Job(1, torch_threads))
        out = {}
        while len(out) < 2:
            out.update({o.id: o.result for o in ex.wait(30)})
    # a table-only job finds the limit in its environment and no torch loaded
    assert out[0].value == 1.0 and out[0].metrics["torch_loaded"] == 0.0
    assert out[1].value == 1.0  # a job that imports torch gets one thread


def test_memory_limit_kills_the_job_and_the_pool_goes_on():
    with ProcessPoolExecutor(1, memory_limit_mb=150, max_retries=3) as ex:
        ex.submit(Job(0, grab_memory, (400,)))
        ex.submit(Job(1, env_threads))
        out = {}
        while len(out) < 2:
            out.update({o.id: o.result for o in ex.wait(60)})
    assert out[0].state is TrialState.FAILED and "memory limit of 150 MB" in (out[0].error or "")
    assert "attempt 1" in (out[0].error or "")  # a limit is not retried
    assert out[1].state is TrialState.COMPLETE


_PREPARED: list[bool] = []  # in the worker process that ran slow_start


def slow_start() -> None:
    time.sleep(1.5)  # a cold worker's imports and data, say
    _PREPARED.append(True)


def quick() -> Result:
    return Result(value=1.0, metrics={"prepared": float(bool(_PREPARED))})


def test_a_time_limit_starts_after_the_workers_preparation():
    # a fresh worker prepares for 1.5 s, then runs a quick job: within a 1 s limit; the job
    # itself over the limit is still stopped
    with ProcessPoolExecutor(1, time_limit=1.0, max_retries=0) as ex:
        ex.submit(Job(0, quick, prepare=slow_start))
        ex.submit(Job(1, time.sleep, (3,), prepare=slow_start))
        out = {}
        while len(out) < 2:
            out.update({o.id: o.result for o in ex.wait(30)})
    assert out[0].state is TrialState.COMPLETE, out[0].error
    assert out[0].metrics["prepared"] == 1.0
    assert "time limit of 1 s exceeded" in (out[1].error or "")


def test_study_on_pool_records_hang_raise_nan_as_failed_and_goes_on(tmp_path):
    space = Space([IntRange("width", 1, 10)])
    with ProcessPoolExecutor(2, time_limit=3) as ex:
        study = create_study(
            space, "grid", FunctionEvaluator(faulty), storage=tmp_path / "s.db", executor=ex
        )
        study.optimize(10)
    by_width = {t.arch["width"]: t for t in study.trials}
    assert sorted(by_width) == list(range(1, 11))
    assert all(t.state.finished for t in study.trials)
    assert "time limit" in (by_width[3].error or "")
    assert "diverged" in (by_width[5].error or "")
    assert "is nan, not a finite number" in (by_width[7].error or "")
    ok = {w for w, t in by_width.items() if t.state is TrialState.COMPLETE}
    assert ok == {1, 2, 4, 6, 8, 9, 10}
    assert study.best_trial is not None and study.best_trial.value == 10.0


def bowl(a: dict) -> float:
    return -((a["a"] - 3) ** 2) - (a["b"] - 1) ** 2


def test_unpicklable_objective_is_a_clear_error(tmp_path):
    space = Space([IntRange("a", 0, 5)])
    with ProcessPoolExecutor(1) as ex:
        study = create_study(space, "random", FunctionEvaluator(lambda a: 1.0), executor=ex)
        with pytest.raises(UserInputError, match="define the objective or evaluator at module"):
            study.optimize(2)


class PendingSpy:
    """Wraps the pool and checks, at each submit, that in-flight candidates are pending."""

    def __init__(self, inner, study_ref):
        self.inner, self.study_ref, self.capacity = inner, study_ref, inner.capacity
        self.max_pending = 0
        self.keys: list[str] = []

    def submit(self, job):
        strat = self.study_ref[0].strategy
        self.max_pending = max(self.max_pending, len(strat.pending))
        self.inner.submit(job)

    def wait(self, timeout=None):
        return self.inner.wait(timeout)

    def shutdown(self):
        self.inner.shutdown()


@pytest.mark.parametrize("strategy", ["random", "evolution", "local_search"])
def test_parallel_study_keeps_candidates_pending_and_distinct(tmp_path, strategy):
    space = Space([IntRange("a", 0, 5), IntRange("b", 0, 5)])
    ref: list = []
    with ProcessPoolExecutor(2) as pool:
        spy = PendingSpy(pool, ref)
        study = create_study(
            space,
            strategy,
            FunctionEvaluator(bowl),
            storage=tmp_path / "s.db",
            executor=spy,
            seed=1,
        )
        ref.append(study)
        study.optimize(20)
    keys = [t.key for t in study.trials]
    assert len(keys) == len(set(keys)) == 20  # no candidate evaluated twice
    assert spy.max_pending == 2  # a second trial was proposed while the first ran
    assert not study.strategy.pending  # everything told at the end


def test_workers_leave_ctrl_c_to_the_driver():
    # a terminal's Ctrl-C reaches every process of the group: a worker must not die printing its
    # job's traceback; the driver stops it (shutdown) after telling the user what was kept
    import signal

    with ProcessPoolExecutor(1) as ex:
        ex.submit(Job(0, quick))
        assert [o.result.value for o in ex.wait(30)] == [1.0]
        worker = ex._pool[0].proc
        os.kill(worker.pid, signal.SIGINT)
        time.sleep(0.5)
        assert worker.is_alive()
        ex.submit(Job(1, quick))
        assert [o.result.value for o in ex.wait(30)] == [1.0]


def _timed(started: list) -> Result:
    return Result(value=time.perf_counter() - started[0])


def test_inline_prepares_a_job_before_it_starts_as_a_pool_worker_does():
    """A process's first-use costs (torch's imports: seconds) fell in the first inline trial's
    time limit and cost, so the same seed chose otherwise inline than with one pool worker."""
    started: list = []

    def slow_start() -> None:
        time.sleep(0.3)
        started.append(time.perf_counter())

    with InlineExecutor() as ex:
        ex.submit(Job(id=0, fn=_timed, args=(started,), prepare=slow_start))
        (out,) = ex.wait()
    assert out.result.value is not None and out.result.value < 0.3

    def broken() -> None:
        raise OSError("data set missing")

    with InlineExecutor() as ex:
        ex.submit(Job(id=1, fn=_timed, args=([0.0],), prepare=broken))
        (out,) = ex.wait()
    assert out.result.state is TrialState.FAILED and "data set missing" in (out.result.error or "")


def test_a_study_that_runs_dry_on_workers_counts_the_trials_still_running(tmp_path):
    """Grid on 4 cells with workers said 'stopped after 2 trials', then finished 4."""
    from metanas.study import StudyStopped

    space = Space([IntRange("a", 0, 1), IntRange("b", 0, 1)])
    with ProcessPoolExecutor(2) as pool:
        study = create_study(space, "grid", FunctionEvaluator(bowl), executor=pool)
        with pytest.warns(StudyStopped, match="stopped after 4 trials"):
            study.optimize(10)
    assert study.n_finished == 4
