"""Offline simulation of search strategies on the benchmark tables (NB201, NB101 subset).

Used by the strategy tests and benchmark scripts: load a table once, run a strategy through its
ask / tell loop by table look-up, and measure (a) distinct canonical keys queried until the
validation optimum is found, (b) test accuracy of the best-by-validation cell after N queries,
(c) for multi-fidelity strategies, the simulated training time until a target accuracy.

Example:
    >>> t = load_nb201()                                           # doctest: +SKIP
    >>> run_nb201(get_strategy("random", t.space, seed=0), t, "c10", 100)  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from metanas.space.base import Space
from metanas.space.dims import Choice
from metanas.space.nb201 import NB201_EDGES, NB201Space, nb201_from_string
from metanas.strategies.base import Strategy
from metanas.types import Result
from tables import NB101, NB201, open_table

_EDGE_NAMES = tuple(e[0] for e in NB201_EDGES)


# --------------------------------------------------------------------------- NAS-Bench-201
@dataclass
class NB201Table:
    space: NB201Space
    rows: dict[tuple[str, ...], dict[str, float]]  # ops tuple -> numeric columns

    def row(self, arch: Mapping[str, Any]) -> dict[str, float]:
        return self.rows[tuple(arch[n] for n in _EDGE_NAMES)]

    def optimum_key(self, data: str) -> str:
        col = f"{data}_valid_acc_200"
        best = max(self.rows.items(), key=lambda kv: kv[1][col])[0]
        return self.space.key(dict(zip(_EDGE_NAMES, best)))


@functools.lru_cache(maxsize=1)
def load_nb201() -> NB201Table:
    rows: dict[tuple[str, ...], dict[str, float]] = {}
    with open_table(NB201) as f:
        for r in csv.DictReader(f):
            arch = nb201_from_string(r["arch"])
            vals = {k: float(v) for k, v in r.items() if k not in ("arch", "index") and v != ""}
            rows[tuple(arch[n] for n in _EDGE_NAMES)] = vals
    return NB201Table(NB201Space(), rows)


@dataclass
class RunStats:
    queries_to_opt: int | None  # distinct keys queried when the optimum's key was first hit
    test_at: float  # test accuracy of the best-by-validation cell after ``n`` distinct queries
    distinct: int


def run_nb201(
    strat: Strategy, table: NB201Table, data: str = "c10", n: int = 100, max_asks: int | None = None
) -> RunStats:
    """Sequential ask/tell on NB201 until ``n`` distinct keys were queried (repeats are free)."""
    vcol, tcol = f"{data}_valid_acc_200", f"{data}_test_acc_200"
    opt = table.optimum_key(data)
    seen: set[str] = set()
    hit: int | None = None
    best_v, best_t = -np.inf, float("nan")
    for _ in range(max_asks or 20 * n):
        if len(seen) >= n:
            break
        c = strat.ask()
        row = table.row(c.arch)
        if c.key not in seen:
            seen.add(c.key)
            if row[vcol] > best_v:
                best_v, best_t = row[vcol], row[tcol]
            if hit is None and c.key == opt:
                hit = len(seen)
        strat.tell(c, Result(value=row[vcol], metrics={"test": row[tcol]}))
    return RunStats(hit, best_t, len(seen))


def queries_to_opt(
    make: Callable[[int], Strategy], table: NB201Table, data: str, seeds: range, cap: int = 300
) -> list[int]:
    """Distinct queries to the optimum per seed (``cap + 1`` when not found within ``cap``)."""
    out = []
    for s in seeds:
        st = run_nb201(make(s), table, data, n=cap)
        out.append(st.queries_to_opt if st.queries_to_opt is not None else cap + 1)
    return out


# --------------------------------------------------------------------------- NAS-Bench-101 subset
_NB101_OPS = ("1", "3", "M", "-")  # conv1x1, conv3x3, maxpool, absent vertex
_TRI = [(i, j) for i in range(7) for j in range(i + 1, 7)]


def _nb101_encode(n: int, bits: str, ops: str) -> tuple[Any, ...]:
    """Pad an n-vertex cell to 7 vertices (absent ones just before the output)."""
    slot = [*range(n - 1), 6]  # vertex v -> padded slot
    adj = np.zeros((7, 7), dtype=int)
    for i in range(n):
        for j in range(n):
            if bits[i * n + j] == "1":
                adj[slot[i], slot[j]] = 1
    inner = list(ops[1:-1]) + ["-"] * (7 - n)
    return tuple(int(adj[i, j]) for i, j in _TRI) + tuple(inner)


class NB101TableSpace(Space):
    """The NB101 subset as a space of table members only: 21 edge bits + 5 op slots.

    ``sample`` draws a table row, ``mutate`` one of the 10 nearest other rows (Hamming distance on the padded
    encoding), ``is_valid`` is table membership, so every strategy queries only measured cells.
    """

    kind = "nb101_table"

    def __init__(self, codes: list[tuple[Any, ...]], hashes: list[str]) -> None:
        dims = [Choice(f"e{i}{j}", (0, 1)) for i, j in _TRI]
        dims += [Choice(f"op{k}", _NB101_OPS) for k in range(1, 6)]
        super().__init__(dims, name="nb101_table")
        self._names = [d.name for d in self.dims]
        self.codes = codes
        self._hash = dict(zip(codes, hashes))
        mat = np.zeros((len(codes), 21 + 5 * 4), dtype=np.int8)
        for r, c in enumerate(codes):
            mat[r] = self._vec(c)
        self._mat = mat
        self._near_cache: dict[tuple[Any, ...], np.ndarray] = {}

    def _code(self, arch: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(arch[n] for n in self._names)

    def _vec(self, code: tuple[Any, ...]) -> np.ndarray:
        v = np.zeros(21 + 20, dtype=np.int8)
        v[:21] = code[:21]
        for k, op in enumerate(code[21:]):
            v[21 + 4 * k + _NB101_OPS.index(op)] = 1
        return v

    def arch_of(self, code: tuple[Any, ...]) -> dict[str, Any]:
        return dict(zip(self._names, code))

    def is_valid(self, arch: Mapping[str, Any]) -> bool:
        return self._code(arch) in self._hash

    def key(self, arch: Mapping[str, Any]) -> str:
        return self._hash.get(self._code(arch)) or json.dumps(list(self._code(arch)))

    def features(self, arch: Mapping[str, Any]) -> np.ndarray:
        return self._vec(self._code(arch)).astype(np.float32)

    @property
    def n_features(self) -> int:
        return 41

    def sample(self, rng: np.random.Generator | int | None = None) -> dict[str, Any]:
        rng = np.random.default_rng(rng)
        return self.arch_of(self.codes[int(rng.integers(len(self.codes)))])

    def _nearest(self, arch: Mapping[str, Any], k: int = 10) -> np.ndarray:
        """The ``k`` other rows nearest in Hamming distance (cached: parents recur in searches).

        The subset holds ~2% of NB101, so exact one-edit neighbours are mostly missing; the k
        nearest members keep the mutation graph connected.
        """
        code = self._code(arch)
        hit = self._near_cache.get(code)
        if hit is None:
            d = np.abs(self._mat - self._vec(code)).sum(1, dtype=np.int32)
            d[d == 0] = 10_000
            hit = np.argsort(d, kind="stable")[:k]
            self._near_cache[code] = hit
        return hit

    def mutate(
        self, arch: Mapping[str, Any], rng: np.random.Generator | int | None = None
    ) -> dict[str, Any]:
        rng = np.random.default_rng(rng)
        near = self._nearest(arch)
        return self.arch_of(self.codes[int(near[rng.integers(len(near))])])

    def neighbours(self, arch: Mapping[str, Any], rng: Any = None) -> list[dict[str, Any]]:
        return [self.arch_of(self.codes[int(i)]) for i in self._nearest(arch)]

    def enumerate(self) -> Iterator[dict[str, Any]]:
        return (self.arch_of(c) for c in self.codes)


@dataclass
class NB101Table:
    space: NB101TableSpace
    rows: dict[str, dict[str, float]]  # hash -> columns

    @property
    def best_108(self) -> float:
        return max(r["val_acc_108"] for r in self.rows.values())


@functools.lru_cache(maxsize=1)
def load_nb101() -> NB101Table:
    codes, hashes, rows = [], [], {}
    seen: set[tuple[Any, ...]] = set()
    with open_table(NB101) as f:
        for r in csv.DictReader(f):
            code = _nb101_encode(int(r["n_vertices"]), r["adj_bits_rowmajor"], r["ops_code"])
            if code in seen:
                continue
            seen.add(code)
            codes.append(code)
            hashes.append(r["nb101_hash"])
            rows[r["nb101_hash"]] = {
                k: float(r[k])
                for k in (
                    "final_training_time_108",
                    "val_acc_4",
                    "val_acc_12",
                    "val_acc_36",
                    "val_acc_108",
                )
            }
    return NB101Table(NB101TableSpace(codes, hashes), rows)


NB101_BUDGETS = (4, 12, 36, 108)


def nb101_result(table: NB101Table, key: str, epochs: float | None) -> Result:
    """Table look-up at the nearest recorded budget; cost = time_108 * b / 108."""
    row = table.rows[key]
    b = 108 if epochs is None else min(NB101_BUDGETS, key=lambda x: abs(x - epochs))
    return Result(
        value=row[f"val_acc_{b}"],
        metrics={"epochs": b},
        cost=row["final_training_time_108"] * b / 108,
    )


def time_to_target_nb101(
    strat: Strategy, table: NB101Table, target: float, max_time: float, batch: int = 1
) -> float:
    """Simulated training time until a *full-budget* (108-epoch) evaluation reaches ``target``.

    Lower-budget results do not count as found: the user needs a trained, verified network.
    Returns ``inf`` when ``max_time`` is spent first. ``batch`` > 1 asks that many before telling.
    """
    spent = 0.0
    while spent < max_time:
        cands = [strat.ask() for _ in range(batch)]
        for c in cands:
            epochs = None if c.budget is None else c.budget.epochs
            res = nb101_result(table, c.key, epochs)
            spent += res.cost
            if res.metrics["epochs"] == 108 and res.value is not None and res.value >= target:
                return spent
            strat.tell(c, res)
    return float("inf")
