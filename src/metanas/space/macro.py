"""A chain CNN of variable depth: each layer picks a unit, a width and whether to add a skip.

Dimensions of layer ``i`` (``unit_i``, ``width_i``, ``skip_i``) exist only when ``depth >= i``,
so a depth-2 architecture has no ``width_3``. ``heads`` lists the classifier heads to search
(``gap``: global average pool + linear; ``dense``: flatten + a hidden dense layer with dropout);
with a single head (the default, ``gap``) there is no ``head`` dimension.

Example:
    >>> from metanas.space import get_space
    >>> s = get_space("macro", max_depth=3)
    >>> a = s.sample(0)
    >>> all(f"unit_{i}" in a for i in range(1, a["depth"] + 1))
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from metanas.space._params import option_names, positive_count, positive_sizes
from metanas.space.base import Space
from metanas.space.dims import Choice, Condition, Dim, IntRange
from metanas.space.registry import register_space

DEFAULT_WIDTHS: tuple[int, ...] = (16, 32, 64, 128)
DEFAULT_UNITS: tuple[str, ...] = (
    "conv3x3",
    "conv5x5",
    "sepconv3x3",
    "maxpool3x3",
    "avgpool3x3",
    "identity",
)
HEADS: tuple[str, ...] = ("gap", "dense")


def _layer_when(i: int) -> Condition | None:
    """Layer 1 always exists; layer ``i`` only when ``depth >= i``."""
    return None if i == 1 else Condition("depth", ">=", i)


class MacroChainSpace(Space):
    """Chain of ``depth`` layers, each ``(unit, width, skip)``."""

    kind = "macro"

    def __init__(
        self,
        max_depth: int = 6,
        widths: Sequence[int] = DEFAULT_WIDTHS,
        units: Sequence[str] = DEFAULT_UNITS,
        heads: Sequence[str] = ("gap",),
        name: str = "macro",
    ) -> None:
        self.max_depth = positive_count(max_depth, "max_depth")
        self.widths = positive_sizes(widths, "widths")
        self.units = option_names(units, "units", DEFAULT_UNITS)
        self.heads = option_names(heads, "heads", HEADS)
        dims: list[Dim] = [IntRange("depth", 1, self.max_depth)]
        for i in range(1, self.max_depth + 1):
            when = _layer_when(i)
            dims.append(Choice(f"unit_{i}", self.units, when=when))
            dims.append(Choice(f"width_{i}", self.widths, when=when))
            dims.append(Choice(f"skip_{i}", (False, True), when=when))
        if self.heads != ("gap",):  # an architecture without a head has the builder's gap
            dims.append(Choice("head", self.heads))
        super().__init__(dims, name=name)

    @property
    def size(self) -> int:
        per_layer = len(self.units) * len(self.widths) * 2
        return len(self.heads) * sum(per_layer**d for d in range(1, self.max_depth + 1))

    def describe(self, arch: Mapping[str, Any]) -> str:
        layers = []
        for i in range(1, int(arch["depth"]) + 1):
            skip = "+skip" if arch[f"skip_{i}"] else ""
            layers.append(f"{arch[f'unit_{i}']}/{arch[f'width_{i}']}{skip}")
        head = arch.get("head", self.heads[0])
        return " -> ".join(layers) + ("" if head == "gap" else f" -> {head} head")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "params": {
                "max_depth": self.max_depth,
                "widths": list(self.widths),
                "units": list(self.units),
                **({"heads": list(self.heads)} if self.heads != ("gap",) else {}),
            },
        }


@register_space("macro")
def macro_space(
    max_depth: int = 6,
    widths: Sequence[int] = DEFAULT_WIDTHS,
    units: Sequence[str] = DEFAULT_UNITS,
    heads: Sequence[str] = ("gap",),
) -> MacroChainSpace:
    """Variable-depth chain CNN; per-layer unit, width and skip (conditional on depth)."""
    return MacroChainSpace(max_depth=max_depth, widths=widths, units=units, heads=heads)


__all__ = ["DEFAULT_UNITS", "DEFAULT_WIDTHS", "HEADS", "MacroChainSpace", "macro_space"]
