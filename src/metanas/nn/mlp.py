"""Multi-layer perceptron for tabular data: ``depth`` x (Linear, activation, dropout), then Linear.

Inputs of any shape are flattened, so ``input_shape`` ``(F,)`` or ``(C, H, W)`` both work.

Example:
    >>> import torch
    >>> arch = {"depth": 2, "width_1": 64, "width_2": 32, "activation": "gelu", "dropout": 0.1}
    >>> net = build_mlp(arch, (20,), 3)
    >>> tuple(net(torch.zeros(4, 20)).shape)
    (4, 3)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from metanas.nn._common import get_choice, get_fraction, get_int
from metanas.nn.registry import register_builder
from metanas.space.models import MLP_ACTIVATIONS

_ACT: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


class MLP(nn.Module):
    def __init__(self, layers: nn.Sequential) -> None:
        super().__init__()
        self.layers = layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(torch.flatten(x, 1))  # (B, F) -> (B, n_classes)


@register_builder("mlp")
def build_mlp(arch: Mapping[str, Any], input_shape: tuple[int, ...], n_classes: int) -> MLP:
    """MLP from ``prod(input_shape)`` features to ``n_classes`` logits."""
    depth = get_int(arch, "depth", "mlp")
    act = get_choice(arch, "activation", MLP_ACTIVATIONS, "mlp")
    dropout = get_fraction(arch, "dropout", "mlp")
    layers: list[nn.Module] = []
    c = math.prod(input_shape)
    for i in range(1, depth + 1):
        width = get_int(arch, f"width_{i}", "mlp")
        layers += [nn.Linear(c, width), _ACT[act]()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        c = width
    layers.append(nn.Linear(c, n_classes))
    return MLP(nn.Sequential(*layers))
