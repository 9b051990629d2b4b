"""Proxy-accelerated search on NAS-Bench-201 (CIFAR-10): distinct table queries to the validation
optimum, with the zero-cost proxy computed live on metanas' NB201 network and its CPU time counted.

Strategies: the proxy-free baseline (local search, or any registered strategy) and
``ProxyPrescreen(inner, scorer, n_candidates)``: of the inner strategy's pooled proposals, the one
the proxy scores highest is queried. Proxy scores are cached per canonical key and shared across
seeds (as a user re-running searches would); per-seed cost counts every cell that seed had scored,
as if it ran alone.

    nice .venv/bin/python benchmarks/bench_proxy_search.py --seeds 50 --scorer synflow_small \
        --configs plain:local_search:0,screen:local_search:200:4
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


def _time_to(curve: list[tuple[float, float]], target: float) -> float | None:
    """Seconds at which the best-so-far first reached ``target`` (None: never)."""
    return next((t for t, best in curve if best >= target - 1e-12), None)


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


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seeds", type=int, default=50)
    p.add_argument("--queries", type=int, default=500, help="cap on distinct queries per run")
    p.add_argument(
        "--scorer",
        default="synflow_small",
        help="a proxy name; suffix _small builds the network with C=8 N=1; params_count "
        "counts parameters from the cell without building it",
    )
    p.add_argument(
        "--configs",
        default="plain:local_search:0,screen:local_search:200:4,"
        "screen:local_search:1000:4,pool:local_search:10,screen:random:1000",
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
    args = p.parse_args()
    if args.training:
        import torch

        torch.set_num_threads(1)
        training_experiment(args)
        return
    import torch

    torch.set_num_threads(1)
    from metanas.benchrun import default_space
    from metanas.evaluation.tabular import nb201_table

    ev = nb201_table("cifar10")
    space = default_space(ev)  # the full NB201 space, as benchmarks/bench_nb201.py uses
    best_key = space.key(ev.arch(ev.best_row()))
    scorer = TimedScorer(args.scorer, space)
    results = {}
    print(f"scorer {args.scorer}; {args.seeds} seeds; cap {args.queries} distinct queries")
    print(
        "| strategy | median queries to val optimum | reached | proxy cells scored per seed "
        "| proxy CPU s per seed (alone) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for cfg in args.configs.split(","):
        qs, cells, cpu = [], [], []
        for seed in range(args.seeds):
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
