"""Warm start across tasks on NAS-Bench-201 (search on validation, report test; distinct queries).

For every seed a store receives one earlier search (``--past-strategy``, ``--past-trials``
queries) on the source task; then a new search on the target task runs warm-started from that
store and, with the same seed, cold. Scenarios:

- ``c10->c100`` / ``c100->c10``: a related earlier task;
- ``shuf->c100`` / ``shuf->c10``: the earlier task is the source table with its rows' values
  permuted (negative-transfer control: same value distribution, no relation).

Reported per scenario and strategy: the median number of distinct queries until the target's
validation optimum is evaluated (seeds never reaching it within ``--queries`` count as infinite),
warm / cold ratio with a 90% bootstrap interval over seeds (the counts are heavy-tailed: the
ratio of two medians of 50 runs moves by tens of percent from one seed set to the next), test accuracy of the best-by-validation cell at ``--at`` queries, and when the
warm phase handed over to the cold strategy. A strategy named ``reinforce+policy`` is the REINFORCE
controller started from a policy fitted to the store's tasks (no warm phase), against plain
``reinforce``; ``reinforce`` itself is warm-started as any other (warm phase, then a controller
from the trusted past's policy). Seeds 0..N-1 are the report seeds; the defaults of
``WarmStart`` were chosen on seeds 1000+ (never on these).

    nice .venv/bin/python benchmarks/bench_warmstart.py --seeds 50

Writes a markdown table to stdout and every run to ``benchmarks/out/warmstart.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from metanas.benchrun import default_space
from metanas.evaluation.tabular import nb201_table
from metanas.meta.knowledge import KnowledgeBase
from metanas.meta.policy import initial_policy
from metanas.meta.transfer import ShuffledTable, drive, past_search, transfer_strategy
from metanas.strategies.base import Strategy, get_strategy

SCENARIOS = {
    "c10->c100": ("cifar10", False, "cifar100"),
    "c100->c10": ("cifar100", False, "cifar10"),
    "shuf->c100": ("cifar10", True, "cifar100"),
    "shuf->c10": ("cifar100", True, "cifar10"),
}


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else math.nan


def _fmt(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:g}"


def make_strategy(
    store: Any,
    new_ev: Any,
    strategy: str,
    seed: int,
    warm: bool,
    warm_kwargs: dict[str, Any] | None = None,
) -> Strategy:
    """The strategy of one run: ``transfer_strategy``, or a policy-only warm REINFORCE."""
    if not strategy.endswith("+policy"):
        return transfer_strategy(store, new_ev, strategy, seed, warm=warm, warm_kwargs=warm_kwargs)
    base = strategy.removesuffix("+policy")
    space = default_space(new_ev)
    if not warm:
        return get_strategy(base, space, seed=seed)
    priors = KnowledgeBase(store).priors(space, new_ev.task_info())
    return get_strategy(base, space, seed=seed, init_policy=initial_policy(space, priors))


def run_scenario(
    name: str, strategy: str, seeds: list[int], args: argparse.Namespace
) -> dict[str, Any]:
    src, shuffled, dst = SCENARIOS[name]
    past_ev: Any = nb201_table(src)
    if shuffled:
        past_ev = ShuffledTable(past_ev, seed=0)
    new_ev = nb201_table(dst)
    space = default_space(new_ev)
    best_key = space.key(new_ev.arch(new_ev.best_row()))
    rows: list[dict[str, Any]] = []
    for s in seeds:
        store = past_search(past_ev, args.past_strategy, seed=10_000 + s, n_trials=args.past_trials)
        row: dict[str, Any] = {"seed": s}
        for mode in ("warm", "cold"):
            strat = make_strategy(
                store, new_ev, strategy, s, warm=mode == "warm", warm_kwargs=args.warm_kwargs
            )
            run = drive(strat, new_ev, args.queries, stop=(best_key, args.at))
            q = run.queries_to(best_key)
            row[mode] = {
                "queries_to_best": q,
                "test_at": run.best_at(args.at)[1],
                "val_at": run.best_at(args.at)[0],
                "keys": run.keys[: args.at],
            }
            if mode == "warm":
                row["handover_at"] = getattr(strat, "handover_at", None)
                row["handover"] = getattr(strat, "handover", None)
                row["predict_at"] = getattr(strat, "predict_at", None)
                row["trust"] = getattr(strat, "trust", None)
        store.close()
        rows.append(row)
    return {"scenario": name, "strategy": strategy, "best_key": best_key, "runs": rows}


def ratio_interval(runs: list[dict[str, Any]], n: int = 2000) -> tuple[float, float]:
    """5th and 95th percentiles of median(warm) / median(cold) over seeds resampled (paired)."""

    def count(r: dict[str, Any]) -> float:
        return math.inf if r["queries_to_best"] is None else float(r["queries_to_best"])

    q = np.array([[count(r["warm"]), count(r["cold"])] for r in runs])
    idx = np.random.default_rng(0).integers(len(q), size=(n, len(q)))
    with np.errstate(invalid="ignore"):
        r = np.median(q[idx, 0], axis=1) / np.median(q[idx, 1], axis=1)
    r = r[np.isfinite(r)]
    return (math.nan, math.nan) if not len(r) else tuple(np.percentile(r, [5, 95]).tolist())


def summary_line(res: dict[str, Any], at: int) -> str:
    inf = math.inf
    med = {}
    test = {}
    for mode in ("warm", "cold"):
        qs = [r[mode]["queries_to_best"] for r in res["runs"]]
        med[mode] = _median([inf if q is None else q for q in qs])
        ts = [r[mode]["test_at"] for r in res["runs"] if r[mode]["test_at"] is not None]
        test[mode] = (statistics.fmean(ts), statistics.stdev(ts) if len(ts) > 1 else 0.0)
    ratio = med["warm"] / med["cold"] if med["cold"] not in (0, inf) else math.nan
    lo, hi = ratio_interval(res["runs"])
    hand = [r["handover_at"] for r in res["runs"] if r["handover_at"] is not None]
    low_trust = sum("past predicts" in (r["handover"] or "") for r in res["runs"])
    n_pred = sum(r.get("predict_at") is not None for r in res["runs"])
    return (
        f"| {res['scenario']} | {res['strategy']} | {_fmt(med['warm'])} | {_fmt(med['cold'])} "
        f"| {ratio:.2f} [{lo:.2f}, {hi:.2f}] | {test['warm'][0]:.2f} ± {test['warm'][1]:.2f} "
        f"| {test['cold'][0]:.2f} ± {test['cold'][1]:.2f} "
        f"| {_median([float(h) for h in hand]):g} | {low_trust}/{len(res['runs'])} "
        f"| {n_pred}/{len(res['runs'])} |"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--strategies", default="local_search", help="cold strategies to warm-start")
    p.add_argument("--past-strategy", default="local_search")
    p.add_argument("--past-trials", type=int, default=300)
    p.add_argument("--seeds", type=int, default=50)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--at", type=int, default=20, help="read test accuracy after this many queries")
    p.add_argument("--out", default="benchmarks/out")
    p.add_argument(
        "--warm-kwargs",
        type=json.loads,
        default={},
        help="WarmStart options as JSON, e.g. '{\"predictor\": false}'",
    )
    args = p.parse_args()
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"past: {args.past_strategy}, {args.past_trials} queries; {len(seeds)} seeds; "
        f"test accuracy at {args.at} queries\n"
    )
    print(
        "| scenario | strategy | median queries warm | median queries cold | warm/cold [90% CI] "
        f"| test acc warm @{args.at} | test acc cold @{args.at} | median handover query "
        "| low-trust handovers | predictor phase |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    results = []
    for name in args.scenarios.split(","):
        for strategy in args.strategies.split(","):
            t0 = time.process_time()
            res = run_scenario(name, strategy, seeds, args)
            res["cpu_s"] = time.process_time() - t0
            results.append(res)
            print(summary_line(res, args.at), flush=True)
    (out / "warmstart.json").write_text(json.dumps({"args": vars(args), "results": results}))


if __name__ == "__main__":
    main()
