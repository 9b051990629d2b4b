"""A space that wraps another and delegates everything to it; subclasses override what they change
(e.g. a table-restricted space, a space with pre-screened or seeded samples).

Keys, features, strings and the stored description stay the inner space's, so stores and
strategies see the same identities whatever the wrapper.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from metanas.space.base import Space


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

    @property
    def n_features(self) -> int:
        return self.inner.n_features

    def to_dict(self) -> dict[str, Any]:
        return self.inner.to_dict()
