"""Reusable conformance checks that every strategy must pass (after Optuna's pytest_samplers.py).

Subclass :class:`StrategyConformance` in a ``tests/test_*.py`` module and set the class attributes::

    class TestMyStrategy(StrategyConformance):
        strategy = "my_strategy"          # registered name
        params = {"population_size": 8}  # constructor options

A custom strategy's module is imported in the spawned process: the subclass's own module always,
others listed in ``child_imports``. Override :meth:`make_space` to run the checks on another space, ``seeded = False`` for a strategy
whose proposals do not depend on the seed, ``avoids_repeats = False`` for one that may re-propose a
key. The objective is a fixed function of the canonical key (the same in every process), with some
failed trials mixed in.
"""

from __future__ import annotations

import importlib
import multiprocessing
import zlib
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np

from metanas.space import Choice, Condition, IntRange, Space, space_from_dict
from metanas.strategies import (
    AskEvent,
    ReplayMismatch,
    SpaceExhausted,
    Strategy,
    TellEvent,
    get_strategy,
)
from metanas.types import Candidate, Result


def toy_space() -> Space:
    """60 architectures: an int, a choice, a conditional choice and another int."""
    return Space(
        [
            IntRange("depth", 1, 3),
            Choice("op", ("conv", "pool", "skip")),
            Choice("width3", (16, 32), when=Condition("depth", ">=", 3)),
            IntRange("k", 0, 4),
        ],
        name="toy",
    )


def objective(key: str) -> float | None:
    """Deterministic across processes (no ``hash``); about one trial in seven fails."""
    h = zlib.crc32(key.encode())
    return None if h % 7 == 0 else (h % 10_000) / 100.0


def result_for(cand: Candidate) -> Result:
    v = objective(cand.key)
    return Result.failed("simulated failure") if v is None else Result(value=v)


def drive(strat: Strategy, n_asks: int, n_parallel: int = 1, seed: int = 0) -> list[Any]:
    """Ask ``n_asks`` candidates with up to ``n_parallel`` pending, telling them in a seeded random
    order; return the event log (asks still pending at the end stay untold)."""
    order_rng = np.random.default_rng(seed + 12345)  # the driver's own generator
    events: list[Any] = []
    pending: list[Candidate] = []
    asked = 0
    while asked < n_asks:
        while len(pending) < n_parallel and asked < n_asks:
            try:
                cand = strat.ask()
            except SpaceExhausted:
                return events
            events.append(AskEvent(cand))
            pending.append(cand)
            asked += 1
        if asked < n_asks:
            cand = pending.pop(int(order_rng.integers(len(pending))))
            res = result_for(cand)
            strat.tell(cand, res)
            events.append(TellEvent(cand, res))
    return events


def keys_of(events: list[Any]) -> list[str]:
    return [ev.candidate.key for ev in events if isinstance(ev, AskEvent)]


def _stored(space: Space, ev: Any) -> Any:
    """The event as a store would give it back: the architecture round-tripped through JSON."""
    c = ev.candidate
    cand = Candidate(c.id, space.from_json(space.to_json(c.arch)), c.key, c.budget, dict(c.info))
    return AskEvent(cand) if isinstance(ev, AskEvent) else TellEvent(cand, ev.result)


def _spawned_keys(
    name: str,
    params: Mapping[str, Any],
    space_dict: Mapping[str, Any],
    seed: int,
    n: int,
    par: int,
    modules: tuple[str, ...],
) -> list[str]:
    import metanas.strategies  # noqa: F401 - registers the built-in strategies in the child

    for m in modules:  # e.g. the test module that registers a custom strategy or space
        importlib.import_module(m)
    space = space_from_dict(space_dict)
    return keys_of(drive(get_strategy(name, space, seed=seed, **params), n, par))


