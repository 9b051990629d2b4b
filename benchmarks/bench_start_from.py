"""Starting a search from a baseline network (``create_study(start_from=...)``) on NAS-Bench-201:
mean test accuracy early (at ``--early`` queries) and at ``--at``, and median distinct queries to
the validation optimum, cold and from each baseline, for each strategy, over the same seeds (protocol of
``bench_strategies.py nb201``; a seed that never reaches the optimum within ``--queries`` counts as
10,000).

Baselines: the paper's ResNet cell (a sound hand design, in the top 2% of the table) and a cell of
average pools only (a poor one), to show what a good start buys and what a bad one costs.

    nice .venv/bin/python benchmarks/bench_start_from.py --dataset cifar100 --seeds 0-49
"""

from __future__ import annotations

import argparse
import statistics
import sys
from multiprocessing import Pool
from pathlib import Path
from typing import Any

from metanas.benchrun import default_space, run_bench
from metanas.evaluation.tabular import nb201_table
from metanas.space import SeededSpace, nb201_from_string
from metanas.strategies import get_strategy

sys.path.insert(0, str(Path(__file__).parent))
from bench_phases import NEVER
from bench_strategies import seed_range

BASELINES = {
    "cold": None,
    "ResNet cell": "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|",
    "avg-pool cell": "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|"
    "+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|",
}


def one_seed(
    job: tuple[str, str, int, str, int, int, int],
) -> tuple[str, str, int, float, float]:
    """(strategy, baseline, queries to the optimum, test accuracy at ``early`` and at ``at``)."""
    strategy, baseline, seed, dataset, queries, early, at = job
    ev = nb201_table(dataset)
    text = BASELINES[baseline]

    def factory(name: str, s: int, options: dict[str, Any]) -> Any:
        space = default_space(ev)
        if text is not None:  # a fresh seeded space per run: it hands its seeds out once
            space = SeededSpace(space, [nb201_from_string(text)])
        return get_strategy(name, space, seed=s, **options)

    r = run_bench(ev, None, [strategy], [seed], queries, stop_at_best_after=at, factory=factory)
    run = r.runs[strategy][0]
    _, test_early = run.best_at(early)
    _, test = run.best_at(at)
    assert test is not None and test_early is not None
    return strategy, baseline, run.queries_to(r.best_key) or NEVER, test_early, test


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dataset", default="cifar100")
    p.add_argument("--strategies", default="local_search,evolution,bananas")
    p.add_argument("--seeds", type=seed_range, default=range(50))
    p.add_argument("--queries", type=int, default=400)
    p.add_argument("--early", type=int, default=10)
    p.add_argument("--at", type=int, default=100)
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args()
    ev = nb201_table(args.dataset)
    space = default_space(ev)
    vals = ev.values()
    for name, text in BASELINES.items():
        if text is not None:
            row = ev.row(nb201_from_string(text))
            assert row is not None
            v = vals[row]
            print(f"{name}: validation {v:.2f}, above {(vals < v).mean():.0%} of the table's cells")
    strategies = args.strategies.split(",")
    jobs = [
        (s, b, seed, args.dataset, args.queries, args.early, args.at)
        for s in strategies
        for b in BASELINES
        for seed in args.seeds
    ]
    with Pool(args.jobs) as pool:
        results = pool.map(one_seed, jobs, chunksize=1)
    print(f"{args.dataset}, seeds {args.seeds.start}..{args.seeds.stop - 1}, space {space.name}")
    print(
        f"| strategy | start | test at {args.early} | test at {args.at} "
        "| median queries to the optimum |"
    )
    print("| --- | --- | --- | --- | --- |")
    for s in strategies:
        for b in BASELINES:
            rows = [r for r in results if r[0] == s and r[1] == b]
            qs = [r[2] for r in rows]
            early = statistics.mean(r[3] for r in rows)
            test = statistics.mean(r[4] for r in rows)
            print(f"| {s} | {b} | {early:.2f} | {test:.3f} | {statistics.median(qs)} |")


if __name__ == "__main__":
    main()
