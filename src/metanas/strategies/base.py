"""The strategy interface: ask / tell / replay on an encoded space.

Public methods do the bookkeeping (ids, pending candidates, history); subclasses implement the
protected hooks ``_ask`` and ``_tell``. Strategies never evaluate anything, never import torch,
evaluators or storage, and own their random generator, so the same seed gives the same run,
also after :meth:`Strategy.replay` restores it from a store.
"""

from __future__ import annotations

import abc
import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from metanas.space.base import Space
from metanas.types import (
    Budget,
    Candidate,
    MetanasError,
    Result,
    UserInputError,
    check_option_types,
    did_you_mean,
)


class SpaceExhausted(MetanasError):
    """The strategy has nothing new left to propose (e.g. a finished grid)."""


class ReplayMismatch(UserInputError):
    """Replaying a history did not reproduce the stored candidates (different seed or settings)."""


@dataclass(frozen=True)
class AskEvent:
    candidate: Candidate


@dataclass(frozen=True)
class TellEvent:
    candidate: Candidate
    result: Result


Event = AskEvent | TellEvent


class Strategy(abc.ABC):
    """Base of every search strategy.

    Subclasses set ``name`` and implement ``_ask`` (return an architecture dict, optionally with a
    budget and info) and ``_tell``. ``self.rng`` is the strategy's own generator; ``self.seen``
    the keys of candidates already proposed; ``self.history`` the told (candidate, result) pairs.
    """

    name: ClassVar[str] = "base"
    #: capabilities, declared rather than sniffed
    uses_budgets: ClassVar[bool] = False
    finite: ClassVar[bool] = False
    #: its first proposals are the space's samples, so on a
    #: :class:`~metanas.space.SeededSpace` the search starts from the seeds
    draws_samples: ClassVar[bool] = True
    #: the constructor's options as given (beyond space and seed); ``None`` where unknown
    given_options: dict[str, Any] | None

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        self = super().__new__(cls)
        # the options as given, for a faithful rebuild by name on resume: attributes may keep
        # them under other names or in other forms
        self.given_options = _given_options(cls, args, kwargs)
        return self

    def __init__(self, space: Space, seed: int | None = 0) -> None:
        self.space = space
        if seed is None:  # fresh entropy, kept as a seed: stored with a study, a resume replays it
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.history: list[tuple[Candidate, Result]] = []
        self.pending: dict[int, Candidate] = {}
        self.seen: set[str] = set()
        self._n_asked = 0
        self._unseen_tries = 100

    # ----------------------------------------------------------------- public API
    def ask(self) -> Candidate:
        proposal = self._ask()
        arch, budget, info = _unpack(proposal)
        key = self.space.key(arch)
        cand = Candidate(id=self._n_asked, arch=arch, key=key, budget=budget, info=info)
        self._n_asked += 1
        self.pending[cand.id] = cand
        self.seen.add(key)
        return cand

    def tell(self, candidate: Candidate, result: Result) -> None:
        if not isinstance(result, Result):  # Study.tell takes plain numbers; this is lower down
            raise UserInputError(
                f"{type(self).__name__}.tell() takes a Result, got {type(result).__name__} "
                f"{result!r}; e.g. Result(value=0.5), or tell the study, which takes numbers."
            )
        if result.value is not None and not math.isfinite(result.value):
            # as a study records it: no model or ranking can take NaN or infinity as a value
            result = Result.failed(f"value {result.value}, not a finite number", result.cost)
        self.pending.pop(candidate.id, None)
        self.history.append((candidate, result))
        self._tell(candidate, result)

    def replay(self, events: Iterable[Event]) -> None:
        """Restore the strategy by re-running the stored asks and tells in their original order.

        Every ask is regenerated from the seed and must reproduce the stored candidate; a mismatch
        raises :class:`ReplayMismatch` (e.g. the study was resumed with another seed or strategy).
        """
        for ev in events:
            if isinstance(ev, AskEvent):
                cand = self.ask()
                old = ev.candidate
                if (cand.key, cand.id, cand.budget) != (old.key, old.id, old.budget):
                    stored, made = old.key, cand.key
                    if stored == made:  # the same architecture at another budget
                        stored, made = f"{stored} at {old.budget}", f"{made} at {cand.budget}"
                    raise ReplayMismatch(
                        f"replay diverged at candidate {old.id}: stored {stored}, "
                        f"regenerated {made}; resume with the study's original strategy, seed "
                        "and space (a wrapped space, such as a table's restrict() or a "
                        "ScreenedSpace, is not stored: pass the same one again)."
                    )
            else:
                self.tell(ev.candidate, ev.result)

    @property
    def n_asked(self) -> int:
        return self._n_asked

    def best(self) -> tuple[Candidate, Result] | None:
        """The told candidate with the highest value, if any succeeded."""
        ok = [(c, r) for c, r in self.history if r.value is not None]
        return max(ok, key=lambda cr: cr[1].value) if ok else None  # type: ignore[arg-type,return-value]

    # ----------------------------------------------------------------- hooks
    @abc.abstractmethod
    def _ask(
        self,
    ) -> Mapping[str, Any] | tuple[Mapping[str, Any], Budget | None, Mapping[str, Any]]:
        """Return an architecture, or ``(architecture, budget, info)``."""

    def _tell(self, candidate: Candidate, result: Result) -> None:  # noqa: B027 - optional hook
        """Learn from a result (default: nothing beyond the history the base class keeps)."""

    # ----------------------------------------------------------------- helpers for subclasses
    def sample_unseen(self, tries: int = 100) -> dict[str, Any]:
        """A random architecture not proposed before (falls back to a repeat after ``tries``).

        The number of tries adapts: after a fruitless search the next one tries half as many, so a
        nearly exhausted space does not make every ask slow; a success restores the full count.
        """
        limit = min(tries, self._unseen_tries)
        arch = self.space.sample_unseen(self.rng, self.seen)
        for _ in range(limit):
            if self.space.key(arch) not in self.seen:
                self._unseen_tries = tries
                return arch
            arch = self.space.sample_unseen(self.rng, self.seen)
        self._unseen_tries = max(1, limit // 2)
        return arch


def _unpack(p: Any) -> tuple[dict[str, Any], Budget | None, dict[str, Any]]:
    if isinstance(p, tuple):
        arch, budget, info = p
        return dict(arch), budget, dict(info or {})
    return dict(p), None, {}


# --------------------------------------------------------------------- registry
_REGISTRY: dict[str, type[Strategy]] = {}


def register_strategy(name: str) -> Callable[[type[Strategy]], type[Strategy]]:
    """Class decorator: make a strategy available by name (duplicates refused)."""

    def deco(cls: type[Strategy]) -> type[Strategy]:
        if name in _REGISTRY:
            raise ValueError(f"strategy name {name!r} is already registered")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def strategy_names() -> list[str]:
    return sorted(_REGISTRY)


def strategy_class(name: str) -> type[Strategy]:
    """The class registered as ``name`` (its capabilities, e.g. ``uses_budgets``, without a build)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UserInputError(
            f"unknown strategy {name!r}; {did_you_mean(name, strategy_names())}"
            f"use one of {', '.join(strategy_names())}."
        ) from None


def check_can_start_from(name: str, option: str) -> None:
    """Refuse given starting architectures (``option``) for a strategy that does not start from
    samples (:attr:`Strategy.draws_samples`), naming those that do."""
    if not strategy_class(name).draws_samples:
        starters = [n for n in strategy_names() if strategy_class(n).draws_samples]
        raise UserInputError(
            f"strategy {name!r} does not start from samples, so it cannot take {option}; "
            f"use one of {', '.join(starters)}."
        )


def _given_options(
    cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any] | None:
    """The constructor arguments given beyond ``space`` and ``seed``; ``None`` when they do not
    fit its signature (the constructor itself says so) or cannot be named."""
    sig = inspect.signature(cls.__init__)  # type: ignore[misc]
    try:
        bound = sig.bind(None, *args, **kwargs)
    except TypeError:
        return None
    out: dict[str, Any] = {}
    for name, value in list(bound.arguments.items())[1:]:
        kind = sig.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            return None
        if kind is inspect.Parameter.VAR_KEYWORD:
            out.update(value)
        elif name not in ("space", "seed"):
            out[name] = value
    return out


def get_strategy(name: str, space: Space | str, seed: int | None = 0, **kwargs: Any) -> Strategy:
    """Build the registered strategy ``name`` on ``space`` (a Space, or a registered name)."""
    cls = strategy_class(name)
    if isinstance(space, str):  # a registered space's name, as create_study takes it
        from metanas.space import get_space

        space = get_space(space)
    check_option_types(f"strategy {name!r}", cls.__init__, kwargs)
    try:
        return cls(space, seed=seed, **kwargs)
    except TypeError as e:
        raise UserInputError(
            f"bad option for strategy {name!r}: {e}; check its documented parameters."
        ) from None
