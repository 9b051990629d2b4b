"""Issue-4 figures: sample-efficient strategies on NAS-Bench-201 and the NAS-Bench-101 subset.

Three parts, each a subcommand (markdown to stdout, every run as JSON under ``--out``):

``nb201``: the NAS-Bench-201 protocol of ``bench_nb201.py`` (search on validation accuracy,
report the test accuracy of the best-by-validation cell, count distinct canonical keys), with the
model-based and RL strategies next to Optuna's TPE in the same run. Strategies in ``--long`` run
up to ``--queries`` distinct queries (stopped once they found the validation optimum and made
``--at``); the others stop at ``--at`` (their "median queries" column then reads "> at").

``nb101``: simulated training time until a full-budget result reaches the table's best
validation accuracy minus ``--gap`` points (``benchrun.time_to_target``), multi-fidelity strategies
against full-fidelity evolution, median over seeds and the ratio of medians with a bootstrap
interval. Cost of an evaluation at ``b`` epochs: ``final_training_time_108 * b / 108``.
``--charge full`` (default) charges every evaluation in full: NAS-Bench-101's 4/12/36/108-epoch
results are separate training runs (each with its own cosine schedule), so a promotion retrains.
``--charge continue`` charges a promotion only the difference (an optimistic resumed-checkpoint
convention). A label ``name:key=value:...`` passes options (JSON values), e.g.
``asha:sampler=bananas_mf:budgets=[36,108]``; a scheduler's ``budgets`` default to the table's.
``--table nb201-cifar10`` runs the same on NAS-Bench-201 (budgets 12 and 200 epochs).
``--ref-seeds 0-499`` runs the ``evolution`` reference over more seeds than the others: its
time to target spreads widely, so a 50-seed median moves the ratios by a fifth (it is cheap).

``overhead``: CPU milliseconds of ask + tell per trial on NAS-Bench-201 (a table look-up as the
evaluator), over all trials and over the last 100 of ``--trials``.

    nice .venv/bin/python benchmarks/bench_strategies.py nb201 --dataset cifar10 --seeds 0-49
    nice .venv/bin/python benchmarks/bench_strategies.py nb101 --seeds 0-49
    nice .venv/bin/python benchmarks/bench_strategies.py nb101 --table nb201-cifar10 --seeds 0-49
    nice .venv/bin/python benchmarks/bench_strategies.py overhead --trials 1000

``nb101 --overhead S`` charges every evaluation S more simulated seconds, a start-up cost (data,
network, scoring) that does not shrink with the budget, as real training has.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from metanas.benchrun import TargetRun, default_space, run_bench, time_to_target
from metanas.evaluation.base import continue_always
from metanas.evaluation.tabular import nb101_table, nb201_table
from metanas.strategies import strategy_class

sys.path.insert(0, str(Path(__file__).parent))
from bench_nb201 import markdown

NB201_STRATEGIES = "random,evolution,local_search,optuna-tpe,tpe,bananas,reinforce,qlearning"
LONG = "evolution,local_search,optuna-tpe,bananas"
NB101_BUDGETS = (4, 12, 36, 108)
NB101_STRATEGIES = (
    "evolution,random,successive_halving,hyperband,asha,bohb,"
    "successive_halving:sampler=mutation,hyperband:sampler=mutation,asha:sampler=mutation,"
    "hyperband:sampler=bananas,bohb:sampler=bananas,asha:sampler=bananas,bananas,"
    "hyperband:sampler=bananas_mf,asha:sampler=bananas_mf,"
    "asha:sampler=bananas_mf:budgets=[36,108],hyperband:sampler=bananas_mf:budgets=[36,108],"
    "asha:sampler=bananas:budgets=[36,108],asha:sampler=mutation:budgets=[36,108]"
)


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


def split_labels(text: str) -> list[str]:
    """Comma-separated strategy labels; commas inside ``[...]`` belong to an option value."""
    return [s for s in re.split(r",(?![^\[]*\])", text) if s]


def label_options(label: str, budgets: tuple[int, ...] | None = NB101_BUDGETS) -> dict[str, Any]:
    """Keyword arguments of a strategy label: ``name`` or ``name:key=value:key=value`` (values
    are JSON where they parse, e.g. ``asha:sampler=bananas_mf:budgets=[36,108]``; keys
    ``sampler.<option>`` go to ``sampler_options``). Schedulers get ``budgets`` unless it is
    None (then their own defaults) or the label sets them."""
    name, *items = label.split(":")
    opts: dict[str, Any] = {"strategy": name}
    if budgets is not None and strategy_class(name).uses_budgets:  # the table's rungs
        opts["budgets"] = budgets
    for item in items:
        k, _, v = item.partition("=")
        try:
            value = json.loads(v)
        except json.JSONDecodeError:
            value = v
        if k.startswith("sampler."):  # asha:sampler=bananas_mf:sampler.predictor=quadratic
            opts.setdefault("sampler_options", {})[k.removeprefix("sampler.")] = value
        else:
            opts[k] = value
    return opts


def _ratio_interval(a: list[float], b: list[float], n: int = 2000) -> tuple[float, float]:
    """Bootstrap 90% interval of median(a) / median(b) (seeds resampled, fixed generator)."""
    rng = np.random.default_rng(0)
    xa, xb = np.asarray(a), np.asarray(b)
    ra = np.median(xa[rng.integers(len(xa), size=(n, len(xa)))], axis=1)
    rb = np.median(xb[rng.integers(len(xb), size=(n, len(xb)))], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = ra / rb
    lo, hi = np.quantile(r, [0.05, 0.95])
    return float(lo), float(hi)


class WithOverhead:
    """A table whose every evaluation costs ``seconds`` more than its budget's training."""

    def __init__(self, ev: Any, seconds: float) -> None:
        self.ev, self.seconds = ev, seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ev, name)

    def __len__(self) -> int:
        return len(self.ev)

    def evaluate(self, arch: Any, budget: Any, report: Any) -> Any:
        res = self.ev.evaluate(arch, budget, report)
        return dataclasses.replace(res, cost=res.cost + self.seconds)


