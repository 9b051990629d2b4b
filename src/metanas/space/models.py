"""Small model spaces for user data: ``rnn_text`` (the seed example), ``mlp`` (tabular) and
``cnn1d`` (time series). ``nn/`` turns their architectures into PyTorch modules.

Example:
    >>> from metanas.space import get_space
    >>> s = get_space("rnn_text", units=(16, 32))
    >>> sorted(s.sample(0))
    ['cell', 'layers', 'num_units']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from metanas.space._params import fractions, option_names, positive_count, positive_sizes
from metanas.space.base import Space
from metanas.space.dims import Choice, Condition, Dim, IntRange
from metanas.space.registry import register_space

#: the options ``nn/`` builds for each space's named choices
TEXT_CELLS = ("rnn", "gru", "lstm", "attention")
MLP_ACTIVATIONS = ("relu", "gelu", "tanh")
CNN1D_POOLS = ("avg", "max")


def _when(i: int) -> Condition | None:
    return None if i == 1 else Condition("depth", ">=", i)


class _ParamSpace(Space):
    """A space rebuilt from its factory keyword arguments (kept JSON-friendly in ``params``)."""

    def __init__(self, dims: Sequence[Dim], name: str, params: Mapping[str, Any]) -> None:
        super().__init__(dims, name=name)
        self.params = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "params": {k: list(v) if isinstance(v, list) else v for k, v in self.params.items()},
        }


class RNNTextSpace(_ParamSpace):
    """Recurrent text classifier: cell type, hidden units, number of stacked layers."""

    kind = "rnn_text"

    def __init__(
        self,
        cells: Sequence[str] = TEXT_CELLS,
        units: Sequence[int] = (32, 64, 128),
        max_layers: int = 3,
        name: str = "rnn_text",
    ) -> None:
        cells, units = option_names(cells, "cells", TEXT_CELLS), positive_sizes(units, "units")
        max_layers = positive_count(max_layers, "max_layers")
        dims: list[Dim] = [
            Choice("cell", cells),
            Choice("num_units", units),
            IntRange("layers", 1, max_layers),
        ]
        params = {"cells": cells, "units": units, "max_layers": max_layers}
        super().__init__(dims, name, params)

    def describe(self, arch: Mapping[str, Any]) -> str:
        return f"{arch['layers']}x {arch['cell']}({arch['num_units']})"


class MLPSpace(_ParamSpace):
    """Multi-layer perceptron for tabular data: depth, per-layer width, activation, dropout."""

    kind = "mlp"

    def __init__(
        self,
        max_depth: int = 4,
        widths: Sequence[int] = (32, 64, 128, 256),
        activations: Sequence[str] = MLP_ACTIVATIONS,
        dropouts: Sequence[float] = (0.0, 0.1, 0.3),
        name: str = "mlp",
    ) -> None:
        widths = positive_sizes(widths, "widths")
        activations = option_names(activations, "activations", MLP_ACTIVATIONS)
        dropouts = fractions(dropouts, "dropouts")
        max_depth = positive_count(max_depth, "max_depth")
        dims: list[Dim] = [IntRange("depth", 1, max_depth)]
        dims += [Choice(f"width_{i}", widths, when=_when(i)) for i in range(1, max_depth + 1)]
        dims += [Choice("activation", activations), Choice("dropout", dropouts)]
        params = {
            "max_depth": max_depth,
            "widths": widths,
            "activations": activations,
            "dropouts": dropouts,
        }
        super().__init__(dims, name, params)

    def describe(self, arch: Mapping[str, Any]) -> str:
        widths = "-".join(str(arch[f"width_{i}"]) for i in range(1, arch["depth"] + 1))
        return f"mlp {widths} {arch['activation']} dropout={arch['dropout']}"


class CNN1DSpace(_ParamSpace):
    """1-D CNN for time series: depth, per-layer channels and kernel size, global pooling."""

    kind = "cnn1d"

    def __init__(
        self,
        max_depth: int = 4,
        channels: Sequence[int] = (16, 32, 64),
        kernels: Sequence[int] = (3, 5, 7),
        pools: Sequence[str] = CNN1D_POOLS,
        name: str = "cnn1d",
    ) -> None:
        channels, kernels = positive_sizes(channels, "channels"), positive_sizes(kernels, "kernels")
        pools = option_names(pools, "pools", CNN1D_POOLS)
        max_depth = positive_count(max_depth, "max_depth")
        dims: list[Dim] = [IntRange("depth", 1, max_depth)]
        for i in range(1, max_depth + 1):
            dims.append(Choice(f"channels_{i}", channels, when=_when(i)))
            dims.append(Choice(f"kernel_{i}", kernels, when=_when(i)))
        dims.append(Choice("pool", pools))
        params = {"max_depth": max_depth, "channels": channels, "kernels": kernels, "pools": pools}
        super().__init__(dims, name, params)

    def describe(self, arch: Mapping[str, Any]) -> str:
        layers = " ".join(
            f"{arch[f'channels_{i}']}k{arch[f'kernel_{i}']}" for i in range(1, arch["depth"] + 1)
        )
        return f"cnn1d {layers} {arch['pool']}pool"


@register_space("rnn_text")
def rnn_text_space(
    cells: Sequence[str] = TEXT_CELLS,
    units: Sequence[int] = (32, 64, 128),
    max_layers: int = 3,
) -> RNNTextSpace:
    """The seed example: which recurrent cell, how many units, how many layers."""
    return RNNTextSpace(cells=cells, units=units, max_layers=max_layers)


@register_space("mlp")
def mlp_space(
    max_depth: int = 4,
    widths: Sequence[int] = (32, 64, 128, 256),
    activations: Sequence[str] = MLP_ACTIVATIONS,
    dropouts: Sequence[float] = (0.0, 0.1, 0.3),
) -> MLPSpace:
    """MLP for tabular data: depth 1-4, per-layer width, activation, dropout."""
    return MLPSpace(max_depth=max_depth, widths=widths, activations=activations, dropouts=dropouts)


@register_space("cnn1d")
def cnn1d_space(
    max_depth: int = 4,
    channels: Sequence[int] = (16, 32, 64),
    kernels: Sequence[int] = (3, 5, 7),
    pools: Sequence[str] = CNN1D_POOLS,
) -> CNN1DSpace:
    """1-D CNN for time series: depth 1-4, per-layer channels and kernel, global pooling."""
    return CNN1DSpace(max_depth=max_depth, channels=channels, kernels=kernels, pools=pools)


__all__ = [
    "CNN1D_POOLS",
    "MLP_ACTIVATIONS",
    "TEXT_CELLS",
    "CNN1DSpace",
    "MLPSpace",
    "RNNTextSpace",
    "cnn1d_space",
    "mlp_space",
    "rnn_text_space",
]
