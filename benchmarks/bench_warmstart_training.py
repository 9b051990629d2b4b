"""Issue 7 with real training: does a store holding a Fashion-MNIST search speed up MNIST?

1. A source search on Fashion-MNIST (``--source-trials`` random MLPs, each trained for real)
   is recorded in a fresh SQLite store.
2. On the target task (MNIST-5k by default) the same strategy runs cold and warm-started from
   that store (``create_study(..., warm_start=STORE)``), with the same seeds.
3. The target accuracy is a percentile (``--percentile``, default 90; 75 and 97.5 summarised)
   of every validation accuracy observed on the target task, cold and warm runs pooled. Per seed
   we report the trials and the wall seconds (from creating the study, so the warm start pays for
   reading the store) until a trial reaches it, and the best validation accuracy at the end.

``--source-per-seed`` gives every target seed its own source search (seed 1000 + seed), so the
warm runs do not all start from the same past; without it one source search (seed 123) is shared.

Every trial trains one architecture from scratch (1 epoch on a 2,000-image stratified subsample,
Adam); the evaluator's seed is fixed, so one architecture gets the same score in every run and
the arms differ only in what they try. Data are loaded before any clock starts.

    nice -n 10 .venv/bin/python benchmarks/bench_warmstart_training.py --source-per-seed \
        --seeds 10 --trials 30

Writes a markdown report to stdout and every trial to ``benchmarks/out/warmstart_training.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from metanas.evaluation.training import TrainingEvaluator
from metanas.space import get_space
from metanas.study import create_study

SPACES: dict[str, dict[str, Any]] = {
    "mlp": {
        "max_depth": 4,
        "widths": [16, 32, 64, 128, 256, 512],
        "activations": ["relu", "gelu", "tanh"],
        "dropouts": [0.0, 0.2, 0.5],
    },
    # small CNNs: cheap units and widths so one trial stays at a few seconds on a shared CPU
    "macro": {
        "max_depth": 3,
        "widths": [16, 32, 64],
        "units": ["conv3x3", "sepconv3x3", "maxpool3x3"],
    },
}
MODEL_OPTIONS: dict[str, dict[str, Any]] = {
    "mlp": {},
    "macro": {"stem_channels": 16, "reduce_every": 1},
}


def evaluator(args: argparse.Namespace, dataset: str, val_fraction: float) -> TrainingEvaluator:
    ev = TrainingEvaluator(
        dataset, args.space, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=0,
        num_threads=1, model_options=MODEL_OPTIONS[args.space],
        data_options={"seed": 0, "limit": args.limit, "val_fraction": val_fraction},
    )  # fmt: skip
    ev.data()  # load (and cache) before any clock starts
    return ev


def run(
    space: Any, ev: TrainingEvaluator, strategy: str, seed: int, n: int, warm: str | None
) -> dict[str, Any]:
    """One search; ``done[i]`` is the wall time (s) at which trial ``i`` finished."""
    t0 = time.perf_counter()
    study = create_study(space, strategy, ev, storage=None, seed=seed, warm_start=warm or False)
    done: list[float] = []
    study.optimize(n, callbacks=[lambda s, t: done.append(time.perf_counter() - t0)])
    trials = sorted(study.trials, key=lambda t: t.number)
    strat = study.strategy
    return {
        "seed": seed,
        "arm": "warm" if warm else "cold",
        "strategy_used": strat.name,
        "handover_at": getattr(strat, "handover_at", None),
        "n_priors": len(getattr(strat, "priors", [])),
        "archs": [space.describe(t.arch) for t in trials],
        "values": [t.value for t in trials],
        "done_s": done,
    }


def to_target(r: dict[str, Any], target: float) -> tuple[float, float]:
    """(trials, seconds) until a value >= target; (inf, inf) when never reached."""
    for i, v in enumerate(r["values"]):
        if v is not None and v >= target - 1e-12:
            return i + 1, r["done_s"][i]
    return math.inf, math.inf


def _f(x: float, digits: int = 1) -> str:
    return "not reached" if math.isinf(x) else f"{x:.{digits}f}"


def source_search(
    args: argparse.Namespace, space: Any, ev: TrainingEvaluator, seed: int
) -> dict[str, Any]:
    """A random search on the source task into a fresh store; its path and values."""
    store = str(Path(tempfile.mkdtemp(prefix="metanas-ws-")) / "source.db")
    t = time.perf_counter()
    src = create_study(space, "random", ev, storage=store, study_name="source", seed=seed)
    src.optimize(args.source_trials)
    best = src.best_trial
    out = {
        "store": store,
        "seed": seed,
        "values": [t.value for t in src.trials if t.value is not None],
        "best": space.describe(best.arch) if best else None,
        "seconds": time.perf_counter() - t,
    }
    src.store.close()
    return out


def table(data: dict[str, Any], percentile: float) -> tuple[list[str], dict[str, Any]]:
    """The per-seed markdown table at one target percentile, and its medians."""
    runs = data["runs"]
    seeds = sorted({r["seed"] for r in runs})
    all_vals = [v for r in runs for v in r["values"] if v is not None]
    target = float(np.percentile(all_vals, percentile))
    lines = [
        f"Target accuracy = {percentile:g}th percentile of all {len(all_vals)} target val_acc "
        f"values (cold and warm pooled) = **{target:.4f}**.",
        "",
        "| seed | cold trials | warm trials | cold s | warm s | cold best | warm best | warm handover |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    per: dict[str, dict[str, list[float]]] = {
        a: {"n": [], "s": [], "best": []} for a in ("cold", "warm")
    }
    for seed in seeds:
        cold, warm = (next(r for r in runs if r["seed"] == seed and r["arm"] == a)
                      for a in ("cold", "warm"))  # fmt: skip
        row = {}
        for r in (cold, warm):
            n, sec = to_target(r, target)
            best = max(v for v in r["values"] if v is not None)
            per[r["arm"]]["n"].append(n)
            per[r["arm"]]["s"].append(sec)
            per[r["arm"]]["best"].append(best)
            row[r["arm"]] = (n, sec, best)
        ho = warm["handover_at"]
        hand = "no priors" if warm["n_priors"] == 0 else (
            "stayed warm" if ho is None else f"after {ho}")  # fmt: skip
        lines.append(
            f"| {seed} | {_f(row['cold'][0], 0)} | {_f(row['warm'][0], 0)} | {_f(row['cold'][1])} "
            f"| {_f(row['warm'][1])} | {row['cold'][2]:.4f} | {row['warm'][2]:.4f} | {hand} |"
        )
    med = {a: {k: statistics.median(v) for k, v in d.items()} for a, d in per.items()}
    reached = {a: sum(not math.isinf(x) for x in per[a]["n"]) for a in per}
    lines += [
        f"| **median** | {_f(med['cold']['n'], 0)} | {_f(med['warm']['n'], 0)} "
        f"| {_f(med['cold']['s'])} | {_f(med['warm']['s'])} | {med['cold']['best']:.4f} "
        f"| {med['warm']['best']:.4f} | |",
        "",
        f"Reached the target: cold {reached['cold']}/{len(seeds)}, warm {reached['warm']}/"
        f"{len(seeds)} (not reached counts as infinite in the median).",
    ]
    summary = {"percentile": percentile, "target": target, "median": med, "reached": reached}
    return lines, summary


def report(data: dict[str, Any], percentiles: list[float]) -> str:
    a = data["args"]
    src = data["sources"]
    per_seed = len(src) > 1
    vals = [v for s in src for v in s["values"]]
    lines = [
        f"Space: {a['space']} {json.dumps(data['space'])}; every trial {a['epochs']:g} epoch(s), "
        f"batch {a['batch_size']}, Adam lr {a['lr']:g}, {a['limit']} training images, "
        "evaluator seed 0.",
        f"Source: {a['source']}, {len(src)} random search(es) of {a['source_trials']} trials "
        f"({'one per target seed, seed 1000 + seed' if per_seed else 'seed 123, shared'}); "
        f"best source val_acc {max(vals):.4f}; best source architectures: "
        f"{', '.join(sorted({s['best'] for s in src}))}.",
        f"Target: {a['target']}, strategy {a['strategy']}, {a['trials']} trials per run, seeds "
        f"0..{a['seeds'] - 1}; wall seconds count from creating the study.",
        "",
    ]
    summaries = []
    for i, pc in enumerate(percentiles):
        body, summ = table(data, pc)
        summaries.append(summ)
        if i == 0:
            lines += body
        else:
            m, r = summ["median"], summ["reached"]
            lines.append(
                f"- at the {pc:g}th percentile ({summ['target']:.4f}): median trials cold "
                f"{_f(m['cold']['n'], 0)} / warm {_f(m['warm']['n'], 0)}, median seconds cold "
                f"{_f(m['cold']['s'])} / warm {_f(m['warm']['s'])}, reached cold "
                f"{r['cold']} / warm {r['warm']} of {a['seeds']}"
            )
    if "total_seconds" in data:
        lines += ["", f"Total wall time {data['total_seconds']:.0f} s."]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--space", choices=sorted(SPACES), default="mlp")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--source", default="fashion_mnist")
    p.add_argument("--target", default="mnist_5k")
    p.add_argument("--strategy", default="random")
    p.add_argument("--source-trials", type=int, default=30)
    p.add_argument(
        "--source-per-seed",
        action="store_true",
        help="a separate source search (seed 1000 + seed) for every target seed",
    )
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--limit", type=int, default=2000)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--lr", type=float, default=0.003)
    p.add_argument("--percentile", type=float, nargs="+", default=[90.0, 75.0, 97.5])
    p.add_argument("--json", default="benchmarks/out/warmstart_training.json")
    p.add_argument("--from-json", help="re-report a saved run at other percentiles; no training")
    args = p.parse_args()
    if args.from_json:
        print(report(json.loads(Path(args.from_json).read_text()), args.percentile))
        return

    space = get_space(args.space, **SPACES[args.space])
    t_all = time.perf_counter()
    # the source validation split: 5 % of 60k = 3,000 images (evaluating 6,000 doubles its cost)
    src_ev = evaluator(args, args.source, 0.05)
    ev = evaluator(args, args.target, 0.1)
    sources = [] if args.source_per_seed else [source_search(args, space, src_ev, 123)]
    runs = []
    for seed in range(args.seeds):
        if args.source_per_seed:
            sources.append(source_search(args, space, src_ev, 1000 + seed))
        for warm in (None, sources[-1]["store"]):
            runs.append(run(space, ev, args.strategy, seed, args.trials, warm))
    args_d = {k: v for k, v in vars(args).items() if k != "from_json"}
    data = {"args": args_d, "space": SPACES[args.space], "sources": sources, "runs": runs,
            "total_seconds": time.perf_counter() - t_all}  # fmt: skip
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1))
    print(report(data, args.percentile))


if __name__ == "__main__":
    main()
