"""NAS-Bench-201 network (Dong & Yang 2020), following AutoDL-Projects' ``TinyNetwork``/``InferCell``.

Stem conv3x3 + BN; three stages of ``N`` cells with ``C``, ``2C``, ``4C`` channels, separated by
stride-2 residual blocks; BN + ReLU, global average pool, linear classifier. Cell edges are
ReLU-Conv-BN (affine BN, conv without bias), 3x3 average pooling (padding not counted), identity, or
zero; a node sums its incoming edges. With the defaults (C=16, N=5, 3x32x32 input, 10 classes) the
parameter count equals the benchmark's ``params`` column (checked in benchmarks/bench_nb201_params.py).

Example:
    >>> import torch
    >>> arch = {"1<-0": "nor_conv_3x3", "2<-0": "none", "2<-1": "skip_connect",
    ...         "3<-0": "none", "3<-1": "none", "3<-2": "avg_pool_3x3"}
    >>> net = build_nb201(arch, (3, 32, 32), 10, C=8, N=1)
    >>> tuple(net(torch.zeros(2, 3, 32, 32)).shape)
    (2, 10)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Optional

import torch
from torch import nn

from metanas.nn._common import check_shape, get_choice
from metanas.nn.registry import register_builder
from metanas.types import UserInputError

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: (architecture key, to node, from node) in the benchmark string's order
NB201_EDGES = (
    ("1<-0", 1, 0),
    ("2<-0", 2, 0),
    ("2<-1", 2, 1),
    ("3<-0", 3, 0),
    ("3<-1", 3, 1),
    ("3<-2", 3, 2),
)


class ReLUConvBN(nn.Sequential):
    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int = 1, affine: bool = True
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class Zero(nn.Module):
    """The ``none`` edge: contributes nothing. ``NB201Cell`` skips it; it stays in the edge list so
    the module mirrors the benchmark's cell edge for edge."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.0


