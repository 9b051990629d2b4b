"""``metanas bench``: the table it prints, the JSON it writes, and its errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from metanas.cli import main
from metanas.evaluation.tabular import nb201_table
from metanas.space.nb201 import nb201_to_string
from metanas.types import UserInputError


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_bench_nb201_prints_table_and_writes_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "out" / "b.json"
    rc, out, err = _run(
        capsys, "bench", "nb201", "--strategy", "random,local_search", "--queries", "30",
        "--seeds", "2", "--json", str(path),
    )  # fmt: skip
    assert rc == 0, err
    assert "random" in out and "local_search" in out and "/2" in out
    data = json.loads(path.read_text())
    assert data["queries"] == 30 and data["report"] == "test_acc"
    assert data["table_best"]["value"] == pytest.approx(91.6067)
    runs = data["runs"]["random"]
    assert [r["seed"] for r in runs] == [0, 1]
    assert len(runs[0]["archs"]) == 30 == len(set(runs[0]["keys"]))
    assert len(runs[0]["values"]) == len(runs[0]["reports"]) == 30
    assert set(data["summary"]) == {"random", "local_search"}


def test_bench_cifar100_and_tpe(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("optuna")
    rc, out, err = _run(
        capsys, "bench", "nb201", "--dataset", "cifar100", "--strategy", "optuna-tpe",
        "--queries", "15", "--seeds", "1",
    )  # fmt: skip
    assert rc == 0, err
    assert "nb201-cifar100" in out and "optuna-tpe" in out


def _nb101_once(capsys: pytest.CaptureFixture[str], strategy: str, queries: int, *more: str):
    """``metanas bench nb101`` of one strategy, one seed."""
    args = ["--strategy", strategy, "--queries", str(queries), "--seeds", "1", *more]
    return _run(capsys, "bench", "nb101", *args)


def test_bench_nb101_with_storage(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    rc, out, err = _nb101_once(capsys, "evolution", 10, "--storage", str(db))
    assert rc == 0, err
    assert "nb101-subset" in out and db.is_file()
    from metanas.storage.sqlite import SQLiteStore

    with SQLiteStore(str(db), readonly=True) as store:
        (info,) = store.studies()
        assert info.name == "bench-nb101-subset-evolution-s0-q10"
        assert info.n_complete == 10


def test_bench_user_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ev = nb201_table()
    p = tmp_path / "mine.csv"
    with open(p, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["cell", "score", "acc"])
        for i in range(50):
            w.writerow([nb201_to_string(ev.arch(i)), i, 100 - i])
    j = tmp_path / "m.json"
    rc, _, err = _run(
        capsys, "bench", "table", "--csv", str(p), "--arch-column", "cell", "--objective", "score",
        "--report", "acc", "--queries", "50", "--seeds", "1", "--json", str(j),
    )  # fmt: skip
    assert rc == 0, err
    data = json.loads(j.read_text())
    assert data["table_best"]["value"] == 49
    s = data["summary"]["random"]
    # 50 queries over a 50-row table find its best (row 49, acc 51) with certainty
    assert s["n_reached"] == 1 and s["report_mean"] == 51
    args = ["bench", "table", "--csv", str(p), "--arch-column", "cell", "--objective", "score"]
    rc, _, err = _run(capsys, *args, "--queries", "51")
    assert rc == 2 and "--queries 51 exceeds the 50 rows of table mine" in err
    # one architecture twice, with other values: which is the table's answer? refused
    dup = tmp_path / "dup.csv"
    dup.write_text(p.read_text() + f"{nb201_to_string(ev.arch(3))},99,99\n")
    rc, _, err = _run(capsys, *args[:3], str(dup), *args[4:], "--queries", "5")
    assert rc == 2 and "twice (rows 4 and 51); keep one row per architecture" in err


RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


def test_bench_starts_every_run_from_the_given_cells(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "b.json"
    pools = "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|"
    rc, _, err = _run(
        capsys, "bench", "nb201", "--strategy", "random,bananas", "--queries", "8", "--seeds",
        "2", "--start-from", RESNET, "--start-from", pools, "--json", str(path),
    )  # fmt: skip
    assert rc == 0, err
    data = json.loads(path.read_text())
    assert data["start_from"] == [RESNET, pools]
    for runs in data["runs"].values():
        assert all(r["archs"][:2] == [RESNET, pools] for r in runs)


def test_bench_nb101_starts_from_the_tables_notation(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # the table's first row, in the notation the runs record their cells in
    cell = "I3M331O:0100110001000000010010000010000001000000010000000"
    path = tmp_path / "b.json"
    rc, _, err = _run(
        capsys, "bench", "nb101", "--strategy", "random", "--queries", "3", "--seeds", "1",
        "--start-from", cell, "--json", str(path),
    )  # fmt: skip
    assert rc == 0, err
    run = json.loads(path.read_text())["runs"]["random"][0]
    assert run["archs"][0] == cell


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["bench", "nb201", "--strategy", "grid", "--start-from", RESNET], "cannot take --start"),
        (["bench", "nb101", "--start-from", "I3O"], "OPS_CODE:ADJ_BITS"),
        (["bench", "nb201", "--start-from", "|x|"], "starting architecture 1: NAS-Bench-201"),
        (["bench", "nb201", "--start-from", RESNET, "--warm-start", "x.db"], "not both"),
        (["bench", "nb201", "--strategy", "nope"], "unknown strategy 'nope'"),
        (["bench", "nb201", "--strategy", "random,,evolution"], "has an empty name"),
        (["bench", "nb201", "--dataset", "mnist", "--seeds", "1"], "cifar10 or cifar100"),
        (["bench", "nb201", "--queries", "0"], "--queries"),
        (["bench", "table", "--csv", "/no/such.csv", "--objective", "x"], "does not exist"),
        (["bench", "nb101", "--strategy", "optuna-tpe", "--seeds", "1"], "optuna-tpe"),
    ],
)
def test_bench_errors(capsys: pytest.CaptureFixture[str], argv: list[str], match: str) -> None:
    rc, _, err = _run(capsys, *argv)
    assert rc == 2
    assert match in err


def test_bench_gives_budgeted_strategies_the_table_fidelities(tmp_path: Path) -> None:
    from metanas.benchrun import run_bench, table_budgets
    from metanas.evaluation.tabular import nb101_table

    ev = nb101_table()
    assert table_budgets(ev, "asha", None) == {"budgets": (4.0, 12.0, 36.0, 108.0)}
    rungs = {"min_budget": 12, "max_budget": 108}  # 12, 36, 108: the table holds them
    assert table_budgets(ev, "asha", rungs) == rungs
    with pytest.raises(UserInputError, match="rungs 1/3/9/27 epochs include 1/3/9/27 epochs, wh"):
        table_budgets(ev, "asha", {"min_budget": 1})  # answered from 4 and 12 epochs only
    assert table_budgets(ev, "bananas", None) == {}
    # with the schedulers' own rungs (1 to 27 epochs) the table answered at 4 and 12 epochs
    # only, whose best is 0.878; both paths now reach the 36- and 108-epoch results
    for storage in (None, str(tmp_path / "b.db")):
        res = run_bench(ev, None, ["mf_ucb"], [0], 30, storage=storage)
        best, _ = res.runs["mf_ucb"][0].best_at(30)
        assert best is not None and best > 0.9, (storage, best)


def test_bench_json_is_strict_when_no_run_reaches_the_top_budget(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # 30 queries of BOHB promote nothing to 108 epochs: no best value, which JSON writes as null
    path = tmp_path / "b.json"
    rc, out, err = _nb101_once(capsys, "bohb", 30, "--json", str(path))
    assert rc == 0, err
    data = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert data["summary"]["bohb"]["best_value_mean"] is None
    assert "-: no run got a result on val_acc within 30 queries" in " ".join(out.split())
