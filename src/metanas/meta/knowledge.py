"""The knowledge base: what a store knows about past tasks, ready for warm starts.

Studies are grouped into tasks by (task name, space, objective): fifty seeds of one benchmark
are one task with many evaluations. Values are turned so that higher is better.

Example:
    >>> kb = KnowledgeBase(None)          # an empty in-memory store knows nothing
    >>> kb.tasks()
    []
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from metanas.meta.prior import Prior
from metanas.meta.similarity import Similarity, task_similarity
from metanas.space.base import Space
from metanas.storage.base import StudyInfo
from metanas.storage.sqlite import open_store
from metanas.types import Budget, TaskInfo, Trial, TrialState


def space_signature(space: Space | Mapping[str, Any]) -> str:
    """A string equal for equal spaces (table-restricted spaces sign as their inner space)."""
    d = space.to_dict() if isinstance(space, Space) else space
    return json.dumps(d, sort_keys=True, default=str)


@dataclass(frozen=True)
class PastTask:
    """One task of the store: its descriptor and every complete evaluation of its studies."""

    name: str
    task: TaskInfo
    space: Mapping[str, Any]
    objective: str | None
    direction: str
    studies: tuple[str, ...]
    #: canonical key -> (architecture, value as measured; the mean where measured repeatedly)
    evaluations: Mapping[str, tuple[Mapping[str, Any], float]]

    def value_for_search(self, v: float) -> float:
        """``v`` turned so that higher is better."""
        return -v if self.direction == "minimize" else v

    def scores(self) -> dict[str, float]:
        """Key -> value, higher is better."""
        return {k: self.value_for_search(v) for k, (_, v) in self.evaluations.items()}

    def best(self, n: int = 5) -> list[tuple[Mapping[str, Any], float]]:
        """The ``n`` best (architecture, measured value) pairs, best first."""
        items = sorted(self.evaluations.values(), key=lambda e: -self.value_for_search(e[1]))
        return items[:n]

    def prior(self, weight: float = 1.0, max_archs: int = 500) -> Prior:
        """This task as a :class:`Prior`: at most ``max_archs`` evaluations, the best half of
        them plus an even spread of the rest (the spread keeps the regression honest)."""
        items = sorted(self.evaluations.values(), key=lambda e: -self.value_for_search(e[1]))
        if len(items) > max_archs:
            head = max_archs // 2
            rest = items[head:]
            idx = np.linspace(0, len(rest) - 1, max_archs - head).round().astype(int)
            items = items[:head] + [rest[int(i)] for i in sorted(set(idx.tolist()))]
        return Prior(
            task=self.name,
            archs=[a for a, _ in items],
            values=[self.value_for_search(v) for _, v in items],
            weight=weight,
            info={"studies": list(self.studies)},
        )


class KnowledgeBase:
    """Read-only view of a store's studies as past tasks.

    Args:
        storage: a store object, a path or a ``sqlite:///`` URL.
    """

    def __init__(self, storage: Any) -> None:
        self.storage = storage
        # a path is opened read-only: reading the past must never create or change a store
        self._store = open_store(storage, readonly=isinstance(storage, (str, os.PathLike)))

    def tasks(
        self,
        space: Space | Mapping[str, Any] | None = None,
        exclude: Iterable[str] = (),
        before_study_id: int | None = None,
    ) -> list[PastTask]:
        """The store's tasks, optionally only those on ``space``.

        ``exclude`` names studies to leave out (e.g. the study being warm-started);
        ``before_study_id`` keeps only studies created before it, so a resumed warm start sees
        the same past as when it began.
        """
        sig = None if space is None else space_signature(space)
        skip = set(exclude)
        groups: dict[tuple[str, str, str, str], list[Any]] = {}
        for info in self._store.studies():
            if info.name in skip or (before_study_id is not None and info.id >= before_study_id):
                continue
            s = space_signature(info.space)
            if sig is not None and s != sig:
                continue
            # one direction per task: values to maximise and to minimise must not be pooled
            direction = str(info.config.get("direction", "maximize"))
            gk = (info.task.name, s, str(info.config.get("objective")), direction)
            groups.setdefault(gk, []).append(info)
        out = []
        for infos in groups.values():
            done = [
                (_epochs(t, info), t)
                for info in infos
                for t in self._store.trials(info.id)
                if t.state is TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)
            ]
            # smaller budgets measure something else (NB201: 74% at 12 epochs, 90% at 200),
            # whether a multi-fidelity study or a cheaper study of the task ran them: only the
            # task's largest budget's results count
            top = max((e for e, _ in done), default=None)
            sums: dict[str, list[float]] = {}
            archs: dict[str, Mapping[str, Any]] = {}
            for e, t in done:
                if e == top:
                    assert t.value is not None
                    sums.setdefault(t.key, []).append(float(t.value))
                    archs.setdefault(t.key, t.arch)
            if not sums:
                continue
            first = infos[0]
            out.append(
                PastTask(
                    name=first.task.name,
                    task=_merge_tasks([i.task for i in infos]),
                    space=first.space,
                    objective=first.config.get("objective"),
                    direction=str(first.config.get("direction", "maximize")),
                    studies=tuple(i.name for i in infos),
                    evaluations={k: (archs[k], sum(v) / len(v)) for k, v in sums.items()},
                )
            )
        return out

    def similarity(self, a: PastTask, b: PastTask) -> Similarity:
        return task_similarity(a.task, b.task, a.scores(), b.scores())

    def similarity_matrix(self, tasks: Sequence[PastTask]) -> list[list[Similarity]]:
        return [[self.similarity(a, b) for b in tasks] for a in tasks]

    def priors(
        self,
        space: Space,
        task: TaskInfo | None = None,
        exclude: Iterable[str] = (),
        before_study_id: int | None = None,
        max_tasks: int = 5,
        objective: str | None = None,
        direction: str | None = None,
    ) -> list[Prior]:
        """Priors for a new search of ``space`` on ``task``: the ``max_tasks`` most similar past
        tasks, weighted by descriptor (and probe-feature) similarity; the warm start then
        re-weights them by how well they predict the new results. Given ``objective`` and
        ``direction``, only past tasks that optimized the same do (a latency search's fastest
        networks are no accuracy search's best).
        """
        tasks = [
            t
            for t in self.tasks(space, exclude, before_study_id)
            if (objective is None or t.objective in (None, objective))
            and (direction is None or t.direction == direction)
        ]
        scored = []
        for i, t in enumerate(tasks):
            w = 1.0 if task is None else task_similarity(task, t.task).score
            if w > 0:
                scored.append((w, i, t))
        scored.sort(key=lambda s: (-s[0], s[1]))
        return [t.prior(weight=w) for w, _, t in scored[:max_tasks]]

    def close(self) -> None:
        if self.storage is not self._store and hasattr(self._store, "close"):
            self._store.close()


def _epochs(trial: Trial, info: StudyInfo) -> float:
    """The budget ``trial`` ran at: its own, else its study's (``inf``: unbudgeted)."""
    if trial.budget is None and info.config.get("budget"):
        return replace(trial, budget=Budget.from_dict(info.config["budget"])).epochs
    return trial.epochs


def _merge_tasks(tasks: Sequence[TaskInfo]) -> TaskInfo:
    """The first descriptor, with probe features averaged over the studies that have them."""
    feats: dict[str, list[float]] = {}
    for t in tasks:
        for k, v in t.features.items():
            feats.setdefault(k, []).append(float(v))
    base = tasks[0]
    return TaskInfo(
        name=base.name,
        modality=base.modality,
        input_shape=base.input_shape,
        n_classes=base.n_classes,
        n_samples=base.n_samples,
        features={k: sum(v) / len(v) for k, v in feats.items()},
    )


__all__ = ["KnowledgeBase", "PastTask", "space_signature"]
