"""1-D convolutional network for time series ``(channels, length)``.

``depth`` blocks of Conv1d(``channels_i``, ``kernel_i``, "same" padding)-BN-ReLU, each followed by a
size-2 ``pool`` ("avg" or "max") while the sequence is at least 2 long; then global ``pool`` over
time and a linear classifier.

Example:
    >>> import torch
    >>> arch = {"depth": 2, "channels_1": 16, "kernel_1": 5, "channels_2": 32, "kernel_2": 3,
    ...         "pool": "max"}
    >>> net = build_cnn1d(arch, (3, 100), 4)
    >>> tuple(net(torch.zeros(2, 3, 100)).shape)
    (2, 4)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from metanas.nn._common import check_shape, get_choice, get_int
from metanas.nn.registry import register_builder
from metanas.space.models import CNN1D_POOLS


class CNN1d(nn.Module):
    def __init__(self, features: nn.Sequential, c_out: int, n_classes: int, pool: str) -> None:
        super().__init__()
        self.features = features
        self.global_pool = nn.AdaptiveMaxPool1d(1) if pool == "max" else nn.AdaptiveAvgPool1d(1)
        self.classifier = nn.Linear(c_out, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.global_pool(self.features(x))  # (B, C, 1)
        return self.classifier(torch.flatten(x, 1))  # (B, n_classes)


@register_builder("cnn1d")
def build_cnn1d(arch: Mapping[str, Any], input_shape: tuple[int, ...], n_classes: int) -> CNN1d:
    """1-D CNN for series ``(channels, length)``."""
    check_shape(input_shape, 2, "(channels, length)", "cnn1d")
    depth = get_int(arch, "depth", "cnn1d")
    pool = get_choice(arch, "pool", CNN1D_POOLS, "cnn1d")
    c, length = input_shape
    layers: list[nn.Module] = []
    for i in range(1, depth + 1):
        width = get_int(arch, f"channels_{i}", "cnn1d")
        k = get_int(arch, f"kernel_{i}", "cnn1d")
        layers += [
            nn.Conv1d(c, width, k, padding="same", bias=False),
            nn.BatchNorm1d(width),
            nn.ReLU(inplace=False),
        ]
        if length >= 2:
            layers.append(nn.MaxPool1d(2) if pool == "max" else nn.AvgPool1d(2))
            length //= 2
        c = width
    return CNN1d(nn.Sequential(*layers), c, n_classes, pool)
