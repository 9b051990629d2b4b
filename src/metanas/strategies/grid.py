"""Grid search: every architecture of a finite space once, in a seeded shuffled or fixed order."""

from __future__ import annotations

from typing import Any

from metanas.space.base import Space
from metanas.strategies.base import SpaceExhausted, Strategy, register_strategy
from metanas.types import UserInputError


@register_strategy("grid")
class GridSearch(Strategy):
    """Enumerate ``space.enumerate()``; raise :class:`SpaceExhausted` when every key was proposed.

    ``shuffle=True`` visits the grid in a seeded random order (a fair anytime baseline);
    ``shuffle=False`` in the space's fixed order. Architectures whose canonical key was already
    proposed (isomorphic cells) are skipped, so each computation is evaluated once.
    """

    finite = True

    def __init__(self, space: Space, seed: int | None = 0, shuffle: bool = True) -> None:
        super().__init__(space, seed)
        self.shuffle = bool(shuffle)
        self._grid: list[dict[str, Any]] | None = None
        self._pos = 0

    def _build(self) -> list[dict[str, Any]]:
        if any(d.cardinality is None for d in self.space.dims):
            raise UserInputError(
                f"grid search needs a finite space but {self.space.name!r} has a continuous "
                "dimension; replace FloatRange by a Choice of values."
            )
        grid = list(self.space.enumerate())
        if self.shuffle:
            order = self.rng.permutation(len(grid))
            grid = [grid[i] for i in order]
        return grid

    def _ask(self) -> dict[str, Any]:
        if self._grid is None:  # built lazily: constructors only store their arguments
            self._grid = self._build()
        grid, key, seen = self._grid, self.space.key, self.seen
        while self._pos < len(grid):
            arch = grid[self._pos]
            self._pos += 1
            if key(arch) not in seen:
                return arch
        raise SpaceExhausted(
            f"grid search has proposed all {len(grid)} architectures of {self.space.name!r}."
        )
