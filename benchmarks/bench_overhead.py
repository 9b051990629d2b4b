"""Per-trial overhead of the study loop: ask + tell + durable SQLite record, no real evaluation.

Each metanas strategy runs ``--trials`` trials through ``create_study(...).optimize`` with a
SQLite file on disk and a trivial evaluator (a sum of option indices), so the time measured is the
framework's: strategy ask/tell, dedupe, and the store's durable writes. The space has 10 choices
of 5 options (~9.8 M cells), so 10,000 trials are all distinct. For comparison, Optuna's
in-memory ``ask``/``tell`` with TPESampler and RandomSampler run in the same process, on the
same space (TPE's per-trial time grows with the number of trials, so it runs ``--tpe-trials``).

    nice .venv/bin/python benchmarks/bench_overhead.py --trials 10000 --tpe-trials 1000
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from metanas.evaluation.base import Reporter
from metanas.space import Choice, Space
from metanas.study import create_study
from metanas.types import Architecture, Budget, Result, TaskInfo

OPTIONS = ("a", "b", "c", "d", "e")


def make_space() -> Space:
    return Space([Choice(f"x{i}", OPTIONS) for i in range(10)], name="overhead10x5")


def score(arch: Mapping[str, Any]) -> float:
    return float(sum(OPTIONS.index(v) for v in arch.values()))


class SumEvaluator:
    """A near-free evaluator so that only the framework's overhead is timed."""

    objective = "value"

    def evaluate(self, arch: Architecture, budget: Budget | None, report: Reporter) -> Result:
        v = score(arch)
        return Result(value=v, metrics={"value": v})

    def task_info(self) -> TaskInfo:
        return TaskInfo(name="overhead")


def time_metanas(strategy: str, n: int, folder: Path) -> tuple[float, float, int]:
    db = folder / f"{strategy}.db"
    study = create_study(
        make_space(), strategy, SumEvaluator(), storage=str(db), study_name=strategy, seed=0
    )
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.optimize(n)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    done = study.n_finished
    study.store.close()
    return dt, dc, done


def time_optuna(sampler_name: str, n: int) -> tuple[float, float, int]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (
        optuna.samplers.TPESampler(seed=0)
        if sampler_name == "tpe"
        else optuna.samplers.RandomSampler(seed=0)
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    dists = {
        f"x{i}": optuna.distributions.CategoricalDistribution(list(OPTIONS)) for i in range(10)
    }
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        trial = study.ask(dists)
        study.tell(trial, score(trial.params))
    return time.perf_counter() - t0, time.process_time() - c0, n


def row(name: str, n: int, wall: float, cpu: float) -> None:
    print(
        f"| {name} | {n} | {wall:.1f} | {1000 * wall / n:.3f} | {1000 * cpu / n:.3f} |", flush=True
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--trials", type=int, default=10_000)
    p.add_argument("--tpe-trials", type=int, default=1_000)
    p.add_argument("--strategies", default="random,evolution,local_search")
    p.add_argument("--folder", default=None, help="where the SQLite files go (default: a temp dir)")
    args = p.parse_args()
    print("| run | trials | wall s | wall ms per trial | CPU ms per trial |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.folder or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for s in args.strategies.split(","):
            dt, dc, done = time_metanas(s, args.trials, folder)
            row(f"metanas {s} + SQLite file", done, dt, dc)
    for name, n in (("random", args.trials), ("tpe", args.tpe_trials)):
        dt, dc, done = time_optuna(name, n)
        row(f"optuna {name} in memory", done, dt, dc)


if __name__ == "__main__":
    main()
