"""Issue-4 figures: sample-efficient strategies on NAS-Bench-201 and the NAS-Bench-101 subset.

Three parts, each a subcommand (markdown to stdout, every run as JSON under ``--out``):

``nb201``: the NAS-Bench-201 protocol of ``bench_nb201.py`` (search on validation accuracy,
report the test accuracy of the best-by-validation cell, count distinct canonical keys), with the
model-based and RL strategies next to Optuna's TPE in the same run. Strategies in ``--long`` run
up to ``--queries`` distinct queries (stopped once they found the validation optimum and made
``--at``); the others stop at ``--at`` (their "median queries" column then reads "> at").

``nb101``: simulated training time (the table's ``final_training_time_108 * epochs / 108`` per
evaluation, every evaluation charged in full) until a 108-epoch result reaches the subset's best
validation accuracy minus ``--gap``; multi-fidelity strategies against full-fidelity evolution.

``overhead``: CPU milliseconds of ask + tell per trial on NAS-Bench-201 (a table look-up as the
evaluator), over all trials and over the last 100 of ``--trials``.

    nice .venv/bin/python benchmarks/bench_strategies.py nb201 --dataset cifar10 --seeds 0-49
    nice .venv/bin/python benchmarks/bench_strategies.py nb101 --seeds 0-49
    nice .venv/bin/python benchmarks/bench_strategies.py overhead --trials 1000
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from metanas.benchrun import default_space, run_bench, run_to_target
from metanas.evaluation.base import continue_always
from metanas.evaluation.tabular import nb101_table, nb201_table

sys.path.insert(0, str(Path(__file__).parent))
from bench_nb201 import markdown

NB201_STRATEGIES = "random,evolution,local_search,optuna-tpe,tpe,bananas,reinforce,qlearning"
LONG = "evolution,local_search,optuna-tpe,bananas"
NB101_BUDGETS = (4, 12, 36, 108)
NB101_STRATEGIES = "evolution,random,successive_halving,hyperband,asha,bohb"


def seed_range(text: str) -> range:
    """``"0-49"`` -> range(0, 50); ``"50"`` -> range(0, 50)."""
    if "-" in text:
        a, b = text.split("-")
        return range(int(a), int(b) + 1)
    return range(int(text))


def cmd_nb201(args: argparse.Namespace) -> None:
    ev = nb201_table(args.dataset)
    long = set(args.long.split(","))
    seconds: dict[str, float] = {}
    res = None
    for name in args.strategies.split(","):
        t0 = time.process_time()
        n = args.queries if name in long else args.at
        r = run_bench(ev, None, [name], args.seeds, n, stop_at_best_after=args.at)
        seconds[name] = time.process_time() - t0
        print(f"# {name}: {seconds[name]:.1f} s CPU", file=sys.stderr, flush=True)
        if res is None:
            res = r
        else:
            res.runs.update(r.runs)
            res.summaries.update(r.summaries)
    assert res is not None
    res.n_queries = args.queries
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / f"strategies_nb201_{args.dataset}.json").write_text(json.dumps(res.to_json()))
    print(markdown(res, args.at, seconds), flush=True)


def cmd_nb101(args: argparse.Namespace) -> None:
    ev = nb101_table()
    space = default_space(ev)
    target = float(ev.values().max()) - args.gap
    rows = {}
    for name in args.strategies.split(","):
        opts = {} if name in ("evolution", "random", "local_search") else {"budgets": NB101_BUDGETS}
        t0 = time.process_time()
        runs = [run_to_target(ev, space, name, s, target, args.max_cost, opts) for s in args.seeds]
        cpu = time.process_time() - t0
        rows[name] = (runs, cpu)
        print(f"# {name}: {cpu:.1f} s CPU", file=sys.stderr, flush=True)
    ref = statistics.median(r.cost for r in rows["evolution"][0]) if "evolution" in rows else None
    print(f"target val_acc_108 >= {target:.6f}; {len(args.seeds)} seeds\n")
    print(
        "| strategy | median simulated hours to target | vs evolution | reached | median evaluations | CPU s per seed |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name, (runs, cpu) in rows.items():
        med = statistics.median(r.cost for r in runs)
        rel = f"{med / ref:.2f}" if ref else "-"
        reached = sum(r.cost != float("inf") for r in runs)
        evals = statistics.median(r.n_evaluations for r in runs)
        print(
            f"| {name} | {med / 3600:.1f} | {rel} | {reached}/{len(runs)} | {evals:g} "
            f"| {cpu / len(runs):.2f} |"
        )
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "strategies_nb101.json").write_text(
        json.dumps({k: [r.__dict__ for r in rs] for k, (rs, _) in rows.items()})
    )


def cmd_overhead(args: argparse.Namespace) -> None:
    from metanas.strategies import get_strategy

    ev = nb201_table("cifar10")
    space = default_space(ev)
    print("| strategy | trials | CPU ms per trial (all) | CPU ms per trial (last 100) |")
    print("| --- | --- | --- | --- |")
    for name in args.strategies.split(","):
        st = get_strategy(name, space, seed=0)
        times = []
        for _ in range(args.trials):
            t0 = time.process_time()
            c = st.ask()
            t1 = time.process_time()
            r = ev.evaluate(c.arch, None, continue_always)  # not counted: the evaluator's time
            t2 = time.process_time()
            st.tell(c, r)
            times.append((t1 - t0) + (time.process_time() - t2))
        last = times[-100:]
        print(
            f"| {name} | {args.trials} | {1000 * statistics.fmean(times):.2f} "
            f"| {1000 * statistics.fmean(last):.2f} |",
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("nb201")
    a.add_argument("--dataset", default="cifar10")
    a.add_argument("--strategies", default=NB201_STRATEGIES)
    a.add_argument("--long", default=LONG)
    a.add_argument("--seeds", type=seed_range, default=range(50))
    a.add_argument("--queries", type=int, default=1000)
    a.add_argument("--at", type=int, default=100)
    b = sub.add_parser("nb101")
    b.add_argument("--strategies", default=NB101_STRATEGIES)
    b.add_argument("--seeds", type=seed_range, default=range(50))
    b.add_argument("--gap", type=float, default=0.002)
    b.add_argument("--max-cost", type=float, default=5e7)
    c = sub.add_parser("overhead")
    c.add_argument("--strategies", default="tpe,bananas,bohb")
    c.add_argument("--trials", type=int, default=1000)
    for q in (a, b, c):
        q.add_argument("--out", default="benchmarks/out")
    args = p.parse_args()
    {"nb201": cmd_nb201, "nb101": cmd_nb101, "overhead": cmd_overhead}[args.cmd](args)


if __name__ == "__main__":
    main()