class ResNetBasicBlock(nn.Module):
    """Reduction block between stages: two ReLU-Conv-BN plus an avg-pool + 1x1 conv shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int = 2) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1)
        self.downsample = nn.Sequential(
            # ceil_mode: an odd side (e.g. 15) pools to what the stride-2 conv gives (8, not 7)
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0, ceil_mode=True),
            nn.Conv2d(c_in, c_out, 1, 1, 0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def make_op(op: str, c: int, affine: bool = True) -> nn.Module:
    """The module of one NB201 edge op on ``c`` channels (``affine``: the conv ops' BN scale)."""
    if op == "none":
        return Zero()
    if op == "skip_connect":
        return nn.Identity()
    if op == "nor_conv_1x1":
        return ReLUConvBN(c, c, 1, affine=affine)
    if op == "nor_conv_3x3":
        return ReLUConvBN(c, c, 3, affine=affine)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise AssertionError(op)  # arch checked before


class NB201Cell(nn.Module):
    """Four nodes; node i is the sum of ``op(node j)`` over j < i; the cell outputs node 3.

    The forward pass skips ``none`` edges: the result and its gradients are those of the
    benchmark's sum, which multiplies them by zero. Edges into nodes that never reach the output
    still run, as in the benchmark, so hook-based proxies (NASWOT, FLOPs) see every op.
    """

    def __init__(self, arch: Mapping[str, str], c: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(make_op(arch[key], c) for key, _, _ in NB201_EDGES)
        self.to_node = [to for _, to, _ in NB201_EDGES]
        self.from_node = [frm for _, _, frm in NB201_EDGES]
        self.nonzero = [arch[key] != "none" for key, _, _ in NB201_EDGES]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # enumerate over the ModuleList and per-edge flags: the form TorchScript can compile
        nodes: list[Optional[torch.Tensor]] = [x, None, None, None]  # noqa: UP045 (TorchScript)
        for k, edge in enumerate(self.edges):
            if self.nonzero[k]:
                src = nodes[self.from_node[k]]
                # a node fed only by zeros is zero (x * 0 keeps it in the autograd graph, as the
                # benchmark's sum does); an op on it, such as a BN bias, need not be
                out = edge(src if src is not None else x * 0.0)
                cur = nodes[self.to_node[k]]
                nodes[self.to_node[k]] = out if cur is None else cur + out
        last = nodes[3]
        return last if last is not None else x * 0.0


def nb201_skeleton(
    in_channels: int, C: int, N: int, make_cell: Callable[[int], nn.Module]
) -> tuple[nn.Module, list[nn.Module], int]:
    """The stem, then three stages of ``N`` cells (``make_cell(channels)``; ``C``, ``2C``, ``4C``)
    with a residual reduction before the second and third; and the last stage's channels."""
    stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
    layers: list[nn.Module] = []
    c_prev = C
    for stage, c in enumerate((C, 2 * C, 4 * C)):
        if stage > 0:
            layers.append(ResNetBasicBlock(c_prev, c, 2))
        layers.extend(make_cell(c) for _ in range(N))
        c_prev = c
    return stem, layers, c_prev


class NB201Network(nn.Module):
    """The NAS-Bench-201 macro skeleton around one repeated cell."""

    def __init__(
        self, arch: Mapping[str, str], in_channels: int, n_classes: int, C: int = 16, N: int = 5
    ) -> None:
        super().__init__()
        self.stem, layers, c_prev = nb201_skeleton(in_channels, C, N, lambda c: NB201Cell(arch, c))
        self.cells = nn.Sequential(*layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.lastact(self.cells(self.stem(x)))  # (B, 4C, H/4, W/4)
        return self.classifier(torch.flatten(self.global_pooling(x), 1))  # (B, n_classes)


def check_nb201_arch(arch: Mapping[str, Any]) -> dict[str, str]:
    """The six edge ops of ``arch``, checked."""
    extra = sorted(set(arch) - {key for key, _, _ in NB201_EDGES})
    if extra:
        raise UserInputError(
            f"nb201 architecture has unknown keys {extra}; use only '1<-0'..'3<-2'."
        )
    return {key: get_choice(arch, key, NB201_OPS, "nb201") for key, _, _ in NB201_EDGES}


def nb201_param_count(
    arch: Mapping[str, str], in_channels: int = 3, n_classes: int = 10, C: int = 16, N: int = 5
) -> int:
    """Parameters of :class:`NB201Network`, counted without building it."""
    ops = check_nb201_arch(arch)
    total = in_channels * C * 9 + 2 * C  # stem conv + BN
    per_op = {"nor_conv_1x1": 1, "nor_conv_3x3": 9}
    c_prev = C
    for stage, c in enumerate((C, 2 * C, 4 * C)):
        if stage > 0:  # conv_a, conv_b (each with BN) and the 1x1 shortcut conv
            total += c_prev * c * 9 + 2 * c + c * c * 9 + 2 * c + c_prev * c
        cell = sum(c * c * per_op[op] + 2 * c for op in ops.values() if op in per_op)
        total += N * cell
        c_prev = c
    return total + 2 * c_prev + c_prev * n_classes + n_classes


@register_builder("nb201")
def build_nb201(
    arch: Mapping[str, Any],
    input_shape: tuple[int, ...],
    n_classes: int,
    C: int = 16,
    N: int = 5,
) -> NB201Network:
    """NAS-Bench-201 network for images ``(channels, height, width)``; ``C`` and ``N`` shrink it."""
    check_shape(input_shape, 3, "(channels, height, width)", "nb201")
    if C < 1 or N < 1:
        raise UserInputError(
            f"nb201 needs C >= 1 and N >= 1, got C={C}, N={N}; use e.g. C=16, N=5."
        )
    return NB201Network(check_nb201_arch(arch), input_shape[0], n_classes, C=C, N=N)
