"""Ask architectures in order of probability under given per-decision distributions.

The hand-off from a one-shot search (:mod:`metanas.oneshot`): the supernet learns a distribution
over each decision's options, and this strategy asks its most probable architecture first, then
the next most probable one not yet asked (by canonical key, so isomorphic cells count once), and
so on, for stand-alone evaluation. Any distribution will do, e.g. a user's prior.
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Mapping
from typing import Any

from metanas.space.base import Space
from metanas.space.dims import Choice
from metanas.strategies.base import SpaceExhausted, Strategy, register_strategy
from metanas.types import UserInputError


def _option_of(dim: Choice, key: Any) -> Any:
    """The option ``key`` names; JSON (a stored study's options) turns keys 16 and True into
    the strings "16" and "true"."""
    if key in dim.options or not isinstance(key, str):
        return key
    try:
        return dim.options[dim.index(json.loads(key))]
    except (ValueError, UserInputError):
        return key


def _check(space: Space, probs: Any) -> list[list[tuple[float, Any]]]:
    """Per dimension, its options with log-probabilities, most probable first."""
    if not isinstance(probs, Mapping):
        raise UserInputError(
            "most_probable needs probs: a mapping of each decision to {option: probability}."
        )
    table = []
    for dim in space.dims:
        if not isinstance(dim, Choice) or dim.when is not None:
            raise UserInputError(
                f"most_probable works on spaces of unconditional choices; {dim.name!r} is not one."
            )
        given = probs.get(dim.name)
        if not isinstance(given, Mapping):
            raise UserInputError(
                f"probs has no distribution for {dim.name!r}; give one per choice."
            )
        given = {_option_of(dim, k): v for k, v in given.items()}
        unknown = [o for o in given if o not in dim.options]
        if unknown:
            raise UserInputError(
                f"probs for {dim.name!r} name unknown options {unknown}; use {list(dim.options)}."
            )
        p = [given.get(o, 0.0) for o in dim.options]
        if (
            any(isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 for v in p)
            or not 0 < sum(p) < math.inf  # inf, or a sum past the largest float: no log
        ):
            raise UserInputError(
                f"probs for {dim.name!r} must be finite non-negative numbers with a positive sum."
            )
        total = sum(p)
        ranked = sorted(
            ((math.log(v / total) if v > 0 else -math.inf, o) for v, o in zip(p, dim.options)),
            key=lambda t: -t[0],
        )  # stable: ties keep the space's option order
        table.append(ranked)
    unknown_dims = sorted(set(probs) - {d.name for d in space.dims})
    if unknown_dims:
        raise UserInputError(f"probs name unknown decisions {unknown_dims}; remove them.")
    return table


@register_strategy("most_probable")
class MostProbable(Strategy):
    """The architectures of ``space`` in decreasing probability under ``probs``.

    ``probs`` maps every decision to ``{option: probability}`` (unnormalised weights are fine;
    options left out have probability 0 and come last). The order is exact: a best-first walk
    over the product of the decisions' ranked options, so the k-th ask costs O(k log k), not a
    pass over the space. Deterministic (the seed is unused); raises ``SpaceExhausted`` at the end.

    Example:
        >>> from metanas.space import Space, Choice
        >>> s = Space([Choice("a", ("x", "y")), Choice("b", ("u", "v"))])
        >>> st = MostProbable(s, probs={"a": {"x": 0.9, "y": 0.1}, "b": {"u": 0.3, "v": 0.7}})
        >>> [tuple(st.ask().arch.values()) for _ in range(3)]
        [('x', 'v'), ('x', 'u'), ('y', 'v')]
    """

    finite = True
    draws_samples = False  # it draws from its distributions

    def __init__(self, space: Space, seed: int | None = 0, probs: Any = None) -> None:
        super().__init__(space, seed)
        self.probs = probs
        self._ranked = _check(space, probs)
        start = (0,) * len(self._ranked)
        self._heap: list[tuple[float, tuple[int, ...]]] = [(-self._logp(start), start)]
        self._pushed = {start}

    def _logp(self, ranks: tuple[int, ...]) -> float:
        return sum(opts[r][0] for opts, r in zip(self._ranked, ranks))

    def _next(self) -> dict[str, Any] | None:
        # heap order: probability, then the rank tuple (lexicographic) for a deterministic tie-break
        if not self._heap:
            return None
        _, ranks = heapq.heappop(self._heap)
        for i, opts in enumerate(self._ranked):
            if ranks[i] + 1 < len(opts):
                nxt = (*ranks[:i], ranks[i] + 1, *ranks[i + 1 :])
                if nxt not in self._pushed:
                    self._pushed.add(nxt)
                    heapq.heappush(self._heap, (-self._logp(nxt), nxt))
        return {d.name: opts[r][1] for d, opts, r in zip(self.space.dims, self._ranked, ranks)}

    def _ask(self) -> dict[str, Any]:
        while (arch := self._next()) is not None:
            if self.space.is_valid(arch) and self.space.key(arch) not in self.seen:
                return arch
        raise SpaceExhausted("most_probable has asked every architecture of the space.")
