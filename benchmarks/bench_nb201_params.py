"""Parameter counts of metanas' NAS-Bench-201 network against the benchmark's ``params`` column.

For every one of the 15,625 cells in nb201.csv, counts the parameters of the CIFAR-10 network
(3x32x32 input, 10 classes, C=16, N=5) built on the meta device (shapes only, no weights). By
default the skeleton (stem, reduction blocks, head: the network of the all-``none`` cell) is built
once and each cell's three modules (16, 32, 64 channels) per architecture, the network being the
skeleton plus N copies of each; ``--full`` builds every whole network instead (5x slower). Also
checks the analytic count (:func:`metanas.nn.nb201.nb201_param_count`) equals the built one.
A cell matches when it is within 1% of the table (about 1.3% of the table's values are averages
over seeds whose networks differed).

Run:  nice .venv/bin/python benchmarks/bench_nb201_params.py [--full] [--limit N] [--csv PATH]
"""

from __future__ import annotations

import argparse
import csv
import functools
import time
from pathlib import Path

import torch

from metanas.nn.nb201 import NB201Cell, build_nb201, nb201_param_count


def parse_nb201(s: str) -> dict[str, str]:
    """``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` -> ``{"1<-0": op, ...}`` (edge into i from j)."""
    out: dict[str, str] = {}
    for i, node in enumerate(s.strip("|").split("|+|"), start=1):
        for tok in node.split("|"):
            op, j = tok.split("~")
            out[f"{i}<-{j}"] = op
    return out


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


EMPTY_CELL = dict.fromkeys(("1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"), "none")
C, N = 16, 5


@functools.cache
def skeleton_params() -> int:
    with torch.device("meta"):
        return n_params(build_nb201(EMPTY_CELL, (3, 32, 32), 10, C=C, N=N))


def count_built(arch: dict[str, str], full: bool) -> int:
    with torch.device("meta"):
        if full:
            return n_params(build_nb201(arch, (3, 32, 32), 10, C=C, N=N))
        cells = sum(n_params(NB201Cell(arch, c)) for c in (C, 2 * C, 4 * C))
    return skeleton_params() + N * cells


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", default="/work/shared/data/nb201/nb201.csv")
    ap.add_argument("--limit", type=int, default=None, help="check only the first N cells")
    ap.add_argument("--full", action="store_true", help="build each whole network")
    args = ap.parse_args()
    with Path(args.csv).open() as f:
        rows = list(csv.DictReader(f))[: args.limit]
    torch.set_num_threads(1)
    start = time.perf_counter()
    matched = exact = analytic_ok = 0
    worst: list[tuple[float, str, int, float]] = []
    for i, r in enumerate(rows):
        if i and i % 2000 == 0:
            print(f"  ... {i} cells, {time.perf_counter() - start:.0f} s", flush=True)
        arch = parse_nb201(r["arch"])
        n = count_built(arch, args.full)
        analytic_ok += n == nb201_param_count(arch)
        table = float(r["params_m"])
        rel = abs(n / 1e6 - table) / table
        matched += rel <= 0.01
        exact += round(table * 1e6) == n
        if rel > 0.01:
            worst.append((rel, r["arch"], n, table))
    elapsed = time.perf_counter() - start
    total = len(rows)
    print(f"cells checked:                 {total} ({'whole networks' if args.full else 'cells'})")
    print(f"within 1% of params_m:         {matched} ({100 * matched / total:.2f}%)")
    print(f"exactly equal to params_m:     {exact} ({100 * exact / total:.2f}%)")
    print(f"built count == analytic count: {analytic_ok} ({100 * analytic_ok / total:.2f}%)")
    print(f"build + count time:            {elapsed:.1f} s ({1e3 * elapsed / total:.1f} ms/cell)")
    for rel, arch, n, table in sorted(worst, reverse=True)[:5]:
        print(f"  largest miss {100 * rel:5.1f}%: {arch} built {n} table {table * 1e6:.0f}")


if __name__ == "__main__":
    main()
