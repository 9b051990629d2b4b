"""Zero-cost proxies on NAS-Bench-201: rank correlation with accuracy, with published scores, speed.

Scores a seeded sample of NB201 cells built with metanas' own NB201 network (C=16, N=5, 10 classes,
3x32x32 input): the cifar10 cells of nb201_zero_cost_725.csv plus random others up to ``--n``.
Cheap proxies (params, flops, synflow, and synflow on a reduced C=8 N=1 network) are computed for
every cell; the data-dependent ones (nwot, jacob_cov, snip, grad_norm, fisher) for the first
``--n-data`` cells of the shuffled sample, once more with random-normal data for the first
``--n-compare`` (how much the data matter). Per-cell results stream to ``--out`` (JSON lines), so
``--report`` can summarise a partial run.

    nice .venv/bin/python benchmarks/bench_proxies.py --n 1000 --n-data 1000 --n-compare 100
    # or in two parallel shards (resumable: cells already in --out or its shards are skipped)
    nice .venv/bin/python benchmarks/bench_proxies.py --n 1000 --n-data 1000 --shard 0/2 &
    nice .venv/bin/python benchmarks/bench_proxies.py --n 1000 --n-data 1000 --shard 1/2 &
    .venv/bin/python benchmarks/bench_proxies.py --report
    .venv/bin/python benchmarks/bench_proxies.py --speed --speed-cells 10 --repeats 3
    .venv/bin/python benchmarks/bench_proxies.py --grasp-cells 300 --threads 2   # grasp alone
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

SHARED = Path("/work/shared/data/nb201")
CHEAP = ["params", "flops", "synflow"]
DATA = ["nwot", "jacob_cov", "snip", "grad_norm", "fisher"]
PUBLISHED_NAME = {"jacob_cov": "jacov"}
#: Abdelfattah et al. 2021, Spearman rho vs CIFAR-10 accuracy over all 15,625 cells
PAPER = {
    "synflow": 0.737,
    "jacob_cov": 0.731,
    "snip": 0.596,
    "grad_norm": 0.594,
    "fisher": 0.36,
    "vote": 0.817,
}


def load_sample(n: int, seed: int) -> tuple[list[str], dict[str, dict[str, float]], dict]:
    with open(SHARED / "nb201.csv") as f:
        table = {r["arch"]: r for r in csv.DictReader(f)}
    with open(SHARED / "nb201_zero_cost_725.csv") as f:
        pub = {r["arch_str"]: r for r in csv.DictReader(f) if r["dataset"] == "cifar10"}
    rng = np.random.default_rng(seed)
    cells = list(pub)
    others = [a for a in table if a not in pub]
    extra = max(0, n - len(cells))
    cells += [others[i] for i in rng.choice(len(others), size=extra, replace=False)]
    cells = [cells[i] for i in rng.permutation(len(cells))][:n]
    return cells, pub, table


def run(args: argparse.Namespace) -> None:
    import torch

    from metanas.evaluation.proxies import compute_proxies, make_batch, model_factory
    from metanas.space.nb201 import nb201_from_string

    torch.set_num_threads(args.threads)
    cells, _, _ = load_sample(args.n, args.seed)
    shape = (3, 32, 32)
    fm = make_batch(args.data, args.batch_size, shape, 10, seed=args.seed)
    rnd = make_batch("random", args.batch_size, shape, 10, seed=args.seed)
    k, m = (int(v) for v in args.shard.split("/"))
    out = Path(args.out)
    if m > 1:
        out = out.with_name(f"{out.name}.{k}of{m}")
    done = set()
    if not args.restart:
        done = {r["arch"] for r in read_records(args.out)}
    elif out.exists():
        out.unlink()
    with out.open("a") as f:
        for i, s in enumerate(cells):
            if s in done or i % m != k:
                continue
            arch = nb201_from_string(s)
            rec: dict = {"arch": s, "i": i, "load": os.getloadavg()[0]}
            t: dict[str, float] = {}
            names = CHEAP + (DATA if i < args.n_data else [])
            fac = model_factory("nb201", arch, shape, 10, seed=args.seed)
            rec["scores"] = compute_proxies(fac, fm, names, timings=t)
            rec["times"] = t
            small = model_factory(
                "nb201", arch, shape, 10, seed=args.seed, options={"C": 8, "N": 1}
            )
            t2: dict[str, float] = {}
            rec["synflow_small"] = compute_proxies(small, fm, ["synflow"], timings=t2)["synflow"]
            rec["synflow_small_time"] = t2["synflow"] + t2["build"]
            if i < args.n_compare:
                rec["random_data"] = compute_proxies(fac, rnd, DATA)
            f.write(json.dumps(rec) + "\n")
            f.flush()


def read_records(out: str) -> list[dict]:
    """Records of ``out`` and of its shards (``out.KofM``), one per cell, in sample order."""
    p = Path(out)
    recs: dict[str, dict] = {}
    for f in [p, *sorted(p.parent.glob(p.name + ".*of*"))]:
        if f.exists():
            for line in f.read_text().splitlines():
                if line.strip():
                    r = json.loads(line)
                    recs.setdefault(r["arch"], r)
    return sorted(recs.values(), key=lambda r: r["i"])


def _num(text: str) -> float:
    return float(text) if text.strip() else float("nan")


def _rho(a, b) -> float:
    """Spearman rho; undefined scores rank last, cells without a target are left out."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    a = np.where(np.isnan(a), -np.inf, a)
    keep = ~np.isnan(b)
    return float(spearmanr(a[keep], b[keep]).statistic)


