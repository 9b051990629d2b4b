"""Proxy-accelerated search on NAS-Bench-201 (CIFAR-10 or CIFAR-100): distinct table queries to
the validation optimum, with the zero-cost proxy computed live on metanas' NB201 network and its
CPU time counted.

Strategies (``mode:inner:n[:n_init]``, see ``make``): the proxy-free baselines (``plain``), the
same strategies on a ``ScreenedSpace`` (``screen``: every random sample is the proxy's favourite
of ``n``) and ``ProxyPrescreen`` (``pool``: of the inner strategy's ``n`` pooled proposals, the
one the proxy scores highest is queried). Proxy scores are cached per canonical key and shared
across seeds (as a user re-running searches would); per-seed cost counts every cell that seed had
scored, as if it ran alone. Seeds 0..49 are the reported ones; tune with ``--first-seed 100``.

    nice .venv/bin/python benchmarks/bench_proxy_search.py --dataset cifar10 --seeds 50
    nice .venv/bin/python benchmarks/bench_proxy_search.py --dataset cifar100 --seeds 50

``--real pool`` / ``--real search``: real training on Fashion-MNIST (macro space, max depth 4).
``pool`` trains a seeded pool of random architectures once each (1 epoch on 4,000 images, 2,000
validation images, one thread) and scores each with the proxies at batch 16 and 64, recording the
CPU seconds of both; ``search`` replays random search and proxy-screened searches on that pool over
``--seeds`` seeds, charging every trained architecture its measured training CPU seconds and every
screened one its proxy CPU seconds, and reports CPU seconds to reach random search's median best
and the best accuracy at equal CPU time.

    nice -n 10 .venv/bin/python benchmarks/bench_proxy_search.py --real pool --real-pool 120
    .venv/bin/python benchmarks/bench_proxy_search.py --real search --seeds 50 --real-trials 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np


class TimedScorer:
    """Shared score cache with per-key CPU seconds."""

    def __init__(self, name: str, space) -> None:
        from metanas.evaluation.proxies import ProxyEvaluator

        opts = {"C": 8, "N": 1} if name.endswith("_small") else {}
        proxy = name.removesuffix("_small")
        # "params_count": the parameter count from the cell's ops, without building the network
        self.ev = (
            None
            if name == "params_count"
            else ProxyEvaluator(proxy, model_options=opts, batch_size=64, data="random")
        )
        self.key = space.key
        self.cache: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.touched: set[str] = set()

    def __call__(self, arch) -> float:
        k = self.key(arch)
        self.touched.add(k)
        if k not in self.cache:
            t = time.process_time()
            if self.ev is None:
                from metanas.nn.nb201 import nb201_param_count

                v: float | None = float(nb201_param_count(arch))
            else:
                v = self.ev.evaluate(arch).value
            self.cpu[k] = time.process_time() - t
            self.cache[k] = float("-inf") if v is None else v
        return self.cache[k]


def make(cfg: str, space, seed: int, scorer):
    """``mode:inner:n[:n_init]``: mode plain (no proxy), screen (ScreenedSpace: proxy-best of n
    random samples wherever the strategy samples) or pool (ProxyPrescreen, pool of n proposals)."""
    from metanas.strategies import get_strategy
    from metanas.strategies.proxy_prescreen import ProxyPrescreen, ScreenedSpace

    mode, inner, n, *rest = cfg.split(":")
    opts = {"n_init": int(rest[0])} if rest else {}
    if mode == "plain":
        return get_strategy(inner, space, seed=seed, **opts)
    if mode == "screen":
        return get_strategy(inner, ScreenedSpace(space, scorer, int(n)), seed=seed, **opts)
    return ProxyPrescreen(
        space, seed=seed, scorer=scorer, inner=inner, n_candidates=int(n), inner_options=opts
    )


def run_one(ev, space, cfg: str, seed: int, scorer, best_key: str, cap: int) -> int | None:
    from metanas.evaluation.base import continue_always

    strat = make(cfg, space, seed, scorer)
    seen: list[str] = []
    cache = {}
    for _ in range(cap * 20):
        c = strat.ask()
        res = cache.get(c.key)
        if res is None:
            res = ev.evaluate(c.arch, None, continue_always)
            cache[c.key] = res
            seen.append(c.key)
            if c.key == best_key:
                return len(seen)
            if len(seen) >= cap:
                return None
        strat.tell(c, res)
    return None


def _time_to(curve: list[tuple[float, ...]], target: float) -> float | None:
    """Seconds at which the best-so-far first reached ``target`` (None: never)."""
    return next((p[0] for p in curve if p[1] >= target - 1e-12), None)


def training_experiment(args: argparse.Namespace) -> None:
    """Real training on Fashion-MNIST, macro space: random search against proxy-screened random
    search (each trial trains the proxy's favourite of ``--train-pool`` random proposals, the proxy
    on one Fashion-MNIST train batch of 64), ``--train-trials`` trials each, per seed.

    Time is training plus proxy seconds (wall clock, one thread). The target is the proxy-free
    search's final best validation accuracy; we report when each search first reached it. An
    architecture both searches pick is trained once and its seconds are counted in both (training
    is deterministic per architecture, so the result would be the same)."""
    from metanas.evaluation.base import continue_always
    from metanas.evaluation.proxies import ProxyEvaluator
    from metanas.evaluation.training import TrainingEvaluator
    from metanas.space import get_space
    from metanas.strategies import get_strategy
    from metanas.strategies.proxy_prescreen import ProxyPrescreen
    from metanas.types import Result

    space = get_space("macro", max_depth=4)
    train = TrainingEvaluator(
        "fashion_mnist",
        "macro",
        epochs=1,
        fraction=args.train_fraction,
        num_threads=1,
        seed=0,
        data_options={"val_fraction": args.train_val_fraction},
    )
    data = train.data()
    print(
        f"\nreal training: fashion_mnist, macro space (max_depth 4), 1 epoch on "
        f"{args.train_fraction:.0%} of the train split ({round(data.x_train.shape[0] * args.train_fraction)}"
        f" images), validation on {data.x_val.shape[0]} images; proxy {args.train_proxy} "
        f"(batch 64), pool {args.train_pool}; {args.train_trials} trials per search"
    )
    print("| seed | search | best val acc | total s | s to reach random's best | proxy s |")
    print("| --- | --- | --- | --- | --- | --- |")
    trained: dict[str, tuple[float, float]] = {}  # key -> (val acc, seconds)
    rows = []
    for seed in range(args.train_seeds):
        proxy = ProxyEvaluator(
            args.train_proxy,
            space_kind="macro",
            input_shape=tuple(data.input_shape),
            n_classes=data.n_classes,
            data=data,
            batch_size=64,
            seed=seed,
            num_threads=1,
        )
        timed = {"s": 0.0}

        def scorer(arch, proxy=proxy, timed=timed) -> float:
            r = proxy.evaluate(arch)
            timed["s"] += r.cost
            return float("-inf") if r.value is None else r.value

        curves: dict[str, list[tuple[float, float]]] = {}
        proxy_s: dict[str, float] = {}
        for label in ("random", "prescreen"):
            if label == "random":
                strat = get_strategy("random", space, seed=seed)
            else:
                strat = ProxyPrescreen(
                    space, seed=seed, scorer=scorer, n_candidates=args.train_pool
                )
            best, t_train = -1.0, 0.0
            timed["s"] = 0.0
            curve = []
            for _ in range(args.train_trials):
                c = strat.ask()
                k = space.key(c.arch)
                if k not in trained:
                    t = time.perf_counter()
                    r = train.evaluate(c.arch, None, continue_always)
                    trained[k] = (
                        -1.0 if r.value is None else float(r.value),
                        time.perf_counter() - t,
                    )
                    strat.tell(c, r)
                else:
                    strat.tell(c, Result(value=trained[k][0], cost=trained[k][1]))
                acc, secs = trained[k]
                t_train += secs
                best = max(best, acc)
                curve.append((t_train + timed["s"], best))
            curves[label] = curve
            proxy_s[label] = timed["s"]
        target = curves["random"][-1][1]
        for label, curve in curves.items():
            reach = _time_to(curve, target)
            rows.append((label, curve[-1][1], curve[-1][0], reach))
            print(
                f"| {seed} | {label} | {curve[-1][1]:.4f} | {curve[-1][0]:.0f} "
                f"| {'not reached' if reach is None else f'{reach:.0f}'} | {proxy_s[label]:.0f} |",
                flush=True,
            )
    for label in ("random", "prescreen"):
        b = [r[1] for r in rows if r[0] == label]
        t = [r[2] for r in rows if r[0] == label]
        reach = [r[3] for r in rows if r[0] == label]
        got = [x for x in reach if x is not None]
        print(
            f"{label}: mean best val acc {np.mean(b):.4f}, mean total {np.mean(t):.0f} s, "
            f"reached random's best in {len(got)}/{len(reach)} seeds"
            + (f" (median {np.median(got):.0f} s)" if got else "")
        )


# --------------------------------------------------------------------------- real mode
REAL_PROXIES = ("nwot", "synflow", "snip", "params", "flops")
REAL_BATCHES = (16, 64)  # proxy batch sizes recorded per architecture


def real_setup(args: argparse.Namespace):
    """The macro space, the Fashion-MNIST subset and the trainer of the ``real`` mode."""
    import dataclasses

    from metanas.data import load_dataset
    from metanas.evaluation.training import TrainingEvaluator
    from metanas.space import get_space

    space = get_space("macro", max_depth=4)
    full = load_dataset("fashion_mnist", seed=0, val_fraction=0.1, limit=args.real_train)
    # a smaller validation set keeps scoring cheap next to training
    data = dataclasses.replace(
        full, x_val=full.x_val[: args.real_val], y_val=full.y_val[: args.real_val]
    )
    train = TrainingEvaluator(
        data, "macro", epochs=args.real_epochs, batch_size=64, lr=3e-3, num_threads=1, seed=0,
        model_options={"reduce_every": 1},
    )  # fmt: skip
    return space, data, train


def real_pool(args: argparse.Namespace) -> None:
    """Train ``--real-pool`` random macro architectures once each (appended to ``--real-out``,
    resumable) and score each with every proxy of ``REAL_PROXIES`` at every batch size of
    ``REAL_BATCHES``; train and proxy times are the process CPU seconds of one thread."""
    from metanas.evaluation.base import continue_always
    from metanas.evaluation.proxies import ProxyEvaluator

    space, data, train = real_setup(args)
    out = Path(args.real_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if out.exists():
        done = {json.loads(line)["key"] for line in out.read_text().splitlines() if line}
    proxies = {
        (n, b): ProxyEvaluator(
            n, space_kind="macro", input_shape=tuple(data.input_shape), n_classes=data.n_classes,
            data=data, batch_size=b, seed=0, num_threads=1, model_options={"reduce_every": 1},
        )
        for n in REAL_PROXIES
        for b in REAL_BATCHES
    }  # fmt: skip
    rng = np.random.default_rng(args.real_pool_seed)
    archs: dict[str, dict] = {}
    while len(archs) < args.real_pool:
        a = space.sample(rng)
        archs.setdefault(space.key(a), a)
    for k, a in archs.items():
        if k in done:
            continue
        row = {"key": k, "arch": a, "desc": space.describe(a), "proxy": {}, "proxy_cpu": {}}
        for (n, b), pe in proxies.items():
            t = time.process_time()
            r = pe.evaluate(a)
            row["proxy_cpu"][f"{n}@{b}"] = time.process_time() - t
            row["proxy"][f"{n}@{b}"] = None if r.value is None else float(r.value)
        t, w = time.process_time(), time.perf_counter()
        r = train.evaluate(a, None, continue_always)
        row.update(
            val_acc=None if r.value is None else float(r.value),
            train_cpu=time.process_time() - t,
            train_wall=time.perf_counter() - w,
            params=r.metrics.get("params"),
        )
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"{row['desc']}: acc {row['val_acc']} cpu {row['train_cpu']:.1f} s", flush=True)


def _real_strategy(cfg: str, space, seed: int, scorer):
    """``random``, ``screen:PROXY@B:N`` (random search on ``ScreenedSpace``: the proxy's favourite
    of N fresh samples per trial) or ``pool:PROXY@B:N`` (``ProxyPrescreen``, pool of N)."""
    from metanas.strategies import get_strategy
    from metanas.strategies.proxy_prescreen import ProxyPrescreen, ScreenedSpace

    mode, *rest = cfg.split(":")
    if mode == "random":
        return get_strategy("random", space, seed=seed)
    n = int(rest[1])
    if mode == "screen":
        return get_strategy("random", ScreenedSpace(space, scorer, n), seed=seed)
    return ProxyPrescreen(space, seed=seed, scorer=scorer, n_candidates=n)


def _real_run(
    rows: list[dict], cfg: str, seed: int, cap_s: float, max_trials: int = 10**9
) -> list[tuple[float, ...]]:
    """One search over the trained pool: (CPU seconds so far, best val acc so far, proxy CPU
    seconds so far) after each trial.
    Seconds = training CPU of every trained architecture + proxy CPU of every scored one."""
    from metanas.space import Choice, Space
    from metanas.strategies.base import SpaceExhausted
    from metanas.types import Result

    space = Space([Choice("i", tuple(range(len(rows))))])
    spent = {"s": 0.0, "proxy": 0.0}
    proxy = cfg.split(":")[1] if ":" in cfg else None
    sign = -1.0 if proxy and proxy.startswith("-") else 1.0  # "-flops": cheapest first
    name = proxy.lstrip("-") if proxy else None

    def scorer(arch) -> float:  # the strategies cache scores per key: charged once per arch
        r = rows[arch["i"]]
        parts = name.split("/")  # "a@64/flops@64": proxy a per multiply-add (both charged)
        secs = sum(r["proxy_cpu"][p] for p in parts)
        spent["s"] += secs
        spent["proxy"] += secs
        vals = [r["proxy"][p] for p in parts]
        if any(v is None for v in vals):
            return float("-inf")
        v = vals[0] / vals[1] if len(vals) == 2 else vals[0]
        return sign * v

    strat = _real_strategy(cfg, space, seed, scorer)
    best, curve, trained = 0.0, [], set()
    for _ in range(5 * len(rows)):  # a strategy may repeat keys once the small pool runs dry
        if spent["s"] >= cap_s or len(curve) >= max_trials:
            break
        try:
            c = strat.ask()
        except SpaceExhausted:
            break
        i = c.arch["i"]
        r = rows[i]
        acc = r["val_acc"] or 0.0
        strat.tell(c, Result(value=acc, cost=r["train_cpu"]))
        if i in trained:  # a repeat is answered from this search's own record, at no cost
            continue
        trained.add(i)
        spent["s"] += r["train_cpu"]
        best = max(best, acc)
        curve.append((spent["s"], best, spent["proxy"]))
    return curve


def _best_at(curve: list[tuple[float, ...]], t: float) -> float:
    return max([p[1] for p in curve if p[0] <= t], default=0.0)


def real_search(args: argparse.Namespace) -> None:
    """Searches replayed on the trained pool of ``real_pool``, over ``--seeds`` seeds.

    Random search's budget is ``--real-trials`` trainings; the target is the median over seeds of
    its best val acc after them, the equal-time budget the median of their CPU seconds. Every
    architecture's training and proxy CPU seconds are those measured once in ``real_pool``."""
    rows = [json.loads(x) for x in Path(args.real_out).read_text().splitlines() if x]
    accs = np.array([r["val_acc"] or 0.0 for r in rows])
    cpu = np.array([r["train_cpu"] for r in rows])
    print(
        f"pool: {len(rows)} trained architectures; val acc median {np.median(accs):.3f}, "
        f"max {accs.max():.3f}; train CPU s median {np.median(cpu):.1f}, "
        f"range {cpu.min():.1f}-{cpu.max():.1f}, total {cpu.sum():.0f}"
    )
    from scipy.stats import spearmanr

    keys = sorted(rows[0]["proxy"])
    print("| proxy@batch | rho val acc | rho train CPU | median proxy CPU ms |")
    print("| --- | --- | --- | --- |")
    for k in keys:
        v = [np.nan if r["proxy"][k] is None else r["proxy"][k] for r in rows]
        ms = 1000 * np.median([r["proxy_cpu"][k] for r in rows])
        print(
            f"| {k} | {spearmanr(v, accs, nan_policy='omit')[0]:.2f} "
            f"| {spearmanr(v, cpu, nan_policy='omit')[0]:.2f} | {ms:.1f} |"
        )
    k = args.real_trials
    base = [_real_run(rows, "random", s, float("inf"), k) for s in range(args.seeds)]
    budget = float(np.median([c[-1][0] for c in base]))
    target = float(np.median([c[-1][1] for c in base]))
    cap = args.real_cap * budget
    print(
        f"\nrandom search, {k} trainings: median best val acc {target:.4f} (target), median CPU "
        f"{budget:.0f} s (equal-time budget); searches stop at {cap:.0f} s; {args.seeds} seeds; "
        f"{int((accs >= target - 1e-12).sum())} of the {len(rows)} pooled architectures reach "
        "the target"
    )
    print(
        "| search | median CPU s to target | reached | mean best acc at equal time "
        "| trainings at equal time | proxy CPU s at equal time | seeds faster than random |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    ref = None
    for cfg in args.real_configs.split(","):
        reach, at_t, n_t, px = [], [], [], []
        for s in range(args.seeds):
            curve = _real_run(rows, cfg, s, cap)
            reach.append(_time_to(curve, target) or float("inf"))
            at_t.append(_best_at(curve, budget))
            upto = [p for p in curve if p[0] <= budget]
            n_t.append(len(upto))
            px.append(upto[-1][2] if upto else 0.0)
        reach_a = np.array(reach)
        if ref is None:
            ref = reach_a
        faster = float(np.mean(reach_a < ref))
        print(
            f"| {cfg} | {np.median(reach_a):.0f} | {np.isfinite(reach_a).mean():.0%} "
            f"| {np.mean(at_t):.4f} | {np.mean(n_t):.1f} | {np.mean(px):.2f} "
            f"| {'-' if cfg == 'random' else f'{faster:.0%}'} |",
            flush=True,
        )


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seeds", type=int, default=50)
    p.add_argument("--first-seed", type=int, default=0, help="seeds run from here (tuning: 100)")
    p.add_argument("--dataset", default="cifar10", choices=("cifar10", "cifar100"))
    p.add_argument("--queries", type=int, default=500, help="cap on distinct queries per run")
    p.add_argument(
        "--scorer",
        default="synflow_small",
        help="a proxy name; suffix _small builds the network with C=8 N=1; params_count "
        "counts parameters from the cell without building it",
    )
    p.add_argument(
        "--configs",
        default="plain:bananas:0,plain:local_search:0,screen:bananas:1000,screen:bananas:3000,"
        "screen:local_search:200:4,pool:bananas:10",
        help="mode:inner:n_candidates[:n_init],... (see make())",
    )
    p.add_argument("--out", default="benchmarks/out/proxy_search.json")
    p.add_argument("--training", action="store_true", help="run only the real-training experiment")
    p.add_argument("--train-seeds", type=int, default=3)
    p.add_argument("--train-trials", type=int, default=8)
    p.add_argument("--train-pool", type=int, default=10)
    p.add_argument("--train-fraction", type=float, default=0.05)
    p.add_argument("--train-val-fraction", type=float, default=0.03)
    p.add_argument("--train-proxy", default="synflow")
    p.add_argument("--real", choices=("pool", "search"), help="the real-training benchmark")
    p.add_argument("--real-pool", type=int, default=120, help="architectures trained")
    p.add_argument("--real-pool-seed", type=int, default=2024)
    p.add_argument("--real-train", type=int, default=4000, help="training images")
    p.add_argument("--real-val", type=int, default=2000, help="validation images")
    p.add_argument("--real-epochs", type=float, default=1.0)
    p.add_argument("--real-out", default="benchmarks/out/proxy_real_pool.jsonl")
    p.add_argument("--real-trials", type=int, default=10, help="random search's trainings")
    p.add_argument("--real-cap", type=float, default=3.0, help="stop at this x the budget")
    p.add_argument(
        "--real-configs",
        default="random,screen:nwot@16:5,screen:synflow@16:5,screen:snip@16:5,"
        "screen:params@16:5,screen:nwot@64:5,screen:nwot@16:10,pool:nwot@16:5,"
        "screen:synflow@16/flops@16:5,screen:-flops@16:5",
    )
    args = p.parse_args()
    if args.real:
        import torch

        torch.set_num_threads(1)
        (real_pool if args.real == "pool" else real_search)(args)
        return
    if args.training:
        import torch

        torch.set_num_threads(1)
        training_experiment(args)
        return
    import torch

    torch.set_num_threads(1)
    from metanas.benchrun import default_space
    from metanas.evaluation.tabular import nb201_table

    ev = nb201_table(args.dataset)
    space = default_space(ev)  # the full NB201 space, as benchmarks/bench_nb201.py uses
    best_key = space.key(ev.arch(ev.best_row()))
    scorer = TimedScorer(args.scorer, space)
    results = {}
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    print(
        f"NB201 {args.dataset}; scorer {args.scorer}; seeds {seeds.start}..{seeds.stop - 1}; "
        f"cap {args.queries} distinct queries"
    )
    print(
        "| strategy | median queries to val optimum | reached | proxy cells scored per seed "
        "| proxy CPU s per seed (alone) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for cfg in args.configs.split(","):
        qs, cells, cpu = [], [], []
        for seed in seeds:
            scorer.touched = set()
            qs.append(run_one(ev, space, cfg, seed, scorer, best_key, args.queries))
            cells.append(len(scorer.touched))
            cpu.append(sum(scorer.cpu[k] for k in scorer.touched))
        got = [q for q in qs if q is not None]
        med = statistics.median([q if q is not None else float("inf") for q in qs])
        name = cfg
        results[name] = {"queries": qs, "cells": cells, "cpu": cpu}
        print(
            f"| {name} | {med:g} | {len(got)}/{len(qs)} | {np.mean(cells):.0f} "
            f"| {np.mean(cpu):.1f} |",
            flush=True,
        )
    total = sum(scorer.cpu.values())
    print(
        f"\nproxy: {len(scorer.cache)} distinct cells scored, {total:.0f} CPU s in all "
        f"({total / max(len(scorer.cache), 1):.3f} s per cell)"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps(
            {
                "scorer": args.scorer,
                "results": results,
                "scored": len(scorer.cache),
                "cpu_total": total,
            }
        )
    )


if __name__ == "__main__":
    main()
