"""A REINFORCE controller's starting policy from past tasks: what their best architectures chose.

For every decision of the space, the logits are the log of the (smoothed) frequency with which
the past tasks' top architectures took each value, weighted by task weight, tempered by
``temperature`` and clipped at ``max_logit`` so that no value becomes unlikely enough to stop
being explored. The result is plain numbers, handed to
:class:`metanas.strategies.reinforce.Reinforce` as ``init_policy``.

Example:
    >>> from metanas.space import Space, Choice
    >>> from metanas.meta.prior import Prior
    >>> space = Space([Choice("a", (1, 2, 3))])
    >>> past = Prior("old", [{"a": v} for v in (1, 2, 3)] * 4, [v for v in (1, 2, 3)] * 4)
    >>> logits = initial_policy(space, [past], top=4)[0]
    >>> max(range(3), key=lambda i: logits[i])
    2
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from metanas.meta.prior import Prior, as_prior
from metanas.space.base import Space
from metanas.strategies.reinforce import Decisions
from metanas.types import UserInputError


def initial_policy(
    space: Space,
    priors: Sequence[Prior | Mapping[str, Any]],
    weights: Sequence[float] | np.ndarray | None = None,
    top: int = 20,
    temperature: float = 0.5,
    max_logit: float = 1.5,
    smoothing: float = 1.0,
    n_bins: int = 16,
    bin_conditions: bool = True,
) -> list[list[float]] | None:
    """One list of logits per dimension of ``space`` (``None`` when no prior carries weight).

    Args:
        priors: past tasks; ``weights`` overrides their weights (e.g. the warm start's
            trust-adjusted ones).
        top: architectures per task that vote (its best ones).
        temperature: logits are ``temperature * log(frequency)``; below 1 flattens the policy.
        max_logit: logits are centred and clipped to ``[-max_logit, max_logit]``: a value's
            probability is at most ``e^(2 max_logit)`` times another's.
        smoothing: pseudo-count added to every value (Laplace).
        n_bins, bin_conditions: as the controller's (large ranges are binned the same way).
    """
    if not (top >= 1 and temperature >= 0 and max_logit >= 0 and smoothing > 0):
        raise UserInputError(
            "initial_policy needs top >= 1, temperature >= 0, max_logit >= 0 and smoothing > 0."
        )
    ps = [as_prior(p) for p in priors]
    w = np.array([p.weight for p in ps] if weights is None else weights, dtype=float)
    if len(w) != len(ps):
        raise UserInputError(f"initial_policy got {len(w)} weights for {len(ps)} priors.")
    dec = Decisions(space, n_bins, bin_conditions)
    counts = [np.zeros(len(v)) for v in dec.values]
    voted = 0.0
    for p, wt in zip(ps, w):
        if not wt > 0:
            continue
        for arch, _ in p.top(top):
            try:
                arch = space.validate(arch)
            except (UserInputError, KeyError, TypeError, ValueError):
                continue  # another space's architecture says nothing about this one
            for k, i in dec.encode(arch):
                counts[k][i] += wt
            voted += wt
    if not voted > 0:
        return None
    out = []
    for c in counts:
        # scale so that the votes are worth ``top`` architectures whatever the weights' scale
        f = c * (top / voted) + smoothing
        z = temperature * np.log(f / f.sum())
        out.append(np.clip(z - z.mean(), -max_logit, max_logit).tolist())
    return out


__all__ = ["initial_policy"]