def cmd_nb101(args: argparse.Namespace) -> None:
    """Simulated training time to best - gap, multi-fidelity vs full-fidelity evolution."""
    if args.table == "nb101":
        ev, budgets, gap = nb101_table(), NB101_BUDGETS, args.gap / 100  # accuracy as a fraction
    else:  # NB201 accuracies are in percent; budgets 12 and 200 epochs
        ev, budgets, gap = nb201_table(args.table.split("-")[1]), (12, 200), args.gap
    if args.overhead:
        ev = WithOverhead(ev, args.overhead)
    space = default_space(ev)
    target = float(ev.values().max()) - gap
    rows: dict[str, tuple[list[TargetRun], float]] = {}
    for label in split_labels(args.strategies):
        opts = label_options(label, budgets)
        seeds = args.ref_seeds if label == "evolution" and args.ref_seeds else args.seeds
        t0 = time.process_time()
        runs = [
            time_to_target(ev, space, label, s, target, args.max_cost, opts, args.charge)
            for s in seeds
        ]
        cpu = time.process_time() - t0
        rows[label] = (runs, cpu)
        med = statistics.median(r.cost for r in runs)
        print(f"# {label}: median {med / 3600:.1f} h, {cpu:.1f} s CPU", file=sys.stderr, flush=True)
    ref_runs = rows["evolution"][0] if "evolution" in rows else None
    ref = statistics.median(r.cost for r in ref_runs) if ref_runs else None
    n_hit = int((ev.values() >= target).sum())
    out = [
        f"{ev.name}: target {ev.objective} at {max(budgets)} epochs >= {target:.6f} "
        f"(best {target + gap:.6f} - {args.gap} points; {n_hit} of {len(ev)} cells); "
        f"{len(args.seeds)} seeds"
        + (f" (evolution: {len(args.ref_seeds)})" if args.ref_seeds else "")
        + f"; charge={args.charge}"
        + (f"; every evaluation {args.overhead:g} s more" if args.overhead else "")
        + "\n",
        "| strategy | median simulated hours to target | median / evolution's median (90% bootstrap) "
        "| reached | median evaluations | CPU s per seed |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, (runs, cpu) in rows.items():
        costs = [r.cost for r in runs]
        med = statistics.median(costs)
        rel = "-"
        if ref_runs is not None and ref:
            lo, hi = _ratio_interval(costs, [r.cost for r in ref_runs])
            rel = f"{med / ref:.2f} ({lo:.2f}-{hi:.2f})"
        reached = sum(c != math.inf for c in costs)
        evals = statistics.median(r.n_evaluations for r in runs)
        out.append(
            f"| {label} | {med / 3600:.1f} | {rel} | {reached}/{len(runs)} | {evals:g} "
            f"| {cpu / len(runs):.2f} |"
        )
    print("\n".join(out), flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    suffix = f"_overhead{args.overhead:g}" if args.overhead else ""
    (Path(args.out) / f"strategies_{args.table}_{args.charge}{suffix}.json").write_text(
        json.dumps(
            {
                "target": target,
                "charge": args.charge,
                "runs": {k: [r.__dict__ for r in rs] for k, (rs, _) in rows.items()},
            }
        )
    )


def cmd_overhead(args: argparse.Namespace) -> None:
    from metanas.strategies import get_strategy

    ev = nb201_table("cifar10")
    space = default_space(ev)
    print("| strategy | trials | CPU ms per trial (all) | CPU ms per trial (last 100) |")
    print("| --- | --- | --- | --- |")
    for name in split_labels(args.strategies):
        opts = label_options(name, budgets=None)  # schedulers keep their NB201 defaults
        st = get_strategy(opts.pop("strategy"), space, seed=0, **opts)
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
    b.add_argument("--table", choices=("nb101", "nb201-cifar10", "nb201-cifar100"), default="nb101")
    b.add_argument("--gap", type=float, default=0.2, help="accuracy points below the best")
    b.add_argument("--max-cost", type=float, default=5e7)
    b.add_argument("--charge", choices=("full", "continue"), default="full")
    b.add_argument("--overhead", type=float, default=0.0, help="seconds added to every evaluation")
    b.add_argument("--ref-seeds", type=seed_range, help="seeds of the evolution reference")
    c = sub.add_parser("overhead")
    c.add_argument("--strategies", default="tpe,bananas,bohb")
    c.add_argument("--trials", type=int, default=1000)
    for q in (a, b, c):
        q.add_argument("--out", default="benchmarks/out")
    args = p.parse_args()
    {"nb201": cmd_nb201, "nb101": cmd_nb101, "overhead": cmd_overhead}[args.cmd](args)


if __name__ == "__main__":
    main()
