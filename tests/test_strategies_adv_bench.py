"""The benchmark runner's additions for issue 4: strategy options and time-to-target."""

from __future__ import annotations

import math

from metanas.benchrun import default_space, run_strategy, run_to_target
from metanas.evaluation.tabular import nb101_table, nb201_table


def test_run_strategy_passes_options_and_label():
    ev = nb201_table("cifar10")
    space = default_space(ev)
    a = run_strategy(ev, space, "ls4", 0, 15, options={"strategy": "local_search", "n_init": 4})
    b = run_strategy(ev, space, "local_search", 0, 15, options={"n_init": 4})
    c = run_strategy(ev, space, "local_search", 0, 15)  # default n_init 8
    assert a.strategy == "ls4" and a.keys == b.keys and len(set(a.keys)) == 15
    assert a.keys != c.keys


def test_run_to_target_counts_only_full_fidelity():
    ev = nb101_table()
    space = default_space(ev)
    vals = ev.values()
    easy = float(sorted(vals)[len(vals) // 2])  # the median: a few full evaluations suffice
    r = run_to_target(ev, space, "asha", 0, easy, 1e9, {"budgets": (4, 12, 36, 108)})
    assert math.isfinite(r.cost) and r.cost > 0 and r.best_value >= easy
    # unreachable target: runs until the cost cap and reports inf
    r2 = run_to_target(ev, space, "random", 0, 2.0, 2e5)
    assert r2.cost == math.inf and r2.n_evaluations >= 1
