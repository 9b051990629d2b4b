"""Parallel execution: throughput of real training on 1 vs 2 workers, Ray's per-trial overhead,
and a 10,000-trial table search through the process pool (correctness and resume).

    nice .venv/bin/python benchmarks/bench_parallel.py all      # or: training | ray | table

training: digits, macro space, TrainingEvaluator trials of a few seconds each. The same trials
(grid order, same seeds) run on one worker with 2 torch threads, then on two workers with 1 thread
each; throughput = trials / wall time of ``optimize``. Reports the machine's load average, because
other processes sharing the cores skew the ratio.

ray: a trivial job (a dictionary lookup) submitted one at a time, waited for, through the inline
executor and through a local Ray instance (2 CPUs); the difference of the per-trial times is Ray's
added overhead. Also the same through the study loop with 2 trials in flight.

table: the NAS-Bench-101 subset (10,250 cells), random search for 10,000 trials through a 2-worker
pool into a SQLite file; killed half-way (KeyboardInterrupt after 5,000) and resumed; checks that
the trials are distinct, complete, numbered 0..N-1, and that the strategy saw every trial.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from metanas.execution.base import Job


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


# --------------------------------------------------------------------------- training throughput
def training(n_trials: int, configs: str = "1x2,2x1", epochs: float = 10) -> dict[str, float]:
    from metanas.evaluation.training import TrainingEvaluator
    from metanas.execution.pool import ProcessPoolExecutor
    from metanas.space import get_space
    from metanas.study import create_study

    space = get_space("macro", max_depth=2, widths=[16, 32], units=["conv3x3", "maxpool3x3"])
    ev = TrainingEvaluator("digits", space.kind, epochs=epochs, batch_size=64, lr=0.01,
                           model_options={"stem_channels": 16})  # fmt: skip
    out: dict[str, float] = {}
    pairs = [tuple(int(v) for v in c.split("x")) for c in configs.split(",")]
    for workers, threads in pairs:
        with (
            tempfile.TemporaryDirectory() as d,
            ProcessPoolExecutor(workers, threads_per_worker=threads) as ex,
        ):
            # warm the workers (spawn, imports, data) so only training is timed
            for i in range(workers):
                ex.submit(Job(-1 - i, _warm, (ev,)))
            got = 0
            while got < workers:
                got += len(ex.wait(60))
            st = create_study(space, "grid", ev, storage=Path(d) / "s.db", executor=ex)
            print(f"  {workers} worker(s) x {threads} thread(s): {load()}", flush=True)
            t0 = time.perf_counter()
            st.optimize(n_trials)
            wall = time.perf_counter() - t0
        costs = [t.cost for t in st.trials]
        ok = sum(t.value is not None for t in st.trials)
        out[f"{workers}x{threads}"] = n_trials / wall
        print(f"    {n_trials} trials ({ok} complete) in {wall:.1f} s: "
              f"{n_trials / wall * 60:.2f} trials/min, median trial {statistics.median(costs):.2f} s",
              flush=True)  # fmt: skip
    if "2x1" in out and "1x2" in out:
        ratio = out["2x1"] / out["1x2"]
        print(
            f"  speed-up of 2 workers x 1 thread over 1 worker x 2 threads: {ratio:.2f}x ({load()})"
        )
        out["ratio"] = ratio
    return out


def _warm(ev: Any) -> Any:
    from metanas._loop import run_evaluation
    from metanas.space import get_space

    space = get_space("macro", max_depth=2, widths=[16, 32], units=["conv3x3", "maxpool3x3"])
    import numpy as np

    return run_evaluation(ev, space.sample(np.random.default_rng(0)), None)


# --------------------------------------------------------------------------- Ray overhead
def lookup(i: int) -> Any:
    from metanas.types import Result

    return Result(value=float(i % 7))


def _roundtrips(ex: Any, n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        ex.submit(Job(i, lookup, (i,)))
        while not ex.wait(30):
            pass
    return (time.perf_counter() - t0) / n


def ray_overhead(n: int) -> dict[str, float]:
    from metanas.evaluation.function import FunctionEvaluator
    from metanas.execution.inline import InlineExecutor
    from metanas.execution.ray import RayExecutor
    from metanas.space import IntRange, Space
    from metanas.study import create_study

    inline = _roundtrips(InlineExecutor(), n)
    with RayExecutor(num_cpus=2) as ex:
        _roundtrips(ex, 20)  # warm: workers started, function exported
        ray_rt = _roundtrips(ex, n)
        space = Space([IntRange("w", 0, 10**6)])
        loop = {}
        for name, executor in (("inline", None), ("ray", ex)):
            st = create_study(space, "random", FunctionEvaluator(_objective), executor=executor)
            t0 = time.perf_counter()
            st.optimize(n)
            loop[name] = (time.perf_counter() - t0) / n
    print(f"  one job at a time: inline {inline * 1e3:.3f} ms, Ray {ray_rt * 1e3:.2f} ms per "
          f"trial -> Ray adds {(ray_rt - inline) * 1e3:.2f} ms ({load()})")  # fmt: skip
    print(f"  study loop ({n} trials, Ray keeps 2 in flight): inline {loop['inline'] * 1e3:.2f} ms, "
          f"Ray {loop['ray'] * 1e3:.2f} ms per trial -> adds {(loop['ray'] - loop['inline']) * 1e3:.2f} ms")  # fmt: skip
    return {"inline_ms": inline * 1e3, "ray_ms": ray_rt * 1e3,
            "loop_inline_ms": loop["inline"] * 1e3, "loop_ray_ms": loop["ray"] * 1e3}  # fmt: skip


def _objective(a: Any) -> float:
    return float(a["w"] % 1000)


# --------------------------------------------------------------------------- 10,000-trial table search
class _StopAfter:
    def __init__(self, n: int) -> None:
        self.n = n

    def __call__(self, study: Any, trial: Any) -> None:
        if study.n_finished >= self.n:
            raise KeyboardInterrupt


def table(n: int) -> dict[str, float]:
    from metanas.evaluation.tabular import nb101_table
    from metanas.execution.pool import ProcessPoolExecutor
    from metanas.storage.sqlite import SQLiteStore
    from metanas.study import create_study

    ev = nb101_table()
    space = ev.restrict()
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "s.db"
        t0 = time.perf_counter()
        with ProcessPoolExecutor(2) as ex:
            st = create_study(space, "random", ev, storage=db, study_name="t", seed=3, executor=ex)
            try:
                st.optimize(n, callbacks=[_StopAfter(n // 2)])
            except KeyboardInterrupt:
                print(f"  interrupted at {st.n_finished} finished trials", flush=True)
        with ProcessPoolExecutor(2) as ex, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            st = create_study(space, "random", ev, storage=db, study_name="t", seed=3,
                              executor=ex, resume=True)  # fmt: skip
            st.optimize(n)
        wall = time.perf_counter() - t0
        store = SQLiteStore(db, readonly=True)
        sid = store.get_study("t").id
        trials = store.trials(sid)
        dups = store.duplicates(sid)
        keys = [t.key for t in trials]
        states = {
            s: sum(t.state.value == s for t in trials) for s in ("complete", "failed", "running")
        }
        told = len(st.strategy.history)
        ok = (
            [t.number for t in trials] == list(range(len(trials)))
            and len(trials) == n
            and len(set(keys)) == n
            and states["running"] == 0
            and told == n + len(dups)
            and not st.strategy.pending
        )
    print(f"  {len(trials)} trials ({states}), {len(set(keys))} distinct, {len(dups)} duplicate "
          f"proposals answered from the store, strategy told {told}; {wall:.1f} s "
          f"({wall / n * 1e3:.2f} ms per trial); correct: {ok} ({load()})")  # fmt: skip
    return {"trials": len(trials), "distinct": len(set(keys)), "ok": float(ok), "seconds": wall}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["all", "training", "ray", "table"], default="all", nargs="?")
    p.add_argument("--train-trials", type=int, default=8)
    p.add_argument("--train-configs", default="1x2,2x1", help="workers x threads, e.g. 1x1,1x2,2x1")
    p.add_argument("--train-epochs", type=float, default=10, help="epochs per trial (~0.4 s each)")
    p.add_argument("--ray-trials", type=int, default=300)
    p.add_argument("--table-trials", type=int, default=10_000)
    a = p.parse_args(argv)
    if a.what in ("all", "ray"):
        print("Ray overhead:", flush=True)
        ray_overhead(a.ray_trials)
    if a.what in ("all", "table"):
        print("table search through the pool:", flush=True)
        table(a.table_trials)
    if a.what in ("all", "training"):
        print("training throughput:", flush=True)
        training(a.train_trials, a.train_configs, a.train_epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
