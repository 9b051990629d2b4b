"""The default store: one SQLite file (stdlib ``sqlite3``) holding many studies.

Every write is one small ``BEGIN IMMEDIATE`` transaction, so ``record`` is durable when it returns
(WAL with ``synchronous=NORMAL`` survives a killed process; only a power cut may lose the last
commits). A busy timeout lets several processes share one file without "database is locked".
"""

from __future__ import annotations

import functools
import json
import os
import re
import socket
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from metanas.storage.base import Duplicate, StudyInfo
from metanas.types import (
    Budget,
    StorageError,
    StudyExists,
    TaskInfo,
    Trial,
    TrialState,
    UserInputError,
)

SCHEMA_VERSION = 1
_APP = "metanas"
_BUSY_MS = 60_000
_HEADER = b"SQLite format 3\x00"
_NAME_RE = re.compile(r"^[^/\\:*?\"<>|\x00-\x1f\x7f]{1,200}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS studies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    space TEXT NOT NULL,
    task TEXT NOT NULL,
    config TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    study_id INTEGER NOT NULL REFERENCES studies(id),
    number INTEGER NOT NULL,
    arch TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    budget TEXT,
    value REAL,
    metrics TEXT NOT NULL,
    error TEXT,
    cost REAL NOT NULL,
    curve TEXT NOT NULL,
    info TEXT NOT NULL,
    started_at REAL,
    finished_at REAL,
    asked_seq INTEGER NOT NULL,
    told_seq INTEGER,
    PRIMARY KEY (study_id, number)
);
CREATE TABLE IF NOT EXISTS duplicates (
    study_id INTEGER NOT NULL REFERENCES studies(id),
    asked_seq INTEGER NOT NULL,
    told_seq INTEGER,
    of_number INTEGER NOT NULL,
    arch TEXT NOT NULL,
    key TEXT NOT NULL,
    budget TEXT,
    info TEXT NOT NULL,
    PRIMARY KEY (study_id, asked_seq)
);
"""

# one row per study being optimized: who holds it, and when it last showed signs of life
_LOCKS = """CREATE TABLE IF NOT EXISTS locks (
    study_id INTEGER PRIMARY KEY, owner TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
    heartbeat REAL NOT NULL)"""
#: seconds without a heartbeat after which a lock held from another host is stale (on this host,
#: the holder's process decides; a holder beats every HEARTBEAT_S)
LOCK_STALE_S = 600.0
#: ... and after which one from this host is, whatever its process (its holder beats from a
#: thread of its own, so a day's silence means a stuck process or a pid of another container)
LOCK_SILENT_S = 86_400.0
#: seconds between a holder's heartbeats
HEARTBEAT_S = 60.0

_TRIAL_COLS = (
    "number, arch, key, state, budget, value, metrics, error, cost, curve, info, "
    "started_at, finished_at, asked_seq, told_seq"
)
_INSERT_TRIAL = (
    f"INSERT OR REPLACE INTO trials (study_id, {_TRIAL_COLS}) VALUES ({', '.join('?' * 16)})"
)
_INSERT_DUP = (
    "INSERT OR REPLACE INTO duplicates (study_id, asked_seq, told_seq, of_number, arch, key, "
    "budget, info) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def check_study_name(name: str) -> str:
    """Return ``name`` if it is a usable study name, else raise :class:`UserInputError`."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or name != name.strip():
        raise UserInputError(
            f"study name {name!r} is not allowed; use 1-200 printable characters without "
            "path separators, quotes, wildcards or surrounding spaces, e.g. 'nb201-evolution'."
        )
    return name


def check_not_a_store(path: str | os.PathLike[str], option: str) -> None:
    """Refuse ``path`` as an output file when it is an SQLite file (a store) writing would
    destroy, a folder, or a pipe (writing there waits for a reader for ever)."""
    text = os.fspath(path)
    if not text.strip():
        raise UserInputError(f"{option} is empty; give a file path.")
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = 0
    if stat.S_ISDIR(mode):
        raise UserInputError(f"{option} {text!r} is a folder; give a file path inside it.")
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        raise UserInputError(f"{option} {text!r} is a pipe or socket; give a regular file path.")
    for suffix in _COMPANIONS:  # a store's write-ahead log, shared memory or journal
        if text.endswith(suffix) and _sqlite_header(text[: -len(suffix)]):
            raise UserInputError(
                f"{option} {text!r} belongs to the SQLite store {text[: -len(suffix)]!r} (its "
                "recent writes may live there); give another file path."
            )
    if _sqlite_header(text):
        raise UserInputError(
            f"{option} {text!r} is an SQLite store that writing there would destroy; "
            "give another file path."
        )


