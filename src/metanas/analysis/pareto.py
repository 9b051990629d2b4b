"""Pareto fronts: the trials no other trial beats on every objective at once (e.g. accuracy and
parameter count, or accuracy and latency).

Example:
    >>> pareto_front([[0.9, 5.0], [0.8, 1.0], [0.7, 2.0]], maximize=[True, False]).tolist()
    [0, 1]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from metanas.analysis._trials import at_top_budget, check_study
from metanas.types import Trial, UserInputError

if TYPE_CHECKING:
    from metanas.study import Study


def pareto_front(
    points: Sequence[Sequence[float]] | np.ndarray, maximize: Sequence[bool]
) -> np.ndarray:
    """Row indices of the non-dominated ``points`` (n x k), best first by the first column.

    A row is dominated when another is at least as good on every column and better on one. Equal
    rows are all kept; rows with a NaN are never on the front.
    """
    p = np.asarray(points, dtype=float)
    if p.ndim != 2 or p.shape[1] != len(maximize):
        raise UserInputError(
            f"points must be an n x {len(maximize)} array (one column per objective), "
            f"got shape {p.shape}."
        )
    q = p * np.where(np.asarray(maximize, dtype=bool), 1.0, -1.0)  # every column: higher is better
    keep = ~np.isnan(q).any(axis=1)
    for i in np.flatnonzero(keep):
        if keep[i]:
            dominated = np.all(q <= q[i], axis=1) & np.any(q < q[i], axis=1)
            keep &= ~dominated
    front = np.flatnonzero(keep)
    return front[np.argsort(-q[front, 0], kind="stable")]


def study_pareto(study: Study, metric: str, *, maximize_metric: bool = False) -> list[Trial]:
    """The complete trials of ``study`` on the front of its objective and ``metric``.

    ``metric`` is one of the trials' recorded metrics (real training records ``params`` and
    ``seconds``); it is minimised unless ``maximize_metric``. Only trials at the largest budget
    count: a multi-fidelity search's short runs would put cheap, unfinished results on the front.
    """
    check_study(study, "study_pareto")
    done = at_top_budget(study.trials)
    have = [t for t in done if metric in t.metrics]
    if not have:
        known = sorted({m for t in done for m in t.metrics})
        raise UserInputError(
            f"no complete trial records metric {metric!r}; recorded: {', '.join(known) or 'none'}."
        )
    pts = [[float(t.value or 0.0), float(t.metrics[metric])] for t in have]
    front = pareto_front(pts, [study.direction == "maximize", maximize_metric])
    return [have[i] for i in front]


__all__ = ["pareto_front", "study_pareto"]