def _partial_rank(x, y, z) -> float:
    """Spearman partial correlation of x and y given z."""
    from scipy.stats import rankdata

    keep = ~np.isnan(np.asarray(y, float))
    r = [rankdata(np.where(np.isnan(np.asarray(v, float)), -np.inf, v)[keep]) for v in (x, y, z)]
    c = np.corrcoef(r)
    den = np.sqrt((1 - c[0, 2] ** 2) * (1 - c[1, 2] ** 2))
    return float((c[0, 1] - c[0, 2] * c[1, 2]) / den) if den > 1e-9 else float("nan")


def report(args: argparse.Namespace) -> None:
    from metanas.evaluation.proxies import LearnedCombination, rank_vote

    recs = read_records(args.out)
    _, pub, table = load_sample(args.n, args.seed)
    val = np.array([_num(table[r["arch"]]["c10_valid_acc_200"]) for r in recs])
    test = np.array([_num(table[r["arch"]]["c10_test_acc_200"]) for r in recs])
    full = {n: np.array([r["scores"][n] for r in recs]) for n in CHEAP}
    full["synflow_small"] = np.array([r["synflow_small"] for r in recs])
    dmask = np.array([all(n in r["scores"] for n in DATA) for r in recs])
    drec = [r for r, m in zip(recs, dmask) if m]
    dsc = {n: np.array([r["scores"][n] for r in drec]) for n in CHEAP + DATA}
    dsc["vote"] = rank_vote(dsc)
    print(
        f"cells: {len(recs)} (cheap proxies), {len(drec)} (data-dependent, {args.data}, "
        f"batch {args.batch_size}); mean 1-min load {np.mean([r['load'] for r in recs]):.1f} "
        f"on {os.cpu_count()} cores\n"
    )
    print(
        "| proxy | cells | rho val (paper) | rho test | partial rho test given params "
        "| rho vs published (n) |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for n in [*CHEAP, "synflow_small", *DATA, "vote"]:
        src, v, te, par = (
            (full, val, test, full["params"])
            if n in full
            else (dsc, val[dmask], test[dmask], dsc["params"])
        )
        x = src[n]
        paper = f" ({PAPER[n]})" if n in PAPER else ""
        pn = PUBLISHED_NAME.get(n, n)
        arch_list = [
            r["arch"] for r, m in zip(recs, dmask if src is dsc else np.ones(len(recs), bool)) if m
        ]
        both = [(xv, _num(pub[a][pn])) for xv, a in zip(x, arch_list) if a in pub and pn in pub[a]]
        both = [(xv, pv) for xv, pv in both if pv == pv]
        pubr = f"{_rho(*zip(*both)):.3f} ({len(both)})" if len(both) > 10 else "-"
        partial = f"{_partial_rank(x, te, par):.3f}" if n != "params" else "-"
        print(
            f"| {n} | {len(x)} | {_rho(x, v):.3f}{paper} | {_rho(x, te):.3f} | {partial} | {pubr} |"
        )
    # data choice
    cmp_ = [r for r in recs if "random_data" in r]
    if cmp_:
        te = np.array([_num(table[r["arch"]]["c10_test_acc_200"]) for r in cmp_])
        print(
            f"\ndata choice ({len(cmp_)} cells): rho vs test with {args.data} / random-normal data, "
            "and rank agreement of the two"
        )
        for n in DATA:
            a = [r["scores"][n] for r in cmp_]
            b = [r["random_data"][n] for r in cmp_]
            print(f"  {n}: {_rho(a, te):.3f} / {_rho(b, te):.3f}; agreement {_rho(a, b):.3f}")
    # learned combinations, held-out
    print("\nlearned combination, held-out Spearman rho vs c10_test_acc_200 (5-fold CV):")
    for label, sc, y, names in [
        ("cheap (params, flops, synflow)", full, test, ["params", "flops", "synflow"]),
        ("all proxies", dsc, test[dmask], CHEAP + DATA),
    ]:
        ok = ~np.isnan(y)
        sc, y = {n: np.asarray(sc[n])[ok] for n in names}, y[ok]
        for model in ("ridge", "gbm"):
            rng = np.random.default_rng(0)
            folds = rng.permutation(len(y)) % 5
            pred = np.zeros(len(y))
            for k in range(5):
                tr, ho = folds != k, folds == k
                comb = LearnedCombination(model, names, seed=0).fit(
                    {n: sc[n][tr] for n in names}, y[tr]
                )
                pred[ho] = comb.predict({n: sc[n][ho] for n in names})
            print(
                f"  {label}, {model}: {_rho(pred, y):.3f} ({len(y)} cells, train {int(len(y) * 0.8)})"
            )
    # speed
    print("\nseconds per cell (median / mean), C=16 N=5, batch", args.batch_size, ":")
    # shared passes: timings hold each member's even share of its group's pass
    groups = {
        "ce_grad pass (snip + grad_norm + fisher)": ("snip", 3),
        "jacobian pass (nwot + jacob_cov)": ("nwot", 2),
    }
    for k in ["build", "params", "flops", "synflow", *groups]:
        name, mult = groups.get(k, (k, 1))
        xs = [r["times"][name] * mult for r in recs if name in r["times"]]
        if xs:
            print(f"  {k}: {np.median(xs):.3f} / {np.mean(xs):.3f} ({len(xs)} cells)")
    xs = [r["synflow_small_time"] for r in recs]
    print(f"  synflow on C=8 N=1 incl. build: {np.median(xs):.3f} / {np.mean(xs):.3f}")


def speed(args: argparse.Namespace) -> None:
    """Best-of-``--repeats`` seconds per cell for each proxy alone and for the shared passes, on
    ``--speed-cells`` sampled cells (C=16, N=5, batch ``--batch-size``); median over cells."""
    import torch

    from metanas.evaluation.proxies import compute_proxies, make_batch, model_factory
    from metanas.space.nb201 import nb201_from_string

    torch.set_num_threads(args.threads)
    cells, _, _ = load_sample(args.n, args.seed)
    cells = cells[: args.speed_cells]
    shape = (3, 32, 32)
    b = make_batch(args.data, args.batch_size, shape, 10, seed=args.seed)
    # grad_norm and fisher alone cost what snip alone does (the same pass)
    jobs = {n: [n] for n in ["build", *CHEAP, "nwot", "jacob_cov", "snip", "grasp"]}
    jobs["ce_grad pass (snip + grad_norm + fisher)"] = ["snip", "grad_norm", "fisher"]
    jobs["jacobian pass (nwot + jacob_cov)"] = ["nwot", "jacob_cov"]
    best: dict[str, list[float]] = {k: [] for k in jobs}
    cpu: dict[str, list[float]] = {k: [] for k in jobs}
    loads = [os.getloadavg()[0]]
    for s in cells:
        fac = model_factory("nb201", nb201_from_string(s), shape, 10, seed=args.seed)
        for label, names in jobs.items():
            ts, cs = [], []
            for _ in range(args.repeats):
                t: dict[str, float] = {}
                c0 = time.process_time()
                compute_proxies(fac, b, ["params"] if label == "build" else names, timings=t)
                cs.append(time.process_time() - c0)
                ts.append(t["build"] if label == "build" else sum(t[n] for n in names))
            best[label].append(min(ts))
            cpu[label].append(min(cs))
        loads.append(os.getloadavg()[0])
    print(
        f"speed: {len(cells)} cells, best of {args.repeats}, C=16 N=5, batch {args.batch_size} "
        f"({args.data}), {args.threads} thread(s); 1-min load {min(loads):.1f}-{max(loads):.1f} "
        f"on {os.cpu_count()} cores; torch {torch.__version__}"
    )
    print(
        "| proxy / pass | median wall s per cell | max wall s | median CPU s per call "
        "(incl. build) |"
    )
    print("| --- | --- | --- | --- |")
    for label, xs in best.items():
        print(f"| {label} | {np.median(xs):.3f} | {np.max(xs):.3f} | {np.median(cpu[label]):.3f} |")


def grasp_rank(args: argparse.Namespace) -> None:
    """grasp, which the main run leaves out (a partial double backward: ~3x snip's time), on the first
    ``--grasp-cells`` published cells of the sample: Spearman rho against validation and test
    accuracy, partial rho given params, and rank agreement with the published grasp scores.
    Resumable: cells already in ``benchmarks/out/proxies_nb201_grasp.jsonl`` are kept."""
    import torch

    from metanas.evaluation.proxies import compute_proxies, make_batch, model_factory
    from metanas.space.nb201 import nb201_from_string

    torch.set_num_threads(args.threads)
    cells, pub, table = load_sample(args.n, args.seed)
    cells = [c for c in cells if c in pub][: args.grasp_cells]
    shape = (3, 32, 32)
    batch = make_batch(args.data, args.batch_size, shape, 10, seed=args.seed)
    out = Path(args.out).with_name("proxies_nb201_grasp.jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    recs = {}
    if out.exists():
        recs = {r["arch"]: r for r in map(json.loads, out.read_text().splitlines())}
    with out.open("a") as f:
        for s in cells:
            if s not in recs:
                fac = model_factory("nb201", nb201_from_string(s), shape, 10, seed=args.seed)
                t: dict[str, float] = {}
                scores = compute_proxies(fac, batch, ["params", "grasp"], timings=t)
                recs[s] = {"arch": s, "scores": scores, "seconds": t["grasp"]}
                f.write(json.dumps(recs[s]) + "\n")
                f.flush()
    rows = [recs[s] for s in cells]
    g = [r["scores"]["grasp"] for r in rows]
    par = [r["scores"]["params"] for r in rows]
    val = [_num(table[r["arch"]]["c10_valid_acc_200"]) for r in rows]
    test = [_num(table[r["arch"]]["c10_test_acc_200"]) for r in rows]
    both = [(x, _num(pub[r["arch"]]["grasp"]), v) for x, r, v in zip(g, rows, val)]
    both = [(x, p, v) for x, p, v in both if p == p]
    ours, theirs, their_val = zip(*both)
    print(
        f"grasp on {len(rows)} published cifar10 cells ({args.data}, batch {args.batch_size}): "
        f"rho val {_rho(g, val):.3f}, rho test {_rho(g, test):.3f}, partial rho test given params "
        f"{_partial_rank(g, test, par):.3f}, rho vs published {_rho(ours, theirs):.3f} "
        f"({len(both)}); the published scores' rho val {_rho(theirs, their_val):.3f}; "
        f"median {np.median([r['seconds'] for r in rows]):.3f} s per cell"
    )


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--n-data", type=int, default=300)
    p.add_argument("--n-compare", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--data", default="fashion_mnist")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/out/proxies_nb201.jsonl")
    p.add_argument("--report", action="store_true", help="summarise the results in --out")
    p.add_argument("--speed", action="store_true", help="time each proxy (best of --repeats)")
    p.add_argument("--speed-cells", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--grasp-cells", type=int, default=0, help="score grasp alone on this many published cells"
    )
    p.add_argument("--restart", action="store_true", help="discard earlier results in --out")
    p.add_argument(
        "--shard", default="0/1", help="K/M: score only cells i with i %% M == K (parallel runs)"
    )
    args = p.parse_args()
    if args.grasp_cells:
        grasp_rank(args)
    elif args.speed:
        speed(args)
    elif args.report:
        report(args)
    else:
        t0 = time.time()
        run(args)
        print(f"scored in {time.time() - t0:.0f} s")
        report(args)


if __name__ == "__main__":
    main()
