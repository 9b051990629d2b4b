"""metanas.analysis.fidelity: how well smaller budgets rank the results at the largest one."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from metanas.analysis import fidelity_agreement, study_fidelity
from metanas.cli import main
from metanas.evaluation.function import FunctionEvaluator
from metanas.space import Choice, IntRange, Space
from metanas.study import create_study, load_study
from metanas.types import UserInputError


def values_of(x, y, budgets=(1.0, 3.0)):
    return {
        f"k{i}": {budgets[0]: float(a), budgets[1]: float(b)} for i, (a, b) in enumerate(zip(x, y))
    }


def test_rho_matches_scipy_and_the_extremes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=30)
    y = x + rng.normal(size=30)
    b = fidelity_agreement(values_of(x, y)).budgets[0]
    assert b.n == 30 and b.rho == pytest.approx(spearmanr(x, y)[0])
    assert b.low < b.rho < b.high
    same = fidelity_agreement(values_of(x, 2 * x)).budgets[0]
    assert same.rho == pytest.approx(1.0) and same.kept == 1.0
    flipped = fidelity_agreement(values_of(x, -x)).budgets[0]
    assert flipped.rho == pytest.approx(-1.0) and flipped.kept == 0.0
    # minimising: the best are the lowest values, the correlation is the same
    low = fidelity_agreement(values_of(x, y), maximize=False).budgets[0]
    assert low.rho == pytest.approx(b.rho)
    assert low.kept == fidelity_agreement(values_of(-x, -y)).budgets[0].kept


def coverage(r: float, n: int, reps: int, seed: int) -> float:
    """Share of 90% intervals over ``n`` bivariate-normal pairs of correlation ``r`` that hold
    Spearman's population value ``6/pi * asin(r/2)``."""
    rng = np.random.default_rng(seed)
    truth = 6 / math.pi * math.asin(r / 2)
    hits = 0
    for _ in range(reps):
        x, y = rng.multivariate_normal([0, 0], [[1, r], [r, 1]], size=n).T
        b = fidelity_agreement(values_of(x, y)).budgets[0]
        hits += b.low <= truth <= b.high
    return hits / reps


def test_interval_covers_the_population_rank_correlation_about_90_percent():
    assert 0.84 <= coverage(0.6, 20, 400, seed=1) <= 0.96


def test_interval_holds_its_coverage_when_the_budgets_nearly_agree():
    # near 1 a constant standard error is too narrow (83% of 90% intervals at r = 0.95)
    assert 0.86 <= coverage(0.95, 15, 1000, seed=3) <= 0.94


def test_an_unrelated_budget_keeps_a_third_of_the_top_third_on_average():
    rng = np.random.default_rng(2)
    kept = [
        fidelity_agreement(values_of(rng.normal(size=30), rng.normal(size=30))).budgets[0].kept
        for _ in range(300)
    ]
    assert abs(np.mean(kept) - 1 / 3) < 0.03
    related = [
        fidelity_agreement(values_of(x, x + 0.3 * rng.normal(size=30))).budgets[0].kept
        for x in rng.normal(size=(100, 30))
    ]
    assert np.mean(related) > 0.7


def test_a_budget_whose_results_all_tie_keeps_the_chance_share_in_any_order():
    """Text networks early in training all predict the majority class: the budget cannot rank
    them, so its kept share is chance (5 of 15), whatever the trials' order, and rho is NaN."""
    y = np.arange(15.0)
    for order in (y, y[::-1]):
        b = fidelity_agreement(values_of(np.full(15, 0.5), order)).budgets[0]
        assert math.isnan(b.rho) and b.kept == pytest.approx(1 / 3)
    # a partial tie at the cut: the tied entries share the places left
    b = fidelity_agreement(values_of(np.array([3.0, 2, 2, 2, 1, 0] * 2), np.arange(12.0)))
    assert 0 < b.budgets[0].kept < 1


def test_budgets_without_enough_shared_architectures_are_left_out():
    values = {"a": {1: 0.1, 2: 0.2, 9: 0.3}, "b": {1: 0.2, 9: 0.1}, "c": {1: 0.3, 9: 0.5}}
    agr = fidelity_agreement(values)
    assert agr.top == 9 and [b.budget for b in agr.budgets] == [1]
    assert math.isnan(agr.budgets[0].low)  # three pairs: a correlation, but no interval
    # a perfect order of a few pairs happens by chance: no interval claims certainty from it
    nine = fidelity_agreement(values_of(range(9), range(9))).budgets[0]
    assert nine.rho == pytest.approx(1.0) and math.isnan(nine.low)
    ten = fidelity_agreement(values_of(range(10), range(10))).budgets[0]
    assert ten.rho == pytest.approx(1.0) and 0.8 < ten.low < 0.97 and ten.high == 1.0
    with pytest.raises(UserInputError, match="two budgets"):
        fidelity_agreement({"a": {1: 0.1}, "b": {1: 0.2}})
    with pytest.raises(UserInputError, match="fewer than 3 architectures"):
        fidelity_agreement({"a": {1: 0.1, 9: 0.2}, "b": {1: 0.2, 9: 0.1}})
    with pytest.raises(UserInputError, match="keep"):
        fidelity_agreement(values, keep=1.5)


