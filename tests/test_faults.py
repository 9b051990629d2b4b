"""Faults around the store: several processes on one file, a second process on the same study,
a crash that leaves the study's lock behind, and files that are not (our) stores."""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest

from metanas.evaluation.function import FunctionEvaluator
from metanas.space import IntRange, Space
from metanas.storage.sqlite import SQLiteStore, StudyBusy
from metanas.study import create_study, load_study
from metanas.types import StorageError, TaskInfo, TrialState, UserInputError

CHILD = textwrap.dedent(
    """
    import sys, time, warnings
    warnings.simplefilter("ignore")
    from metanas.evaluation.function import FunctionEvaluator
    from metanas.space import IntRange, Space
    from metanas.study import create_study

    def score(a):
        time.sleep(float(sys.argv[4]))
        return -abs(a["w"] - 700) - abs(a["d"] - 3)

    space = Space([IntRange("w", 0, 999), IntRange("d", 1, 4)], name="k")
    db, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    study = create_study(space, "random", FunctionEvaluator(score), storage=db, study_name=name,
                         seed=int(sys.argv[5]), resume=True)
    print("started", flush=True)
    study.optimize(n)
    """
)
SPACE = Space([IntRange("w", 0, 999), IntRange("d", 1, 4)], name="k")


def _child(db, name, n, sleep=0.0, seed=0):
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), name, str(n), str(sleep), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _score(a):
    return -abs(a["w"] - 700) - abs(a["d"] - 3)


def _check_trials(db, name, n):
    trials = SQLiteStore(db, readonly=True)
    info = trials.get_study(name)
    ts = trials.trials(info.id)
    assert [t.number for t in ts] == list(range(n))  # numbers dense: none lost, none overwritten
    assert all(t.state is TrialState.COMPLETE for t in ts)
    assert len({t.key for t in ts}) == n  # none evaluated twice
    seqs = [t.asked_seq for t in ts] + [t.told_seq for t in ts]
    assert len(set(seqs)) == len(seqs)


def test_two_processes_two_studies_one_file(tmp_path):
    db = tmp_path / "s.db"
    procs = [_child(db, name, 150) for name in ("a", "b")]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "database is locked" not in err
    for name in ("a", "b"):
        _check_trials(db, name, 150)


def test_second_process_on_same_study_is_refused_then_resumes(tmp_path):
    db = tmp_path / "s.db"
    first = _child(db, "k", 40, sleep=0.1)
    assert first.stdout.readline().strip() == "started"
    time.sleep(0.5)  # let it record a few trials
    before = sorted(os.listdir(tmp_path))
    second = create_study(SPACE, "random", FunctionEvaluator(_score), storage=db,
                          study_name="k", resume=True)  # fmt: skip
    n_before = len(second.trials)
    with pytest.raises(StudyBusy, match=r"being optimized by process \d+ on .*run one process"):
        second.optimize(60)
    with pytest.raises(StudyBusy):
        second.ask()
    with pytest.raises(StudyBusy), second.exclusive():
        raise AssertionError("the block of a refused process must not run")
    assert len(second.trials) == n_before  # the refused process recorded nothing
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert sorted(os.listdir(tmp_path)) == before
    # the study moved on since `second` opened it: a stale view must not write
    with pytest.raises(UserInputError, match="changed by another process"):
        second.optimize(60)
    again = create_study(SPACE, "random", FunctionEvaluator(_score), storage=db,
                         study_name="k", resume=True)  # fmt: skip
    again.optimize(60)
    _check_trials(db, "k", 60)


def test_lock_of_a_killed_process_is_taken_over(tmp_path):
    db = tmp_path / "s.db"
    p = _child(db, "k", 1000, sleep=0.01)
    assert p.stdout.readline().strip() == "started"
    time.sleep(1.0)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM locks").fetchone()[0] == 1  # left behind
    con.close()
    study = create_study(SPACE, "random", FunctionEvaluator(_score), storage=db,
                         study_name="k", resume=True)  # fmt: skip
    n = len(study.trials) + 5
    study.optimize(n)
    _check_trials(db, "k", n)
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM locks").fetchone()[0] == 0  # released at the end
    con.close()


