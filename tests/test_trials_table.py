"""metanas.analysis.trials_table and ``metanas studies --csv``: every trial as one flat row."""

from __future__ import annotations

import csv

import pytest

from metanas.analysis.trials_table import BASE_COLUMNS, trial_rows, write_trials_csv
from metanas.cli import main
from metanas.evaluation.function import FunctionEvaluator
from metanas.space import Choice, Condition, IntRange, Space
from metanas.study import create_study, load_study
from metanas.types import TrialState, UserInputError

SPACE = Space(
    [
        IntRange("depth", 1, 2),
        Choice("op", ("conv", "pool")),
        Choice("width_2", (8, 16), when=Condition("depth", ">=", 2)),
        IntRange("lr_step", 1, 50),
    ]
)


def scored(arch):
    if arch["op"] == "pool" and arch["depth"] == 1:
        raise ValueError("no pooling alone")  # a failed trial
    return {"value": arch["depth"] + (arch["op"] == "conv"), "params": 10.0 * arch["depth"]}


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "s.db"
    create_study(SPACE, "random", FunctionEvaluator(scored), storage=path, study_name="s",
                 seed=4).optimize(12)  # fmt: skip
    return path


def test_rows_hold_every_trial_its_decisions_and_metrics(db):
    study = load_study(db, "s")
    rows = trial_rows(study)
    assert [r["number"] for r in rows] == sorted(t.number for t in study.trials)
    states = {r["state"] for r in rows}
    assert {"complete", "failed"} <= states, "the objective should fail for some trials"
    decisions = ["arch.depth", "arch.op", "arch.width_2", "arch.lr_step"]
    expected = [*BASE_COLUMNS, *decisions, "metric.params", "metric.value"]
    assert all(list(r) == expected for r in rows)
    for r, t in zip(rows, sorted(study.trials, key=lambda t: t.number)):
        assert r["value"] == t.value and r["key"] == t.key
        assert (r["arch.depth"], r["arch.op"]) == (t.arch["depth"], t.arch["op"])
        assert r["arch.width_2"] == t.arch.get("width_2")  # None where depth 1 has no width_2
        if t.state == TrialState.COMPLETE:
            assert r["metric.params"] == t.metrics["params"]
        else:
            assert r["metric.params"] is None and "no pooling alone" in r["error"]


def test_csv_round_trips_with_empty_cells_for_missing_values(db, tmp_path):
    study = load_study(db, "s")
    out = tmp_path / "t.csv"
    assert write_trials_csv(study, out) == len(study.trials)
    with out.open(newline="") as f:
        read = list(csv.DictReader(f))
    rows = trial_rows(study)
    assert len(read) == len(rows)
    for got, want in zip(read, rows):
        assert got == {k: "" if v is None else str(v) for k, v in want.items()}
    with pytest.raises(UserInputError, match="give a writable file path"):
        write_trials_csv(study, tmp_path / "no" / "t.csv")


def test_studies_csv_command(db, tmp_path, capsys):
    out = tmp_path / "t.csv"
    assert main(["studies", str(db), "--study", "s", "--csv", str(out)]) == 0
    assert f"wrote 12 trials to {out}" in capsys.readouterr().out.replace("\n", "")
    assert out.read_text().startswith("number,state,value,")
    assert main(["studies", str(db), "--csv", str(out)]) == 2
    assert "name the study with --study" in capsys.readouterr().err
    assert main(["studies", str(db), "--study", "s", "--csv", str(tmp_path / "no/t.csv")]) == 2
    got = capsys.readouterr()
    assert got.out == "" and "give a writable file path" in got.err


def test_a_trial_left_running_by_an_ended_process_reads_stopped(tmp_path):
    """As ``metanas studies`` says: running while its process lives, stopped once it ended."""
    path = tmp_path / "r.db"
    st = create_study(SPACE, "random", FunctionEvaluator(scored), storage=path, study_name="r")
    st.optimize(2)
    st.ask()  # a trial that never gets its result, as when a search is killed mid-trial
    states = [r["state"] for r in trial_rows(load_study(path, "r"))]
    assert states[-1] == "running"  # this process holds the study: the trial may still finish
    st._release()  # as an interrupted search does (a killed one's lock goes stale)
    states = [r["state"] for r in trial_rows(load_study(path, "r"))]
    assert states[-1] == "stopped" and states.count("stopped") == 1
