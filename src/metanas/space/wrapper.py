"""A space that wraps another and delegates everything to it; subclasses override what they change
(e.g. a table-restricted space, a space with pre-screened or seeded samples).

Keys, features, strings and the stored description stay the inner space's, so stores and
strategies see the same identities whatever the wrapper.
"""

from __future__ import annotations

from collections.abc import Container, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from metanas.space.base import Space
from metanas.types import UserInputError


class SpaceWrapper(Space):
    def __init__(self, inner: Space) -> None:
        super().__init__(inner.dims, name=inner.name)
        self.inner = inner
        self.kind = inner.kind

    def sample(self, rng: np.random.Generator | int | None = None) -> dict[str, Any]:
        return self.inner.sample(rng)

    def is_valid(self, arch: Mapping[str, Any]) -> bool:
        return self.inner.is_valid(arch)

    def mutate(
        self, arch: Mapping[str, Any], rng: np.random.Generator | int | None = None
    ) -> dict[str, Any]:
        return self.inner.mutate(arch, rng)

    def neighbours(
        self, arch: Mapping[str, Any], rng: np.random.Generator | int | None = None
    ) -> list[dict[str, Any]]:
        return self.inner.neighbours(arch, rng)

    def enumerate(self) -> Iterator[dict[str, Any]]:
        return self.inner.enumerate()

    @property
    def size(self) -> int | None:
        return self.inner.size

    def key(self, arch: Mapping[str, Any]) -> str:
        return self.inner.key(arch)

    def describe(self, arch: Mapping[str, Any]) -> str:
        return self.inner.describe(arch)

    def to_json(self, arch: Mapping[str, Any]) -> str:
        return self.inner.to_json(arch)

    def features(self, arch: Mapping[str, Any]) -> np.ndarray:
        return self.inner.features(arch)

    def decision_features(self, arch: Mapping[str, Any]) -> np.ndarray:
        return self.inner.decision_features(arch)

    def count_features(self, arch: Mapping[str, Any]) -> np.ndarray:
        return self.inner.count_features(arch)

    @property
    def n_count_features(self) -> int:
        return self.inner.n_count_features

    @property
    def n_features(self) -> int:
        return self.inner.n_features

    def from_text(self, text: str) -> dict[str, Any]:
        return self.inner.from_text(text)

    def to_dict(self) -> dict[str, Any]:
        return self.inner.to_dict()


class SeededSpace(SpaceWrapper):
    """``inner`` whose first ``sample`` calls return ``seeds`` in order, then random samples.

    Strategies draw their first architectures through ``sample`` (random search, evolution's
    first population, local search's starts, the model-based strategies' random starts), so a
    search on this space starts from the given architectures: a user's baseline network, or what
    an earlier phase found. A seed is a mapping or its text (:meth:`Space.from_text`: JSON, or
    the space's own notation) and is validated first (:meth:`Space.validate`). It hands each
    seed out once, so every search needs its own (``create_study(start_from=...)`` makes one).

    Example:
        >>> from metanas.space import Space, Choice
        >>> s = SeededSpace(Space([Choice("a", (1, 2, 3))]), [{"a": 3}])
        >>> s.sample(0), s.seeds
        ({'a': 3}, [{'a': 3}])
    """

    def __init__(self, inner: Space, seeds: Sequence[Mapping[str, Any] | str]) -> None:
        super().__init__(inner)
        if isinstance(seeds, str | Mapping):
            raise UserInputError(
                "the starting architectures must be a list; pass [arch] for a single one."
            )
        self.seeds = [_validated(inner, a, i) for i, a in enumerate(seeds)]
        self._next = 0

    def sample(self, rng: np.random.Generator | int | None = None) -> dict[str, Any]:
        if self._next < len(self.seeds):
            self._next += 1
            return dict(self.seeds[self._next - 1])
        return self.inner.sample(rng)

    def sample_unseen(
        self, rng: np.random.Generator | int | None, seen: Container[str]
    ) -> dict[str, Any]:
        if self._next < len(self.seeds):
            return self.sample(rng)
        return self.inner.sample_unseen(rng, seen)  # e.g. a proxy screen's pick


def _validated(space: Space, arch: Any, i: int) -> dict[str, Any]:
    try:
        return space.from_text(arch) if isinstance(arch, str) else space.validate(arch)
    except UserInputError as e:
        raise UserInputError(f"starting architecture {i + 1}: {e}") from None


def seeds_of(space: Space) -> list[dict[str, Any]]:
    """The seeds of the outermost :class:`SeededSpace` among ``space`` and what it wraps."""
    while isinstance(space, SpaceWrapper):
        if isinstance(space, SeededSpace):
            return list(space.seeds)
        space = space.inner
    return []


def own_distribution(space: Space) -> Space:
    """``space`` without the wrappers that steer a search's samples (seeds handed out first, a
    proxy screen), so its ``sample`` is the space's own distribution; a wrapper that defines the
    space (a table's rows) stays."""
    while isinstance(space, SpaceWrapper) and (
        isinstance(space, SeededSpace) or getattr(space, "screens_samples", False)
    ):
        space = space.inner
    return space
