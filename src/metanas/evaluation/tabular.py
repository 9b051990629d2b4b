"""Benchmark tables as evaluators: an architecture is "trained" by looking its row up.

A :class:`TableEvaluator` reads a CSV once per process (``csv`` module + numpy, no pandas) and
answers :meth:`TableEvaluator.evaluate` from it: the strategy sees the objective column (validation
accuracy), the ``report`` column (test accuracy) rides along in the metrics, as in the
NAS-Bench-201 protocol. A table may hold several fidelities (``budget.epochs``): 12 and 200 epochs
for NAS-Bench-201, 4/12/36/108 for NAS-Bench-101.

Example:
    >>> from metanas.evaluation.tabular import nb201_table
    >>> from metanas.space.nb201 import nb201_from_string
    >>> ev = nb201_table("cifar10")
    >>> r = ev.evaluate(nb201_from_string(ev.best_arch()), None, lambda s, m: "continue")
    >>> round(r.value, 2), round(r.metrics["test_acc"], 2)
    (91.61, 94.37)
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from metanas.evaluation.base import Reporter
from metanas.space.base import Space, as_rng
from metanas.space.wrapper import SpaceWrapper
from metanas.types import (
    Architecture,
    Budget,
    Decision,
    Result,
    TaskInfo,
    TrialState,
    UserInputError,
)

TABLES_DIR = Path(__file__).resolve().parent.parent / "tables"

# NB201 has no training-time column. Proxy (stated in the docs): simulated seconds per epoch
# = 5 + 20 * params_m, an affine function of the parameter count (0.07 M -> 6.4 s, 1.53 M -> 35.6 s).
# Absolute values are illustrative; what multi-fidelity strategies need are the ratios between
# cells and between fidelities (12 vs 200 epochs), which it keeps.
NB201_SECONDS_PER_EPOCH = (5.0, 20.0)


# --------------------------------------------------------------------- the in-memory table
@dataclass(frozen=True)
class Table:
    """Columns of a CSV: every column as strings, the numeric ones also as float arrays."""

    path: str
    header: tuple[str, ...]
    numeric: Mapping[str, np.ndarray]
    text: Mapping[str, tuple[str, ...]]

    def __len__(self) -> int:
        return (
            len(next(iter(self.text.values())))
            if self.text
            else len(next(iter(self.numeric.values())))
        )

    def column(self, name: str) -> tuple[str, ...]:
        """The raw strings of column ``name``."""
        if name in self.text:
            return self.text[name]
        raise UserInputError(
            f"table {self.path} has no column {name!r}; use one of {', '.join(self.header)}."
        )


_TABLES: dict[str, Table] = {}
#: entries a TableEvaluator's architecture -> row cache holds before it starts over
_ROW_CACHE_MAX = 1 << 20
# (table path, space, arch column) -> row index; like the tables, built once per process
_INDEXES: dict[tuple[str, str, str], _Index] = {}


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def load_table(path: str | Path) -> Table:
    """Read a CSV (optionally ``.gz``) once per process; later calls return the cached table."""
    p = Path(path).expanduser()
    cache_key = str(p.resolve()) if p.exists() else str(p)
    hit = _TABLES.get(cache_key)
    if hit is not None:
        return hit
    if not p.is_file():
        what = "is a folder" if p.is_dir() else "does not exist"
        raise UserInputError(f"table file {str(p)!r} {what}; give the path of a CSV file.")
    with _open_text(p) as f:
        reader = csv.reader(f)
        try:
            header = tuple(h.strip() for h in next(reader))
        except StopIteration:
            raise UserInputError(
                f"table file {str(p)!r} is empty; give a CSV with a header row."
            ) from None
        cols: list[list[str]] = [[] for _ in header]
        for i, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise UserInputError(
                    f"line {i} of {str(p)!r} has {len(row)} fields, the header {len(header)}; fix the CSV."
                )
            for c, v in zip(cols, row):
                c.append(v)
    numeric: dict[str, np.ndarray] = {}
    text: dict[str, tuple[str, ...]] = {}
    for name, values in zip(header, cols):
        text[name] = tuple(values)  # kept for every column: bit strings like "0101" look numeric
        with contextlib.suppress(ValueError):
            numeric[name] = np.array([float(v) if v.strip() else math.nan for v in values])
    table = Table(path=str(p), header=header, numeric=numeric, text=text)
    _TABLES[cache_key] = table
    return table


def packaged_table_path(name: str) -> Path:
    """Path of a table shipped with metanas (``nb201.csv`` or ``nb101_subset.csv``, maybe gzipped)."""
    for cand in (TABLES_DIR / f"{name}.gz", TABLES_DIR / name):
        if cand.is_file():
            return cand
    raise UserInputError(
        f"packaged table {name!r} is missing from {TABLES_DIR}; reinstall metanas."
    )


# --------------------------------------------------------------------- architecture <-> row
def _space(name: str) -> Any:
    from importlib import import_module

    from metanas.space import get_space

    import_module(f"metanas.space.{name}")  # registers the space, whatever space/__init__ imports
    return get_space(name)


def _row_names_nb201(table: Table, arch_column: str) -> list[str]:
    from metanas.space.nb201 import nb201_from_string, nb201_to_string

    col = table.column(arch_column)
    out = []
    for i, s in enumerate(col):
        try:
            out.append(nb201_to_string(nb201_from_string(str(s))))
        except UserInputError as e:
            raise UserInputError(
                f"row {i + 1} of {table.path}, column {arch_column!r}: {e}"
            ) from None
    return out


@dataclass(frozen=True)
class _Index:
    """How to find an architecture's row, and the architectures of the rows."""

    row_of: Mapping[str, int]
    name_of: Callable[[Architecture], str]
    arch_of: Callable[[int], dict[str, Any]]


