"""Parameter counts of the NAS-Bench-201 and -101 builders against the benchmark tables."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from metanas.nn.nb101 import NB101Network, nb101_param_count
from metanas.nn.nb201 import build_nb201, nb201_param_count
from tables import NB101 as NB101_CSV
from tables import NB201 as NB201_CSV
from tables import open_table
from test_nn import parse_nb101, parse_nb201


def read_rows(table: str) -> list[dict[str, str]]:
    with open_table(table) as f:
        return list(csv.DictReader(f))


def built_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_nb201_param_count_matches_table_on_a_sample() -> None:
    rows = read_rows(NB201_CSV)
    sample = np.random.default_rng(0).choice(len(rows), size=300, replace=False)
    matched = 0
    for i in sample:
        arch = parse_nb201(rows[i]["arch"])
        table = float(rows[i]["params_m"])
        matched += abs(nb201_param_count(arch) / 1e6 - table) <= 0.01 * table
    # ~1.3% of the table are averages over seeds whose networks differed; all else must match
    assert matched >= 290, f"only {matched}/300 NB201 parameter counts match the table"


def test_nb201_built_model_counts_equal_the_analytic_count() -> None:
    rows = read_rows(NB201_CSV)
    sample = np.random.default_rng(1).choice(len(rows), size=12, replace=False)
    for i in sample:
        arch = parse_nb201(rows[i]["arch"])
        with torch.device("meta"):  # no weight memory or init cost: only shapes
            model = build_nb201(arch, (3, 32, 32), 10)
        assert built_params(model) == nb201_param_count(arch)
    # other inputs, widths and class counts too
    arch = parse_nb201(rows[int(sample[0])]["arch"])
    with torch.device("meta"):
        model = build_nb201(arch, (1, 28, 28), 7, C=8, N=2)
    assert built_params(model) == nb201_param_count(arch, in_channels=1, n_classes=7, C=8, N=2)


def test_nb201_reference_cell_has_the_published_size() -> None:
    # all-3x3 cell: the largest NB201 network, exactly as in the table
    key = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    rows = {r["arch"]: r for r in read_rows(NB201_CSV)}
    arch = parse_nb201(key)
    assert nb201_param_count(arch) == round(float(rows[key]["params_m"]) * 1e6)


def test_nb101_param_count_matches_table_exactly() -> None:
    rows = read_rows(NB101_CSV)
    mismatches = []
    for r in rows:
        matrix, ops = parse_nb101(int(r["n_vertices"]), r["adj_bits_rowmajor"], r["ops_code"])
        if nb101_param_count(matrix, ops) != int(r["trainable_parameters"]):
            mismatches.append(r["nb101_hash"])
    assert not mismatches, (
        f"{len(mismatches)}/{len(rows)} NB101 counts differ, e.g. {mismatches[:3]}"
    )


def test_nb101_built_model_counts_equal_the_table() -> None:
    rows = read_rows(NB101_CSV)
    sample = np.random.default_rng(2).choice(len(rows), size=8, replace=False)
    for i in sample:
        r = rows[i]
        matrix, ops = parse_nb101(int(r["n_vertices"]), r["adj_bits_rowmajor"], r["ops_code"])
        with torch.device("meta"):
            model = NB101Network(matrix, ops, 3, 10)
        assert built_params(model) == int(r["trainable_parameters"])


def test_nb101_space_architectures_build_the_table_network() -> None:
    nb101 = pytest.importorskip("metanas.space.nb101")
    from metanas.nn import build_model

    rows = read_rows(NB101_CSV)
    for r in rows[:5]:
        arch = nb101.nb101_from_row(int(r["n_vertices"]), r["adj_bits_rowmajor"], r["ops_code"])
        with torch.device("meta"):
            model = build_model("nb101", arch, (3, 32, 32), 10)
        assert built_params(model) == int(r["trainable_parameters"])
