"""NAS-Bench-101 cell space: a DAG of up to 7 vertices (input, 5 ops, output) and at most 9 edges.

An architecture is ``{"op1": ..., "op5": ..., "e0_1": 0|1, ..., "e5_6": 0|1}``: the op of each
inner vertex and each upper-triangular edge bit. As in the official ``ModelSpec``, vertices not on
an input->output path are pruned; a cell is valid when input still reaches output and the pruned
cell has at most ``max_edges`` edges. :meth:`NB101Space.key` is the official module hash of the
pruned cell, so it matches the ``nb101_hash`` column of the benchmark table.

Example:
    >>> s = NB101Space()
    >>> a = nb101_from_row(3, "011001000", "I3O")
    >>> s.key(a) == nb101_hash(*nb101_spec(a))
    True
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from metanas.space._params import positive_count
from metanas.space.base import _MAX_TRIES, Space, as_rng
from metanas.space.dims import Choice
from metanas.space.registry import register_space
from metanas.types import UserInputError

NB101_OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
_OP_INDEX = {op: i for i, op in enumerate(NB101_OPS)}
_LETTER = {"conv3x3-bn-relu": "3", "conv1x1-bn-relu": "1", "maxpool3x3": "M"}
_FROM_LETTER = {v: k for k, v in _LETTER.items()}

Spec = tuple[list[list[int]], list[str]]


# ------------------------------------------------------------------ the official hash
def nb101_hash(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> str:
    """NAS-Bench-101's ``graph_util.hash_module`` of a (pruned) cell, as an md5 hex string.

    ``ops`` includes ``"input"`` first and ``"output"`` last.
    """
    n = len(matrix)
    if len(ops) != n:
        raise UserInputError(f"a cell with {n} vertices needs {n} ops, got {len(ops)}.")
    try:
        labels = [-1] + [NB101_OPS.index(op) for op in ops[1:-1]] + [-2]
    except ValueError:
        raise UserInputError(
            f"cell ops {list(ops)} use an unknown op; inner ops are {list(NB101_OPS)}."
        ) from None
    m = [[int(x) for x in row] for row in matrix]
    in_edges = [sum(m[w][v] for w in range(n)) for v in range(n)]
    out_edges = [sum(row) for row in m]
    preds = [[w for w in range(n) if m[w][v]] for v in range(n)]
    succs = [[w for w in range(n) if m[v][w]] for v in range(n)]
    md5 = hashlib.md5
    # str() of a tuple of Python ints, exactly as the original's list(zip(...)) of .tolist() values
    hashes = [md5(str(h).encode("utf-8")).hexdigest() for h in zip(out_edges, in_edges, labels)]
    for _ in range(n):
        hashes = [
            md5(
                (
                    "".join(sorted([hashes[w] for w in preds[v]]))
                    + "|"
                    + "".join(sorted([hashes[w] for w in succs[v]]))
                    + "|"
                    + hashes[v]
                ).encode("utf-8")
            ).hexdigest()
            for v in range(n)
        ]
    return hashlib.md5(str(sorted(hashes)).encode("utf-8")).hexdigest()


# ------------------------------------------------------------------ pruning
def _prune(n: int, bits: tuple[int, ...], ops: tuple[str, ...]) -> Spec | None:
    """Official ``ModelSpec._prune``: keep vertices on an input->output path; None if cut off."""
    adj = [[0] * n for _ in range(n)]
    k = 0
    for i in range(n):
        for j in range(i + 1, n):
            adj[i][j] = bits[k]
            k += 1
    fwd = {0}
    for v in range(n):  # vertices are topologically ordered
        if v in fwd:
            fwd.update(w for w in range(v + 1, n) if adj[v][w])
    bwd = {n - 1}
    for v in range(n - 1, -1, -1):
        if v in bwd:
            bwd.update(u for u in range(v) if adj[u][v])
    keep = sorted(fwd & bwd)
    if len(keep) < 2 or 0 not in keep or n - 1 not in keep:
        return None
    matrix = [[adj[i][j] for j in keep] for i in keep]
    full_ops = ("input", *ops, "output")
    return matrix, [full_ops[i] for i in keep]


class NB101Space(Space):
    """The NAS-Bench-101 space; ``max_vertices`` and ``max_edges`` may shrink it."""

    kind = "nb101"

    def __init__(self, max_vertices: int = 7, max_edges: int = 9, name: str = "nb101") -> None:
        if not isinstance(max_vertices, int) or not 2 <= max_vertices <= 7:
            raise UserInputError(
                f"max_vertices must be an integer from 2 to 7, got {max_vertices!r}."
            )
        self.max_vertices = max_vertices
        self.max_edges = positive_count(max_edges, "max_edges")
        n = max_vertices
        self._op_names = tuple(f"op{i}" for i in range(1, n - 1))
        self._edges = tuple((i, j) for i in range(n) for j in range(i + 1, n))
        self._edge_names = tuple(f"e{i}_{j}" for i, j in self._edges)
        self._names = self._op_names + self._edge_names
        dims = [Choice(o, NB101_OPS) for o in self._op_names]
        dims += [Choice(e, (0, 1)) for e in self._edge_names]
        super().__init__(dims, name=name)
        # per-instance caches of pure functions of the value tuple (bounded: the space is huge)
        self._spec_of = lru_cache(maxsize=1 << 16)(self._spec_uncached)
        self._key_of = lru_cache(maxsize=1 << 16)(self._key_uncached)
        self._feat_of = lru_cache(maxsize=1 << 14)(self._features_uncached)
        n_inner = n - 2
        self._path_offset = [sum(3**k for k in range(length)) for length in range(n_inner + 2)]
        self._n_path = self._path_offset[n_inner + 1]

    # ------------------------------------------------------------- spec and identity
    def _values(self, arch: Mapping[str, Any]) -> tuple[Any, ...]:
        try:
            return tuple([arch[k] for k in self._names])
        except KeyError as e:
            raise UserInputError(
                f"NAS-Bench-101 architecture lacks {e.args[0]!r}; give op1.. and every edge bit e<i>_<j>."
            ) from None

    def _spec_uncached(self, values: tuple[Any, ...]) -> Spec | None:
        n_ops = len(self._op_names)
        ops, bits = values[:n_ops], values[n_ops:]
        for op in ops:
            if op not in _OP_INDEX:
                raise UserInputError(
                    f"{op!r} is not a NAS-Bench-101 op; use one of {list(NB101_OPS)}."
                )
        if any(b not in (0, 1) for b in bits):
            raise UserInputError("NAS-Bench-101 edge bits must be 0 or 1; fix the architecture.")
        return _prune(self.max_vertices, tuple(int(b) for b in bits), ops)

    def _valid_values(self, values: tuple[Any, ...]) -> bool:
        spec = self._spec_of(values)
        return spec is not None and sum(map(sum, spec[0])) <= self.max_edges

    def is_valid(self, arch: Mapping[str, Any]) -> bool:
        return self._valid_values(self._values(arch))

    def spec(self, arch: Mapping[str, Any]) -> Spec:
        """The pruned ``(matrix, ops)`` of ``arch``, ops with ``"input"``/``"output"``."""
        spec = self._spec_of(self._values(arch))
        if spec is None:
            raise UserInputError(
                "this NAS-Bench-101 cell does not connect input to output; add an edge."
            )
        return [list(r) for r in spec[0]], list(spec[1])

    def _key_uncached(self, values: tuple[Any, ...]) -> str:
        spec = self._spec_of(values)
        if spec is None:
            raise UserInputError(
                "this NAS-Bench-101 cell does not connect input to output; add an edge."
            )
        return nb101_hash(*spec)

    def key(self, arch: Mapping[str, Any]) -> str:
        """The official NAS-Bench-101 module hash of the pruned cell."""
        return self._key_of(self._values(arch))  # type: ignore[no-any-return]

    def describe(self, arch: Mapping[str, Any]) -> str:
        values = self._values(arch)
        spec = self._spec_of(values)
        if spec is None:
            return "disconnected cell " + ",".join(str(v) for v in values)
        _, bits, code = _row_of(spec)
        return f"{code}:{bits}"

    def from_text(self, text: str) -> dict[str, Any]:
        """JSON, or the table's notation as :meth:`describe` writes it: ``OPS_CODE:ADJ_BITS``
        (e.g. ``I3O:011001000``; a space or comma may separate the two)."""
        stripped = text.strip()
        if not stripped.startswith("I"):
            return self.from_json(text)
        parts = stripped.replace(",", " ").replace(":", " ").split()
        if len(parts) != 2:
            raise UserInputError(
                f"NAS-Bench-101 cell {text!r} must be OPS_CODE:ADJ_BITS, e.g. 'I3O:011001000'."
            )
        code, bits = parts
        arch = nb101_from_row(len(code), bits, code, max_vertices=self.max_vertices)
        return self.validate(arch)

    # ------------------------------------------------------------- search operators
    def _from_values(self, values: Sequence[Any]) -> dict[str, Any]:
        return dict(zip(self._names, values))

    def sample(self, rng: np.random.Generator | int | None = None) -> dict[str, Any]:
        """Uniform over valid cells by rejection, drawing candidates in small batches."""
        rng = as_rng(rng)
        n_ops, n_bits = len(self._op_names), len(self._edge_names)
        for _ in range(_MAX_TRIES // 32):
            ops = rng.integers(len(NB101_OPS), size=(32, n_ops))
            bits = rng.integers(2, size=(32, n_bits))
            for o, b in zip(ops.tolist(), bits.tolist()):
                values = tuple(NB101_OPS[i] for i in o) + tuple(b)
                if self._valid_values(values):
                    return self._from_values(values)
        raise UserInputError(f"space {self.name!r} yielded no valid cell; raise max_edges.")

    def mutate(
        self, arch: Mapping[str, Any], rng: np.random.Generator | int | None = None
    ) -> dict[str, Any]:
        """Change one op or flip one edge bit, retrying until the child is valid."""
        rng = as_rng(rng)
        values = self._values(arch)
        n_ops = len(self._op_names)
        for _ in range(_MAX_TRIES):
            i = int(rng.integers(len(values)))
            child = list(values)
            if i < n_ops:
                j = _OP_INDEX[values[i]]
                child[i] = NB101_OPS[(j + int(rng.integers(1, len(NB101_OPS)))) % len(NB101_OPS)]
            else:
                child[i] = 1 - int(values[i])
            t = tuple(child)
            if self._valid_values(t):
                return self._from_values(t)
        return dict(arch)

    @property
    def size(self) -> None:
        """Not cheap to count (2^21 x 3^5 raw cells): ``None``."""
        return None

    # ------------------------------------------------------------- encodings
    def _features_uncached(self, values: tuple[Any, ...]) -> np.ndarray:
        n = self.max_vertices
        n_inner = n - 2
        vec = np.zeros(self.n_features, dtype=np.float32)
        spec = self._spec_of(values)
        if spec is None:
            vec.setflags(write=False)
            return vec
        matrix, ops = spec
        m = len(ops)
        # place the pruned cell in the full frame: inner vertices first, output last
        pos = [*range(m - 1), n - 1]
        edge_col = {e: k for k, e in enumerate(self._edges)}
        for a in range(m):
            for b in range(a + 1, m):
                if matrix[a][b]:
                    vec[edge_col[pos[a], pos[b]]] = 1.0
        base = len(self._edges)
        for a in range(1, m - 1):
            vec[base + (pos[a] - 1) * 3 + _OP_INDEX[ops[a]]] = 1.0
        base += n_inner * 3
        # BANANAS path encoding: which op sequences occur on input->output paths

        def walk(v: int, code: int, length: int) -> None:
            for w in range(v + 1, m):
                if matrix[v][w]:
                    if w == m - 1:
                        vec[base + self._path_offset[length] + code] = 1.0
                    else:
                        walk(w, code * 3 + _OP_INDEX[ops[w]], length + 1)

        walk(0, 0, 0)
        vec.setflags(write=False)
        return vec

    def features(self, arch: Mapping[str, Any]) -> np.ndarray:
        """Pruned edge bits, one-hot inner ops, path indicators (36 + 364 for 7 vertices)."""
        return self._feat_of(self._values(arch)).copy()  # type: ignore[no-any-return]

    @property
    def n_features(self) -> int:
        return len(self._edges) + 3 * (self.max_vertices - 2) + self._n_path

    def count_features(self, arch: Mapping[str, Any]) -> np.ndarray:
        """:meth:`Space.count_features` of the pruned cell, the one that computes: per op, "at
        least k inner vertices apply it", and "at least k edges" (3 x 5 + 9 for 7 vertices)."""
        n_inner = self.max_vertices - 2
        vec = np.zeros(self.n_count_features, dtype=np.float32)
        spec = self._spec_of(self._values(arch))
        if spec is not None:
            matrix, ops = spec
            for o, name in enumerate(NB101_OPS):
                vec[o * n_inner : o * n_inner + ops[1:-1].count(name)] = 1.0
            n_edges = min(int(np.sum(matrix)), self.max_edges)
            vec[3 * n_inner : 3 * n_inner + n_edges] = 1.0
        return vec

    @property
    def n_count_features(self) -> int:
        return 3 * (self.max_vertices - 2) + self.max_edges

    def __reduce__(self) -> tuple[Any, ...]:
        # the lru caches are not picklable; rebuild from the constructor arguments instead
        return (NB101Space, (self.max_vertices, self.max_edges, self.name))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "params": {"max_vertices": self.max_vertices, "max_edges": self.max_edges},
        }


