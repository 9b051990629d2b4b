"""metanas.analysis: fANOVA decision importance and Pareto fronts, as functions and as a command."""

from __future__ import annotations

import itertools
import statistics

import numpy as np
import pytest
from scipy.stats import spearmanr

from metanas.analysis import decision_importance, pareto_front, study_importance, study_pareto
from metanas.cli import main
from metanas.evaluation.function import FunctionEvaluator
from metanas.space import Choice, Condition, FloatRange, IntRange, Space
from metanas.study import create_study
from metanas.types import UserInputError

SPACE = Space(
    [Choice("op", ("conv", "pool")), Choice("norm", ("bn", "none")), Choice("act", ("a", "b", "c"))]
)


def additive(arch):
    """Variance 9/4 from ``op``, 1/4 from ``norm``, none from ``act``: shares 0.9, 0.1, 0."""
    return 3.0 * (arch["op"] == "conv") + 1.0 * (arch["norm"] == "bn")


def sample(space, n, seed, fn):
    archs = [space.sample(seed * 1000 + i) for i in range(n)]
    return archs, [fn(a) for a in archs]


def test_shares_recover_a_known_additive_function_over_seeds():
    errors = []
    for seed in range(5):
        archs, values = sample(SPACE, 60, seed, additive)
        imp = decision_importance(SPACE, archs, values, seed=seed)
        assert [d.name for d in imp.decisions] == ["op", "norm", "act"]
        assert imp["op"].best == "conv" and imp["norm"].best == "bn"
        assert imp["op"].worst == "pool"
        errors += [abs(imp["op"].share - 0.9), abs(imp["norm"].share - 0.1), imp["act"].share]
        assert imp.interactions < 0.1
        assert imp["op"].effect("conv") - imp["op"].effect("pool") == pytest.approx(3.0, abs=0.3)
    assert statistics.fmean(errors) < 0.05


def test_a_decision_that_explains_everything_has_a_share_of_at_most_one():
    space = Space(
        [
            FloatRange("x", 0, 1),
            Choice("c", ("a", "b")),
            Choice("d", (1, 2), when=Condition("c", "==", "a")),
        ]
    )
    shares = []
    for seed in range(5):
        archs, values = sample(space, 15, seed, lambda a: a["x"])
        shares.append(decision_importance(space, archs, values, seed=seed)["x"].share)
    assert max(shares) <= 1.0 and min(shares) > 0.8  # some came out above 1 before


def test_a_pure_interaction_has_no_main_effect():
    def xor(arch):
        return float((arch["op"] == "conv") != (arch["norm"] == "bn"))

    archs = [
        dict(zip(("op", "norm", "act"), c))
        for c in itertools.product(*(d.options for d in SPACE.dims))
    ]
    imp = decision_importance(SPACE, archs * 3, [xor(a) for a in archs * 3], seed=0)
    assert max(d.share for d in imp.decisions) < 0.1
    assert imp.interactions > 0.8


def test_minimising_flips_best_and_worst_but_not_shares():
    archs, values = sample(SPACE, 40, 0, additive)
    up = decision_importance(SPACE, archs, values, seed=0)
    down = decision_importance(SPACE, archs, values, seed=0, maximize=False)
    assert down["op"].best == "pool" and up["op"].best == "conv"
    assert down.shares() == up.shares()


def test_numeric_and_conditional_decisions():
    space = Space(
        [
            IntRange("depth", 1, 3),
            Choice("w3", (16, 64), when=Condition("depth", ">=", 3)),
            FloatRange("lr", 1e-4, 1e-1, log=True),
        ]
    )

    def fn(arch):
        return arch["depth"] + 2.0 * (arch.get("w3") == 64)

    archs, values = sample(space, 120, 1, fn)
    imp = decision_importance(space, archs, values, seed=0)
    assert imp.decisions[0].name == "depth"
    assert imp["depth"].best == 3 and imp["w3"].best == 64
    assert imp["lr"].share < 0.05 and len(imp["lr"].values) == 10
    assert sum(imp["lr"].counts) == len(archs)
    assert sum(imp["w3"].counts) == sum(1 for a in archs if "w3" in a)


