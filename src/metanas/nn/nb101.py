"""NAS-Bench-101 network (Ying et al. 2019), following google-research/nasbench ``model_builder.py``.

Stem conv3x3-BN-ReLU (128 channels); 3 stacks of 3 cells, a 2x2 max pool between stacks with the
channels doubled; global average pool; dense layer. A cell (a pruned DAG ``matrix`` with ``ops``
from "input" to "output") splits its output channels among the vertices feeding the output, which
are concatenated; vertices fed by the cell input get a 1x1 conv-BN-ReLU projection of it, and
vertices fed by other vertices take their first channels (truncation). Convs have no bias; BN is
affine (TF's defaults), with TF's momentum 0.997 and epsilon 1e-5.

Example:
    >>> import torch
    >>> matrix = [[0, 1, 1], [0, 0, 1], [0, 0, 0]]
    >>> net = NB101Network(matrix, ["input", "conv3x3-bn-relu", "output"], 3, 10, stem_channels=16)
    >>> tuple(net(torch.zeros(2, 3, 32, 32)).shape)
    (2, 10)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from metanas.nn._common import check_shape
from metanas.nn.registry import register_builder
from metanas.types import UserInputError

NB101_OPS = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
# PyTorch's momentum is 1 - TF's decay (0.997 in the NAS-Bench-101 config)
_BN_MOMENTUM = 0.003
_BN_EPS = 1e-5


class ConvBNReLU(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out, eps=_BN_EPS, momentum=_BN_MOMENTUM),
            nn.ReLU(inplace=False),
        )


def vertex_channels(c_in: int, c_out: int, matrix: Sequence[Sequence[int]]) -> list[int]:
    """Channels of each vertex, as ``compute_vertex_channels`` in the official code."""
    n = len(matrix)
    ch = [0] * n
    ch[0], ch[n - 1] = c_in, c_out
    if n == 2:
        return ch
    fan_in = sum(matrix[v][n - 1] for v in range(1, n - 1))
    interior, correction = divmod(c_out, fan_in)
    for v in range(1, n - 1):
        if matrix[v][n - 1]:
            ch[v] = interior + (1 if correction > 0 else 0)
            correction -= 1
    # vertices not feeding the output take the widest of their successors, going backwards
    for v in range(n - 3, 0, -1):
        if not matrix[v][n - 1]:
            for dst in range(v + 1, n - 1):
                if matrix[v][dst]:
                    ch[v] = max(ch[v], ch[dst])
    return ch


def _vertex_op(op: str, c: int) -> nn.Module:
    if op == "conv3x3-bn-relu":
        return ConvBNReLU(c, c, 3)
    if op == "conv1x1-bn-relu":
        return ConvBNReLU(c, c, 1)
    return nn.MaxPool2d(3, stride=1, padding=1)


class NB101Cell(nn.Module):
    def __init__(
        self, matrix: Sequence[Sequence[int]], ops: Sequence[str], c_in: int, c_out: int
    ) -> None:
        super().__init__()
        n = len(matrix)
        self.n = n
        self.matrix = [[int(b) for b in row] for row in matrix]
        self.ch = vertex_channels(c_in, c_out, matrix)
        # one projection and one op per interior vertex t, at position t - 1
        self.projections = nn.ModuleList(
            ConvBNReLU(c_in, self.ch[t], 1) if self.matrix[0][t] else nn.Identity()
            for t in range(1, n - 1)
        )
        self.vertex_ops = nn.ModuleList(_vertex_op(ops[t], self.ch[t]) for t in range(1, n - 1))
        # the input feeds the output through its own projection to the full width
        self.out_proj = ConvBNReLU(c_in, c_out, 1) if self.matrix[0][n - 1] else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.n
        tensors = [x]
        concat: list[torch.Tensor] = []
        for i, (proj, op) in enumerate(zip(self.projections, self.vertex_ops)):
            t = i + 1
            add_in: list[torch.Tensor] = []
            for s in range(1, t):
                if self.matrix[s][t]:
                    add_in.append(tensors[s][:, : self.ch[t]])
            v = add_in[0] if len(add_in) > 0 else proj(x)
            for other in add_in[1:]:
                v = v + other
            if len(add_in) > 0 and self.matrix[0][t]:
                v = v + proj(x)
            v = op(v)
            tensors.append(v)
            if self.matrix[t][n - 1]:
                concat.append(v)
        if not concat:
            return self.out_proj(x)
        out = concat[0] if len(concat) == 1 else torch.cat(concat, dim=1)
        if self.matrix[0][n - 1]:
            out = out + self.out_proj(x)
        return out


def check_nb101_spec(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> None:
    """Raise ``UserInputError`` unless ``(matrix, ops)`` is a pruned NAS-Bench-101 cell."""
    n = len(matrix)
    if n < 2 or len(ops) != n or any(len(row) != n for row in matrix):
        raise UserInputError(
            f"nb101 cell needs an n x n matrix and n ops (n >= 2), got {n} rows and {len(ops)} ops."
        )
    if ops[0] != "input" or ops[-1] != "output" or any(o not in NB101_OPS for o in ops[1:-1]):
        raise UserInputError(
            f"nb101 ops must be 'input', then ops from {list(NB101_OPS)}, then 'output'; got {ops}."
        )
    if any(matrix[i][j] for i in range(n) for j in range(i + 1)):
        raise UserInputError(
            "nb101 matrix must be strictly upper triangular; prune the cell first."
        )
    for v in range(1, n - 1):
        if not any(matrix[u][v] for u in range(v)) or not any(
            matrix[v][w] for w in range(v + 1, n)
        ):
            raise UserInputError(
                f"nb101 vertex {v} is not on an input-output path; prune the cell (nb101_spec) first."
            )
    if n == 2 and not matrix[0][1]:
        raise UserInputError("nb101 cell does not connect input to output; use a connected cell.")


class NB101Network(nn.Module):
    """Stem, ``n_stacks`` stacks of ``n_modules`` cells (max pool and 2x channels between), head."""

    def __init__(
        self,
        matrix: Sequence[Sequence[int]],
        ops: Sequence[str],
        in_channels: int,
        n_classes: int,
        stem_channels: int = 128,
        n_stacks: int = 3,
        n_modules: int = 3,
    ) -> None:
        super().__init__()
        check_nb101_spec(matrix, ops)
        self.stem = ConvBNReLU(in_channels, stem_channels, 3)
        layers: list[nn.Module] = []
        c_in = c = stem_channels
        for stack in range(n_stacks):
            if stack > 0:
                # TF 'same' padding rounds odd sizes up, as ceil_mode does
                layers.append(nn.MaxPool2d(2, stride=2, ceil_mode=True))
                c *= 2
            for _ in range(n_modules):
                layers.append(NB101Cell(matrix, ops, c_in, c))
                c_in = c
        self.cells = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cells(self.stem(x))  # (B, C, H', W')
        return self.classifier(x.mean(dim=(2, 3)))  # (B, n_classes)


def nb101_param_count(
    matrix: Sequence[Sequence[int]],
    ops: Sequence[str],
    in_channels: int = 3,
    n_classes: int = 10,
    stem_channels: int = 128,
    n_stacks: int = 3,
    n_modules: int = 3,
) -> int:
    """Parameters of :class:`NB101Network`, counted without building it."""
    check_nb101_spec(matrix, ops)
    n = len(matrix)
    kernel = {"conv3x3-bn-relu": 9, "conv1x1-bn-relu": 1, "maxpool3x3": 0}
    total = in_channels * stem_channels * 9 + 2 * stem_channels
    c_in = c = stem_channels
    for stack in range(n_stacks):
        c = c * 2 if stack > 0 else c
        for _ in range(n_modules):
            ch = vertex_channels(c_in, c, matrix)
            for t in range(1, n - 1):
                if matrix[0][t]:
                    total += c_in * ch[t] + 2 * ch[t]
                if kernel[ops[t]]:
                    total += kernel[ops[t]] * ch[t] * ch[t] + 2 * ch[t]
            if matrix[0][n - 1]:
                total += c_in * c + 2 * c
            c_in = c
    return total + c * n_classes + n_classes


def _spec_of(arch: Mapping[str, Any]) -> tuple[list[list[int]], list[str]]:
    if "matrix" in arch and "ops" in arch:
        return [list(map(int, row)) for row in arch["matrix"]], list(arch["ops"])
    from metanas.space.nb101 import nb101_spec  # lazily: only the space knows how to prune

    matrix, ops = nb101_spec(arch)
    return [[int(b) for b in row] for row in matrix], list(ops)


@register_builder("nb101")
def build_nb101(
    arch: Mapping[str, Any],
    input_shape: tuple[int, ...],
    n_classes: int,
    stem_channels: int = 128,
    n_stacks: int = 3,
    n_modules: int = 3,
) -> NB101Network:
    """NAS-Bench-101 network of an nb101-space architecture, or of ``{"matrix": ..., "ops": ...}``."""
    check_shape(input_shape, 3, "(channels, height, width)", "nb101")
    matrix, ops = _spec_of(arch)
    return NB101Network(matrix, ops, input_shape[0], n_classes, stem_channels, n_stacks, n_modules)
