"""Search quality on NAS-Bench-201 with the paper's protocol (search on validation, report test).

One run per (strategy, seed) of at most ``--queries`` distinct queries, stopped early once it has
found the validation optimum and made ``--at`` queries. The accuracy figures are read at ``--at``
queries (a run's first queries do not depend on how long it goes on); the median number of
distinct queries to the validation optimum counts seeds that never reach it as "> queries".

    nice .venv/bin/python benchmarks/bench_nb201.py --seeds 50 --queries 500 --at 100

Writes a markdown table to stdout and every run to ``benchmarks/out/nb201_<dataset>.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from metanas.benchrun import BenchResult, run_bench, summarize
from metanas.evaluation.tabular import nb201_table

STRATEGIES = ["random", "evolution", "local_search", "optuna-tpe"]


def bootstrap_mean(values: list[float], level: float = 0.9, n: int = 10_000) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (seeded: the same every run)."""
    x = np.asarray(values, dtype=float)
    means = x[np.random.default_rng(0).integers(len(x), size=(n, len(x)))].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def markdown(res: BenchResult, at: int, seconds: dict[str, float], within: int = 40) -> str:
    """One row per strategy. Each strategy's own query budget bounds its "> n" and "reached"
    (strategies outside ``--long`` stop at ``at``)."""
    lines = [
        f"**{res.table}** (table best val {res.best_value:.2f}; {len(next(iter(res.runs.values())))} seeds)",
        "",
        f"| strategy | test acc at {at} | 90% bootstrap interval of that mean | best val acc at {at} "
        f"| median queries to val optimum | reached within {within} | reached (within the run's "
        "queries) | CPU s per seed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, runs in res.runs.items():
        a = summarize(name, runs, at, res.best_key)
        b = res.summaries[name]
        n = b.n_queries
        med = f"{b.median_queries_to_best:g}" if b.median_queries_to_best is not None else f"> {n}"
        tests = [r for _, r in (run.best_at(at) for run in runs) if r is not None]
        lo, hi = bootstrap_mean(tests) if tests else (math.nan, math.nan)
        quick = sum(
            q is not None and q <= within for q in (r.queries_to(res.best_key) for r in runs)
        )
        lines.append(
            f"| {name} | {a.report_mean:.3f} ± {a.report_std:.2f} | {lo:.3f}-{hi:.3f} "
            f"| {a.best_value_mean:.2f} ± {a.best_value_std:.2f} "
            f"| {med} | {quick}/{b.n_seeds} | {b.n_reached}/{b.n_seeds} ({n}) "
            f"| {seconds[name] / b.n_seeds:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--datasets", default="cifar10,cifar100")
    p.add_argument("--strategies", default=",".join(STRATEGIES))
    p.add_argument("--seeds", type=int, default=50)
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--at", type=int, default=100)
    p.add_argument("--out", default="benchmarks/out")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for ds in args.datasets.split(","):
        ev = nb201_table(ds)
        seconds: dict[str, float] = {}
        results = []
        for name in args.strategies.split(","):
            t0 = time.process_time()
            results.append(
                run_bench(
                    ev, None, [name], range(args.seeds), args.queries, stop_at_best_after=args.at
                )
            )
            seconds[name] = time.process_time() - t0
        res = results[0]
        for r in results[1:]:
            res.runs.update(r.runs)
            res.summaries.update(r.summaries)
        (out / f"nb201_{ds}.json").write_text(json.dumps(res.to_json()))
        print(markdown(res, args.at, seconds), "\n", flush=True)


if __name__ == "__main__":
    main()