_COMPANIONS = ("-wal", "-shm", "-journal")


def _sqlite_header(path: str) -> bool:
    """Whether ``path`` starts as an SQLite database or write-ahead log does."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(_HEADER))
    except OSError:  # missing or unreadable: the write itself says what is wrong
        return False
    return head == _HEADER or head[:4] in (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")


def json_default(o: Any) -> Any:
    """``json.dumps``' ``default`` for what a store keeps: numpy scalars and arrays (from spaces
    and metrics) as plain JSON, tuples and sets as lists."""
    if hasattr(o, "item") and callable(o.item) and getattr(o, "ndim", 0) == 0:
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, (tuple, set, frozenset)):
        return list(o)
    raise TypeError(f"{type(o).__name__} is not JSON-serialisable")


def _dumps(x: Any) -> str:
    if not x and isinstance(x, (dict, list)):  # most trials carry empty info and curves
        return "{}" if isinstance(x, dict) else "[]"
    return json.dumps(x, separators=(",", ":"), default=json_default)


def _budget_json(b: Budget | None) -> str | None:
    return None if b is None else _dumps(b.to_dict())


def store_path(location: str | os.PathLike[str] | None) -> str:
    """``None`` / ``":memory:"`` -> in memory; ``sqlite:///rel`` or ``sqlite:////abs`` -> a path."""
    if location is None:
        return ":memory:"
    loc = os.fspath(location)
    if not loc.strip():
        raise UserInputError("the storage path is empty; give a file path such as studies.db.")
    if loc.startswith("sqlite:"):
        if not loc.startswith("sqlite:///"):
            raise UserInputError(
                f"storage URL {loc!r} is malformed; write sqlite:///relative.db or sqlite:////abs/path.db."
            )
        loc = loc[len("sqlite:///") :] or ":memory:"
    loc = os.path.expanduser(loc)  # "~/studies.db", as a shell would read it
    if "://" in loc:
        raise UserInputError(
            f"storage {loc!r} is not supported; give a file path or a sqlite:///path.db URL."
        )
    return loc


_F = TypeVar("_F", bound=Callable[..., Any])


def _remedy(e: sqlite3.Error) -> str | None:
    """What to do about an SQLite failure around the store (not in it); ``None``: unknown."""
    msg = str(e).lower()
    if "full" in msg or "i/o" in msg:
        return "free disk space on its drive, then run again (the store itself is kept)"
    if "locked" in msg or "busy" in msg:
        return "stop the other process writing it, then run again"
    if "unable to open" in msg or "readonly" in msg:
        return "make the store and its folder writable (SQLite keeps its journal beside it)"
    return None


