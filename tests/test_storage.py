"""The SQLite store: round trips, many studies per file, refusals that leave files untouched."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from metanas.storage import SCHEMA_VERSION, Duplicate, SQLiteStore, check_study_name, open_store
from metanas.types import Budget, StorageError, TaskInfo, Trial, TrialState, UserInputError

SPACE = {"kind": "generic", "name": "toy", "dims": []}


def _trial(n: int, state: TrialState = TrialState.COMPLETE, value: float | None = 0.5) -> Trial:
    return Trial(
        number=n,
        arch={"w": n, "op": "conv"},
        key=f"k{n}",
        state=state,
        value=value,
        budget=Budget(epochs=12),
        metrics={"acc": value or 0.0},
        asked_seq=2 * n,
        told_seq=2 * n + 1 if state.finished else None,
    )


def test_trial_round_trip_keeps_every_field(tmp_path):
    store = SQLiteStore(tmp_path / "s.db")
    sid = store.create_study(
        "a", SPACE, TaskInfo(name="cifar", input_shape=(3, 32, 32)), {"seed": 1}
    )
    t = Trial(
        number=0,
        arch={"w": np.int64(3), "f": np.float32(0.5), "ops": ("a", "b")},
        key="k",
        state=TrialState.FAILED,
        budget=Budget(epochs=5, fraction=0.5, time_limit=9.0),
        value=None,
        metrics={"loss": float("nan"), "acc": 0.25},
        error="boom\nline 2",
        cost=1.5,
        curve=({"step": 1.0, "acc": 0.1}, {"step": 2.0, "acc": 0.2}),
        info={"bracket": 2},
        started_at=10.0,
        finished_at=11.5,
        asked_seq=3,
        told_seq=7,
    )
    store.record(sid, t)
    store.close()
    (back,) = SQLiteStore(tmp_path / "s.db").trials(sid)
    assert back.arch == {"w": 3, "f": 0.5, "ops": ["a", "b"]}
    assert back.budget == t.budget and back.state is TrialState.FAILED and back.error == t.error
    assert back.curve == t.curve and back.info == {"bracket": 2} and back.duration == 1.5
    assert back.metrics["acc"] == 0.25 and np.isnan(back.metrics["loss"])
    assert (back.asked_seq, back.told_seq, back.cost) == (3, 7, 1.5)


def test_record_replaces_running_trial_and_counts(tmp_path):
    store = SQLiteStore(f"sqlite:///{tmp_path}/s.db")
    a = store.create_study("a", SPACE, TaskInfo(), {"direction": "maximize"})
    b = store.create_study("b", SPACE, TaskInfo(), {"direction": "minimize"})
    for i, v in enumerate([0.2, 0.9, 0.4]):
        store.record(a, _trial(i, TrialState.RUNNING))
        store.record(a, _trial(i, value=v))
        store.record(b, _trial(i, value=v))
    store.record(a, _trial(3, TrialState.FAILED, None))
    store.record(a, _trial(4, TrialState.RUNNING))
    info = {s.name: s for s in store.studies()}
    assert (info["a"].n_complete, info["a"].n_failed, info["a"].n_running) == (3, 1, 1)
    assert info["a"].best_value == 0.9 and info["b"].best_value == 0.2
    assert [t.number for t in store.trials(a)] == [0, 1, 2, 3, 4]
    assert store.get_study("a").task == TaskInfo() and store.get_study("zzz") is None


def test_duplicates_round_trip(tmp_path):
    store = SQLiteStore(tmp_path / "s.db")
    sid = store.create_study("a", SPACE, TaskInfo(), {})
    d = Duplicate(
        of_number=0, arch={"w": 1}, key="k1", asked_seq=5, budget=Budget(epochs=3), info={"x": 1}
    )
    store.record_duplicate(sid, d)
    assert store.duplicates(sid) == [d]
    store.record_duplicate(sid, Duplicate(0, {"w": 1}, "k1", 5, told_seq=6))
    assert [x.told_seq for x in store.duplicates(sid)] == [6]


def test_existing_name_refused(tmp_path):
    store = SQLiteStore(tmp_path / "s.db")
    store.create_study("a", SPACE, TaskInfo(), {})
    with pytest.raises(UserInputError, match=r"already exists.*resume"):
        store.create_study("a", SPACE, TaskInfo(), {})


@pytest.mark.parametrize("name", ["a/b", "a\\b", "x\ny", "", " pad", "tab\there", "../up", "a:b"])
def test_bad_study_names(name):
    with pytest.raises(UserInputError, match="study name"):
        check_study_name(name)


def test_good_study_names():
    for name in ["nb201-evolution", "run 3", "résumé_α", "a.b"]:
        assert check_study_name(name) == name


def test_foreign_text_file_untouched(tmp_path):
    p = tmp_path / "notes.db"
    p.write_bytes(b"hello, not a database\n" * 10)
    before = p.read_bytes()
    with pytest.raises(StorageError, match="not an SQLite file"):
        SQLiteStore(p)
    assert p.read_bytes() == before


def test_foreign_sqlite_untouched(tmp_path):
    p = tmp_path / "other.db"
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE users (id INTEGER)")
    con.commit()
    con.close()
    before = p.read_bytes()
    with pytest.raises(StorageError, match="another program"):
        SQLiteStore(p)
    assert p.read_bytes() == before and not (tmp_path / "other.db-wal").exists()


def test_corrupt_sqlite_is_storage_error(tmp_path):
    p = tmp_path / "bad.db"
    SQLiteStore(p).close()
    data = bytearray(p.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # keep the header, wreck the schema page
    p.write_bytes(bytes(data))
    with pytest.raises(StorageError):
        SQLiteStore(p)


def test_newer_schema_refused(tmp_path):
    p = tmp_path / "s.db"
    SQLiteStore(p).close()
    con = sqlite3.connect(p)
    con.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    con.commit()
    con.close()
    with pytest.raises(StorageError, match="newer metanas"):
        SQLiteStore(p)


def test_missing_directory_names_path(tmp_path):
    p = tmp_path / "nope" / "s.db"
    with pytest.raises(UserInputError, match=r"nope.*does not exist; create it"):
        SQLiteStore(p)
    assert not p.parent.exists()


def test_directory_as_store(tmp_path):
    with pytest.raises(UserInputError, match="is a directory"):
        SQLiteStore(tmp_path)


def test_read_only_directory(tmp_path, monkeypatch):
    d = tmp_path / "ro"
    d.mkdir()
    # root ignores permission bits, so the check is shown as a non-root user would meet it
    monkeypatch.setattr("metanas.storage.sqlite.os.access", lambda path, mode: False)
    with pytest.raises(UserInputError, match="not writable"):
        SQLiteStore(d / "s.db")
    assert list(d.iterdir()) == []


def test_read_only_file_names_path_and_fix(tmp_path, monkeypatch):
    p = tmp_path / "s.db"
    SQLiteStore(p).close()
    monkeypatch.setattr(
        "metanas.storage.sqlite.os.access", lambda path, mode: False
    )  # as non-root sees it
    with pytest.raises(UserInputError, match=r"s\.db.*read-only; make it writable"):
        SQLiteStore(p)
    assert len(SQLiteStore(p, readonly=True).studies()) == 0


def test_a_store_that_is_not_writable_is_read_without_side_files(tmp_path, monkeypatch):
    p = tmp_path / "s.db"
    w = SQLiteStore(p)
    sid = w.create_study("a", SPACE, TaskInfo(), {})
    w.record(sid, _trial(0))
    w.close()
    assert sorted(f.name for f in tmp_path.iterdir()) == ["s.db"]
    # as a non-root user sees a 0444 file: side files made now would be as unwritable as it
    # and break the store once it is made writable again
    monkeypatch.setattr("metanas.storage.sqlite.os.access", lambda path, mode: False)
    r = SQLiteStore(p, readonly=True)
    assert len(r.trials(sid)) == 1
    r.close()
    assert sorted(f.name for f in tmp_path.iterdir()) == ["s.db"]


def test_a_home_relative_path_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    SQLiteStore("~/s.db").close()
    SQLiteStore("sqlite:///~/t.db").close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.db", "t.db"]


def test_readonly_open_never_creates(tmp_path):
    p = tmp_path / "s.db"
    with pytest.raises(UserInputError, match="no store at"):
        SQLiteStore(p, readonly=True)
    assert not p.exists()
    w = SQLiteStore(p)
    sid = w.create_study("a", SPACE, TaskInfo(), {})
    w.record(sid, _trial(0))
    r = SQLiteStore(p, readonly=True)
    assert len(r.trials(sid)) == 1
    with pytest.raises(StorageError, match="read-only"):
        r.record(sid, _trial(1))


def test_bad_urls_and_objects():
    with pytest.raises(UserInputError, match="malformed"):
        SQLiteStore("sqlite://x.db")
    with pytest.raises(UserInputError, match="not supported"):
        SQLiteStore("postgresql://host/db")
    with pytest.raises(UserInputError, match="not a store"):
        open_store(42)
    mem = open_store(None)
    assert open_store(mem) is mem and mem.studies() == []


def test_two_processes_share_one_file(tmp_path):
    """Concurrent writers wait for the lock instead of failing with 'database is locked'."""
    db = tmp_path / "s.db"
    SQLiteStore(db).close()
    code = textwrap.dedent(
        """
        import sys
        from metanas.storage import SQLiteStore
        from metanas.types import TaskInfo, Trial, TrialState
        s = SQLiteStore(sys.argv[1])
        sid = s.create_study(sys.argv[2], {"dims": []}, TaskInfo(), {})
        for i in range(300):
            s.record(sid, Trial(number=i, arch={"i": i}, key=str(i), state=TrialState.COMPLETE,
                                value=float(i), asked_seq=i, told_seq=i))
        """
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(db), n], stderr=subprocess.PIPE)
        for n in "xy"
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    info = {s.name: s for s in SQLiteStore(db).studies()}
    assert info["x"].n_complete == 300 and info["y"].n_complete == 300
