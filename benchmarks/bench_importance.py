"""Decision importance on NAS-Bench-201: estimates from a search's trials against the table's truth.

The truth is exact: with every one of the 15,625 cells in the table, a decision's first-order share
is the variance of the objective's mean per value (each value equally likely, as when sampling the
space uniformly) divided by the objective's variance. The estimates come from ``n`` trials of a
search (random search: an unbiased sample; BANANAS: the trials a model-based search concentrates
on good cells) through :func:`metanas.analysis.decision_importance`, and, on the same trials, from
Optuna's fANOVA evaluator as a peer (its importances are normalised to sum to 1, so only its ranks
are compared). Per data set, strategy and ``n``, over seeds:

- rho: Spearman correlation between estimated and true shares of the six edges;
- top: seeds whose most important edge is the true one;
- best op: edges whose estimated best operation (largest main effect) is the true one;
- |err|: mean absolute error of the shares (metanas only);
- interactions: estimated 1 - sum of shares (truth printed in the header).

    nice .venv/bin/python benchmarks/bench_importance.py --seeds 0-19
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy.stats import spearmanr

from metanas.analysis.importance import decision_importance
from metanas.benchrun import run_bench
from metanas.evaluation.tabular import TableEvaluator, nb201_table
from metanas.space import get_space
from metanas.space.base import Space
from metanas.space.nb201 import nb201_from_string


def true_shares(ev: TableEvaluator, space: Space) -> tuple[dict[str, float], dict[str, str]]:
    """Exact first-order shares and the best value per decision, from the whole table."""
    y = ev.values()
    archs = [ev.arch(i) for i in range(len(ev))]
    shares, best = {}, {}
    for d in space.dims:
        col = np.array([a[d.name] for a in archs])
        means = np.array([y[col == v].mean() for v in d.options])
        shares[d.name] = float(means.var() / y.var())
        best[d.name] = d.options[int(means.argmax())]
    return shares, best


def optuna_ranks(
    space: Space, archs: list[dict], values: list[float], seed: int
) -> dict[str, float]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {d.name: optuna.distributions.CategoricalDistribution(d.options) for d in space.dims}
    study = optuna.create_study(direction="maximize")
    study.add_trials(
        [
            optuna.trial.create_trial(params=dict(a), distributions=dists, value=v)
            for a, v in zip(archs, values)
        ]
    )
    ev = optuna.importance.FanovaImportanceEvaluator(seed=seed)
    return dict(optuna.importance.get_param_importances(study, evaluator=ev))


def measure(dataset: str, strategy: str, n: int, seeds: list[int]) -> dict[str, float]:
    ev = nb201_table(dataset)
    space = get_space("nb201")
    truth, truth_best = true_shares(ev, space)
    names = list(truth)
    top_true = max(names, key=truth.get)
    res = run_bench(ev, None, [strategy], seeds, n)
    rows: dict[str, list[float]] = {
        k: [] for k in ("rho", "top", "best", "err", "inter", "o_rho", "o_top", "s", "o_s")
    }
    for run in res.runs[strategy]:
        pairs = [(nb201_from_string(a), v) for a, v in zip(run.archs, run.values) if v is not None]
        archs, values = [a for a, _ in pairs], [float(v) for _, v in pairs]
        t0 = time.process_time()
        imp = decision_importance(space, archs, values, seed=run.seed)
        rows["s"].append(time.process_time() - t0)
        est = imp.shares()
        rows["rho"].append(spearmanr([est[k] for k in names], [truth[k] for k in names])[0])
        rows["top"].append(float(imp.decisions[0].name == top_true))
        rows["best"].append(statistics.fmean(imp[k].best == truth_best[k] for k in names))
        rows["err"].append(statistics.fmean(abs(est[k] - truth[k]) for k in names))
        rows["inter"].append(imp.interactions)
        t0 = time.process_time()
        opt = optuna_ranks(space, archs, values, run.seed)
        rows["o_s"].append(time.process_time() - t0)
        rows["o_rho"].append(spearmanr([opt[k] for k in names], [truth[k] for k in names])[0])
        rows["o_top"].append(float(max(names, key=opt.get) == top_true))
    return {k: statistics.fmean(v) for k, v in rows.items()} | {
        "truth_inter": 1 - sum(truth.values())
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="0-19", help="first-last, e.g. 0-19")
    ap.add_argument("--datasets", default="cifar10,cifar100")
    ap.add_argument("--strategies", default="random,bananas")
    ap.add_argument("--trials", default="50,100,200")
    args = ap.parse_args()
    lo, hi = (int(x) for x in args.seeds.split("-"))
    seeds = list(range(lo, hi + 1))
    for dataset in args.datasets.split(","):
        ev = nb201_table(dataset)
        truth, best = true_shares(ev, get_space("nb201"))
        print(f"\n{dataset}: true shares", {k: round(v, 3) for k, v in truth.items()})
        print(f"  true interactions {1 - sum(truth.values()):.3f}; best ops {best}")
        print(
            "| strategy | trials | rho | top | best op | abs err | interactions | CPU s "
            "| Optuna fANOVA rho | top | CPU s |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for strategy in args.strategies.split(","):
            for n in (int(x) for x in args.trials.split(",")):
                r = measure(dataset, strategy, n, seeds)
                print(
                    f"| {strategy} | {n} | {r['rho']:.2f} | {r['top']:.2f} | {r['best']:.2f} "
                    f"| {r['err']:.3f} | {r['inter']:.2f} | {r['s']:.2f} | {r['o_rho']:.2f} "
                    f"| {r['o_top']:.2f} | {r['o_s']:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