def test_a_live_owner_keeps_its_lock_through_a_long_trial(tmp_path):
    """A trial may outlast the heartbeat's staleness (600 s between beats): on the same host
    the owner's process decides, so a second process cannot take over a live study; a pid
    reused by a process that started after the owner's last heartbeat does not hold it."""
    store = SQLiteStore(tmp_path / "s.db")
    sid = store.create_study("k", {}, TaskInfo(), {})
    host, me = socket.gethostname(), f"{socket.gethostname()}:{os.getpid()}"
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    owner = subprocess.Popen(sleeper)
    reused = None
    try:
        store.acquire_lock(sid, f"{host}:{owner.pid}")
        time.sleep(1.5)  # silent for longer than the staleness below: a long trial
        with pytest.raises(StudyBusy):
            store.acquire_lock(sid, me, stale_after=0.5)
        assert store.writer(sid, stale_after=0.5) == f"{host}:{owner.pid}"
        time.sleep(1.5)  # (start times are known to a second)
        reused = subprocess.Popen(sleeper)  # started after the owner's last heartbeat
        with store._write():
            store._conn.execute("UPDATE locks SET pid = ?", (reused.pid,))
        store.acquire_lock(sid, me, stale_after=0.5)
        assert store.writer(sid) == me
    finally:
        for p in (owner, reused):
            if p is not None:
                p.kill()
                p.wait()


def test_a_lock_silent_for_a_day_is_stale_whatever_process_has_its_pid(monkeypatch):
    """Containers may share a host name but not their pids: a live pid there (pid 1, started
    long before the beat) proves nothing once the holder has been silent for a day."""
    from metanas.storage import sqlite as store_module

    row = ("o", socket.gethostname(), 1, time.time() - 5.0)
    assert not store_module._stale(row, time.time(), 0.5)
    monkeypatch.setattr(store_module, "LOCK_SILENT_S", 2.0)
    assert store_module._stale(row, time.time(), 0.5)


def _heartbeat_of(db):
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT owner, heartbeat FROM locks").fetchone()
    finally:
        con.close()


def test_the_lock_beats_while_one_long_trial_runs(tmp_path, monkeypatch):
    """The heartbeat comes from a thread of its own: during one trial longer than the staleness,
    a process on another host still sees the study as held (it used to go silent per trial)."""
    from metanas.storage import sqlite as store_module

    monkeypatch.setattr(store_module, "HEARTBEAT_S", 0.1)
    db = tmp_path / "s.db"
    seen = []

    def slow(a):
        first = _heartbeat_of(db)[1]
        time.sleep(1.0)
        seen.append((first, _heartbeat_of(db)[1]))
        other = SQLiteStore(db)
        try:  # another host judges by the heartbeat alone
            with pytest.raises(StudyBusy):
                other.acquire_lock(study.id, "elsewhere:1", stale_after=0.5)
        finally:
            other.close()
        return 1.0

    beating = {t for t in threading.enumerate() if t.name == "metanas-heartbeat"}
    study = create_study(SPACE, "random", FunctionEvaluator(slow), storage=db, study_name="k")
    study.optimize(2)
    assert len(seen) == 2 and all(later - first >= 0.5 for first, later in seen)
    assert _heartbeat_of(db) is None  # released, and the thread stopped beating
    assert {t for t in threading.enumerate() if t.name == "metanas-heartbeat"} <= beating


def test_a_study_taken_over_mid_trial_stops_without_writing(tmp_path, monkeypatch):
    """Another process that judged this one gone (e.g. it was suspended) owns the study's
    trials from then on: this one writes nothing more and says why."""
    from metanas.storage import sqlite as store_module

    monkeypatch.setattr(store_module, "HEARTBEAT_S", 0.1)
    db = tmp_path / "s.db"

    def taken_over(a):
        if len(study.trials) == 2:
            con = sqlite3.connect(db)
            con.execute("UPDATE locks SET owner = 'elsewhere:1', host = 'elsewhere', pid = 1")
            con.commit()
            con.close()
            time.sleep(0.5)  # the heartbeat thread notices
        return 1.0

    study = create_study(SPACE, "random", FunctionEvaluator(taken_over), storage=db,
                         study_name="k")  # fmt: skip
    with pytest.raises(UserInputError, match="taken over by another process"):
        study.optimize(5)
    states = [t.state for t in load_study(db, "k").trials]
    assert states == [TrialState.COMPLETE, TrialState.RUNNING]  # the second result not written
    assert _heartbeat_of(db)[0] == "elsewhere:1"  # the new owner's lock is left alone


