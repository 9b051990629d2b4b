"""NAS-Bench-201 space: benchmark strings, canonical keys against the real table, features."""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict

import numpy as np
import pytest

from metanas.space import NB201_OPS, get_space, nb201_from_string, nb201_to_string
from metanas.space.nb201 import N_FEATURES
from metanas.types import UserInputError
from tables import NB201, open_table


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with open_table(NB201) as f:
        return list(csv.DictReader(f))


def _cell(**ops: str) -> dict[str, str]:
    """A cell with all edges 'none' except the given ones (keys like e1_0 for '1<-0')."""
    arch = {n: "none" for n in ("1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2")}
    arch.update({k[1] + "<-" + k[3]: v for k, v in ops.items()})
    return arch


def test_dims_and_ops() -> None:
    s = get_space("nb201")
    assert [d.name for d in s.dims] == ["1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"]
    assert all(d.options == NB201_OPS for d in s.dims)
    assert NB201_OPS == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def test_string_round_trip_and_edge_order() -> None:
    text = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"
    arch = nb201_from_string(text)
    assert arch["1<-0"] == "nor_conv_3x3" and arch["2<-1"] == "skip_connect"
    assert arch["3<-0"] == "avg_pool_3x3" and arch["3<-1"] == "nor_conv_1x1"
    assert nb201_to_string(arch) == text == get_space("nb201").describe(arch)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "|none~0|+|none~0|none~1|",
        "|none~0|+|none~0|none~1|+|none~0|none~1|",
        "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
        "|none0|+|none~0|none~1|+|none~0|none~1|none~2|",
    ],
)
def test_bad_strings_raise(bad: str) -> None:
    with pytest.raises(UserInputError):
        nb201_from_string(bad)


def test_bad_op_raises_user_error() -> None:
    s = get_space("nb201")
    arch = _cell(e1_0="conv")
    with pytest.raises(UserInputError):
        s.key(arch)
    with pytest.raises(UserInputError):
        s.validate(arch)


def test_key_merges_known_isomorphisms() -> None:
    s = get_space("nb201")
    # conv on the direct edge == skip then conv through node 1
    assert s.key(_cell(e3_0="nor_conv_3x3")) == s.key(
        _cell(e1_0="skip_connect", e3_1="nor_conv_3x3")
    )
    # the two branches of a sum commute
    a = _cell(e1_0="nor_conv_1x1", e3_1="skip_connect", e3_0="avg_pool_3x3")
    b = _cell(e1_0="avg_pool_3x3", e3_1="skip_connect", e3_0="nor_conv_1x1")
    assert s.key(a) == s.key(b)
    # an edge whose input node is zero contributes nothing
    dead = _cell(e3_0="nor_conv_3x3", e3_1="nor_conv_1x1")  # node 1 is zero (1<-0 is none)
    assert s.key(dead) == s.key(_cell(e3_0="nor_conv_3x3"))
    # but different computations stay apart
    assert s.key(_cell(e3_0="nor_conv_3x3")) != s.key(_cell(e3_0="nor_conv_1x1"))
    assert s.key(_cell(e3_0="nor_conv_3x3")) != s.key(
        _cell(e1_0="nor_conv_3x3", e3_1="nor_conv_3x3")
    )


def test_6466_unique_cells() -> None:
    s = get_space("nb201")
    assert len({s.key(a) for a in s.enumerate()}) == 6466


def test_table_strings_parse_and_cover_the_space(rows: list[dict[str, str]]) -> None:
    s = get_space("nb201")
    assert len(rows) == 15_625
    archs = [nb201_from_string(r["arch"]) for r in rows]
    assert all(nb201_to_string(a) == r["arch"] for a, r in zip(archs, rows))
    assert len({s.describe(a) for a in archs}) == 15_625


@pytest.mark.parametrize("column", ["c10_valid_acc_200", "c100_test_acc_200"])
def test_cells_sharing_a_key_have_near_identical_accuracy(rows, column: str) -> None:
    s = get_space("nb201")
    groups: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        groups[s.key(nb201_from_string(r["arch"]))].append(float(r[column]))
    assert len(groups) == 6466
    spreads = [max(v) - min(v) for v in groups.values() if len(v) > 1]
    accs = [float(r[column]) for r in rows]
    for seed in range(3):
        rng = np.random.default_rng(seed)
        pairs = rng.integers(len(accs), size=(5000, 2))
        random_gap = statistics.median(abs(accs[i] - accs[j]) for i, j in pairs)
        # measured: about 0.35 (c10) / 0.63 (c100) within groups vs 3.1 / 5+ for random pairs
        assert statistics.median(spreads) < 0.3 * random_gap


def test_features_one_hot_and_paths() -> None:
    s = get_space("nb201")
    assert s.n_features == N_FEATURES == 30 + 155
    empty = s.features(_cell())
    assert empty[:30].reshape(6, 5)[:, 0].sum() == 6 and empty.sum() == 6  # no path survives
    # only the direct path 0->3 through a 3x3 conv
    f = s.features(_cell(e3_0="nor_conv_3x3"))
    assert f[30:].sum() == 1 and f[30 + 3] == 1
    # all skip: 4 paths, of lengths 1, 2, 2, 3, all made of skip_connect (index 1)
    g = s.features({n: "skip_connect" for n in s._by_name})
    paths = g[30:]
    assert paths[1] == 1 and paths[5 + 1 * 5 + 1] == 1 and paths[30 + 31] == 1
    assert paths.sum() == 3  # the two length-2 paths share one op sequence
    # every cell has exactly 6 ones in the op block
    for seed in range(20):
        assert s.features(s.sample(seed))[:30].sum() == 6


def test_mutate_changes_exactly_one_edge() -> None:
    s = get_space("nb201")
    rng = np.random.default_rng(1)
    arch = s.sample(0)
    seen = set()
    for _ in range(300):
        child = s.mutate(arch, rng)
        diff = [k for k in arch if arch[k] != child[k]]
        assert len(diff) == 1
        seen.add((diff[0], child[diff[0]]))
    assert len(seen) == 24  # every neighbour is reachable


def test_sample_is_roughly_uniform() -> None:
    s = get_space("nb201")
    rng = np.random.default_rng(0)
    counts = defaultdict(int)
    for _ in range(5000):
        for op in s.sample(rng).values():
            counts[op] += 1
    assert set(counts) == set(NB201_OPS)
    assert all(abs(c / 30_000 - 0.2) < 0.02 for c in counts.values())