# ------------------------------------------------------------------ table format
def _row_of(spec: Spec) -> tuple[int, str, str]:
    matrix, ops = spec
    bits = "".join(str(int(x)) for row in matrix for x in row)
    code = "I" + "".join(_LETTER[o] for o in ops[1:-1]) + "O"
    return len(ops), bits, code


_SPACES: dict[int, NB101Space] = {}


def _default_space(arch: Mapping[str, Any]) -> NB101Space:
    """The default-sized space matching ``arch``'s vertex count (module functions need one)."""
    n = sum(1 for k in arch if k.startswith("op")) + 2
    if n not in _SPACES:
        _SPACES[n] = NB101Space(max_vertices=max(n, 2))
    return _SPACES[n]


def nb101_spec(arch: Mapping[str, Any]) -> Spec:
    """Pruned ``(matrix, ops)`` of ``arch`` (ops include ``"input"`` and ``"output"``)."""
    return _default_space(arch).spec(arch)


def nb101_to_row(arch: Mapping[str, Any]) -> tuple[int, str, str]:
    """``(n_vertices, adj_bits_rowmajor, ops_code)`` of the pruned cell, as in the benchmark table."""
    return _row_of(nb101_spec(arch))


def nb101_from_row(
    n_vertices: int, adj_bits_rowmajor: str | Sequence[int], ops_code: str, max_vertices: int = 7
) -> dict[str, Any]:
    """Architecture from the table format; unused inner vertices get no edges and the first op."""
    try:
        n = int(n_vertices)
    except (TypeError, ValueError):
        n = 0
    try:
        bits = [int(b) for b in adj_bits_rowmajor]
    except (TypeError, ValueError):  # an "x" among the bits: the check below names the format
        bits = []
    if not 2 <= n <= max_vertices:
        raise UserInputError(f"n_vertices must be from 2 to {max_vertices}, got {n_vertices!r}.")
    if len(bits) != n * n or any(b not in (0, 1) for b in bits):
        raise UserInputError(
            f"adj_bits_rowmajor must be {n * n} characters of 0/1 for {n} vertices."
        )
    if len(ops_code) != n or ops_code[0] != "I" or ops_code[-1] != "O":
        raise UserInputError(f"ops_code {ops_code!r} must be {n} letters, I first and O last.")
    arch: dict[str, Any] = {}
    for v in range(1, max_vertices - 1):
        letter = ops_code[v] if v < n - 1 else "3"
        if letter not in _FROM_LETTER:
            raise UserInputError(
                f"ops_code letter {letter!r} is unknown; use 1, 3 or M between I and O."
            )
        arch[f"op{v}"] = _FROM_LETTER[letter]
    pos = [*range(n - 1), max_vertices - 1]
    for i in range(max_vertices):
        for j in range(i + 1, max_vertices):
            arch[f"e{i}_{j}"] = 0
    for a in range(n):
        for b in range(n):
            if bits[a * n + b]:
                if b <= a:
                    raise UserInputError(
                        "adj_bits_rowmajor must be upper-triangular (edges i->j, i<j)."
                    )
                arch[f"e{pos[a]}_{pos[b]}"] = 1
    return arch


@register_space("nb101")
def nb101_space(max_vertices: int = 7, max_edges: int = 9) -> NB101Space:
    """NAS-Bench-101: ops on 5 inner vertices, 21 edge bits, at most 9 edges after pruning."""
    return NB101Space(max_vertices=max_vertices, max_edges=max_edges)


__all__ = [
    "NB101_OPS",
    "NB101Space",
    "nb101_from_row",
    "nb101_hash",
    "nb101_space",
    "nb101_spec",
    "nb101_to_row",
]