def test_ask_and_tell_refuse_to_write_once_the_study_was_taken_over(tmp_path):
    db = tmp_path / "s.db"
    study = create_study(SPACE, "random", storage=db, study_name="k")
    cand = study.ask()
    con = sqlite3.connect(db)
    con.execute("UPDATE locks SET owner = 'elsewhere:1', host = 'elsewhere', pid = 1")
    con.commit()
    con.close()
    with pytest.raises(UserInputError, match="taken over"):
        study.tell(cand, 1.0)
    assert [t.state for t in load_study(db, "k").trials] == [TrialState.RUNNING]


def test_a_second_study_object_of_one_process_is_refused_while_the_first_holds_it(tmp_path):
    """The store's lock names processes: two Study objects of one process both passed it, and
    the second's trials overwrote the first's. Dropping the first frees the study."""
    db = tmp_path / "s.db"
    first = create_study(SPACE, "random", FunctionEvaluator(_score), storage=db, study_name="k")
    first.optimize(3)
    cand = first.ask()  # holds the study until told (or the object goes)
    second = create_study(SPACE, "random", storage=db, study_name="k", resume=True)
    with pytest.raises(UserInputError, match="in use by another Study object of this process"):
        second.ask()
    first.tell(cand, 111.0)
    first.tell(first.ask(), 222.0)
    assert [t.value for t in load_study(db, "k").trials][3:] == [111.0, 222.0]
    first.ask()
    first.store.close()  # a Study whose store is closed writes nothing more: it lets go
    create_study(SPACE, "random", storage=db, study_name="k", resume=True).ask()
    del first, second
    third = create_study(SPACE, "random", storage=db, study_name="k", resume=True)
    third.tell(third.ask(), 333.0)
    assert [t.value for t in load_study(db, "k").trials][3:] == [111.0, 222.0, 333.0]
    beating = [t for t in threading.enumerate() if t.name == "metanas-heartbeat"]
    del third
    gc.collect()
    time.sleep(0.2)
    assert len([t for t in threading.enumerate() if t.name == "metanas-heartbeat"]) < len(beating)


def test_killed_pool_worker_mid_trial_is_retried_in_a_study(tmp_path):
    from metanas.execution.pool import ProcessPoolExecutor

    space = Space([IntRange("w", 0, 5)])
    marker = tmp_path / "killed"
    with ProcessPoolExecutor(2, max_retries=1) as ex:
        study = create_study(space, "grid", FunctionEvaluator(KillOnce(str(marker))),
                             storage=tmp_path / "s.db", executor=ex)  # fmt: skip
        study.optimize(6)
    assert marker.exists()
    assert all(t.state is TrialState.COMPLETE for t in study.trials) and len(study.trials) == 6


class KillOnce:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __call__(self, a: dict) -> float:
        if a["w"] == 2 and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        return float(a["w"])


def _bytes(p):
    return {f: (p.parent / f).read_bytes() for f in os.listdir(p.parent) if f.startswith(p.name)}


@pytest.mark.parametrize("kind", ["text", "foreign", "corrupt", "newer", "empty_meta"])
def test_bad_files_refused_without_writing(tmp_path, kind):
    p = tmp_path / "s.db"
    if kind == "text":
        p.write_text("id,acc\n1,0.5\n")
    elif kind == "foreign":
        con = sqlite3.connect(p)
        con.execute("CREATE TABLE users (id INTEGER)")
        con.commit()
        con.close()
    else:
        SQLiteStore(p).close()
        con = sqlite3.connect(p)
        con.execute("PRAGMA journal_mode=DELETE")  # fold the WAL so the bytes are all in one file
        if kind == "newer":
            con.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
        if kind == "empty_meta":
            con.execute("DELETE FROM meta")
        con.commit()
        con.close()
        if kind == "corrupt":
            data = bytearray(p.read_bytes())
            data[100:4096] = b"\xff" * (4096 - 100)
            p.write_bytes(bytes(data))
    before = _bytes(p)
    with pytest.raises(StorageError) as e:
        create_study(SPACE, "random", FunctionEvaluator(_score), storage=p, study_name="x")
    assert "metanas" in str(e.value) or "SQLite" in str(e.value)
    assert _bytes(p) == before