# --------------------------------------------------------------------- the evaluator
class TableEvaluator:
    """Look-up evaluator over a benchmark table.

    Args:
        path: CSV file (``.csv`` or ``.csv.gz``).
        space: registered space name (``nb201`` or ``nb101``); its architectures index the rows.
        arch_column: for ``nb201``, the column of benchmark strings; for ``nb101``, the hash column.
        objective: column the strategy maximises at the full fidelity.
        report: column reported alongside (e.g. test accuracy), or ``None``.
        fidelities: ``{epochs: (objective column, report column or None)}``; default: the one pair.
        metric_names: names of objective and report in :attr:`Result.metrics`
            (default: the column names of the highest fidelity).
        cost: ``"nb201"`` (params proxy), ``"nb101"`` (``final_training_time_108 * epochs/108``),
            or ``None`` (zero cost).
        name: task name for :meth:`task_info`.
        extra: numeric columns added to every result's metrics under their own names, e.g.
            ``("params_m", "lat_pixel3_ms")`` for a Pareto front of accuracy against latency.
    """

    def __init__(
        self,
        path: str | Path,
        space: str = "nb201",
        arch_column: str = "arch",
        objective: str = "c10_valid_acc_200",
        report: str | None = None,
        fidelities: Mapping[float, tuple[str, str | None]] | None = None,
        metric_names: tuple[str, str] | None = None,
        cost: str | None = None,
        name: str = "table",
        extra: Sequence[str] = (),
    ) -> None:
        self.path = str(path)
        self.space_name = space
        self.arch_column = arch_column
        self.fidelities = dict(fidelities) if fidelities else {0.0: (objective, report)}
        self.metric_names = metric_names or (objective, report or "report")
        self.objective = self.metric_names[0]
        self.cost_model = cost
        self.name = name
        self.extra = tuple(extra)
        self._index: _Index | None = None
        self._table: Table | None = None
        # raw architecture values -> row (or None): the canonical key (NB101: an md5 graph hash,
        # ~0.3 ms) is computed once per distinct encoding; searches ask the same cells again
        self._row_cache: dict[tuple[Any, ...], int | None] = {}

    @classmethod
    def from_csv(
        cls,
        path: str | Path,
        space: str = "nb201",
        arch_column: str = "arch",
        objective: str = "val_acc",
        report: str | None = None,
    ) -> TableEvaluator:
        """A user table; checks file, columns and every architecture string now (fail early)."""
        if space != "nb201":
            raise UserInputError(
                f"user tables support space 'nb201' (benchmark strings), not {space!r}; convert the arch column."
            )
        ev = cls(
            path,
            space=space,
            arch_column=arch_column,
            objective=objective,
            report=report,
            name=Path(path).stem,
        )
        ev._check()
        if len(ev._get_index().row_of) < len(ev.table):  # which value would be the answer?
            first: dict[str, int] = {}
            for i, name in enumerate(_row_names_nb201(ev.table, arch_column)):
                if name in first:
                    raise UserInputError(
                        f"table file {str(path)!r} lists architecture {name} twice (rows "
                        f"{first[name] + 1} and {i + 1}); keep one row per architecture."
                    )
                first[name] = i
        return ev

    # ----------------------------------------------------------------- loading
    @property
    def table(self) -> Table:
        # held on the instance: the module cache's path lookup costs more than a table query
        if self._table is None:
            table = load_table(self.path)
            for col in self.extra:  # checked once here, not on every evaluation
                self._numeric(table, col)
            self._table = table
        return self._table

    def _numeric(self, table: Table, name: str) -> np.ndarray:
        """Column ``name`` of ``table``; :class:`UserInputError` if missing or not numeric."""
        table.column(name)  # raises naming the columns if missing
        if name not in table.numeric:
            raise UserInputError(
                f"column {name!r} of {self.path} is not numeric; choose a numeric column."
            )
        return table.numeric[name]

    def _check(self) -> None:
        t = self.table
        for obj, rep in self.fidelities.values():
            for col in (obj, rep):
                if col is not None:
                    self._numeric(t, col)
        t.column(self.arch_column)
        self._get_index()

    def _get_index(self) -> _Index:
        if self._index is not None:
            return self._index
        t = self.table
        cache_key = (t.path, self.space_name, self.arch_column)
        self._index = _INDEXES.get(cache_key)
        if self._index is None:
            self._index = self._build_index(t)
            _INDEXES[cache_key] = self._index
        return self._index

    def _build_index(self, t: Table) -> _Index:
        if self.space_name == "nb201":
            from metanas.space.nb201 import nb201_from_string, nb201_to_string

            names = _row_names_nb201(t, self.arch_column)
            return _Index(
                row_of={n: i for i, n in enumerate(names)},
                name_of=nb201_to_string,
                arch_of=lambda i: nb201_from_string(names[i]),
            )
        if self.space_name == "nb101":
            space = _space("nb101")
            from metanas.space.nb101 import nb101_from_row

            hashes = t.column(self.arch_column)
            nv, adj, ops = (
                t.column("n_vertices"),
                t.column("adj_bits_rowmajor"),
                t.column("ops_code"),
            )
            return _Index(
                row_of={h: i for i, h in enumerate(hashes)},
                name_of=space.key,
                arch_of=lambda i: nb101_from_row(int(nv[i]), adj[i], ops[i]),
            )
        raise UserInputError(f"tables support spaces 'nb201' and 'nb101', not {self.space_name!r}.")

    def __getstate__(self) -> dict[str, Any]:
        # the table and its index are rebuilt (and cached) in the receiving process
        state = dict(self.__dict__)
        state["_index"] = None
        state["_table"] = None
        state["_row_cache"] = {}
        return state

    # ----------------------------------------------------------------- queries
    def row(self, arch: Architecture) -> int | None:
        """Row number of ``arch``, or ``None`` when the table lacks it (cached per encoding)."""
        try:
            raw = tuple(sorted(arch.items()))
            hit = self._row_cache.get(raw, -1)
        except TypeError:  # unhashable values: no cache
            raw, hit = None, -1
        if hit != -1:
            return hit
        idx = self._get_index()
        try:
            found = idx.row_of.get(idx.name_of(arch))
        except UserInputError:
            found = None
        if raw is not None:
            if len(self._row_cache) >= _ROW_CACHE_MAX:  # bound memory in very long searches
                self._row_cache.clear()
            self._row_cache[raw] = found
        return found

    def contains(self, arch: Architecture) -> bool:
        return self.row(arch) is not None

    def __len__(self) -> int:
        return len(self.table)

    def arch(self, row: int) -> dict[str, Any]:
        """The architecture of row ``row``."""
        return self._get_index().arch_of(row)

    def values(self, column: str | None = None) -> np.ndarray:
        """A numeric column (default: the full-fidelity objective)."""
        return self._numeric(self.table, column or self._levels()[-1][1][0])

    def best_row(self) -> int:
        """Row with the highest full-fidelity objective (NaN rows ignored)."""
        return int(np.nanargmax(self.values()))

    def best_arch(self) -> str:
        """Row name (benchmark string or hash) of the best objective."""
        idx = self._get_index()
        b = self.best_row()
        return next(n for n, i in idx.row_of.items() if i == b)

    def _levels(self) -> list[tuple[float, tuple[str, str | None]]]:
        return sorted(self.fidelities.items())

    def _cost(self, row: int, epochs: float) -> float:
        t = self.table
        if self.cost_model == "nb201":
            a, b = NB201_SECONDS_PER_EPOCH
            return float(epochs * (a + b * t.numeric["params_m"][row]))
        if self.cost_model == "nb101":
            return float(t.numeric["final_training_time_108"][row] * epochs / 108.0)
        return 0.0

    # ----------------------------------------------------------------- Evaluator protocol
    def evaluate(self, arch: Architecture, budget: Budget | None, report: Reporter) -> Result:
        """Look ``arch`` up at the fidelity ``budget.epochs`` selects.

        The largest table fidelity not above ``budget.epochs`` is used (the smallest one if the
        budget is below all); ``None`` means the highest. ``report(epochs, metrics)`` is called at
        each table fidelity up to it; a STOP answer ends the trial there as PRUNED.
        """
        row = self.row(arch)
        if row is None:
            return Result.failed(f"not in table {Path(self.path).name}")
        levels = self._levels()
        target = len(levels) - 1
        if budget is not None and budget.epochs is not None:
            below = [i for i, (e, _) in enumerate(levels) if e <= budget.epochs]
            target = below[-1] if below else 0
        obj_name, rep_name = self.metric_names
        t = self.table
        curve: list[dict[str, float]] = []
        state = TrialState.COMPLETE
        for i, (epochs, (obj_col, rep_col)) in enumerate(levels[: target + 1]):
            m = {obj_name: float(t.numeric[obj_col][row])}
            if rep_col is not None:
                m[rep_name] = float(t.numeric[rep_col][row])
            if epochs:
                m["epochs"] = float(epochs)
            curve.append(m)
            if len(levels) > 1 and report(int(epochs), m) == Decision.STOP and i < target:
                state = TrialState.PRUNED
                break
        last = curve[-1] | self._extra_metrics(row)
        value = last[obj_name]
        cost = self._cost(row, last.get("epochs", levels[-1][0]))
        if value != value:  # NaN in the table
            return Result.failed(
                "table has no value for this architecture", cost=cost, metrics=last
            )
        return Result(value=value, metrics=dict(last), state=state, cost=cost, curve=tuple(curve))

    def check_extra(self) -> None:
        """Raise :class:`UserInputError` now if an ``extra`` column is missing or not numeric
        (loading the table checks them; without extras nothing is loaded)."""
        if self.extra:
            _ = self.table

    def _extra_metrics(self, row: int) -> dict[str, float]:
        numeric = self.table.numeric
        return {col: float(numeric[col][row]) for col in self.extra}

    def task_info(self) -> TaskInfo:
        return TaskInfo(name=self.name, modality="table", n_samples=len(self.table))

    def check_space(self, space: Space, n: int = 32) -> None:
        """Refuse a space this table cannot answer, before a study stores anything: another
        kind, or one whose samples are mostly not in the table (most trials would fail)."""
        table = Path(self.path).name
        while isinstance(space, SpaceWrapper):  # sampled below: a wrapper may hand out seeds
            if isinstance(space, TableSpace):
                return  # already limited to a table's rows
            space = space.inner
        if space.kind != self.space_name:
            raise UserInputError(
                f"table {table} holds {self.space_name} architectures, not {space.kind} ones; "
                f"search space {self.space_name!r} with it."
            )
        rng = np.random.default_rng(0)
        held = sum(self.contains(space.sample(rng)) for _ in range(n))
        if held < n / 2:
            raise UserInputError(
                f"table {table} holds only {held} of {n} architectures sampled from this space; "
                "search evaluator.restrict() (the space limited to the table's rows) instead."
            )

    def restrict(self, space: Space | None = None) -> TableSpace:
        """``space`` (default: the table's space) limited to the architectures the table holds."""
        return TableSpace(space if space is not None else _space(self.space_name), self)

    def __repr__(self) -> str:
        return f"TableEvaluator({Path(self.path).name!r}, objective={self.objective!r})"