def test_nb201_shares_rank_like_the_whole_table():
    """200 random cells against the exact shares of all 15,625 (mean rho 0.69 on seeds 0-9)."""
    from metanas.evaluation.tabular import nb201_table
    from metanas.space import get_space

    ev, space = nb201_table("cifar10"), get_space("nb201")
    y = ev.values()
    archs = [ev.arch(i) for i in range(len(ev))]
    truth = []
    for d in space.dims:
        col = np.array([a[d.name] for a in archs])
        truth.append(np.var([y[col == v].mean() for v in d.options]) / y.var())
    rhos, tops, convs = [], 0, 0
    for seed in range(10):
        idx = np.random.default_rng(seed).choice(len(ev), 200, replace=False)
        imp = decision_importance(space, [archs[i] for i in idx], y[idx], seed=seed)
        rhos.append(spearmanr([imp[d.name].share for d in space.dims], truth)[0])
        tops += imp.decisions[0].name == space.dims[int(np.argmax(truth))].name
        convs += sum(imp[d.name].best == "nor_conv_3x3" for d in space.dims)  # best on every edge
    assert statistics.fmean(rhos) > 0.5
    assert tops >= 8
    assert convs >= 40  # of 60


def test_too_few_trials_is_one_clear_error():
    archs, values = sample(SPACE, 5, 0, additive)
    with pytest.raises(UserInputError, match="at least 10 finished trials"):
        decision_importance(SPACE, archs, values)
    with pytest.raises(UserInputError, match="one each"):
        decision_importance(SPACE, archs, values[:3])
    # a multi-fidelity study: plenty of results, but too few at the largest budget
    from metanas.evaluation.tabular import nb101_table

    ev = nb101_table()
    st = create_study(ev.restrict(), "bohb", ev, seed=1)
    st.optimize(60)
    with pytest.raises(UserInputError, match=r"largest budget \(108 epochs\), got 2 \(of 60"):
        study_importance(st)


def brute_front(p, maximize):
    q = np.asarray(p) * np.where(maximize, 1, -1)
    return {
        i
        for i in range(len(q))
        if not any((q[j] >= q[i]).all() and (q[j] > q[i]).any() for j in range(len(q)))
    }


@pytest.mark.parametrize("seed", range(5))
def test_pareto_front_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    p = rng.integers(0, 6, size=(40, 3)).astype(float)  # ties and duplicates on purpose
    maximize = [True, False, True]
    front = pareto_front(p, maximize)
    assert set(front.tolist()) == brute_front(p, maximize)
    assert list(p[front, 0]) == sorted(p[front, 0], reverse=True)


def test_pareto_front_rejects_a_wrong_shape_and_skips_nan():
    with pytest.raises(UserInputError, match="one column per objective"):
        pareto_front([[1.0, 2.0]], [True])
    assert pareto_front([[1.0, np.nan], [0.5, 1.0]], [True, False]).tolist() == [1]


STUDY_SPACE = Space([*SPACE.dims, IntRange("width", 8, 64)])


def scored(arch):
    return {"value": additive(arch), "params": float(10 * (arch["op"] == "conv") + arch["width"])}


@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    path = tmp_path / "a.db"
    study = create_study(
        STUDY_SPACE, "random", FunctionEvaluator(scored), storage=path, study_name="s"
    )
    study.optimize(30)
    return path


def test_study_functions_read_a_stored_study(db):
    from metanas.study import load_study

    st = load_study(db, "s")
    imp = study_importance(st)
    assert imp.decisions[0].name == "op" and imp.n_trials == len(st.trials)
    front = study_pareto(st, "params")
    values = [(t.value, t.metrics["params"]) for t in st.trials]
    assert {(t.value, t.metrics["params"]) for t in front} == {
        values[i] for i in brute_front(values, [True, False])
    }


def test_analyze_command_prints_shares_and_front(db, capsys):
    assert main(["analyze", str(db), "--study", "s", "--pareto", "params"]) == 0
    out = capsys.readouterr().out
    assert "what mattered (30 trials" in out and "conv" in out
    assert out.index("op") < out.index("norm") < out.index("act")
    assert "Pareto front: value vs params" in out


