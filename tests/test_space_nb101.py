"""NAS-Bench-101 space: the official module hash against the real table, pruning, validity."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from metanas.space import (
    NB101Space,
    get_space,
    nb101_from_row,
    nb101_hash,
    nb101_spec,
    nb101_to_row,
)
from metanas.types import UserInputError
from tables import NB101, open_table


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with open_table(NB101) as f:
        return list(csv.DictReader(f))


def _arch(edges: list[tuple[int, int]], ops: tuple[str, ...] = ("conv3x3-bn-relu",) * 5) -> dict:
    arch = {f"op{i + 1}": op for i, op in enumerate(ops)}
    for i in range(7):
        for j in range(i + 1, 7):
            arch[f"e{i}_{j}"] = int((i, j) in edges)
    return arch


def test_dims() -> None:
    s = get_space("nb101")
    names = [d.name for d in s.dims]
    assert names[:5] == ["op1", "op2", "op3", "op4", "op5"]
    assert names[5] == "e0_1" and names[-1] == "e5_6" and len(names) == 5 + 21


def _check_rows(rows: list[dict[str, str]]) -> None:
    for r in rows:
        arch = nb101_from_row(int(r["n_vertices"]), r["adj_bits_rowmajor"], r["ops_code"])
        assert nb101_hash(*nb101_spec(arch)) == r["nb101_hash"], r
        assert nb101_to_row(arch) == (int(r["n_vertices"]), r["adj_bits_rowmajor"], r["ops_code"])


def test_official_hash_matches_table_rows(rows) -> None:
    # every small cell plus every third 7-vertex cell: about 4,500 rows
    small = [r for r in rows if r["n_vertices"] != "7"]
    assert len(rows) > 10_000 and len(small) > 1_500
    _check_rows(small + [r for r in rows if r["n_vertices"] == "7"][::3])
    s = NB101Space()
    for r in rows[::20]:
        arch = nb101_from_row(int(r["n_vertices"]), r["adj_bits_rowmajor"], r["ops_code"])
        assert s.is_valid(arch) and s.key(arch) == r["nb101_hash"]


@pytest.mark.slow
def test_official_hash_matches_every_table_row(rows) -> None:
    _check_rows(rows)


def test_table_cells_round_trip_through_json(rows) -> None:
    s = NB101Space()
    for r in rows[:200]:
        arch = nb101_from_row(int(r["n_vertices"]), r["adj_bits_rowmajor"], r["ops_code"])
        assert s.from_json(s.to_json(arch)) == arch


def test_table_cells_read_from_their_text(rows) -> None:
    # the notation describe() writes, "OPS_CODE:ADJ_BITS", reads back to the table's hash
    s = NB101Space()
    for r in rows[:200]:
        arch = s.from_text(f"{r['ops_code']}:{r['adj_bits_rowmajor']}")
        assert s.key(arch) == r["nb101_hash"]
        assert s.key(s.from_text(f" {s.describe(arch)} ".replace(":", " "))) == r["nb101_hash"]
        assert s.from_text(s.to_json(arch)) == arch
    bad_texts = ("I3O", "I3O:011001000:1", "I3O:01100100", "I3X:011001000", "I3O:010000000",
                 "I3O:01100100x", "I3O:0 1 1 0 0 1 0 0 0")  # fmt: skip
    for bad in bad_texts:
        with pytest.raises(UserInputError):
            s.from_text(bad)


def test_pruning_and_validity() -> None:
    s = NB101Space()
    chain = _arch([(0, 1), (1, 6)])
    assert s.is_valid(chain)
    matrix, ops = nb101_spec(chain)
    assert ops == ["input", "conv3x3-bn-relu", "output"]
    assert matrix == [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    # dangling vertices 2..5 are pruned and do not change the key
    assert s.key(chain) == s.key(
        _arch(
            [(0, 1), (1, 6), (0, 2), (3, 4)],
            ("conv3x3-bn-relu", "maxpool3x3", "maxpool3x3", "conv1x1-bn-relu", "conv1x1-bn-relu"),
        )
    )
    # input cut off from output
    assert not s.is_valid(_arch([(0, 1), (2, 6)]))
    with pytest.raises(UserInputError):
        s.key(_arch([(0, 1), (2, 6)]))
    with pytest.raises(UserInputError):
        s.validate(_arch([]))
    # ten edges on input->output paths: too many
    dense = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3), (3, 4), (4, 5), (5, 6), (0, 6)]
    assert not s.is_valid(_arch(dense))
    assert s.is_valid(_arch(dense[:-1]))
    # like the official ModelSpec, the limit applies after pruning: dead edges do not count
    dead = [(0, 1), (1, 6), (2, 3), (2, 4), (2, 5), (3, 4), (3, 5), (4, 5), (0, 2), (0, 3), (0, 4)]
    assert len(dead) > 9 and s.is_valid(_arch(dead))
    assert s.key(_arch(dead)) == s.key(chain)


def test_isomorphic_cells_share_the_hash() -> None:
    s = NB101Space()
    conv3, conv1, pool = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
    # two parallel branches, listed in either order
    a = _arch([(0, 1), (0, 2), (1, 6), (2, 6)], (conv3, conv1, pool, pool, pool))
    b = _arch([(0, 1), (0, 2), (1, 6), (2, 6)], (conv1, conv3, pool, pool, pool))
    assert s.key(a) == s.key(b)
    c = _arch([(0, 1), (0, 2), (1, 6), (2, 6)], (conv1, conv1, pool, pool, pool))
    assert s.key(a) != s.key(c)


def test_row_input_errors() -> None:
    with pytest.raises(UserInputError):
        nb101_from_row(3, "0110", "I3O")
    with pytest.raises(UserInputError):
        nb101_from_row(3, "011001000", "I3X")
    with pytest.raises(UserInputError):
        nb101_from_row(3, "011001000", "33O")
    with pytest.raises(UserInputError):
        nb101_from_row(3, "011101000", "I3O")  # edge 1->0 is not upper-triangular
    with pytest.raises(UserInputError):
        nb101_hash([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv9x9", "output"])
    with pytest.raises(UserInputError):
        nb101_hash([[0, 1], [0, 0]], ["input", "conv3x3-bn-relu", "output"])


def test_samples_are_valid_and_diverse() -> None:
    s = NB101Space()
    rng = np.random.default_rng(0)
    archs = [s.sample(rng) for _ in range(300)]
    assert all(s.is_valid(a) for a in archs)
    # like the official sampler (uniform over raw matrices), small pruned cells are frequent:
    # measured about 200 distinct keys in 300 samples
    assert len({s.key(a) for a in archs}) > 150
    n_vertices = {len(nb101_spec(a)[1]) for a in archs}
    assert {3, 4, 5, 6} <= n_vertices


def _official_prune(matrix: np.ndarray, ops: list[str]):
    """Transcription of nasbench ``ModelSpec._prune`` (an independent check of ours)."""
    n = matrix.shape[0]
    from_input, frontier = {0}, [0]
    while frontier:
        top = frontier.pop()
        for v in range(top + 1, n):
            if matrix[top, v] and v not in from_input:
                from_input.add(v)
                frontier.append(v)
    from_output, frontier = {n - 1}, [n - 1]
    while frontier:
        top = frontier.pop()
        for v in range(top):
            if matrix[v, top] and v not in from_output:
                from_output.add(v)
                frontier.append(v)
    extraneous = set(range(n)) - (from_input & from_output)
    if len(extraneous) > n - 2:
        return None
    matrix = np.delete(np.delete(matrix, list(extraneous), axis=0), list(extraneous), axis=1)
    return matrix, [op for i, op in enumerate(ops) if i not in extraneous]


def test_pruning_and_validity_match_the_official_model_spec() -> None:
    s = NB101Space()
    rng = np.random.default_rng(3)
    ops_all = ["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"]
    n_valid = 0
    for _ in range(3000):
        m = np.triu(rng.integers(2, size=(7, 7)), 1)
        ops = ["input", *(ops_all[i] for i in rng.integers(3, size=5)), "output"]
        arch = {f"op{i}": ops[i] for i in range(1, 6)}
        arch.update({f"e{i}_{j}": int(m[i, j]) for i in range(7) for j in range(i + 1, 7)})
        ref = _official_prune(m, ops)
        valid = ref is not None and int(ref[0].sum()) <= 9
        assert s.is_valid(arch) == valid
        if valid:
            n_valid += 1
            assert nb101_spec(arch) == (ref[0].tolist(), ref[1])
    assert 1000 < n_valid < 2900


def test_features_ignore_dead_edges_and_have_paths() -> None:
    s = NB101Space()
    assert s.n_features == 21 + 15 + 364
    chain = _arch([(0, 1), (1, 6)])
    dead = _arch([(0, 1), (1, 6), (2, 3), (3, 4)])
    f = s.features(chain)
    assert np.array_equal(f, s.features(dead))
    assert f[:21].sum() == 2 and f[21:36].sum() == 1 and f[36:].sum() == 1
    # a 3-vertex cell from the table frame equals the same cell written in 7 vertices
    assert np.array_equal(s.features(nb101_from_row(3, "010001000", "I3O")), f)


def test_smaller_cells() -> None:
    s = get_space("nb101", max_vertices=5, max_edges=6)
    assert len([d for d in s.dims if d.name.startswith("op")]) == 3
    for seed in range(10):
        a = s.sample(seed)
        matrix, _ = s.spec(a)
        assert sum(map(sum, matrix)) <= 6
    with pytest.raises(UserInputError):
        get_space("nb101", max_vertices=9)


def test_count_features_count_the_pruned_cells_ops_and_edges() -> None:
    """A dead vertex's op and its edges do not count: the cell computes without them."""
    s = NB101Space()
    ops = ("conv3x3-bn-relu", "maxpool3x3", "conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3")
    live = _arch([(0, 1), (1, 2), (2, 6), (0, 4), (4, 6)], ops)  # vertices 1, 2, 4 compute
    dead = _arch([(0, 1), (1, 2), (2, 6), (0, 4), (4, 6), (3, 5)], ops)  # 3 -> 5 leads nowhere
    v = s.count_features(live)
    assert v.shape == (s.n_count_features,) == (3 * 5 + 9,)
    per_op = v[:15].reshape(3, 5).sum(1)  # NB101_OPS order: conv3x3, conv1x1, maxpool
    assert list(per_op) == [2, 0, 1] and v[15:].sum() == 5
    assert np.array_equal(s.count_features(dead), v)


@pytest.mark.parametrize("bad", [0, True, 2.5, "9"])
def test_max_edges_must_be_a_positive_count(bad) -> None:
    with pytest.raises(UserInputError, match="max_edges must be a positive integer"):
        get_space("nb101", max_edges=bad)
