"""Regularized (aging) evolution, Real et al. 2019, "Regularized Evolution for Image Classifier
Architecture Search": tournament selection, one mutation per child, the oldest member dies.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from metanas.space.base import Space
from metanas.strategies.base import Strategy, register_strategy
from metanas.types import Candidate, Result, UserInputError


@register_strategy("evolution")
class RegularizedEvolution(Strategy):
    """Aging evolution over ``space.mutate``.

    The first ``population_size`` members are random samples. Afterwards each ask picks
    ``sample_size`` members at random, mutates the best of them, and every told result joins the
    population while the oldest member leaves (failed results join nothing). It is asynchronous:
    random candidates still pending count toward the first population, so parallel workers do not
    overshoot it, and mutation starts as soon as one result is in once enough are on their way.
    A child whose key was already proposed is re-mutated up to ``mutation_tries`` times, then
    walked one step further up to as many times; when all of those were proposed before, an
    unseen random architecture is asked instead (``stuck_sample``; before 0.2.5 the seen child
    was, which the study answers as a repeat, and a large space of integer ranges could then
    read as exhausted).

    ``replace`` says how the tournament draws its members. By default it draws ``sample_size``
    distinct members, as the NAS-Bench-101 reference code does (Ying et al. 2019); Real et al.'s
    own notebook draws with replacement (``replace=True``), so a tournament of 10 from 50 holds
    about 9.1 distinct members: slightly weaker selection pressure.
    """

    def __init__(
        self,
        space: Space,
        seed: int | None = 0,
        population_size: int = 50,
        sample_size: int = 10,
        mutation_tries: int = 10,
        replace: bool = False,
        stuck_sample: bool = True,
    ) -> None:
        super().__init__(space, seed)
        for name, v in (("population_size", population_size), ("sample_size", sample_size)):
            if not isinstance(v, int) or v < 1:
                raise UserInputError(f"evolution {name} must be a positive integer, got {v!r}.")
        if sample_size > population_size:
            raise UserInputError(
                f"evolution sample_size ({sample_size}) exceeds population_size ({population_size}); "
                "lower sample_size."
            )
        self.population_size = population_size
        self.sample_size = sample_size
        self.mutation_tries = int(mutation_tries)
        self.replace = bool(replace)
        self.stuck_sample = bool(stuck_sample)
        #: (value, arch) oldest first
        self.population: deque[tuple[float, dict[str, Any]]] = deque(maxlen=population_size)
        self._random_pending: set[int] = set()
        self._archs: dict[int, dict[str, Any]] = {}

    def _ask(self) -> dict[str, Any]:
        pop = self.population
        if not pop or len(pop) + len(self._random_pending) < self.population_size:
            arch = self.sample_unseen()
            self._random_pending.add(self.n_asked)  # the id the base class gives this candidate
        else:
            arch = self._mutate_winner()
        self._archs[self.n_asked] = arch
        return arch

    def _mutate_winner(self) -> dict[str, Any]:
        pop, rng = self.population, self.rng
        n = len(pop)
        if self.replace:
            idx: Any = rng.integers(n, size=self.sample_size)
        else:
            k = min(self.sample_size, n)
            idx = rng.choice(n, size=k, replace=False) if k < n else range(n)
        parent = max((pop[int(i)] for i in idx), key=lambda m: m[0])[1]
        key, seen = self.space.key, self.seen
        child = self.space.mutate(parent, rng)
        for _ in range(self.mutation_tries):
            if key(child) not in seen:
                return child
            child = self.space.mutate(parent, rng)
        # every one-step child was seen: walk one more step away before giving up
        for _ in range(self.mutation_tries):
            if key(child) not in seen:
                return child
            child = self.space.mutate(child, rng)
        if self.stuck_sample and key(child) in seen:
            return self.sample_unseen()
        return child

    def _tell(self, candidate: Candidate, result: Result) -> None:
        self._random_pending.discard(candidate.id)
        arch = self._archs.pop(candidate.id, None)
        if result.value is None:
            return
        self.population.append(
            (float(result.value), dict(candidate.arch) if arch is None else arch)
        )
