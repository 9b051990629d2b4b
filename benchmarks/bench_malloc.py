"""Training speed with glibc's default allocator settings against metanas's (evaluation/malloc.py).

Each repeat trains the main job's network of the 0.2.5 run (4 layers, 32-64 channels, batch 128,
the final recipe's augmentation) for 2 epochs on 6,000 Fashion-MNIST images in a fresh process,
once with ``METANAS_DEFAULT_MALLOC=1`` (glibc's defaults) and once without; repeats alternate so
background load hits both alike. Reported: median wall seconds, kernel (system) CPU seconds,
minor page faults and peak memory, and the ratio of median wall times.

    python benchmarks/bench_malloc.py [--repeats 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import torch
from metanas.data import load_dataset
from metanas.evaluation.fit import fit
from metanas.nn import build_model

torch.set_num_threads(int(sys.argv[1]))
arch = {"depth": 4,
        "unit_1": "sepconv3x3", "width_1": 64, "skip_1": False,
        "unit_2": "conv3x3", "width_2": 32, "skip_2": False,
        "unit_3": "conv3x3", "width_3": 32, "skip_3": True,
        "unit_4": "sepconv3x3", "width_4": 64, "skip_4": True}
data = load_dataset("fashion_mnist", limit=6000, val_fraction=0.1)
torch.manual_seed(0)
model = build_model("macro", arch, data.input_shape, data.n_classes, stem_channels=16,
                    reduce_every=1)
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
fit(model, data.x_train, data.y_train, epochs=2, batch_size=128, lr=0.002, augment=True,
    label_smoothing=0.05, generator=torch.Generator().manual_seed(0))
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall": time.perf_counter() - t0, "sys": r1.ru_stime - r0.ru_stime,
                  "faults": r1.ru_minflt - r0.ru_minflt, "rss_mb": r1.ru_maxrss / 1024}))
"""


def run(default: bool, threads: int) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "METANAS_DEFAULT_MALLOC"}
    if default:
        env["METANAS_DEFAULT_MALLOC"] = "1"
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(threads)], env=env, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"glibc defaults": [], "metanas": []}
    for i in range(args.repeats):
        for label, default in (("glibc defaults", True), ("metanas", False)):
            r = run(default, args.threads)
            runs[label].append(r)
            print(f"repeat {i} {label:15s} " + " ".join(f"{k} {v:.2f}" for k, v in r.items()))
    print("\n| allocator | wall s | system CPU s | minor faults | peak MB |")
    print("| --- | --- | --- | --- | --- |")
    med = {}
    for label, rs in runs.items():
        med[label] = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        m = med[label]
        print(
            f"| {label} | {m['wall']:.1f} | {m['sys']:.1f} | {m['faults']:,.0f} | {m['rss_mb']:.0f} |"
        )
    ratio = med["glibc defaults"]["wall"] / med["metanas"]["wall"]
    print(f"\nspeed-up (ratio of median wall times): {ratio:.2f}x over {args.repeats} repeats")


if __name__ == "__main__":
    main()
