"""What past tasks say about a space, as plain data a strategy can use (no storage imports).

A :class:`Prior` is one past task's evaluated architectures and values (higher is better) plus a
weight. A :class:`PriorModel` turns priors into a score per architecture: the past value's
quantile where a task measured it, else a ridge regression on ``space.features`` fitted to that
task's quantiles. Scores are in [0, 1] (1 = the best the task saw).

Example:
    >>> from metanas.space import Space, IntRange
    >>> space = Space([IntRange("w", 1, 9)])
    >>> p = Prior("old", [{"w": 1}, {"w": 5}, {"w": 9}], [0.1, 0.5, 0.9])
    >>> m = PriorModel(space, [p])
    >>> m.score({"w": 9}) > m.score({"w": 1})
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metanas.meta.similarity import quantiles
from metanas.space.base import Space
from metanas.types import UserInputError


@dataclass(frozen=True)
class Prior:
    """One past task: its evaluated architectures, their values (higher is better), a weight."""

    task: str
    archs: Sequence[Mapping[str, Any]]
    values: Sequence[float]
    weight: float = 1.0
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.archs) != len(self.values):
            raise UserInputError(
                f"prior {self.task!r} has {len(self.archs)} architectures but {len(self.values)} "
                "values; give one value per architecture."
            )
        if not self.weight >= 0:
            raise UserInputError(f"prior {self.task!r} weight must be >= 0, got {self.weight}.")

    def top(self, n: int) -> list[tuple[Mapping[str, Any], float]]:
        """The ``n`` best (architecture, value) pairs, best first."""
        order = np.argsort(-np.asarray(self.values, dtype=float), kind="stable")[:n]
        return [(self.archs[int(i)], float(self.values[int(i)])) for i in order]

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "archs": [dict(a) for a in self.archs],
            "values": [float(v) for v in self.values],
            "weight": float(self.weight),
            "info": dict(self.info),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Prior:
        return cls(
            task=str(d["task"]),
            archs=[dict(a) for a in d["archs"]],
            values=[float(v) for v in d["values"]],
            weight=float(d.get("weight", 1.0)),
            info=dict(d.get("info", {})),
        )


def as_prior(p: Prior | Mapping[str, Any]) -> Prior:
    return p if isinstance(p, Prior) else Prior.from_dict(p)


def _fit(space: Space, arch: Mapping[str, Any]) -> dict[str, Any] | None:
    """``arch`` normalised for ``space``, or ``None`` when it does not belong to it."""
    try:
        return space.validate(arch)
    except (UserInputError, KeyError, TypeError, ValueError):
        return None


class _TaskModel:
    """One prior's scores: known quantiles by key, ridge prediction for the rest."""

    def __init__(self, space: Space, prior: Prior, alpha: float) -> None:
        normed = [(_fit(space, a), v) for a, v in zip(prior.archs, prior.values)]
        fits = [(a, v) for a, v in normed if a is not None]
        # a key measured twice (re-runs, isomorphic cells) keeps its mean value
        sums: dict[str, list[float]] = {}
        first: dict[str, Mapping[str, Any]] = {}
        for a, v in fits:
            k = space.key(a)
            sums.setdefault(k, []).append(float(v))
            first.setdefault(k, a)
        self.keys = list(sums)
        self.archs = [first[k] for k in self.keys]
        self.values = np.array([np.mean(sums[k]) for k in self.keys])
        q = quantiles(self.values)
        self.known = dict(zip(self.keys, q.tolist()))
        self.space = space
        x = np.array([space.features(a) for a in self.archs], dtype=float)
        self._fit(x.reshape(len(self.archs), space.n_features), q, alpha)

    def _fit(self, x: np.ndarray, y: np.ndarray, alpha: float) -> None:
        if len(y) < 2:  # nothing to regress on: predict "middling" everywhere
            self.mu, self.ymu, self.coef = np.zeros(x.shape[1]), 0.5, np.zeros(x.shape[1])
            return
        self.mu, self.ymu = x.mean(axis=0), float(y.mean())
        xc = x - self.mu
        a = xc.T @ xc + alpha * np.eye(x.shape[1])
        self.coef = np.asarray(np.linalg.solve(a, xc.T @ (y - self.ymu)), dtype=np.float64)

    def score(self, key: str, arch: Mapping[str, Any]) -> float:
        hit = self.known.get(key)
        if hit is not None:
            return hit
        f = np.asarray(self.space.features(arch), dtype=float)
        return float(np.clip(self.ymu + (f - self.mu) @ self.coef, 0.0, 1.0))


class PriorModel:
    """Scores architectures by what past tasks saw, weighting each task by ``weights``.

    Args:
        space: the space searched now (keys and features come from it).
        priors: one :class:`Prior` per past task (empty priors are dropped).
        alpha: ridge penalty of the per-task feature regression.
    """

    def __init__(self, space: Space, priors: Sequence[Prior], alpha: float = 1.0) -> None:
        self.space = space
        self.priors = [p for p in priors if len(p.archs) > 0]
        models = [_TaskModel(space, p, alpha) for p in self.priors]
        # priors with nothing that fits this space (another space, another table) say nothing
        keep = [i for i, m in enumerate(models) if m.keys]
        self.priors = [self.priors[i] for i in keep]
        self.models = [models[i] for i in keep]
        self.weights = np.array([p.weight for p in self.priors], dtype=float)

    def __len__(self) -> int:
        return len(self.models)

    def task_scores(self, arch: Mapping[str, Any], key: str | None = None) -> np.ndarray:
        k = self.space.key(arch) if key is None else key
        return np.array([m.score(k, arch) for m in self.models])

    def score(
        self, arch: Mapping[str, Any], key: str | None = None, weights: np.ndarray | None = None
    ) -> float:
        """Weighted mean of the tasks' scores (0.5, "no opinion", without weight)."""
        w = self.weights if weights is None else weights
        if not len(self.models) or not w.sum() > 0:
            return 0.5
        return float(self.task_scores(arch, key) @ w / w.sum())

    def ranked(self, weights: np.ndarray | None = None) -> list[Mapping[str, Any]]:
        """Every architecture the past tasks measured, best combined score first (one per key)."""
        seen: dict[str, Mapping[str, Any]] = {}
        for m in self.models:
            for k, a in zip(m.keys, m.archs):
                seen.setdefault(k, a)
        scored = [(self.score(a, k, weights), i, a) for i, (k, a) in enumerate(seen.items())]
        scored.sort(key=lambda s: (-s[0], s[1]))
        return [a for _, _, a in scored]


__all__ = ["Prior", "PriorModel", "as_prior"]