# --------------------------------------------------------------------- the packaged tables
_NB201_PREFIX = {"cifar10": "c10", "cifar100": "c100"}


def nb201_table(dataset: str = "cifar10", extra: Sequence[str] = ()) -> TableEvaluator:
    """NAS-Bench-201 on ``cifar10`` or ``cifar100``: objective ``val_acc``, report ``test_acc``.

    Fidelities: ``budget.epochs`` 12 or 200 (default). Cost: simulated seconds, see
    :data:`NB201_SECONDS_PER_EPOCH` (the table has no training-time column). ``extra``: columns
    to record as well, e.g. ``params_m`` or a latency (``lat_raspi4_ms``, ``lat_pixel3_ms``,
    ``lat_eyeriss_ms``, ``lat_fpga_ms``, ``lat_xeon_gold6226_ms``, ``lat_gtx1080ti_b1_ms``).
    """
    try:
        p = _NB201_PREFIX[dataset]
    except KeyError:
        raise UserInputError(
            f"unknown NAS-Bench-201 data set {dataset!r}; use cifar10 or cifar100."
        ) from None
    ev = TableEvaluator(
        packaged_table_path("nb201.csv"),
        space="nb201",
        arch_column="arch",
        fidelities={e: (f"{p}_valid_acc_{e}", f"{p}_test_acc_{e}") for e in (12, 200)},
        metric_names=("val_acc", "test_acc"),
        cost="nb201",
        name=f"nb201-{dataset}",
        extra=extra,
    )
    ev.check_extra()
    return ev


