"""Local search (hill climbing with random restarts), after White et al. 2021, "Local Search is
State of the Art for Neural Architecture Search Benchmarks".
"""

from __future__ import annotations

from typing import Any

from metanas.space.base import Space
from metanas.strategies.base import Strategy, register_strategy
from metanas.types import Candidate, Result, UserInputError


@register_strategy("local_search")
class LocalSearch(Strategy):
    """Climb from the best of ``n_init`` random samples through ``space.neighbours``.

    The unseen neighbours of the current architecture are proposed in a seeded random order. With
    ``first_improvement=True`` the search moves as soon as a neighbour beats the current one;
    otherwise it moves to the best neighbour once the whole neighbourhood is in. At a local optimum
    it restarts from the best of ``n_init`` fresh random samples. Asynchronous-safe: while results
    are pending and no neighbour is left to propose it proposes random samples, which seed the next
    restart. Neighbours already evaluated earlier count with their known value; with
    ``offer_pending=True`` (the default since 0.2.3) a neighbour still pending from an earlier ask
    counts when its result comes, and the neighbourhood waits for it.
    """

    def __init__(
        self,
        space: Space,
        seed: int | None = 0,
        n_init: int = 8,
        first_improvement: bool = True,
        offer_pending: bool = True,
    ) -> None:
        super().__init__(space, seed)
        if not isinstance(n_init, int) or n_init < 1:
            raise UserInputError(f"local search n_init must be a positive integer, got {n_init!r}.")
        self.n_init = n_init
        self.first_improvement = bool(first_improvement)
        self.offer_pending = bool(offer_pending)
        self.current: tuple[float, dict[str, Any]] | None = None
        self._values: dict[str, float] = {}  # key -> value of every successful result
        self._archs: dict[int, dict[str, Any]] = {}  # id -> arch of pending candidates
        self._random_pending: set[int] = set()
        self._pool: list[tuple[float, dict[str, Any]]] = []  # told random samples since last start
        self._queue: list[dict[str, Any]] = []  # neighbours of current not yet proposed, next last
        self._nb_pending: set[int] = set()  # ids of pending neighbours of the current architecture
        self._nb_waiting: set[str] = set()  # keys of current neighbours asked before the move
        self._nb_best: tuple[float, dict[str, Any]] | None = None
        self._gen = 0  # bumped by every move or restart

    # ----------------------------------------------------------------- ask
    def _ask(self) -> dict[str, Any]:
        cid = self.n_asked  # the id the base class gives this candidate
        arch = self._next_neighbour() if self.current is not None else None
        if arch is None:
            arch = self.sample_unseen()
            self._random_pending.add(cid)
        else:
            self._nb_pending.add(cid)
        self._archs[cid] = arch
        return arch

    def _next_neighbour(self) -> dict[str, Any] | None:
        key, seen, queue = self.space.key, self.seen, self._queue
        while queue:
            arch = queue.pop()
            if key(arch) not in seen:
                return arch
        return None

    # ----------------------------------------------------------------- tell
    def _tell(self, candidate: Candidate, result: Result) -> None:
        cid, value = candidate.id, result.value
        arch = self._archs.pop(cid, None)
        if arch is None:
            arch = dict(candidate.arch)
        if value is not None:
            value = float(value)
            self._values[candidate.key] = value
        if cid in self._random_pending:
            self._random_pending.discard(cid)
            if value is not None:
                self._pool.append((value, arch))
            if self.current is None and len(self._pool) >= self.n_init:
                self._start_from_pool()
        elif cid in self._nb_pending:
            self._nb_pending.discard(cid)
            if value is not None:
                self._offer(value, arch)
            self._maybe_finish_neighbourhood()
            return
        if candidate.key in self._nb_waiting:  # a neighbour of the current one, asked earlier
            self._nb_waiting.discard(candidate.key)
            if value is not None:
                self._offer(value, arch)
            self._maybe_finish_neighbourhood()

    def _offer(self, value: float, arch: dict[str, Any]) -> None:
        """A neighbour of the current architecture has a value."""
        assert self.current is not None
        if self.first_improvement and value > self.current[0]:
            self._move(value, arch)
        elif self._nb_best is None or value > self._nb_best[0]:
            self._nb_best = (value, arch)

    def _maybe_finish_neighbourhood(self) -> None:
        if self.current is None or self._nb_pending or self._nb_waiting:
            return
        key, seen = self.space.key, self.seen
        self._queue = [a for a in self._queue if key(a) not in seen]
        if self._queue:
            return
        best = self._nb_best
        if best is not None and best[0] > self.current[0]:
            self._move(*best)
        else:  # local optimum: restart, at once if enough random samples are already in
            self.current = None
            self._nb_waiting = set()
            self._gen += 1
            if len(self._pool) >= self.n_init:
                self._start_from_pool()

    def _start_from_pool(self) -> None:
        best = max(self._pool, key=lambda m: m[0])
        self._pool = []
        self._move(*best)

    def _move(self, value: float, arch: dict[str, Any]) -> None:
        key, seen, values = self.space.key, self.seen, self._values
        self.current = (value, arch)
        self._gen += 1
        gen = self._gen
        self._nb_pending = set()  # results of the old neighbourhood no longer steer the climb
        self._nb_best = None
        pending = (
            {key(a) for a in self._archs.values()} if self.offer_pending and self._archs else set()
        )
        neighbours = self.space.neighbours(arch)
        order = self.rng.permutation(len(neighbours))
        queue = []
        self._nb_waiting = set()
        known: list[tuple[float, dict[str, Any]]] = []
        for i in order[::-1]:  # reversed: the queue pops from its end
            nb = neighbours[int(i)]
            k = key(nb)
            if k in values:
                known.append((values[k], nb))
            elif k in pending:
                self._nb_waiting.add(k)
            elif k not in seen:
                queue.append(nb)
        self._queue = queue
        for v, nb in known:  # neighbours evaluated before count without being asked again
            if self._gen != gen:  # moved on already (first improvement)
                return
            self._offer(v, nb)
        if self._gen == gen:
            self._maybe_finish_neighbourhood()