def test_a_scheduler_study_pairs_each_architecture_s_rungs():
    from metanas.evaluation.tabular import nb201_table

    table = nb201_table("cifar10")
    study = create_study(
        "nb201", "asha", table, seed=0, strategy_kwargs={"budgets": (12, 200), "eta": 3}
    )
    study.optimize(120)
    agr = study_fidelity(study)
    assert agr.source == "budgets" and agr.top == 200 and agr.unit == "rung"
    (b,) = agr.budgets
    promoted = {t.key for t in study.trials if t.budget is not None and t.budget.epochs == 200}
    assert b.n == len(promoted) >= 10
    low = {t.key: t.value for t in study.trials if t.budget.epochs == 12}
    high = {t.key: t.value for t in study.trials if t.budget.epochs == 200}
    keys = sorted(promoted)
    assert b.rho == pytest.approx(spearmanr([low[k] for k in keys], [high[k] for k in keys])[0])


def test_a_table_search_s_curves_rank_its_12_epoch_values_against_200():
    """A benchmark table's trials report 12 and 200 epochs as "epochs" points (real training
    says "epoch"): both are learning curves."""
    from metanas.evaluation.tabular import nb201_table

    study = create_study("nb201", "random", nb201_table("cifar10"), seed=0)
    study.optimize(60)
    agr = study_fidelity(study)
    assert agr.source == "curves" and agr.unit == "epoch" and agr.top == 200
    (b,) = agr.budgets
    twelve = {t.key: t.curve[0]["val_acc"] for t in study.trials}
    final = {t.key: t.value for t in study.trials}
    keys = sorted(final)
    assert b.n == len(keys)
    assert b.rho == pytest.approx(spearmanr([twelve[k] for k in keys], [final[k] for k in keys])[0])


SPACE = Space([Choice("op", ("a", "b", "c")), IntRange("width", 1, 20)])


def learner(arch, budget, report):
    """Validation accuracy that rises with the steps; early steps rank the final ones poorly."""
    quality = arch["width"] / 20 + {"a": 0.0, "b": 0.3, "c": 0.1}[arch["op"]]
    rng = np.random.default_rng(arch["width"] * 7 + len(arch["op"]))
    acc = 0.0
    for step in range(1, 6):
        acc = quality * step / 5 + rng.normal(scale=0.3 / step)
        report(step, {"val_acc": acc})
    return {"val_acc": acc}


@pytest.fixture
def curve_db(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    path = tmp_path / "c.db"
    ev = FunctionEvaluator(learner, objective="val_acc")
    create_study(SPACE, "random", ev, storage=path, study_name="c").optimize(40)
    return path


def test_learning_curves_give_one_row_per_step(curve_db):
    agr = study_fidelity(load_study(curve_db, "c"))
    assert agr.source == "curves" and agr.top == 5 and agr.unit == "step"  # plain report(step)
    assert [b.budget for b in agr.budgets] == [1, 2, 3, 4]
    assert all(b.n == 40 for b in agr.budgets)
    rhos = [b.rho for b in agr.budgets]
    assert rhos[0] < rhos[-1] and rhos[-1] > 0.8  # later steps rank the final results better


def test_analyze_fidelity_prints_the_table_and_errors_exit_2(curve_db, tmp_path, capsys):
    assert main(["analyze", str(curve_db), "--study", "c", "--fidelity"]) == 0
    out = capsys.readouterr().out
    assert "How well each step ranks the results at 5" in out and "90% interval" in out
    path = tmp_path / "plain.db"
    plain = FunctionEvaluator(lambda arch: arch["width"] / 20)
    create_study(SPACE, "random", plain, storage=path, study_name="p").optimize(12)
    assert main(["analyze", str(path), "--study", "p", "--fidelity"]) == 2
    err = capsys.readouterr().err
    assert "learning curve" in err and "several budgets" in err
    assert "run without --fidelity for this study." in err
