"""NAS-Bench-201 cell space: 4 nodes, 6 edges, 5 operations per edge, 15,625 cells.

An architecture is ``{"1<-0": op, "2<-0": op, ..., "3<-2": op}`` (edge into node i from node j).
:meth:`NB201Space.key` is canonical: isomorphic cells (6,466 distinct computations) share a key,
following NAS-Bench-201's ``to_unique_str(consider_zero=True)``
(the benchmark paper's count of unique cells).

Example:
    >>> from metanas.space import get_space
    >>> s = get_space("nb201")
    >>> a = nb201_from_string("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|")
    >>> s.describe(a) == nb201_to_string(a)
    True
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from metanas.space.base import Space, as_rng
from metanas.space.dims import Choice
from metanas.space.registry import register_space
from metanas.types import UserInputError

NB201_OPS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
)
#: (dimension name, to node, from node), in the order of the benchmark string
NB201_EDGES: tuple[tuple[str, int, int], ...] = (
    ("1<-0", 1, 0),
    ("2<-0", 2, 0),
    ("2<-1", 2, 1),
    ("3<-0", 3, 0),
    ("3<-1", 3, 1),
    ("3<-2", 3, 2),
)
_NAMES = tuple(e[0] for e in NB201_EDGES)
_OP_INDEX = {op: i for i, op in enumerate(NB201_OPS)}
_EDGE_INDEX = {(to, frm): k for k, (_, to, frm) in enumerate(NB201_EDGES)}
# every input->output path of the cell, as the list of edge positions it crosses
_PATHS: tuple[tuple[int, ...], ...] = (
    (_EDGE_INDEX[3, 0],),
    (_EDGE_INDEX[1, 0], _EDGE_INDEX[3, 1]),
    (_EDGE_INDEX[2, 0], _EDGE_INDEX[3, 2]),
    (_EDGE_INDEX[1, 0], _EDGE_INDEX[2, 1], _EDGE_INDEX[3, 2]),
)
_N_OPS = len(NB201_OPS)
#: offsets of path encodings by path length: 5 of length 1, 25 of length 2, 125 of length 3
_PATH_OFFSET = {1: 0, 2: _N_OPS, 3: _N_OPS + _N_OPS**2}
N_PATH_FEATURES = _N_OPS + _N_OPS**2 + _N_OPS**3
N_FEATURES = len(NB201_EDGES) * _N_OPS + N_PATH_FEATURES

# Caches keyed by the tuple of ops: the whole space has 15,625 cells, so they stay bounded.
_KEY_CACHE: dict[tuple[str, ...], str] = {}
_STR_CACHE: dict[tuple[str, ...], str] = {}
_FEAT_CACHE: dict[tuple[str, ...], np.ndarray] = {}
_COUNT_CACHE: dict[tuple[str, ...], np.ndarray] = {}


def _ops(arch: Mapping[str, Any]) -> tuple[str, ...]:
    try:
        return tuple([arch[n] for n in _NAMES])
    except KeyError as e:
        raise UserInputError(
            f"NAS-Bench-201 architecture lacks edge {e.args[0]!r}; give all of {list(_NAMES)}."
        ) from None


def _check_ops(ops: tuple[str, ...]) -> None:
    for op in ops:
        if op not in _OP_INDEX:
            raise UserInputError(
                f"{op!r} is not a NAS-Bench-201 operation; use one of {list(NB201_OPS)}."
            )


def nb201_to_string(arch: Mapping[str, Any]) -> str:
    """The benchmark string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` of ``arch``."""
    ops = _ops(arch)
    s = _STR_CACHE.get(ops)
    if s is None:
        _check_ops(ops)
        o = ops
        s = f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"
        _STR_CACHE[ops] = s
    return s


def nb201_from_string(s: str) -> dict[str, str]:
    """Parse a benchmark string into an architecture dict; a malformed string raises UserInputError."""
    if not isinstance(s, str):
        raise UserInputError(f"a NAS-Bench-201 string must be a str, got {type(s).__name__}.")
    nodes = s.strip().split("+")
    hint = "write it as |op~0|+|op~0|op~1|+|op~0|op~1|op~2|."
    if len(nodes) != 3:
        raise UserInputError(f"NAS-Bench-201 string {s!r} has {len(nodes)} node(s), not 3; {hint}")
    arch: dict[str, str] = {}
    for to, node in enumerate(nodes, start=1):
        if not (node.startswith("|") and node.endswith("|")):
            raise UserInputError(f"node {node!r} of {s!r} is not enclosed in '|'; {hint}")
        parts = node[1:-1].split("|")
        if len(parts) != to:
            raise UserInputError(f"node {to} of {s!r} has {len(parts)} input(s), not {to}; {hint}")
        for frm, part in enumerate(parts):
            op, sep, src = part.rpartition("~")
            if not sep or src != str(frm):
                raise UserInputError(f"edge {part!r} of {s!r} should read op~{frm}; {hint}")
            if op not in _OP_INDEX:
                raise UserInputError(
                    f"{op!r} in {s!r} is not a NAS-Bench-201 operation; use one of {list(NB201_OPS)}."
                )
            arch[f"{to}<-{frm}"] = op
    return {n: arch[n] for n in _NAMES}


def _unique_str(ops: tuple[str, ...]) -> str:
    """NAS-Bench-201's ``to_unique_str(consider_zero=True)``, verbatim in effect.

    ``skip_connect`` passes its input's string through, ``none`` (or an input that is exactly
    zero) gives ``'#'``, and the terms of each node's sum are sorted. Zero terms stay in the sum
    as in the original: dropping them merges more cells (5,390 keys) than the paper's 6,466.
    """
    nodes = {0: "0"}
    for to in (1, 2, 3):
        terms = []
        for frm in range(to):
            op = ops[_EDGE_INDEX[to, frm]]
            src = nodes[frm]
            if op == "none" or src == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(src)
            else:
                terms.append(f"({src})@{op}")
        nodes[to] = "+".join(sorted(terms))
    return nodes[3]


def nb201_unique_str(arch: Mapping[str, Any]) -> str:
    """Canonical string of the computation ``arch`` performs (isomorphic cells share it)."""
    ops = _ops(arch)
    k = _KEY_CACHE.get(ops)
    if k is None:
        _check_ops(ops)
        k = _unique_str(ops)
        _KEY_CACHE[ops] = k
    return k


def _features(ops: tuple[str, ...]) -> np.ndarray:
    vec = np.zeros(N_FEATURES, dtype=np.float32)
    idx = [_OP_INDEX[o] for o in ops]
    for k, i in enumerate(idx):
        vec[k * _N_OPS + i] = 1.0
    base = len(NB201_EDGES) * _N_OPS
    for path in _PATHS:
        seq = [idx[e] for e in path]
        if 0 in seq:  # a path through "none" carries nothing
            continue
        code = 0
        for i in seq:
            code = code * _N_OPS + i
        vec[base + _PATH_OFFSET[len(seq)] + code] = 1.0
    vec.setflags(write=False)
    return vec


class NB201Space(Space):
    """The NAS-Bench-201 topology space (every cell is valid)."""

    kind = "nb201"

    def __init__(self, name: str = "nb201") -> None:
        super().__init__([Choice(n, NB201_OPS) for n in _NAMES], name=name)

    def key(self, arch: Mapping[str, Any]) -> str:
        return nb201_unique_str(arch)

    def describe(self, arch: Mapping[str, Any]) -> str:
        return nb201_to_string(arch)

    def to_json(self, arch: Mapping[str, Any]) -> str:
        return json.dumps({n: arch[n] for n in _NAMES}, separators=(",", ":"))

    def from_text(self, text: str) -> dict[str, Any]:
        """JSON, or the benchmark string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``."""
        if text.lstrip().startswith("|"):
            return self.validate(nb201_from_string(text))
        return self.from_json(text)

    def features(self, arch: Mapping[str, Any]) -> np.ndarray:
        """One-hot ops (30) then BANANAS path indicators (155: op sequences of length 1 to 3)."""
        ops = _ops(arch)
        f = _FEAT_CACHE.get(ops)
        if f is None:
            _check_ops(ops)
            f = _features(ops)
            _FEAT_CACHE[ops] = f
        return f.copy()

    def count_features(self, arch: Mapping[str, Any]) -> np.ndarray:
        """:meth:`Space.count_features`: per op, "at least k of the six edges apply it" (30),
        cached per cell like :meth:`features`."""
        ops = _ops(arch)
        f = _COUNT_CACHE.get(ops)
        if f is None:
            _check_ops(ops)
            f = super().count_features(dict(zip(_NAMES, ops)))
            f.setflags(write=False)
            _COUNT_CACHE[ops] = f
        return f.copy()

    @property
    def n_features(self) -> int:
        return N_FEATURES

    @property
    def size(self) -> int:
        return _N_OPS ** len(NB201_EDGES)

    def sample(self, rng: np.random.Generator | int | None = None) -> dict[str, Any]:
        rng = as_rng(rng)
        idx = rng.integers(_N_OPS, size=len(_NAMES))
        return {n: NB201_OPS[int(i)] for n, i in zip(_NAMES, idx)}

    def mutate(
        self, arch: Mapping[str, Any], rng: np.random.Generator | int | None = None
    ) -> dict[str, Any]:
        """Change the op of one random edge to a different op."""
        rng = as_rng(rng)
        _check_ops(_ops(arch))
        e, shift = rng.integers(len(_NAMES)), rng.integers(1, _N_OPS)
        child = {n: arch[n] for n in _NAMES}
        name = _NAMES[int(e)]
        child[name] = NB201_OPS[(_OP_INDEX[child[name]] + int(shift)) % _N_OPS]
        return child

    def enumerate(self) -> Iterator[dict[str, Any]]:
        """All 15,625 cells in benchmark-string order of edges, last edge fastest."""
        for code in range(self.size):
            digits = []
            for _ in _NAMES:
                code, r = divmod(code, _N_OPS)
                digits.append(r)
            yield {n: NB201_OPS[i] for n, i in zip(_NAMES, reversed(digits))}

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "params": {}}


@register_space("nb201")
def nb201_space() -> NB201Space:
    """NAS-Bench-201: 6 edges x 5 ops; canonical keys identify isomorphic cells."""
    return NB201Space()


__all__ = [
    "NB201_EDGES",
    "NB201_OPS",
    "N_FEATURES",
    "NB201Space",
    "nb201_from_string",
    "nb201_space",
    "nb201_to_string",
    "nb201_unique_str",
]
