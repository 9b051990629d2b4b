"""The real-training replay of benchmarks/bench_proxy_search.py: CPU seconds are charged honestly
(training once per trained architecture, proxy once per scored one) and a screen with an
informative proxy beats random search on a synthetic pool."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_proxy_search.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_proxy_search", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def pool(n: int = 60, seed: int = 0) -> list[dict]:
    """Synthetic trained pool: the proxy "good" is val acc plus noise, "bad" is pure noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        acc = float(rng.uniform(0.1, 0.9))
        rows.append(
            {
                "key": str(i),
                "val_acc": acc,
                "train_cpu": float(rng.uniform(1.0, 10.0)),
                "proxy": {"good@8": acc + float(rng.normal(0, 0.05)), "bad@8": float(rng.normal())},
                "proxy_cpu": {"good@8": 0.01, "bad@8": 0.01},
            }
        )
    return rows


def test_charges_training_once_and_proxy_per_scored_arch(bench) -> None:
    rows = pool()
    curve = bench._real_run(rows, "random", 0, float("inf"), 8)
    assert len(curve) == 8
    times = [p[0] for p in curve]
    assert all(b > a for a, b in itertools.pairwise(times))  # every trial costs its training
    assert all(p[2] == 0.0 for p in curve)  # no proxy for random search
    costs = sorted(round(b - a, 9) for a, b in zip([0.0, *times], times))
    assert set(costs) <= {round(r["train_cpu"], 9) for r in rows}
    s = bench._real_run(rows, "screen:good@8:5", 0, float("inf"), 4)
    # 0.01 s per distinct architecture scored: each trained one, and the others of the 5 draws
    # per pick (a draw of a cell already scored is free)
    scored = s[-1][2] / 0.01
    assert abs(scored - round(scored)) < 1e-6 and 4 < round(scored) <= 4 * 5
    # the rest of the time is the training CPU of the four architectures it trained
    train = [p[0] - p[2] for p in s]
    steps = [b - a for a, b in zip([0.0, *train], train)]
    allowed = [r["train_cpu"] for r in rows]
    assert all(min(abs(d - c) for c in allowed) < 1e-9 for d in steps)


def test_informative_screen_beats_random_and_noise_does_not(bench) -> None:
    rows = pool(80, seed=1)
    target = 0.8
    t = {}
    for cfg in ("random", "screen:good@8:5", "pool:good@8:5", "screen:bad@8:5"):
        reach = [bench._time_to(bench._real_run(rows, cfg, s, 1e9, 40), target) for s in range(12)]
        t[cfg] = float(np.median([np.inf if r is None else r for r in reach]))
    assert t["screen:good@8:5"] < 0.5 * t["random"]
    assert t["pool:good@8:5"] < 0.5 * t["random"]
    assert t["screen:bad@8:5"] > 0.5 * t["random"]


def test_table_mode_plain_baseline_is_what_run_bench_measures(bench):
    """The NB201 mode's proxy-free rows count queries as bench_strategies does (run_bench), on
    CIFAR-100 too; a screened run charges the cells its proxy scored."""
    from metanas.benchrun import default_space, run_bench
    from metanas.evaluation.tabular import nb201_table

    ev = nb201_table("cifar100")
    space = default_space(ev)
    seeds = [0, 1, 2]
    r = run_bench(ev, None, ["local_search"], seeds, 300, stop_at_best_after=0)
    scorer = bench.TimedScorer("params_count", space)  # the cell's parameter count, no network
    got = [
        bench.run_one(ev, space, "plain:local_search:0", s, scorer, r.best_key, 300) for s in seeds
    ]
    assert got == [run.queries_to(r.best_key) for run in r.runs["local_search"]]
    assert not scorer.touched
    q = bench.run_one(ev, space, "screen:local_search:50:4", 0, scorer, r.best_key, 300)
    assert q is not None and q <= 300
    assert len(scorer.touched) >= 4 * 40  # four starts, each the best of 50 samples