def _sqlite_errors(method: _F) -> _F:
    """One sentence for an SQLite failure in a store method: a damaged file (restore a
    backup) or a condition around it (disk full, lock, permissions), never sqlite3's traceback."""

    @functools.wraps(method)
    def wrapper(self: SQLiteStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.OperationalError as e:  # e.g. a full disk while writing
            remedy = _remedy(e) or "check the file and its folder, then run again"
            raise StorageError(f"could not use {self.path!r} ({e}); {remedy}.") from None
        except sqlite3.DatabaseError as e:
            if isinstance(e, (sqlite3.IntegrityError, sqlite3.ProgrammingError)):
                raise  # a caller's mistake (a closed store, another thread), not a damaged file
            raise StorageError(
                f"{self.path!r} is damaged ({e}); restore a backup of the store."
            ) from None

    return wrapper  # type: ignore[return-value]


class SQLiteStore:
    """Studies and trials in one SQLite file.

    Args:
        location: a file path, a ``sqlite:///path.db`` URL, or ``None`` / ``":memory:"`` for a
            throwaway in-memory store.
        readonly: open an existing file for reading only (never creates or migrates it).
    """

    def __init__(
        self, location: str | os.PathLike[str] | None = None, *, readonly: bool = False
    ) -> None:
        self.path = store_path(location)
        self.readonly = readonly
        self.closed = False
        self.created = False  # whether opening it created the file
        self._conn = self._connect()

    # ----------------------------------------------------------------- opening
    def _connect(self) -> sqlite3.Connection:
        memory = self.path == ":memory:"
        existed = memory or Path(self.path).exists()
        if not memory:
            self._check_file()
        try:
            if self.readonly and not memory:
                uri = "file:" + Path(self.path).absolute().as_posix() + "?mode=ro"
                if self._unwritable_and_settled():
                    uri += "&immutable=1"
                conn = sqlite3.connect(uri, uri=True, timeout=_BUSY_MS / 1000, isolation_level=None)
            else:
                conn = sqlite3.connect(self.path, timeout=_BUSY_MS / 1000, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
            self._init_retrying(conn, memory)
            self.created = not existed
        except sqlite3.DatabaseError as e:
            if not existed and isinstance(e, sqlite3.OperationalError):
                raise UserInputError(
                    f"storage {self.path!r} cannot be created ({e}); choose a writable location."
                ) from None
            if isinstance(e, sqlite3.OperationalError) and "readonly" in str(e).lower():
                raise UserInputError(
                    f"storage {self.path!r} is read-only; make it writable or choose another path."
                ) from None
            remedy = _remedy(e) if isinstance(e, sqlite3.OperationalError) else None
            if remedy is not None:  # the file may be fine: say what is wrong around it
                raise StorageError(f"could not open {self.path!r} ({e}); {remedy}.") from None
            raise StorageError(
                f"{self.path!r} is not a usable metanas store ({e}); pick another file or restore a backup."
            ) from None
        return conn

    def _unwritable_and_settled(self) -> bool:
        """Whether a read-only open must not touch the store's side files: the file or its
        directory is not writable (a plain read-only open would fail, or leave ``-shm`` and
        ``-wal`` files as unwritable as the store, which break it once it is made writable
        again), and no ``-wal`` file holds changes not yet in the store itself."""
        p = Path(self.path)
        if os.access(p, os.W_OK) and os.access(p.parent, os.W_OK):
            return False
        return not Path(f"{self.path}-wal").exists()

    def _check_file(self) -> None:
        p = Path(self.path)
        if p.is_dir():
            raise UserInputError(
                f"storage {self.path!r} is a directory; give a file path such as {p / 'studies.db'}."
            )
        if p.exists() and not p.is_file():  # a pipe would hang, a device fail obscurely
            raise UserInputError(
                f"storage {self.path!r} is not a regular file (a pipe or device); give a file "
                "path such as metanas.db."
            )
        if not p.exists():
            if self.readonly:
                raise UserInputError(
                    f"no store at {self.path!r}; check the path (nothing was created)."
                )
            parent = p.parent if str(p.parent) else Path(".")
            if not parent.is_dir():
                raise UserInputError(
                    f"directory {str(parent)!r} of storage {self.path!r} does not exist; create it first."
                )
            if not os.access(parent, os.W_OK):
                raise UserInputError(
                    f"directory {str(parent)!r} is not writable, so storage {self.path!r} cannot be "
                    "created; choose a writable location."
                )
            return
        with open(p, "rb") as f:
            head = f.read(len(_HEADER))
        if head and head != _HEADER:
            raise StorageError(
                f"{self.path!r} is not an SQLite file; metanas left it untouched, pick another path."
            )
        if not self.readonly and not (os.access(p, os.W_OK) and os.access(p.parent, os.W_OK)):
            raise UserInputError(
                f"storage {self.path!r} (or its directory) is read-only; make it writable or choose another path."
            )

    def _init_retrying(self, conn: sqlite3.Connection, memory: bool) -> None:
        """``_init``, retried while another process is creating the same file: switching to WAL
        can answer "database is locked" at once, without waiting on the busy timeout."""
        deadline = time.monotonic() + _BUSY_MS / 1000
        delay = 0.02
        while True:
            try:
                self._init(conn, memory)
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _init(self, conn: sqlite3.Connection, memory: bool) -> None:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "meta" not in tables:
            raise StorageError(
                f"{self.path!r} is an SQLite file of another program (tables: "
                f"{', '.join(sorted(tables)[:5])}); metanas left it untouched, pick another path."
            )
        if tables:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            if meta.get("app") != _APP:
                raise StorageError(
                    f"{self.path!r} is not a metanas store; metanas left it untouched, pick another path."
                )
            try:
                version = int(meta.get("schema_version", "0"))
            except ValueError:
                raise StorageError(
                    f"{self.path!r} has a damaged schema version "
                    f"({meta.get('schema_version')!r}); restore a backup of the store."
                ) from None
            if version > SCHEMA_VERSION:
                raise StorageError(
                    f"{self.path!r} was written by a newer metanas (schema {version} > {SCHEMA_VERSION}); "
                    "upgrade metanas to read it."
                )
        if self.readonly:
            if not tables:
                raise StorageError(
                    f"{self.path!r} holds no metanas studies (an empty SQLite file); run metanas search with it as --storage first, or check the path."
                )
            return
        if not memory:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        if not tables:
            with _transaction(conn):
                for stmt in filter(str.strip, _SCHEMA.split(";")):
                    conn.execute(stmt)
                conn.execute("INSERT OR REPLACE INTO meta VALUES ('app', ?)", (_APP,))
                conn.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )

    def _write(self) -> Any:
        if self.readonly:
            raise StorageError(
                f"store {self.path!r} was opened read-only; open it without readonly to write."
            )
        return _transaction(self._conn)

    @contextmanager
    def _damaged(self, what: str) -> Iterator[None]:
        """Reading rows: one that is not what metanas wrote (edited by hand, damaged) reads clearly."""
        try:
            yield
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise StorageError(
                f"{self.path!r} holds a damaged {what} ({type(e).__name__}: {e}); "
                "restore a backup of the store."
            ) from None

    # ----------------------------------------------------------------- studies
    @_sqlite_errors
    def create_study(
        self, name: str, space: Mapping[str, Any], task: TaskInfo, config: Mapping[str, Any]
    ) -> int:
        check_study_name(name)
        try:
            with self._write():
                cur = self._conn.execute(
                    "INSERT INTO studies (name, space, task, config, created_at) VALUES (?, ?, ?, ?, ?)",
                    (
                        name,
                        _dumps(dict(space)),
                        _dumps(task.to_dict()),
                        _dumps(dict(config)),
                        time.time(),
                    ),
                )
        except sqlite3.IntegrityError:
            raise StudyExists(name, str(self.path)) from None
        return int(cur.lastrowid or 0)

    @_sqlite_errors
    def update_config(self, study_id: int, config: Mapping[str, Any]) -> None:
        with self._write():
            self._conn.execute(
                "UPDATE studies SET config=? WHERE id=?", (_dumps(dict(config)), study_id)
            )

    @_sqlite_errors
    def get_study(self, name: str) -> StudyInfo | None:
        rows = self._study_rows("WHERE s.name = ?", (name,))
        return rows[0] if rows else None

    @_sqlite_errors
    def studies(self, on_damaged: Callable[[str], None] | None = None) -> list[StudyInfo]:
        """Every study; a damaged row raises, or with ``on_damaged`` is skipped and described to
        it (a listing can still show the intact ones)."""
        return self._study_rows("", (), on_damaged)

    def _study_rows(
        self,
        where: str,
        args: tuple[Any, ...],
        on_damaged: Callable[[str], None] | None = None,
    ) -> list[StudyInfo]:
        sql = f"""
            SELECT s.id, s.name, s.space, s.task, s.config, s.created_at,
                   SUM(t.state = 'complete'), SUM(t.state = 'failed'), SUM(t.state = 'running'),
                   MAX(CASE WHEN t.state = 'complete' THEN t.value END),
                   MIN(CASE WHEN t.state = 'complete' THEN t.value END),
                   SUM(t.state = 'pruned')
            FROM studies s LEFT JOIN trials t ON t.study_id = s.id
            {where} GROUP BY s.id ORDER BY s.id"""
        out = []
        for r in self._conn.execute(sql, args):
            try:
                out.append(self._study_info(r))
            except StorageError as e:
                if on_damaged is None:
                    raise
                on_damaged(str(e))
        return out

    def _study_info(self, r: Any) -> StudyInfo:
        with self._damaged(f"row of study {r[1]!r}"):
            config = json.loads(r[4])
            best = r[10] if config.get("direction") == "minimize" else r[9]
            return StudyInfo(
                id=r[0],
                name=r[1],
                space=_typed(json.loads(r[2]), dict, "space"),
                task=TaskInfo.from_dict(json.loads(r[3])),
                config=_typed(config, dict, "config"),
                created_at=_typed(r[5], (int, float), "created_at"),
                n_complete=int(r[6] or 0),
                n_failed=int(r[7] or 0),
                n_running=int(r[8] or 0),
                n_pruned=int(r[11] or 0),
                best_value=_number(best, "best value"),
            )

    # ----------------------------------------------------------------- trials
    @_sqlite_errors
    def record(self, study_id: int, trial: Trial) -> None:
        row = (
            study_id,
            trial.number,
            _dumps(dict(trial.arch)),
            trial.key,
            trial.state.value,
            _budget_json(trial.budget),
            trial.value,
            _dumps(dict(trial.metrics)),
            trial.error,
            float(trial.cost),
            _dumps([dict(c) for c in trial.curve]),
            _dumps(dict(trial.info)),
            trial.started_at,
            trial.finished_at,
            trial.asked_seq,
            trial.told_seq,
        )
        with self._write():
            self._conn.execute(_INSERT_TRIAL, row)

    @_sqlite_errors
    def trials(self, study_id: int) -> list[Trial]:
        rows = self._conn.execute(
            f"SELECT {_TRIAL_COLS} FROM trials WHERE study_id = ? ORDER BY number", (study_id,)
        )
        out = []
        for r in rows:
            with self._damaged(f"row of trial {r[0]} (study id {study_id})"):
                out.append(self._trial(r))
        return out

    @staticmethod
    def _trial(r: Any) -> Trial:
        curve = _typed(json.loads(r[9]), list, "curve")
        for point in curve:
            _typed(point, dict, "curve point")
        return Trial(
            number=_typed(r[0], int, "number"),
            arch=_typed(json.loads(r[1]), dict, "arch"),
            key=_typed(r[2], str, "key"),
            state=TrialState(r[3]),
            budget=Budget.from_dict(json.loads(r[4])) if r[4] is not None else None,
            value=_number(r[5], "value"),
            metrics=_typed(json.loads(r[6]), dict, "metrics"),
            error=r[7],
            cost=_typed(r[8], (int, float), "cost"),
            curve=tuple(curve),
            info=_typed(json.loads(r[10]), dict, "info"),
            started_at=_number(r[11], "started_at"),
            finished_at=_number(r[12], "finished_at"),
            asked_seq=_typed(r[13], int, "asked_seq"),
            told_seq=None if r[14] is None else _typed(r[14], int, "told_seq"),
        )

    @_sqlite_errors
    def record_duplicate(self, study_id: int, dup: Duplicate) -> None:
        row = (
            study_id,
            dup.asked_seq,
            dup.told_seq,
            dup.of_number,
            _dumps(dict(dup.arch)),
            dup.key,
            _budget_json(dup.budget),
            _dumps(dict(dup.info)),
        )
        with self._write():
            self._conn.execute(_INSERT_DUP, row)

    @_sqlite_errors
    def duplicates(self, study_id: int) -> list[Duplicate]:
        rows = self._conn.execute(
            "SELECT asked_seq, told_seq, of_number, arch, key, budget, info FROM duplicates "
            "WHERE study_id = ? ORDER BY asked_seq",
            (study_id,),
        )
        with self._damaged("duplicate row"):
            return [
                Duplicate(
                    of_number=r[2],
                    arch=json.loads(r[3]),
                    key=r[4],
                    asked_seq=r[0],
                    told_seq=r[1],
                    budget=Budget.from_dict(json.loads(r[5])) if r[5] is not None else None,
                    info=json.loads(r[6]),
                )
                for r in rows
            ]

    # ----------------------------------------------------------------- one writer per study
    @_sqlite_errors
    def acquire_lock(self, study_id: int, owner: str, *, stale_after: float = LOCK_STALE_S) -> None:
        """Make ``owner`` (``host:pid``) the one process optimizing the study, or raise
        :class:`UserInputError` naming the live holder. A holder whose process is gone (this host)
        or silent for ``stale_after`` seconds (another host) is replaced, so a resume after a
        crash works.
        """
        host, _, pid = owner.rpartition(":")
        with self._write():
            self._conn.execute(_LOCKS)  # stores written before locks existed gain the table
            row = self._lock_row(study_id)
            now = time.time()
            if row is not None and row[0] != owner and not _stale(row, now, stale_after):
                name = self._conn.execute(
                    "SELECT name FROM studies WHERE id = ?", (study_id,)
                ).fetchone()
                raise StudyBusy(
                    f"study {name[0] if name else study_id!r} is being optimized by process "
                    f"{row[2]} on {row[1]} (last seen {now - row[3]:.0f} s ago); run one process "
                    "per study and add --workers or --executor ray for parallel trials, or wait "
                    "for it to finish."
                )
            self._conn.execute(
                "INSERT OR REPLACE INTO locks VALUES (?, ?, ?, ?, ?)",
                (study_id, owner, host, int(pid), now),
            )

    @_sqlite_errors
    def writer(self, study_id: int, *, stale_after: float = LOCK_STALE_S) -> str | None:
        """The live process optimizing the study (``host:pid``), or ``None``: trials still
        ``running`` without one were left by a process that stopped, and a resume redoes them."""
        try:
            row = self._lock_row(study_id)
        except sqlite3.OperationalError:  # a store from before locks existed
            return None
        return None if row is None or _stale(row, time.time(), stale_after) else str(row[0])

    def _lock_row(self, study_id: int) -> tuple[Any, ...] | None:
        """``(owner, host, pid, heartbeat)`` of the study's lock, if one is held."""
        row = self._conn.execute(
            "SELECT owner, host, pid, heartbeat FROM locks WHERE study_id = ?", (study_id,)
        ).fetchone()
        return None if row is None else tuple(row)

    def keep_alive(
        self, study_id: int, owner: str, *, every: float | None = None
    ) -> KeepAlive | None:
        """Beat ``owner``'s lock every ``every`` seconds (default ``HEARTBEAT_S``) from a thread
        of its own while the caller runs trials (an in-memory store has no other process to
        tell: ``None``)."""
        if self.path == ":memory:" or self.readonly:
            return None
        return KeepAlive(self.path, study_id, owner, HEARTBEAT_S if every is None else every)

    @_sqlite_errors
    def lock_owner(self, study_id: int) -> str | None:
        """Who holds the study's lock (``host:pid``), live or not."""
        row = self._lock_row(study_id)
        return None if row is None else str(row[0])

    @_sqlite_errors
    def release_lock(self, study_id: int, owner: str) -> None:
        if self.readonly:
            return
        with self._write():
            self._conn.execute(_LOCKS)
            self._conn.execute(
                "DELETE FROM locks WHERE study_id = ? AND owner = ?", (study_id, owner)
            )

    @_sqlite_errors
    def fingerprint(self, study_id: int) -> tuple[int, int]:
        """``(trials, highest sequence number)``: changes whenever the study is written to."""
        n, a, b = self._conn.execute(
            "SELECT COUNT(*), MAX(asked_seq), MAX(told_seq) FROM trials WHERE study_id = ?",
            (study_id,),
        ).fetchone()
        c, d = self._conn.execute(
            "SELECT MAX(asked_seq), MAX(told_seq) FROM duplicates WHERE study_id = ?", (study_id,)
        ).fetchone()
        return int(n), max(x for x in (a, b, c, d, -1) if x is not None)

    def close(self) -> None:
        self._conn.close()
        self.closed = True

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"


_T = TypeVar("_T")


def _typed(x: Any, kind: type[_T] | tuple[type, ...], what: str) -> _T:
    """``x`` if it has the type metanas wrote (a hand-edited row may not): else TypeError."""
    if not isinstance(x, kind) or isinstance(x, bool):
        raise TypeError(f"{what} is {x!r}")
    return x  # type: ignore[return-value]


def _number(x: Any, what: str) -> float | None:
    return None if x is None else _typed(x, (int, float), what)  # type: ignore[return-value]


class StudyBusy(UserInputError):
    """Another live process is optimizing the study."""


def _beat(conn: sqlite3.Connection, study_id: int, owner: str) -> bool:
    """Tell other processes ``owner`` is alive; ``False`` if it no longer holds the lock."""
    cur = conn.execute(
        "UPDATE locks SET heartbeat = ? WHERE study_id = ? AND owner = ?",
        (time.time(), study_id, owner),
    )
    return cur.rowcount > 0


class KeepAlive:
    """Beats a study's lock every ``every`` seconds from a daemon thread with a connection of
    its own, so the lock stays fresh while the main thread spends hours in one trial (or a user
    takes their time between ``ask`` and ``tell``). It stops when another process took the lock
    over (it judged this one gone); the study sees that before each write (``lock_owner``)."""

    def __init__(self, path: str, study_id: int, owner: str, every: float) -> None:
        self._args = (path, study_id, owner, every)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metanas-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        path, study_id, owner, every = self._args
        try:
            conn = sqlite3.connect(path, timeout=_BUSY_MS / 1000, isolation_level=None)
        except sqlite3.Error:  # the main thread's next write names what is wrong
            return
        try:
            while not self._done.wait(every):
                try:
                    if not _beat(conn, study_id, owner):
                        return
                except sqlite3.Error:  # busy or a full disk: the next beat tries again
                    continue
        finally:
            conn.close()

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=5.0)


