"""Where a strategy spends its queries on NAS-Bench-201: until it first holds a cell within
``--gaps`` points of the table's best validation accuracy, and until the validation optimum itself.

Same protocol as ``bench_strategies.py nb201`` (distinct queries, up to ``--queries``, stopped once
the optimum is found and ``--at`` were made). Median over seeds; a seed that never gets there
counts as 10,000.

    nice .venv/bin/python benchmarks/bench_phases.py --dataset cifar100 --seeds 0-49
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from metanas.benchrun import run_bench
from metanas.evaluation.tabular import nb201_table

sys.path.insert(0, str(Path(__file__).parent))
from bench_strategies import seed_range

NEVER = 10_000


def first_within(values: list[float | None], target: float) -> int:
    """1-based query at which ``values`` first reach ``target``, else ``NEVER``."""
    for i, v in enumerate(values):
        if v is not None and v >= target:
            return i + 1
    return NEVER


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dataset", default="cifar100")
    p.add_argument("--strategy", default="bananas")
    p.add_argument("--options", default="{}", help="strategy options as JSON")
    p.add_argument("--seeds", default="0-49")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--at", type=int, default=100)
    p.add_argument("--gaps", default="0.5,0.2")
    args = p.parse_args()
    ev = nb201_table(args.dataset)
    opts = {"strategy": args.strategy, **json.loads(args.options)}
    r = run_bench(
        ev, None, ["s"], seed_range(args.seeds), args.queries,
        stop_at_best_after=args.at, options={"s": opts},
    )  # fmt: skip
    runs = r.runs["s"]
    best = r.best_value
    print(f"{args.strategy} {args.options} on {args.dataset}, seeds {args.seeds}, best val {best}")
    print("| reached | median queries | seeds that never got there |")
    print("| --- | --- | --- |")
    for gap in [float(g) for g in args.gaps.split(",")]:
        qs = [first_within(run.values, best - gap) for run in runs]
        print(f"| within {gap} points | {statistics.median(qs)} | {qs.count(NEVER)} |")
    qs = [run.queries_to(r.best_key) or NEVER for run in runs]
    print(f"| the optimum | {statistics.median(qs)} | {qs.count(NEVER)} |")


if __name__ == "__main__":
    main()
