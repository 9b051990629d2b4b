"""The benchmark runner's additions for issue 4: strategy options and time-to-target."""

from __future__ import annotations

import math

from metanas.benchrun import default_space, run_strategy, run_to_target
from metanas.evaluation.tabular import nb101_table, nb201_table
from tables import record_evaluations


def test_run_strategy_passes_options_and_label():
    ev = nb201_table("cifar10")
    space = default_space(ev)
    a = run_strategy(ev, space, "ls4", 0, 15, options={"strategy": "local_search", "n_init": 4})
    b = run_strategy(ev, space, "local_search", 0, 15, options={"n_init": 4})
    c = run_strategy(ev, space, "local_search", 0, 15)  # default n_init 8
    assert a.strategy == "ls4" and a.keys == b.keys and len(set(a.keys)) == 15
    assert a.keys != c.keys


def test_run_to_target_counts_only_full_fidelity(monkeypatch):
    evaluated = record_evaluations(monkeypatch)
    ev = nb101_table()
    space = default_space(ev)
    vals = ev.values()
    easy = float(sorted(vals)[len(vals) // 2])  # the median: a few full evaluations suffice
    r = run_to_target(ev, space, "asha", 0, easy, 1e9, {"budgets": (4, 12, 36, 108)})
    assert math.isfinite(r.cost) and r.cost > 0 and r.best_value >= easy
    assert r.n_evaluations == len(evaluated)
    # the run stopped at the first fully trained (108 epochs) result to reach the target ...
    assert evaluated[-1] == (108.0, r.best_value)
    assert all(v < easy for e, v in evaluated[:-1] if e == 108.0)
    # ... and went on past lower-fidelity results that had already reached it
    assert any(v >= easy for e, v in evaluated[:-1] if e < 108.0)
    # unreachable target: runs until the cost cap and reports inf
    r2 = run_to_target(ev, space, "random", 0, 2.0, 2e5)
    assert r2.cost == math.inf and r2.n_evaluations >= 1


def table_rows(text: str) -> dict[str, list[str]]:
    """A script's markdown table rows by their first cell."""
    rows = [line.strip().strip("|").split("|") for line in text.splitlines() if line[:1] == "|"]
    return {cells[0].strip(): [c.strip() for c in cells] for cells in rows}


def test_bench_variants_reports_what_run_bench_measures():
    """The tuning script's table agrees with run_bench run directly on the same seeds."""
    import json
    import statistics
    import subprocess
    import sys
    from pathlib import Path

    from metanas.benchrun import run_bench

    script = Path(__file__).parents[1] / "benchmarks" / "bench_variants.py"
    variants = {"ls": {"n_init": 4}}
    out = subprocess.run(
        [sys.executable, str(script), json.dumps(variants), "--strategy", "local_search",
         "--dataset", "cifar10", "--seeds", "0-2", "--queries", "150", "--at", "20", "--jobs", "1"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    cells = table_rows(out)["ls"]
    ev = nb201_table("cifar10")
    r = run_bench(
        ev, None, ["s"], [0, 1, 2], 150, stop_at_best_after=20,
        options={"s": {"strategy": "local_search", "n_init": 4}},
    )  # fmt: skip
    qs = [run.queries_to(r.best_key) or 10_000 for run in r.runs["s"]]
    tests = [run.best_at(20)[1] for run in r.runs["s"]]
    assert float(cells[1]) == statistics.median(qs)
    assert cells[3] == f"{sum(q <= 20 for q in qs)}/3"
    assert cells[4] == f"{statistics.mean(t for t in tests if t is not None):.3f}"


def test_bench_nb101_reference_over_its_own_seeds(tmp_path):
    """``--ref-seeds``: evolution runs over those seeds and every ratio divides by its median."""
    import statistics
    import subprocess
    import sys
    from pathlib import Path

    from metanas.benchrun import time_to_target

    script = Path(__file__).parents[1] / "benchmarks" / "bench_strategies.py"
    out = subprocess.run(
        [sys.executable, str(script), "nb101", "--seeds", "0-1", "--ref-seeds", "0-4",
         "--strategies", "evolution,random", "--out", str(tmp_path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "2 seeds (evolution: 5)" in out
    rows = table_rows(out)
    assert rows["evolution"][3] == "5/5" and rows["random"][3] == "2/2"
    ev = nb101_table()
    space = default_space(ev)
    target = float(ev.values().max()) - 0.002

    def median(name: str, seeds: range) -> float:
        runs = [time_to_target(ev, space, name, s, target, 5e7) for s in seeds]
        return statistics.median(r.cost for r in runs)

    ratio = median("random", range(2)) / median("evolution", range(5))
    assert rows["random"][2].startswith(f"{ratio:.2f} (")
