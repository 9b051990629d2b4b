"""Grid search: every architecture of a finite space once, in a seeded shuffled or fixed order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from metanas.space.base import Space
from metanas.strategies.base import SpaceExhausted, Strategy, register_strategy
from metanas.types import UserInputError

#: the most architectures a shuffled grid holds in memory (an in-order walk has no limit)
SHUFFLE_MAX = 1_000_000


@register_strategy("grid")
class GridSearch(Strategy):
    """Enumerate ``space.enumerate()``; raise :class:`SpaceExhausted` when every key was proposed.

    ``shuffle=True`` visits the grid in a seeded random order (a fair anytime baseline);
    ``shuffle=False`` in the space's fixed order, one architecture at a time, so it also walks a
    space too large to hold (a shuffled grid holds at most :data:`SHUFFLE_MAX`). Architectures
    whose canonical key was already proposed (isomorphic cells) are skipped, so each computation
    is evaluated once.
    """

    finite = True
    draws_samples = False  # the grid is its own order

    def __init__(self, space: Space, seed: int | None = 0, shuffle: bool = True) -> None:
        super().__init__(space, seed)
        self.shuffle = bool(shuffle)
        self._grid: Iterator[dict[str, Any]] | None = None
        self._pos = 0  # architectures walked, repeats of a seen key included

    def _build(self) -> Iterator[dict[str, Any]]:
        if any(d.cardinality is None for d in self.space.dims):
            raise UserInputError(
                f"grid search needs a finite space but {self.space.name!r} has a continuous "
                "dimension; replace FloatRange by a Choice of values."
            )
        if not self.shuffle:
            return iter(self.space.enumerate())
        size = self.space.size  # None: too many to count cheaply
        if size is None or size > SHUFFLE_MAX:
            many = "too many to count" if size is None else f"{size:,}"
            raise UserInputError(
                f"a shuffled grid holds every architecture in memory, but {self.space.name!r} "
                f"has {many} (at most {SHUFFLE_MAX:,}); set shuffle to false to walk it in "
                "order, or use random search."
            )
        grid = list(self.space.enumerate())
        order = self.rng.permutation(len(grid))
        return iter([grid[i] for i in order])

    def _ask(self) -> dict[str, Any]:
        if self._grid is None:  # built lazily: constructors only store their arguments
            self._grid = self._build()
        key, seen = self.space.key, self.seen
        for arch in self._grid:
            self._pos += 1
            if key(arch) not in seen:
                return arch
        raise SpaceExhausted(
            f"grid search has proposed all {self._pos} architectures of {self.space.name!r}."
        )
