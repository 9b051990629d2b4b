"""Macro (chain-structured) image network: ``depth`` layers, each a chosen unit and width.

Layer i applies ``unit_i`` mapping its input to ``width_i`` channels (convs are Conv-BN-ReLU;
pooling and identity units add a 1x1 Conv-BN-ReLU only when the width changes); ``skip_i`` adds a
residual shortcut around the layer (a 1x1 conv + BN when the width changes). A stem conv3x3-BN-ReLU
(``stem_channels``) comes first, followed by a 2x2 max pool when ``stem_pool`` (cheap layers on
large images); a 2x2 max pool follows every ``reduce_every`` layers (not after
the last, and only while the feature map is at least 4 pixels wide); then the head: ``gap``
(global average pool and a linear classifier) or ``dense`` (max pools down to at most 7 pixels,
flatten, a ``head_units`` hidden layer, ``dropout`` before both linear layers).

Example:
    >>> import torch
    >>> arch = {"depth": 2, "unit_1": "conv3x3", "width_1": 16, "skip_1": True,
    ...         "unit_2": "maxpool3x3", "width_2": 32, "skip_2": False}
    >>> net = build_macro(arch, (3, 32, 32), 10)
    >>> tuple(net(torch.zeros(2, 3, 32, 32)).shape)
    (2, 10)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from metanas.nn._common import check_shape, get_choice, get_int
from metanas.nn.registry import register_builder
from metanas.space.macro import DEFAULT_UNITS, HEADS
from metanas.types import UserInputError

MACRO_UNITS = DEFAULT_UNITS  # the space lists what this builder implements


def _conv_bn_relu(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=False),
    )


def _unit(unit: str, c_in: int, c_out: int) -> nn.Module:
    if unit == "conv3x3":
        return _conv_bn_relu(c_in, c_out, 3)
    if unit == "conv5x5":
        return _conv_bn_relu(c_in, c_out, 5)
    if unit == "sepconv3x3":  # depthwise 3x3 then pointwise 1x1
        return nn.Sequential(
            nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False),
            _conv_bn_relu(c_in, c_out, 1),
        )
    adapt: list[nn.Module] = [] if c_in == c_out else [_conv_bn_relu(c_in, c_out, 1)]
    if unit == "maxpool3x3":
        return nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), *adapt)
    if unit == "avgpool3x3":
        return nn.Sequential(nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), *adapt)
    return nn.Sequential(*adapt) if adapt else nn.Identity()


class MacroLayer(nn.Module):
    def __init__(self, unit: str, c_in: int, c_out: int, skip: bool) -> None:
        super().__init__()
        self.body = _unit(unit, c_in, c_out)
        self.skip = skip
        self.shortcut: nn.Module = nn.Identity()
        if skip and c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return y + self.shortcut(x) if self.skip else y


class MacroNetwork(nn.Module):
    def __init__(self, features: nn.Sequential, classifier: nn.Module, gap: bool) -> None:
        super().__init__()
        self.features = features
        self.classifier = classifier
        self.gap = gap

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (B, C, H', W')
        return self.classifier(x.mean(dim=(2, 3)) if self.gap else x)  # (B, n_classes)


def _dense_head(
    c: int, hw: tuple[int, int], n_classes: int, units: int, dropout: float
) -> nn.Sequential:
    h, w = hw
    pools: list[nn.Module] = []
    while min(h, w) > 7:  # keep the flattened map small whatever the depth
        pools.append(nn.MaxPool2d(2, stride=2))
        h, w = h // 2, w // 2
    return nn.Sequential(
        *pools,
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(c * h * w, units),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(units, n_classes),
    )


@register_builder("macro")
def build_macro(
    arch: Mapping[str, Any],
    input_shape: tuple[int, ...],
    n_classes: int,
    stem_channels: int = 16,
    reduce_every: int = 2,
    head_units: int = 256,
    dropout: float = 0.3,
    stem_pool: bool = False,
) -> MacroNetwork:
    """Chain network for images ``(channels, height, width)``."""
    check_shape(input_shape, 3, "(channels, height, width)", "macro")
    if stem_channels < 1 or reduce_every < 1 or head_units < 1:
        raise UserInputError(
            f"macro needs stem_channels, reduce_every and head_units >= 1, got {stem_channels}, "
            f"{reduce_every}, {head_units}; use the defaults 16, 2 and 256."
        )
    if not 0 <= dropout < 1:
        raise UserInputError(f"macro dropout must be in [0, 1), got {dropout!r}.")
    depth = get_int(arch, "depth", "macro")
    c_in, h, w = input_shape
    layers: list[nn.Module] = [_conv_bn_relu(c_in, stem_channels, 3)]
    if stem_pool and min(h, w) >= 4:
        layers.append(nn.MaxPool2d(2, stride=2))
        h, w = h // 2, w // 2
    c = stem_channels
    for i in range(1, depth + 1):
        unit = get_choice(arch, f"unit_{i}", MACRO_UNITS, "macro")
        width = get_int(arch, f"width_{i}", "macro")
        skip = bool(get_choice(arch, f"skip_{i}", (False, True), "macro"))
        layers.append(MacroLayer(unit, c, width, skip))
        c = width
        if i % reduce_every == 0 and i < depth and min(h, w) >= 4:
            layers.append(nn.MaxPool2d(2, stride=2))
            h, w = h // 2, w // 2
    head = get_choice(arch, "head", HEADS, "macro") if "head" in arch else "gap"
    if head == "gap":
        return MacroNetwork(nn.Sequential(*layers), nn.Linear(c, n_classes), gap=True)
    return MacroNetwork(
        nn.Sequential(*layers), _dense_head(c, (h, w), n_classes, head_units, dropout), gap=False
    )
