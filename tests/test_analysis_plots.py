"""metanas.analysis.plots: a study's figures hold its trials' numbers, and the command writes them."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from metanas.analysis import fidelity_agreement, study_importance, study_pareto
from metanas.analysis.plots import (
    plot_effects,
    plot_fidelity,
    plot_history,
    plot_importance,
    plot_pareto,
    save_study_plots,
)
from metanas.cli import main
from metanas.evaluation.function import FunctionEvaluator
from metanas.space import Choice, IntRange, Space
from metanas.study import create_study, load_study
from metanas.types import TrialState, UserInputError

SPACE = Space(
    [
        Choice("op", ("conv", "pool")),
        Choice("norm", ("bn", "none")),
        Choice("act", ("a", "b", "c")),
        IntRange("width", 8, 64),
    ]
)


def scored(arch):
    if arch["act"] == "c" and arch["width"] > 56:  # some trials fail
        return float("nan")
    value = 3.0 * (arch["op"] == "conv") + 1.0 * (arch["norm"] == "bn") + arch["width"] / 100
    return {"value": value, "params": float(10 * (arch["op"] == "conv") + arch["width"])}


@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    path = tmp_path / "a.db"
    study = create_study(SPACE, "random", FunctionEvaluator(scored), storage=path, study_name="s")
    study.optimize(40)
    return path


def finished(study):
    return [t for t in study.trials if t.state == TrialState.COMPLETE and t.value is not None]


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
def test_history_draws_every_value_and_the_best_so_far(tmp_path, direction):
    study = create_study(
        SPACE, "random", FunctionEvaluator(scored), direction=direction, seed=1, storage=None
    )
    study.optimize(40)
    done = finished(study)
    failed = [t.number for t in study.trials if t.state == TrialState.FAILED]
    assert failed, "the objective should fail for some of 40 random trials"
    ax = plot_history(study).axes[0]
    points = ax.collections[0].get_offsets()
    assert [tuple(p) for p in points] == [(t.number, t.value) for t in done]
    best, crosses = ax.lines[0], ax.lines[1]
    running = np.maximum.accumulate if direction == "maximize" else np.minimum.accumulate
    expected = running([t.value for t in done])
    assert list(best.get_xdata()) == [t.number for t in done] + [study.trials[-1].number]
    assert np.allclose(best.get_ydata(), [*expected, expected[-1]])
    assert list(crosses.get_xdata()) == failed
    assert f"failed ({len(failed)})" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_history_colours_budgets_and_tracks_the_best_at_the_largest():
    from metanas.evaluation.tabular import nb201_table

    study = create_study("nb201", "asha", nb201_table("cifar10"), seed=0)
    study.optimize(60)
    done = finished(study)
    budgets = sorted({t.budget.epochs for t in done})
    assert len(budgets) > 1
    ax = plot_history(study).axes[0]
    assert len(ax.collections) == len(budgets)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[: len(budgets)] == [f"{b:g} epoch{'s' if b != 1 else ''}" for b in budgets]
    top = [t.value for t in done if t.budget.epochs == budgets[-1]]
    assert ax.lines[0].get_ydata()[-1] == pytest.approx(max(top))


def test_a_multi_fidelity_study_with_few_top_budget_trials_gets_its_history(tmp_path):
    from metanas.analysis._trials import at_top_budget
    from metanas.analysis.importance import MIN_TRIALS
    from metanas.evaluation.tabular import nb201_table

    # promotions of the top ninth only: 8 of 60 trials reach 200 epochs
    study = create_study(
        "nb201", "asha", nb201_table("cifar10"), seed=0, strategy_kwargs={"eta": 9}
    )
    study.optimize(60)
    assert len(finished(study)) >= MIN_TRIALS > len(at_top_budget(study.trials))
    paths = save_study_plots(study, tmp_path)
    assert [p.name for p in paths] == ["history.png", "fidelity.png"]
    assert len(plot_fidelity(study).axes) == 2  # given the study itself


def test_fidelity_shows_each_budgets_correlation_and_what_it_kept():
    rng = np.random.default_rng(0)
    final = rng.random(15)
    values = {f"a{i}": {3: f + 0.3 * rng.random(), 9: f} for i, f in enumerate(final)}
    for i in range(5):  # few architectures at budget 1: no interval there
        values[f"a{i}"][1] = rng.random()
    agr = fidelity_agreement(values)
    assert [b.budget for b in agr.budgets] == [1, 3] and not np.isfinite(agr.budgets[0].low)
    rho_ax, kept_ax = plot_fidelity(agr).axes
    points = rho_ax.lines[0]
    assert list(points.get_ydata()) == pytest.approx([b.rho for b in agr.budgets], nan_ok=True)
    ticks = [t.get_text() for t in rho_ax.get_xticklabels()]
    assert ticks == [f"{b.budget:g}" for b in agr.budgets]
    assert [bar.get_height() for bar in kept_ax.patches] == pytest.approx(
        [b.kept for b in agr.budgets]
    )
    # the interval's lower ends (at rho itself where too few architectures give none)
    lows = [b.low if np.isfinite(b.low) else b.rho for b in agr.budgets]
    assert list(rho_ax.lines[1].get_ydata()) == pytest.approx(lows)
    assert [t.get_text() for t in rho_ax.texts] == ["n=5", "n=15"]


def test_importance_and_effects_show_the_forests_numbers(db):
    study = load_study(db, "s")
    imp = study_importance(study)
    ax = plot_importance(imp).axes[0]
    widths = [bar.get_width() for bar in ax.patches]
    assert widths == pytest.approx([d.share for d in imp.decisions] + [imp.interactions])
    at = {t.get_text(): y for t, y in zip(ax.get_yticklabels(), ax.get_yticks())}
    assert max(at, key=at.__getitem__) == imp.decisions[0].name  # the most important on top
    fig = plot_effects(imp, top=2)
    assert len(fig.axes) == 2
    for ax, d in zip(fig.axes, imp.decisions):
        assert [bar.get_height() for bar in ax.patches] == pytest.approx(list(d.effects))
        assert ax.get_title().startswith(d.name)
    assert imp.decisions[0].name == "op"
    # given the study, the plots analyse it themselves (the same forest, the same seed)
    direct = plot_importance(study).axes[0]
    assert [bar.get_width() for bar in direct.patches] == pytest.approx(widths)
    assert len(plot_effects(study, top=2).axes) == 2


def test_pareto_marks_the_front(db):
    study = load_study(db, "s")
    ax = plot_pareto(study, "params").axes[0]
    front = study_pareto(study, "params")
    marked = {tuple(p) for p in ax.collections[1].get_offsets()}
    assert marked == {(t.metrics["params"], t.value) for t in front}
    assert len(ax.collections[0].get_offsets()) == len(finished(study))


def test_save_writes_each_figure_in_the_format_asked(db, tmp_path):
    study = load_study(db, "s")
    paths = save_study_plots(study, tmp_path / "figs", pareto="params")
    assert [p.name for p in paths] == ["history.png", "pareto.png", "importance.png", "effects.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)
    svg = save_study_plots(study, tmp_path / "svg", fmt="svg")
    assert [p.suffix for p in svg] == [".svg"] * 3 and b"<svg" in svg[0].read_bytes()[:500]
    with pytest.raises(UserInputError, match="unknown plot format 'jpg'"):
        save_study_plots(study, tmp_path / "x", fmt="jpg")


def test_a_short_study_gets_its_history_only(db, tmp_path):
    # the folder held another study's figures: they must not pass for this one's
    figs = tmp_path / "figs"
    save_study_plots(load_study(db, "s"), figs, pareto="params")
    (figs / "notes.txt").write_text("mine")
    study = create_study(SPACE, "random", FunctionEvaluator(scored), storage=None)
    study.optimize(4)
    paths = save_study_plots(study, figs)
    assert [p.name for p in paths] == ["history.png"]
    assert sorted(p.name for p in figs.iterdir()) == ["history.png", "notes.txt"]


def test_analyze_plots_command(db, tmp_path, capsys):
    out_dir = tmp_path / "figs"
    args = ["analyze", str(db), "--study", "s", "--pareto", "params", "--plots", str(out_dir)]
    assert main(args) == 0
    assert "figures written" in capsys.readouterr().out
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "effects.png",
        "history.png",
        "importance.png",
        "pareto.png",
    ]


def test_analyze_a_short_study_draws_what_it_can(tmp_path, capsys):
    path = tmp_path / "short.db"
    create_study(
        SPACE, "random", FunctionEvaluator(scored), seed=2, storage=path, study_name="s"
    ).optimize(5)
    # importance alone has too few trials: the one sentence, exit 2
    assert main(["analyze", str(path), "--study", "s"]) == 2
    assert "importance needs at least 10 finished trials" in capsys.readouterr().err
    # with figures asked for, that is a note and the history is drawn
    out_dir = tmp_path / "figs"
    assert main(["analyze", str(path), "--study", "s", "--plots", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "importance needs at least 10 finished trials" in out and "figures written" in out
    assert [p.name for p in out_dir.iterdir()] == ["history.png"]


def test_analyze_plots_bad_input_exits_2_before_any_output(db, tmp_path, capsys, monkeypatch):
    base = ["analyze", str(db), "--study", "s", "--plots"]
    assert main([*base, str(tmp_path / "a"), "--plot-format", "gif"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "unknown plot format 'gif'; use one of png, svg, pdf." in err
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main([*base, str(blocker / "sub")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "figure folder" in err and "cannot be created or written" in err
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    assert main([*base, str(tmp_path / "b")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "pip install 'metanas[plot]'" in err
    assert len(load_study(db, "s").trials) == 40  # the store is untouched


def test_effects_of_a_study_without_decisions_is_a_clear_error():
    from metanas.analysis.importance import Importance

    with pytest.raises(UserInputError, match="no decision"):
        plot_effects(Importance(decisions=(), interactions=0.0, n_trials=0))