class StrategyConformance:
    """The checks; pytest collects them through ``Test*`` subclasses."""

    strategy: ClassVar[str] = ""
    params: ClassVar[dict[str, Any]] = {}
    seeded: ClassVar[bool] = True
    avoids_repeats: ClassVar[bool] = True
    n_asks: ClassVar[int] = 40
    #: modules a spawned process imports first (the subclass's own module is always imported)
    child_imports: ClassVar[tuple[str, ...]] = ()

    def make_space(self) -> Space:
        return toy_space()

    def make(self, seed: int = 0, space: Space | None = None) -> Strategy:
        return get_strategy(self.strategy, space or self.make_space(), seed=seed, **self.params)

    def make_tiny(self, space: Space) -> Strategy:
        """The strategy on the 6-architecture space of :meth:`test_exhausting_a_small_space`
        (override when ``params`` do not fit that space, e.g. a baseline architecture)."""
        return self.make(0, space)

    def _modes(self) -> Iterator[int]:
        yield from (1, 4)  # sequential, and four workers with results out of order

    # ------------------------------------------------------------------ determinism
    def test_same_seed_same_sequence(self) -> None:
        for par in self._modes():
            a = keys_of(drive(self.make(3), self.n_asks, par))
            b = keys_of(drive(self.make(3), self.n_asks, par))
            assert a == b and len(a) > 0

    def test_same_sequence_in_spawned_process(self) -> None:
        space = self.make_space()
        here = keys_of(drive(self.make(5, space), self.n_asks, 3))
        modules = (*self.child_imports, type(self).__module__)
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(1) as pool:
            there = pool.apply(
                _spawned_keys,
                (self.strategy, dict(self.params), space.to_dict(), 5, self.n_asks, 3, modules),
            )
        assert there == here

    def test_different_seeds_differ(self) -> None:
        runs = {tuple(keys_of(drive(self.make(s), self.n_asks, 1))) for s in range(4)}
        if not self.seeded:  # e.g. grid: its proposals must not depend on the seed at all
            assert len(runs) == 1, f"{self.strategy} is declared seed-independent"
            return
        assert len(runs) >= 3, "different seeds should give different sequences"

    # ------------------------------------------------------------------ replay
    def test_replay_continues_exactly(self) -> None:
        space = self.make_space()
        for par in self._modes():
            events = drive(self.make(7, space), self.n_asks, par)
            n = len(events)
            for cut in sorted({0, 1, n // 3, n // 2, n - 3, n - 1, n}):
                if not 0 <= cut <= n:
                    continue
                fresh = self.make(7, space)
                fresh.replay([_stored(space, ev) for ev in events[:cut]])
                assert fresh.n_asked == sum(isinstance(ev, AskEvent) for ev in events[:cut])
                for ev in events[cut:]:  # the resumed run must continue the original one
                    if isinstance(ev, AskEvent):
                        cand = fresh.ask()
                        assert (cand.id, cand.key) == (ev.candidate.id, ev.candidate.key), (
                            f"resumed run diverged after {cut} events"
                        )
                    else:
                        fresh.tell(ev.candidate, ev.result)

    def test_replay_with_other_seed_is_refused(self) -> None:
        events = drive(self.make(0), self.n_asks, 1)
        mismatches = 0
        for seed in (1, 2, 3):
            try:
                self.make(seed).replay(events)
            except ReplayMismatch:
                mismatches += 1
        # a seed-independent strategy replays under any seed; a seeded one must notice
        assert mismatches == 0 if not self.seeded else mismatches >= 2

    # ------------------------------------------------------------------ robustness
    def test_failed_results_tolerated(self) -> None:
        strat = self.make(1)
        for _ in range(self.n_asks // 2):
            try:
                cand = strat.ask()
            except SpaceExhausted:
                break
            strat.tell(cand, Result.failed("boom"))
        assert strat.best() is None
        events = drive(strat, self.n_asks // 2, 2)  # and it goes on once results succeed
        assert keys_of(events)

    def test_many_pending(self) -> None:
        strat = self.make(2)
        cands = []
        for _ in range(min(self.n_asks, 25)):
            try:
                cands.append(strat.ask())
            except SpaceExhausted:
                break
        assert len(strat.pending) == len(cands)
        for c in reversed(cands):
            strat.tell(c, result_for(c))
        assert not strat.pending

    def test_candidates_valid(self) -> None:
        space = self.make_space()
        strat = self.make(4, space)
        events = drive(strat, self.n_asks, 2)
        asks = [ev.candidate for ev in events if isinstance(ev, AskEvent)]
        assert [c.id for c in asks] == list(range(len(asks)))
        for c in asks:
            assert space.validate(c.arch) == dict(c.arch)
            assert c.key == space.key(c.arch)
        if self.avoids_repeats:
            keys = [c.key for c in asks]
            assert len(set(keys)) == len(keys), "a key was proposed twice in a roomy space"

    def test_exhausting_a_small_space(self) -> None:
        """On a 6-architecture space every strategy keeps answering (or a finite one stops)."""
        space = Space([Choice("a", (0, 1, 2)), Choice("b", ("x", "y"))], name="tiny")
        strat = self.make_tiny(space)
        keys = []
        for _ in range(20):
            try:
                cand = strat.ask()
            except SpaceExhausted:
                assert type(strat).finite, "only finite strategies may run out"
                break
            keys.append(cand.key)
            strat.tell(cand, result_for(cand))
        if self.avoids_repeats:
            assert len(set(keys[:6])) == 6, "the first six asks should cover the tiny space"
        if type(strat).finite:
            assert len(keys) == len(set(keys)) == 6
