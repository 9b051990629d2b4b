"""One-shot search (GDAS, DARTS) on Fashion-MNIST in the NAS-Bench-201 cell space, against random
cells trained the same way.

Per method and seed: one supernet search (``oneshot_search``), read two ways (the softmax of its
final logits, and ``selection="perturbation"``'s measured scores); for each reading, the
``--top`` most probable cells (``most_probable``) trained stand-alone with one fixed recipe and
scored on the validation split. ``--random`` random cells get the same recipe; a cell's training seed depends only on the
cell, so a cell asked twice is trained once. Reported per method: the derived cell's validation
accuracy and its percentile among the random cells, the best of the top cells, the search's
seconds, and random search's expected best with the same total time (the exact expectation of
the best of k cells drawn without replacement from the random ones). Also, for scale only, the
derived cells' NAS-Bench-201 CIFAR-10 test accuracy percentile (another data set: a sanity check
that the search avoids degenerate cells, not a measure of it).

    nice .venv/bin/python benchmarks/bench_oneshot.py --seeds 0-2 --out benchmarks/out/oneshot.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metanas.data import load_dataset
from metanas.evaluation.fit import arch_seed, evaluate_model, fit, torch_context
from metanas.evaluation.tabular import nb201_table
from metanas.nn.nb201 import build_nb201
from metanas.oneshot import oneshot_search
from metanas.space import get_space
from metanas.strategies import get_strategy

sys.path.insert(0, str(Path(__file__).parent))
from bench_strategies import seed_range


def expected_best_of(values: list[float], k: int) -> float:
    """E[max of k draws without replacement from ``values``] (exact, by order statistics)."""
    v = sorted(values)
    n = len(v)
    k = max(1, min(k, n))
    # P(the max is the i-th smallest) = C(i-1, k-1) / C(n, k), i = k..n
    return sum(v[i - 1] * math.comb(i - 1, k - 1) for i in range(k, n + 1)) / math.comb(n, k)


class Trainer:
    """Stand-alone training with one recipe; results cached by canonical key."""

    def __init__(self, data: Any, epochs: int, C: int, N: int, cache: str | None) -> None:
        self.data, self.epochs, self.C, self.N = data, epochs, C, N
        self.space = get_space("nb201")
        self.path = Path(cache) if cache else None
        self.recipe = f"fashion_mnist:{len(data.x_train)}:{epochs}:{C}:{N}"
        saved = json.loads(self.path.read_text()) if self.path and self.path.exists() else {}
        self.cache: dict[str, tuple[float, float]] = saved.get(self.recipe, {})
        self.saved = saved

    def __call__(self, arch: dict[str, str]) -> tuple[float, float]:
        key = self.space.key(arch)
        if key not in self.cache:
            d = self.data
            started = time.perf_counter()
            seed = arch_seed(arch, 0)
            with torch_context(seed, None, torch.device("cpu")):
                net = build_nb201(arch, d.input_shape, d.n_classes, C=self.C, N=self.N)
                fit(
                    net,
                    d.x_train,
                    d.y_train,
                    epochs=self.epochs,
                    optimizer="adam",
                    lr=3e-3,
                    generator=torch.Generator().manual_seed(seed),
                )
                acc, _ = evaluate_model(net, d.x_val, d.y_val)
            self.cache[key] = (acc, time.perf_counter() - started)
            if self.path:
                self.path.write_text(json.dumps({**self.saved, self.recipe: self.cache}))
        return self.cache[key]


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seeds", default="0-2", help="'0-2': seeds 0, 1, 2; '3': seeds 0, 1, 2")
    p.add_argument("--methods", default="gdas,darts")
    p.add_argument("--epochs", type=int, default=10, help="supernet epochs")
    p.add_argument("--limit", type=int, default=6000, help="training images")
    p.add_argument("--C", type=int, default=8)
    p.add_argument("--random", type=int, default=16, help="random cells for the baseline")
    p.add_argument("--top", type=int, default=3, help="most probable cells trained per search")
    p.add_argument("--train-epochs", type=int, default=4, help="stand-alone training epochs")
    p.add_argument("--out", default=None)
    p.add_argument(
        "--cache", default=None, help="JSON file keeping stand-alone results across runs"
    )
    args = p.parse_args()

    data = load_dataset("fashion_mnist", seed=0, limit=args.limit)
    train = Trainer(data, args.train_epochs, args.C, 1, args.cache)
    space = get_space("nb201")
    table = nb201_table("cifar10")
    c10 = table.values("c10_test_acc_200")

    def c10_percentile(arch: dict[str, str]) -> float:
        return float(np.mean(c10 < c10[table.row(arch)]) * 100)

    rnd = get_strategy("random", space, seed=12345)
    random_cells = [rnd.ask().arch for _ in range(args.random)]
    random_res = [train(a) for a in random_cells]
    r_acc = [a for a, _ in random_res]
    r_sec = statistics.mean(s for _, s in random_res)
    print(
        f"random cells ({args.random}): val acc median {statistics.median(r_acc):.4f}, "
        f"best {max(r_acc):.4f}, {r_sec:.1f} s each",
        flush=True,
    )
    rows = []
    for method in args.methods.split(","):
        for seed in seed_range(args.seeds):
            res = oneshot_search(
                data, method=method, epochs=args.epochs, C=args.C, N=1, seed=seed,
                selection="perturbation",
            )  # fmt: skip
            # one supernet, read both ways: its final logits, and the measured perturbation scores
            readings = (("logits", res.history[-1].probs), ("perturbation", res.probs))
            for selection, probs in readings:
                asker = get_strategy("most_probable", space, probs=probs)
                top = [asker.ask().arch for _ in range(args.top)]
                scores = [train(a) for a in top]
                # search s covers the supernet and its perturbation scores, for both readings
                cost = res.seconds + sum(s for _, s in scores)
                k_eq = max(1, int(cost // r_sec))
                row = {
                    "method": method,
                    "selection": selection,
                    "seed": seed,
                    "arch": space.describe(top[0]),
                    "search_s": round(res.seconds, 1),
                    "derived_val": scores[0][0],
                    "derived_pct": float(np.mean(np.array(r_acc) < scores[0][0]) * 100),
                    "best_top_val": max(a for a, _ in scores),
                    "random_same_time": expected_best_of(r_acc, k_eq),
                    "random_k": k_eq,
                    "c10_test_pct": c10_percentile(top[0]),
                    "supernet_val": res.history[-1].val_accuracy,
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    print(
        "\n| method | selection | seed | derived cell | search s | derived val | pct of random | "
        "best of top | random, same time (k) | NB201 C10 pct |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['method']} | {r['selection']} | {r['seed']} | `{r['arch']}` | "
            f"{r['search_s']:.0f} | {r['derived_val']:.4f} | {r['derived_pct']:.0f} | "
            f"{r['best_top_val']:.4f} | {r['random_same_time']:.4f} ({r['random_k']}) | "
            f"{r['c10_test_pct']:.0f} |"
        )
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "random": r_acc, "rows": rows}))


if __name__ == "__main__":
    main()
