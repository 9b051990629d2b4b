"""Random search: uniform samples from the space, skipping architectures already proposed."""

from __future__ import annotations

from typing import Any

from metanas.space.base import Space
from metanas.strategies.base import Strategy, register_strategy
from metanas.types import UserInputError


@register_strategy("random")
class RandomSearch(Strategy):
    """Uniform random search, the baseline every other strategy must beat.

    Each ask draws from ``space.sample`` and redraws (up to ``tries`` times) while the canonical key
    was already proposed, so isomorphic or repeated architectures are not evaluated twice.

    Example:
        >>> from metanas.space import Space, Choice
        >>> s = RandomSearch(Space([Choice("op", ("a", "b", "c"))]), seed=0)
        >>> sorted(s.ask().arch["op"] for _ in range(3))
        ['a', 'b', 'c']
    """

    def __init__(self, space: Space, seed: int | None = 0, tries: int = 100) -> None:
        super().__init__(space, seed)
        if not isinstance(tries, int) or tries < 0:
            raise UserInputError(
                f"random search tries must be a non-negative integer, got {tries!r}."
            )
        self.tries = tries

    def _ask(self) -> dict[str, Any]:
        return self.sample_unseen(self.tries)
