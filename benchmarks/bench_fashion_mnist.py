"""Fashion-MNIST: a shipped search config against a hand-designed 2-conv CNN with the same final budget.

Runs ``metanas search CONFIG`` (search, retrain the best on train + validation, test once) and then
trains the baseline (conv3x3/32-ReLU-maxpool, conv3x3/64-ReLU-maxpool, dense 128, dense 10; no
BatchNorm, as in the classic Keras example) with the config's final-training settings, and prints
test accuracy, wall time and process CPU time for both. Reference: the Fashion-MNIST README lists
0.916 for the TensorFlow tutorial's "2 Conv+pooling" network.

    python benchmarks/bench_fashion_mnist.py [--config fashion_mnist_quick] [--skip-search|--skip-baseline]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from pathlib import Path

import torch
from torch import nn


def baseline_builder(kind: str, arch, input_shape, n_classes: int, **options) -> nn.Module:
    """The hand-designed 2-conv CNN (``arch`` is ignored)."""
    c, h, w = input_shape
    return nn.Sequential(
        nn.Conv2d(c, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * (h // 4) * (w // 4), 128), nn.ReLU(), nn.Linear(128, n_classes),
    )  # fmt: skip


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def run_search(config: str, workdir: Path) -> dict[str, float]:
    from metanas.cli import main

    t0, c0 = time.perf_counter(), _cpu()
    rc = main(
        ["search", config, "--storage", str(workdir / "bench.db"), "--out", str(workdir / "model")]
    )
    if rc != 0:
        raise SystemExit(f"metanas search exited {rc}")
    manifest = json.loads((workdir / "model" / "arch.json").read_text())
    return {**manifest["metrics"], "wall": time.perf_counter() - t0, "cpu": _cpu() - c0,
            "description": manifest["description"]}  # type: ignore[dict-item]  # fmt: skip


def run_baseline(config: str) -> dict[str, float]:
    from metanas.cli.search import data_options
    from metanas.config import load_config
    from metanas.evaluation.training import train_final

    cfg = load_config(config)
    kw = cfg.final_training()
    kw["model_options"] = {}
    t0, c0 = time.perf_counter(), _cpu()
    opts = {**data_options(cfg), "limit": None}
    _, m = train_final(
        "baseline", {}, cfg.data.name, builder=baseline_builder, data_options=opts, **kw
    )
    return {**m, "wall": time.perf_counter() - t0, "cpu": _cpu() - c0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="fashion_mnist_quick")
    ap.add_argument("--skip-search", action="store_true")
    ap.add_argument("--skip-baseline", action="store_true")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_search:
            r = run_search(args.config, Path(tmp))
            rows.append((f"search ({args.config})", r))
            print(f"best: {r['description']}")
        if not args.skip_baseline:
            rows.append(("2-conv CNN baseline", run_baseline(args.config)))
    print(
        f"\nFashion-MNIST, {torch.get_num_threads()} torch threads, load average at start {load:.1f}"
    )
    print(
        f"{'run':36s} {'test_acc':>8s} {'1 view':>8s} {'epochs':>6s} {'params':>8s} {'wall s':>7s}"
        f" {'cpu s':>7s}"
    )
    for name, r in rows:
        params = r.get("params", math.nan)
        single = r.get("test_acc_single_view", r["test_acc"])  # differs under test-time aug.
        print(
            f"{name:36s} {r['test_acc']:8.4f} {single:8.4f} {r['epochs']:6.1f} {params:8.0f}"
            f" {r['wall']:7.1f} {r['cpu']:7.1f}"
        )


if __name__ == "__main__":
    main()