def nb101_table(extra: Sequence[str] = ()) -> TableEvaluator:
    """The NAS-Bench-101 subset (10,250 cells): objective ``val_acc`` at 4/12/36/108 epochs.

    Cost: ``final_training_time_108 * epochs / 108`` seconds. Architectures outside the subset
    get a failed result; use :meth:`TableEvaluator.restrict` to search inside it. ``extra``:
    columns to record as well (``trainable_parameters``, ``final_training_time_108``).
    """
    ev = TableEvaluator(
        packaged_table_path("nb101_subset.csv"),
        space="nb101",
        arch_column="nb101_hash",
        fidelities={e: (f"val_acc_{e}", None) for e in (4, 12, 36, 108)},
        metric_names=("val_acc", "report"),
        cost="nb101",
        name="nb101-subset",
        extra=extra,
    )
    ev.check_extra()
    return ev


# --------------------------------------------------------------------- searching inside a table
class TableSpace(SpaceWrapper):
    """A space whose sample / mutate / neighbours stay inside a table's rows.

    ``sample`` draws a uniform table member. ``mutate`` retries the inner space's mutation until
    the child is another cell of the table (``tries`` times; rejection keeps the inner mutation's
    distribution where the table is dense), then draws one of the ``near`` table members nearest
    to the parent (squared distance of the inner space's features; all members tied with the
    ``near``-th are drawn alike). A sparse table (the NAS-Bench-101 subset
    holds ~2% of the space) leaves most members with no or one one-step neighbour in it; the
    nearest members keep mutation local and the mutation graph connected, so an evolutionary
    search neither turns into random search nor gets stuck on a member whose few neighbours it
    has all seen. ``neighbours`` keeps the inner neighbours that are in the table. Keys,
    features and strings are the inner space's, so stores and strategies see the same identities.
    """

    def __init__(self, inner: Space, table: TableEvaluator, tries: int = 3, near: int = 10) -> None:
        super().__init__(inner)
        self.table = table
        self.tries = tries
        self.near = near
        # key -> in-table neighbours; bounded by the table's size
        self._nb_cache: dict[str, list[dict[str, Any]]] = {}
        # row -> rows of its nearest members; features of all rows, built on first need
        self._near_cache: dict[int, np.ndarray] = {}
        self._feat: tuple[np.ndarray, np.ndarray] | None = None

    def is_valid(self, arch: Mapping[str, Any]) -> bool:
        return self.inner.is_valid(arch) and self.table.contains(arch)

    def sample(self, rng: np.random.Generator | int | None = None) -> dict[str, Any]:
        rng = as_rng(rng)
        return self.table.arch(int(rng.integers(len(self.table))))

    def mutate(
        self, arch: Mapping[str, Any], rng: np.random.Generator | int | None = None
    ) -> dict[str, Any]:
        rng = as_rng(rng)
        row = self.table.row(arch)
        for _ in range(self.tries):
            child = self.inner.mutate(arch, rng)
            found = self.table.row(child)
            # a change to a pruned-away vertex or edge gives the same cell: not a mutation
            if found is not None and found != row:
                return child
        near = self.nearest(arch)
        if len(near):
            return self.table.arch(int(near[int(rng.integers(len(near)))]))
        return self.sample(rng)

    def nearest(self, arch: Mapping[str, Any]) -> np.ndarray:
        """Rows of the ``near`` other table members closest to ``arch`` in feature space, and
        of every other member tied with the farthest of them, nearest first (ties in row order);
        cached per member row.
        """
        row = self.table.row(arch)
        if row is not None and row in self._near_cache:
            return self._near_cache[row]
        if self._feat is None:
            f = np.stack(
                [self.inner.features(self.table.arch(i)) for i in range(len(self.table))]
            ).astype(np.float32)
            self._feat = (f, (f * f).sum(1))
        f, sq = self._feat
        v = np.asarray(self.inner.features(arch), dtype=np.float32)
        d = sq - 2.0 * (f @ v)  # + |v|^2, the same for every row
        if row is not None:
            d[row] = np.inf
        k = min(self.near, len(d) - (row is not None))
        if k <= 0:
            return np.zeros(0, dtype=np.int64)
        # distances tie often: every member as close as the k-th nearest is kept, since which
        # tied rows a cut at k keeps is arbitrary (numpy's partition: by version and CPU)
        cut = np.partition(d, k - 1)[k - 1]
        out = np.flatnonzero(d <= cut)
        out = out[np.argsort(d[out], kind="stable")]
        if row is not None:
            self._near_cache[row] = out
        return out

    def _table_neighbours(self, arch: Mapping[str, Any]) -> list[dict[str, Any]]:
        k = self.inner.key(arch)
        hit = self._nb_cache.get(k)
        if hit is None:
            hit = [a for a in self.inner.neighbours(arch) if self.table.contains(a)]
            self._nb_cache[k] = hit
        return hit

    def neighbours(
        self, arch: Mapping[str, Any], rng: np.random.Generator | int | None = None
    ) -> list[dict[str, Any]]:
        if rng is not None:
            return [a for a in self.inner.neighbours(arch, rng) if self.table.contains(a)]
        return [dict(a) for a in self._table_neighbours(arch)]

    def enumerate(self) -> Iterator[dict[str, Any]]:
        for i in range(len(self.table)):
            yield self.table.arch(i)

    @property
    def size(self) -> int:
        return len(self.table)


__all__ = [
    "NB201_SECONDS_PER_EPOCH",
    "Table",
    "TableEvaluator",
    "TableSpace",
    "load_table",
    "nb101_table",
    "nb201_table",
    "packaged_table_path",
]
