"""How well each low-fidelity rung of a table ranks the next one and the top one, over every row.

For a successive-halving rung ``k`` that keeps its top ``1/eta`` (``--eta``, the schedulers'
default 3), the columns are: Spearman rho with the next
rung and with the top rung; the recall of the next rung's top ``1/eta`` among rung ``k``'s top
``1/eta``; the same for the top rung's best 1%; rho with the top rung among the table's best 5%
(by the top rung: the cells a model-guided sampler proposes late in a run); and where the table's target cells (top-rung
value within ``--gap`` of the best) rank at every rung (percentiles).

Why the recall: screening at rung ``k`` pays for itself, per unit of cost, when it keeps more of
the next rung's good cells than the extra cost buys directly: recall > ``1/eta + c_k / c_(k+1)``
(2/3 for NB101's geometric 4/12/36/108 epochs with ``eta=3``; a random screen keeps ``1/eta``).

    .venv/bin/python benchmarks/bench_rung_quality.py

``--runs N`` adds what a run itself can see: ASHA with the ``bananas_mf`` sampler on the NB101
subset's four rungs, stopped after ``--hours`` of simulated training (default: a third of what
full-fidelity evolution needs to reach the target, benchmarks/README.md), and each rung's rank
correlation with the 108-epoch results as :func:`metanas.analysis.study_fidelity` estimates it
from the run's own trials, over seeds ``0..N-1``.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import rankdata, spearmanr

from metanas.evaluation.tabular import TableEvaluator, nb101_table, nb201_table


def top_share(x: np.ndarray, share: float) -> np.ndarray:
    """Mask of the ``share`` best rows of ``x``."""
    return x >= np.quantile(x, 1 - share)


def report(name: str, ev: TableEvaluator, gap: float, eta: float) -> None:
    rungs = sorted(ev.fidelities.items())
    budgets = [b for b, _ in rungs]
    cols = [ev.values(obj) for _, (obj, _) in rungs]
    ok = np.all([np.isfinite(c) for c in cols], axis=0)
    cols = [c[ok] for c in cols]
    top = cols[-1]
    print(f"\n{name}: {ok.sum()} rows, rungs {budgets}")
    good, best = top_share(top, 0.05), top_share(top, 0.01)
    print(
        "| rung | rho next | rho top | recall of next's top 1/eta | threshold | recall of top 1% "
        "| rho top, best 5% |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for k in range(len(cols) - 1):
        kept = top_share(cols[k], 1 / eta)
        nxt = top_share(cols[k + 1], 1 / eta)
        print(
            f"| {budgets[k]:g} -> {budgets[k + 1]:g} "
            f"| {spearmanr(cols[k], cols[k + 1])[0]:.2f} | {spearmanr(cols[k], top)[0]:.2f} "
            f"| {(kept & nxt).sum() / nxt.sum():.2f} | {1 / eta + budgets[k] / budgets[k + 1]:.2f} "
            f"| {(kept & best).sum() / best.sum():.2f} "
            f"| {spearmanr(cols[k][good], top[good])[0]:.2f} |"
        )
    target = top >= top.max() - gap
    pct = np.column_stack([rankdata(c) / len(c) for c in cols])[target]
    print(f"target cells (top rung within {gap} of the best): {target.sum()}")
    for k, b in enumerate(budgets):
        below = (pct[:, k] < 1 - 1 / eta).sum() if k < len(budgets) - 1 else 0
        print(
            f"  rung {b:g}: percentiles {np.round(np.sort(pct[:, k]), 3).tolist()}"
            + (f"; {below} outside the top 1/eta" if k < len(budgets) - 1 else "")
        )


def run_estimates(runs: int, hours: float) -> None:
    from metanas.analysis import study_fidelity
    from metanas.benchrun import default_space
    from metanas.study import create_study

    ev = nb101_table()
    space = default_space(ev)
    opts = {"budgets": (4, 12, 36, 108), "sampler": "bananas_mf"}
    print(f"\nwhat an ASHA run sees after {hours:g} simulated hours (NB101, bananas_mf sampler)")
    print("| seed | trials | rung: architectures, rho with 108 epochs [90% interval] |")
    print("| --- | --- | --- |")
    for seed in range(runs):
        study = create_study(space, "asha", ev, seed=seed, strategy_kwargs=opts)
        spent = 0.0
        while spent < hours * 3600:
            study.optimize(len(study.trials) + 1)  # n_trials counts the stored ones
            spent += study.trials[-1].cost
        agr = study_fidelity(study)
        cells = "; ".join(
            f"{b.budget:g}: {b.n}, {b.rho:.2f} [{b.low:.2f}, {b.high:.2f}]" for b in agr.budgets
        )
        print(f"| {seed} | {len(study.trials)} | {cells} |")


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--eta", type=float, default=3.0)
    p.add_argument("--gap", type=float, default=0.002, help="NB101: accuracy as a fraction")
    p.add_argument("--runs", type=int, default=0, help="also this many ASHA runs on NB101")
    p.add_argument("--hours", type=float, default=68.5 / 3)  # evolution, 500 seeds
    args = p.parse_args()
    report("NAS-Bench-101 subset", nb101_table(), args.gap, args.eta)
    for ds in ("cifar10", "cifar100"):
        report(f"NAS-Bench-201 {ds}", nb201_table(ds), args.gap * 100, args.eta)
    if args.runs:
        run_estimates(args.runs, args.hours)


if __name__ == "__main__":
    main()
