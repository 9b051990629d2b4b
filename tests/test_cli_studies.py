"""``metanas studies``: tables of studies and trials; bad input is one line and exit code 2."""

from __future__ import annotations

import pytest

from metanas.cli import main
from metanas.evaluation.function import FunctionEvaluator
from metanas.space import IntRange, Space
from metanas.study import create_study

SPACE = Space([IntRange("width", 1, 64)], name="widths")


def score(arch):
    return -abs(arch["width"] - 40)


@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich folds cells to 80 columns when not on a terminal
    path = tmp_path / "s.db"
    create_study(
        SPACE, "random", FunctionEvaluator(score), storage=path, study_name="alpha"
    ).optimize(12)
    create_study(
        SPACE,
        "grid",
        FunctionEvaluator(score),
        storage=path,
        study_name="beta",
        direction="minimize",
    ).optimize(5)
    return path


def test_lists_studies(db, capsys):
    assert main(["studies", str(db)]) == 0
    out = capsys.readouterr().out
    from metanas.study import load_study

    best_alpha = max(t.value for t in load_study(db, "alpha").trials)
    best_beta = min(t.value for t in load_study(db, "beta").trials)  # minimised
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("│┃").split("│" if "│" in line else "┃")]
        if len(cells) > 1:
            rows[cells[0]] = cells[1:]
    head = ["strategy", "space", "complete", "pruned", "failed", "running", "best", "created"]
    assert rows["name"] == head, out
    # name -> strategy, space, complete, pruned, failed, running, best (then the date)
    assert rows["alpha"][:7] == ["random", "widths", "12", "0", "0", "0", f"{best_alpha:g}"], out
    assert rows["beta"][:7] == ["grid", "widths", "5", "0", "0", "0", f"{best_beta:g}"], out
    assert set(rows) == {"name", "alpha", "beta"}


def test_trials_a_stopped_process_left_running_are_marked_stopped(db, capsys):
    st = create_study(
        SPACE, "random", FunctionEvaluator(score), storage=db, study_name="alpha", resume=True
    )
    st.ask()  # a trial starts and its process holds the study
    assert main(["studies", str(db)]) == 0
    out = capsys.readouterr().out
    assert "1 stopped" not in out and "runs them again" not in out  # alive: really running
    st._release()  # as an interrupted search does (a killed one's lock goes stale)
    assert main(["studies", str(db)]) == 0
    out = capsys.readouterr().out
    assert "1 stopped" in out and "--resume` runs them again" in out


def test_shows_top_trials(db, capsys):
    assert main(["studies", str(db), "--study", "alpha", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "top 3 of 12" in out and out.count("width=") == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["studies", "{tmp}/missing.db"], "no store at"),
        (["studies", "{tmp}/notes.txt"], "not an SQLite file"),
        (["studies", "{db}", "--study", "gamma"], "no study 'gamma'"),
    ],
)
def test_bad_input_is_one_line_exit_2(db, tmp_path, capsys, args, message):
    (tmp_path / "notes.txt").write_text("hello\n")
    argv = [a.format(tmp=tmp_path, db=db) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "missing.db").exists()


def test_usage_errors_exit_2(db, capsys):
    assert main(["studies", str(db), "--bogus"]) == 2
    assert "--bogus" in capsys.readouterr().err
    assert main(["studies"]) == 2
    assert main(["no-such-command"]) == 2
    assert main(["--help"]) == 0


def test_a_pipe_gets_whole_names(tmp_path, monkeypatch, capsys):
    # rich folds at 80 columns off a terminal: a long name split over lines cannot be grepped
    monkeypatch.delenv("COLUMNS", raising=False)
    name = "bench-nb201-cifar10-random-s0-q40-a-long-study-name"
    create_study(SPACE, "random", FunctionEvaluator(score), storage=tmp_path / "s.db",
                 study_name=name).optimize(2)  # fmt: skip
    assert main(["studies", str(tmp_path / "s.db")]) == 0
    assert name in capsys.readouterr().out


def test_a_study_shows_why_its_trials_failed(tmp_path, capsys):
    def broken(arch):
        raise ValueError(f"width {arch['width']} does not fit")

    path = tmp_path / "s.db"
    create_study(SPACE, "random", FunctionEvaluator(broken), storage=path,
                 study_name="bad").optimize(2)  # fmt: skip
    assert main(["studies", str(path), "--study", "bad"]) == 0
    assert "2 failed; the last (trial 1): ValueError: width" in capsys.readouterr().out


def test_a_damaged_study_row_leaves_the_others_listed(db, capsys):
    import sqlite3

    con = sqlite3.connect(db)
    con.execute("UPDATE studies SET config = '{not json' WHERE name = 'beta'")
    con.commit()
    con.close()
    assert main(["studies", str(db)]) == 2
    out, err = capsys.readouterr()
    assert "alpha" in out and "beta" not in out
    assert "damaged row of study 'beta'" in err and "restore a backup" in err


def test_names_and_paths_with_brackets_are_shown_as_they_are(tmp_path, capsys):
    """rich would read ``[red]`` as a style and ``[/x]`` as a broken closing tag (a traceback)."""
    (tmp_path / "run[").mkdir()
    path = tmp_path / "run[/x].db"
    create_study(SPACE, "random", FunctionEvaluator(score), storage=path,
                 study_name="[red]x").optimize(12)  # fmt: skip
    assert main(["studies", str(path)]) == 0
    assert "[red]x" in capsys.readouterr().out
    assert main(["studies", str(path), "--study", "[red]x"]) == 0
    assert "[red]x" in capsys.readouterr().out
    assert main(["kb", str(path)]) == 0
    assert main(["analyze", str(path), "--study", "[red]x"]) == 0


def test_pruned_trials_are_counted_and_not_ranked_with_finished_ones(tmp_path, capsys):
    from metanas.types import Result, TrialState

    path = tmp_path / "p.db"
    study = create_study(SPACE, "random", FunctionEvaluator(score), storage=path,
                         study_name="p")  # fmt: skip
    for i in range(8):
        c = study.ask()
        if i % 2:  # a partial run that looked better than it would have ended
            study.tell(c, Result(value=100.0 + i, state=TrialState.PRUNED))
        else:
            study.tell(c, float(i))
    assert main(["studies", str(path)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if " p " in line)
    assert [c.strip() for c in row.strip("│ ").split("│")][3:6] == ["4", "4", "0"]
    assert main(["studies", str(path), "--study", "p"]) == 0
    out = capsys.readouterr().out
    assert "107" not in out and "pruned" not in out