def test_analyze_command_bad_input_exits_2(db, capsys):
    assert main(["analyze", str(db), "--study", "nope"]) == 2
    assert "no study 'nope'" in capsys.readouterr().err
    assert main(["analyze", str(db), "--study", "s", "--pareto", "latency"]) == 2
    err = capsys.readouterr().err
    assert "no complete trial records metric 'latency'" in err and "params" in err


def test_table_extra_columns_give_an_accuracy_latency_front():
    from metanas.evaluation.tabular import nb201_table

    ev = nb201_table("cifar10", extra=("params_m", "lat_pixel3_ms"))
    study = create_study("nb201", "random", ev, seed=3)
    study.optimize(60)
    front = study_pareto(study, "lat_pixel3_ms")
    pts = [(t.value, t.metrics["lat_pixel3_ms"]) for t in study.trials]
    assert {(t.value, t.metrics["lat_pixel3_ms"]) for t in front} == {
        pts[i] for i in brute_front(pts, [True, False])
    }
    assert front[0].value == study.best_trial.value  # the most accurate is always on the front
    assert len(front) >= 2
    # a multi-fidelity search: only its 200-epoch results may be on the front
    asha = create_study("nb201", "asha", nb201_table("cifar10", extra=("lat_pixel3_ms",)), seed=1)
    asha.optimize(40)
    full = [t for t in asha.trials if t.epochs == 200]
    assert 0 < len(full) < len(asha.trials)
    pts = [(t.value, t.metrics["lat_pixel3_ms"]) for t in full]
    assert [t.number for t in study_pareto(asha, "lat_pixel3_ms")] == [
        full[i].number for i in pareto_front(pts, [True, False])
    ]
    with pytest.raises(UserInputError, match="no column 'latency'"):
        nb201_table("cifar10", extra=("latency",))
    with pytest.raises(UserInputError, match="not numeric"):
        nb201_table("cifar10", extra=("arch",))


def test_a_constant_objective_has_no_importance_and_no_interactions():
    archs, _ = sample(SPACE, 20, 0, additive)
    imp = decision_importance(SPACE, archs, [1.0] * len(archs))
    assert all(d.share == 0.0 for d in imp.decisions) and imp.interactions == 0.0


def test_a_constrained_space_nb101():
    from metanas.space import get_space

    space = get_space("nb101")
    archs = [space.sample(i) for i in range(40)]
    values = [float(space.to_json(a).count("conv3x3")) for a in archs]
    imp = decision_importance(space, archs, values, n_reference=64)
    assert imp.n_trials == 40 and imp.decisions
    assert all(0.0 <= d.share <= 1.0 for d in imp.decisions)


def test_importance_samples_the_spaces_own_distribution_not_a_search_screen():
    """A proxy-screened study's space scores every sample with the proxy; the reference
    samples of the importance must not (cost, and shares measured under the proxy's choices)."""
    from metanas.strategies.proxy_prescreen import ScreenedSpace

    calls = []
    screened = ScreenedSpace(SPACE, lambda a: calls.append(a) or 0.0, n_candidates=5)
    archs, values = sample(SPACE, 60, 2, additive)
    plain = decision_importance(SPACE, archs, values, seed=0)
    got = decision_importance(screened, archs, values, seed=0)
    assert calls == []
    assert [(d.name, d.share) for d in got.decisions] == [
        (d.name, d.share) for d in plain.decisions
    ]


def test_analysis_functions_refuse_what_is_not_a_study_or_a_count():
    from metanas.analysis import study_fidelity, write_trials_csv
    from metanas.analysis.plots import plot_history

    for fn in (study_importance, study_fidelity, plot_history):
        with pytest.raises(UserInputError, match=r"needs a Study \(e.g. load_study.*got 'fn.db'"):
            fn("fn.db")
    with pytest.raises(UserInputError, match="write_trials_csv needs a Study"):
        write_trials_csv(3, "x.csv")
    archs, values = sample(SPACE, 20, 0, additive)
    for kw, words in (
        ({"n_trees": 0}, "n_trees must be a positive integer"),
        ({"n_reference": 0}, "n_reference must be a positive integer"),
        ({"seed": -1}, "seed must be an integer >= 0"),
    ):
        with pytest.raises(UserInputError, match=words):
            decision_importance(SPACE, archs, values, **kw)
