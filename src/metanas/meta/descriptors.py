"""Task descriptors: what a task is (modality, input shape, classes, samples) plus cheap probes.

A probe is the value of a fixed reference architecture on the task. Every task probed with the
same reference set can be compared by rank correlation before any search has run
(:func:`metanas.meta.similarity.probe_correlation`). Probes are stored in ``TaskInfo.features``
as ``"probe/<canonical key>"``; on a table a probe costs a look-up, in training one short run.

Example:
    >>> from metanas.space import Space, IntRange
    >>> space = Space([IntRange("w", 1, 64)])
    >>> ti = describe_task(space=space, evaluate=lambda a: float(a["w"]), n_probe=3)
    >>> len([k for k in ti.features if k.startswith("probe/")])
    3
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from metanas.space.base import Space
from metanas.types import TaskInfo, UserInputError

#: the seed of the reference architectures: fixed forever, so probes of all tasks line up
REFERENCE_SEED = 20_240_601
PROBE_PREFIX = "probe/"


def reference_archs(space: Space, n: int = 5) -> list[dict[str, Any]]:
    """``n`` distinct architectures of ``space``, the same for every task and every run."""
    if n < 0:
        raise UserInputError(f"number of reference architectures must be >= 0, got {n}.")
    rng = np.random.default_rng(REFERENCE_SEED)
    out: dict[str, dict[str, Any]] = {}
    for _ in range(100 * n + 100):
        if len(out) >= n:
            break
        a = space.sample(rng)
        out.setdefault(space.key(a), a)
    return list(out.values())


def probe_features(
    space: Space, evaluate: Callable[[Mapping[str, Any]], float | None], n: int = 5
) -> dict[str, float]:
    """``{"probe/<key>": value}`` of the reference architectures (failed ones left out)."""
    feats = {}
    for a in reference_archs(space, n):
        v = evaluate(a)
        if v is not None and v == v:
            feats[PROBE_PREFIX + space.key(a)] = float(v)
    return feats


def evaluator_probe(evaluator: Any) -> Callable[[Mapping[str, Any]], float | None]:
    """A probe function from an evaluator: its objective value at its default budget."""
    from metanas.evaluation.base import continue_always

    def probe(arch: Mapping[str, Any]) -> float | None:
        return evaluator.evaluate(arch, None, continue_always).value

    return probe


def describe_task(
    evaluator: Any = None,
    task: TaskInfo | None = None,
    space: Space | None = None,
    evaluate: Callable[[Mapping[str, Any]], float | None] | None = None,
    n_probe: int = 0,
) -> TaskInfo:
    """The descriptor of a task: ``task``, else ``evaluator.task_info()``, with ``n_probe``
    probe features added (evaluated with ``evaluate``, default: the evaluator itself)."""
    if task is None:
        ti = getattr(evaluator, "task_info", None)
        task = ti() if callable(ti) else TaskInfo()
    if n_probe <= 0:
        return task
    if space is None:
        raise UserInputError("probe features need the space; pass space= to describe_task.")
    if evaluate is None:
        if evaluator is None:
            raise UserInputError("probe features need an evaluator or evaluate=; pass one of them.")
        evaluate = evaluator_probe(evaluator)
    return replace(task, features={**task.features, **probe_features(space, evaluate, n_probe)})


__all__ = [
    "PROBE_PREFIX",
    "REFERENCE_SEED",
    "describe_task",
    "evaluator_probe",
    "probe_features",
    "reference_archs",
]