def test_a_damaged_page_or_a_full_disk_is_one_sentence(tmp_path, monkeypatch):
    """A store whose header is intact but a later page is not opens, then fails on reading;
    a full disk fails on writing. Both are a StorageError naming the store, not sqlite3's."""
    p = tmp_path / "s.db"
    with SQLiteStore(p) as store:
        create_study(
            SPACE, "random", FunctionEvaluator(_score), storage=store, study_name="s"
        ).optimize(300)
    con = sqlite3.connect(p)
    con.execute("PRAGMA journal_mode=DELETE")  # fold the WAL so the bytes are all in one file
    con.close()
    data = bytearray(p.read_bytes())
    half = len(data) // 2 // 4096 * 4096
    data[half:] = b"\xff" * (len(data) - half)  # the later pages: trials
    p.write_bytes(bytes(data))
    with pytest.raises(StorageError, match=r"is damaged .*restore a backup"):
        load_study(p, "s").trials  # noqa: B018
    store = SQLiteStore(tmp_path / "ok.db")
    real = store._conn

    class FullDisk:
        def execute(self, sql: str, *args: Any) -> Any:
            if sql.lstrip().upper().startswith(("INSERT", "UPDATE")):
                raise sqlite3.OperationalError("database or disk is full")
            return real.execute(sql, *args)

    monkeypatch.setattr(store, "_conn", FullDisk())
    with pytest.raises(StorageError, match=r"disk is full.*free disk space"):
        store.create_study("n", {}, TaskInfo(), {})
    # a caller's mistake is not a damaged file: no advice to restore a backup
    monkeypatch.undo()
    store.close()
    with pytest.raises(sqlite3.ProgrammingError, match="closed database"):
        store.get_study("n")


def _open_new_store(path: str, q: Any) -> None:
    try:
        SQLiteStore(path).close()
        q.put("ok")
    except Exception as e:  # reported to the parent, which fails the test with it
        q.put(repr(e))


def test_processes_creating_one_new_store_at_once_all_succeed(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    for r in range(3):
        path = str(tmp_path / f"s{r}.db")
        q = ctx.Queue()
        procs = [ctx.Process(target=_open_new_store, args=(path, q)) for _ in range(4)]
        for p in procs:
            p.start()
        outcomes = [q.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        assert outcomes == ["ok"] * len(procs)


def test_an_objective_that_calls_sys_exit_fails_its_trial_inline(tmp_path):
    """Inline, it ended the search, and every resume ran that trial (and exited) again."""

    def f(a):
        if a["w"] == 3:
            sys.exit("bad config")
        return float(a["w"])

    space = Space([IntRange("w", 0, 5)], name="e")
    study = create_study(space, "grid", FunctionEvaluator(f), storage=tmp_path / "s.db",
                         study_name="s")  # fmt: skip
    study.optimize(6)
    states = {t.arch["w"]: t.state for t in study.trials}
    assert states[3] is TrialState.FAILED and len(states) == 6
    (exited,) = [t for t in study.trials if t.arch["w"] == 3]
    assert "SystemExit: bad config" in (exited.error or "")


def test_an_interrupt_in_the_strategy_s_tell_leaves_no_finished_trial_to_run_again(tmp_path):
    """The trial was stored as finished; the next optimize() ran it again as cut off, and
    failed: 'trial 2 ... was already told'."""
    space = Space([IntRange("w", 0, 999)], name="t")
    study = create_study(space, "random", FunctionEvaluator(lambda a: float(a["w"])))
    tell, calls = study.strategy.tell, [0]

    def interrupted(c, r):
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt
        tell(c, r)

    study.strategy.tell = interrupted
    with pytest.raises(KeyboardInterrupt):
        study.optimize(6)
    study.optimize(6)
    assert study.n_finished == 6 and len({t.number for t in study.trials}) == 6


def test_trials_cut_off_earlier_do_not_run_past_n_trials(tmp_path):
    """optimize(n) ran a cut-off trial even with n finished already, ending above n."""
    hit = [False]

    def f(a):
        if len(seen) == 2 and not hit[0]:
            hit[0] = True
            raise KeyboardInterrupt
        seen.append(a["w"])
        return float(a["w"])

    seen: list[int] = []
    space = Space([IntRange("w", 0, 999)], name="c")
    study = create_study(space, "random", FunctionEvaluator(f))
    with pytest.raises(KeyboardInterrupt):
        study.optimize(6)
    assert study.n_finished == 2
    study.optimize(2)
    assert study.n_finished == 2
    study.optimize(4)
    assert study.n_finished == 4
    assert [t.number for t in study.trials if t.state.finished] == [0, 1, 2, 3]  # 2 ran again
