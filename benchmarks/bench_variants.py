"""Compare option variants of one strategy on NAS-Bench-201, for tuning on seeds apart from the
reported ones (0..49): per variant, the median distinct queries to the validation optimum, how
many seeds reach it within 40 and within ``--at`` queries, and the mean test and validation
accuracy at ``--at`` (the protocol of ``bench_strategies.py nb201``). Seeds run in ``--jobs``
processes; a seed that never reaches the optimum within ``--queries`` counts as 10,000.

``--dataset`` is ``cifar10`` or ``cifar100`` (NB201 at 200 epochs), or a table at one budget as
``cifar10@12`` or ``nb101@36``: landscapes no default was tuned on, to check that a choice
carries over (NB101 has no test column: its "test" repeats the validation accuracy).

    nice .venv/bin/python benchmarks/bench_variants.py --dataset cifar100 --seeds 100-139 \\
        '{"default": {}, "n_init 10": {"n_init": 10}}'
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from multiprocessing import Pool
from pathlib import Path
from typing import Any

from metanas.benchrun import run_bench
from metanas.evaluation.tabular import TableEvaluator, nb101_table, nb201_table

sys.path.insert(0, str(Path(__file__).parent))
from bench_phases import NEVER
from bench_strategies import seed_range


def table(spec: str) -> TableEvaluator:
    """``cifar10`` / ``cifar100`` (NB201), or ``<table>@<epochs>``: that budget's results only."""
    name, _, epochs = spec.partition("@")
    ev = nb101_table() if name == "nb101" else nb201_table(name)
    if epochs:
        ev.fidelities = {int(epochs): ev.fidelities[int(epochs)]}
    return ev


def one_seed(
    job: tuple[str, dict[str, Any], int, str, int, int],
) -> tuple[str, int, float, float]:
    """(variant, queries to the optimum, test and validation accuracy at ``at``) for one seed."""
    name, options, seed, dataset, queries, at = job
    ev = table(dataset)
    r = run_bench(
        ev, None, ["s"], [seed], queries, stop_at_best_after=at, options={"s": options}
    )  # fmt: skip
    run = r.runs["s"][0]
    val, test = run.best_at(at)
    assert val is not None and test is not None
    return name, run.queries_to(r.best_key) or NEVER, test, val


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("variants", help='JSON {"label": {strategy options}, ...}')
    p.add_argument("--strategy", default="bananas")
    p.add_argument("--dataset", default="cifar100")
    p.add_argument("--seeds", type=seed_range, default=range(100, 140))
    p.add_argument("--queries", type=int, default=400)
    p.add_argument("--at", type=int, default=100)
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args()
    variants = json.loads(args.variants)
    jobs = [
        (name, {"strategy": args.strategy, **opts}, s, args.dataset, args.queries, args.at)
        for name, opts in variants.items()
        for s in args.seeds
    ]
    with Pool(args.jobs) as pool:
        results = pool.map(one_seed, jobs, chunksize=1)
    print(f"{args.strategy} on {args.dataset}, seeds {args.seeds.start}..{args.seeds.stop - 1}")
    print(
        f"| variant | median queries | within 40 | within {args.at} "
        f"| test at {args.at} | val at {args.at} |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name in variants:
        rows = [r for r in results if r[0] == name]
        qs = [r[1] for r in rows]
        print(
            f"| {name} | {statistics.median(qs)} | {sum(q <= 40 for q in qs)} "
            f"| {sum(q <= args.at for q in qs)}/{len(qs)} "
            f"| {statistics.mean(r[2] for r in rows):.3f} "
            f"| {statistics.mean(r[3] for r in rows):.3f} |"
        )


if __name__ == "__main__":
    main()