def _stale(row: tuple[Any, ...], now: float, stale_after: float) -> bool:
    """Whether a lock's owner is gone. On this host its process decides (a trial may run for
    longer than ``stale_after`` between heartbeats); from another host, the heartbeat does."""
    _, host, pid, heartbeat = row
    if host != socket.gethostname():
        return bool(now - heartbeat > stale_after)  # cannot see its processes
    if now - heartbeat > LOCK_SILENT_S:  # e.g. containers sharing a host name, not their pids
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by another user
        pass
    stat = _proc_stat(int(pid))
    if stat is None:  # no /proc (e.g. macOS): alive is alive
        return False
    if stat[0] == "Z":  # a killed child its parent has not reaped yet: gone all the same
        return True
    # a pid reused by a process that started after the owner's last heartbeat is not the owner
    return stat[1] is not None and stat[1] > heartbeat + 1.0


def _proc_stat(pid: int) -> tuple[str, float | None] | None:
    """A process's state letter and start time (epoch seconds) from /proc, if readable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    try:
        with open("/proc/stat") as f:
            boot = next(float(line.split()[1]) for line in f if line.startswith("btime "))
        started: float | None = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, IndexError, ValueError):
        started = None
    return fields[0], started


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock up front, so a concurrent writer waits (busy timeout)
    # instead of failing half-way with "database is locked"
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def discard_if_new(store: Any) -> None:
    """Close ``store`` and remove its files if opening it created them and it holds no study
    (what a call that failed half-way leaves: nothing to keep, a file to trip over)."""
    if not getattr(store, "created", False) or store.closed:
        return
    try:
        if store.studies():
            return
    except StorageError:
        return
    store.close()
    for suffix in ("", "-wal", "-shm", "-journal"):
        with suppress(FileNotFoundError):
            os.remove(f"{store.path}{suffix}")


def open_store(storage: Any, *, readonly: bool = False) -> Any:
    """A store from ``None`` (in memory), a path, a ``sqlite:///`` URL, or a store object."""
    if storage is None or isinstance(storage, (str, os.PathLike)):
        return SQLiteStore(storage, readonly=readonly)
    for method in ("create_study", "record", "trials", "get_study"):
        if not callable(getattr(storage, method, None)):
            raise UserInputError(
                f"storage {storage!r} is not a store (lacks {method}()); pass a path, a sqlite:/// URL or a Store."
            )
    return storage
