"""Proxy pre-screening: let a cheap score decide which of a strategy's proposals to evaluate.

:class:`ProxyPrescreen` wraps any strategy. It keeps a pool of the inner strategy's proposals,
topped up to ``n_candidates``; each ask returns the pooled proposal with the highest ``scorer``
value, and its result is told back to the inner strategy when it comes in. The inner strategy thus
still drives the search (its neighbourhoods, its population), while expensive evaluations go to the
proposals a zero-cost proxy likes best. The scorer is any ``arch -> float`` the user supplies
(e.g. ``ProxyEvaluator("synflow").scorer(space.key)`` from ``metanas.evaluation.proxies``): this
module never imports torch or an evaluator. Scores are cached per canonical key.

Example:
    >>> from metanas.space import Space, Choice
    >>> space = Space([Choice("w", (1, 2, 3, 4, 5, 6, 7, 8))])
    >>> s = ProxyPrescreen(space, seed=0, scorer=lambda a: a["w"], n_candidates=8)
    >>> s.ask().arch["w"]  # the pool holds all 8 values; the proxy's favourite comes first
    8
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field
from typing import Any

from metanas.space.base import Space, as_rng
from metanas.space.wrapper import SpaceWrapper
from metanas.strategies.base import SpaceExhausted, Strategy, get_strategy, register_strategy
from metanas.types import Architecture, Candidate, Result, TrialState, UserInputError


@dataclass
class _Entry:
    arch: dict[str, Any]
    score: float
    born: int  # wrapper ask count when it entered the pool
    inner: list[Candidate] = field(default_factory=list)


@register_strategy("proxy_prescreen")
class ProxyPrescreen(Strategy):
    """Evaluate the best-scored of the inner strategy's pooled proposals.

    Args:
        space: the search space.
        seed: seeds the inner strategy (the wrapper itself draws nothing).
        scorer: ``arch -> float``, higher is more promising; must be deterministic.
        inner: a strategy name (built with ``seed`` and ``inner_options``) or a Strategy instance.
        n_candidates: pool size: proposals screened per evaluation (1 = the inner strategy as is).
        max_age: a pooled proposal not chosen within this many asks is dropped and told to the
            inner strategy as pruned (``None``: kept until chosen).
        inner_options: keyword options of the inner strategy.
    """

    draws_samples = False  # the proxy picks among the samples

    def __init__(
        self,
        space: Space,
        seed: int | None = 0,
        scorer: Callable[[Architecture], float] | None = None,
        inner: str | Strategy = "random",
        n_candidates: int = 10,
        max_age: int | None = None,
        inner_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(space, seed)
        if scorer is None or not callable(scorer):
            raise UserInputError(
                "proxy_prescreen needs scorer=<callable arch -> float>, e.g. a ProxyEvaluator's scorer()."
            )
        if not isinstance(n_candidates, int) or n_candidates < 1:
            raise UserInputError(
                f"proxy_prescreen n_candidates must be a positive integer, got {n_candidates!r}."
            )
        if max_age is not None and (not isinstance(max_age, int) or max_age < 1):
            raise UserInputError(
                f"proxy_prescreen max_age must be a positive integer or None, got {max_age!r}."
            )
        self.scorer = scorer
        self.n_candidates = n_candidates
        self.max_age = max_age
        if isinstance(inner, Strategy):
            self.inner = inner
        else:
            self.inner = get_strategy(inner, space, seed=self.seed, **dict(inner_options or {}))
        if self.inner.uses_budgets:  # it promotes architectures it ran: nothing new to screen
            raise UserInputError(
                f"proxy_prescreen screens new architectures, but {self.inner.name!r} runs them "
                "at several budgets; screen its samples instead (a ScreenedSpace, or "
                "strategy.screen in a config)."
            )
        self.scores: dict[str, float] = {}  # canonical key -> proxy score
        self._pool: dict[str, _Entry] = {}
        self._served: dict[int, list[Candidate]] = {}  # wrapper id -> inner candidates
        self._pending: dict[str, int] = {}  # key -> wrapper id, served and not yet told
        self._results: dict[str, Result] = {}  # key -> result of every told evaluation
        self._exhausted = False

    def score(self, arch: Architecture) -> float:
        """The proxy score of ``arch`` (cached by canonical key)."""
        k = self.space.key(arch)
        v = self.scores.get(k)
        if v is None:
            v = float(self.scorer(arch))
            if v != v:  # NaN: undefined scores rank last
                v = float("-inf")
            self.scores[k] = v
        return v

    def _top_up(self) -> None:
        tries = 0
        while len(self._pool) < self.n_candidates and not self._exhausted:
            tries += 1
            if tries > 20 * self.n_candidates:  # the inner strategy keeps repeating itself
                break
            try:
                c = self.inner.ask()
            except SpaceExhausted:
                self._exhausted = True
                break
            known = self._results.get(c.key)
            if known is not None:  # already evaluated: answer at no cost
                self.inner.tell(c, known)
                continue
            served = self._pending.get(c.key)
            if served is not None:  # being evaluated: it hears that result when it comes
                self._served[served].append(c)
                continue
            entry = self._pool.get(c.key)
            if entry is None:
                entry = _Entry(dict(c.arch), self.score(c.arch), self.n_asked)
                self._pool[c.key] = entry
            entry.inner.append(c)

    def _expire(self) -> None:
        if self.max_age is None:
            return
        for k in [k for k, e in self._pool.items() if self.n_asked - e.born > self.max_age]:
            for c in self._pool.pop(k).inner:
                self.inner.tell(
                    c, Result(value=None, state=TrialState.PRUNED, error="screened out")
                )

    def _ask(self) -> tuple[dict[str, Any], None, dict[str, Any]]:
        self._expire()
        self._top_up()
        if not self._pool:
            if self._exhausted:
                raise SpaceExhausted("the inner strategy has nothing left to propose")
            # the inner strategy only repeats evaluated keys (a small space): pass one repeat on
            c = self.inner.ask()
            self._pool[c.key] = _Entry(dict(c.arch), self.score(c.arch), self.n_asked, [c])
        # highest score; ties go to the earliest proposal (dicts keep insertion order)
        key = max(self._pool, key=lambda k: self._pool[k].score)
        entry = self._pool.pop(key)
        self._served[self.n_asked] = entry.inner
        self._pending[key] = self.n_asked
        return entry.arch, None, {"proxy": entry.score}

    def _tell(self, candidate: Candidate, result: Result) -> None:
        self._results[candidate.key] = result
        if self._pending.get(candidate.key) == candidate.id:
            del self._pending[candidate.key]
        for c in self._served.pop(candidate.id, []):
            self.inner.tell(c, result)


class ScreenedSpace(SpaceWrapper):
    """``space`` whose random samples are pre-screened: ``sample`` draws ``n_candidates``
    architectures and returns the one ``scorer`` rates highest; a strategy's samples of unseen
    architectures (``sample_unseen``) the highest-rated of the draws it has not proposed yet.

    Any strategy built on it gets proxy-screened random starts (local search's initial points and
    restarts, evolution's first population, random search itself), while its mutations and
    neighbourhoods are those of ``space``. Keys, features and strings are ``space``'s own.

    Example:
        >>> from metanas.space import Space, Choice
        >>> s = ScreenedSpace(Space([Choice("w", tuple(range(100)))]), lambda a: a["w"], 50)
        >>> s.sample(0)["w"] > 90
        True
    """

    #: what create_study asks: a strategy that never samples would search unscreened
    screens_samples = True

    def __init__(
        self, space: Space, scorer: Callable[[Architecture], float], n_candidates: int = 100
    ) -> None:
        if not isinstance(space, Space):
            raise UserInputError(
                f"ScreenedSpace wraps a Space, got {type(space).__name__} {space!r}; e.g. "
                "ScreenedSpace(get_space('nb201'), scorer)."
            )
        if not callable(scorer):
            raise UserInputError(
                f"ScreenedSpace needs a scorer function arch -> number, got {scorer!r}; e.g. "
                "ProxyEvaluator('synflow', ...).scorer(space.key)."
            )
        super().__init__(space)
        if not isinstance(n_candidates, int) or n_candidates < 1:
            raise UserInputError(
                f"n_candidates must be a positive integer, got {n_candidates!r}; use e.g. 100."
            )
        self.scorer = scorer
        self.n_candidates = n_candidates
        #: a strategy's unseen samples are the best unseen draws (studies of metanas < 0.2.7,
        #: resumed, pick among all draws, as they did: their replays need the same picks)
        self.prefer_unseen = True
        self.scores: dict[str, float] = {}

    def score(self, arch: Architecture) -> float:
        k = self.inner.key(arch)
        v = self.scores.get(k)
        if v is None:
            got = self.scorer(arch)
            try:  # a float, a NumPy or a 0-d torch scalar; not a text or a flag
                if isinstance(got, (str, bytes, bool)):
                    raise TypeError
                v = float(got)
            except (TypeError, ValueError):
                raise UserInputError(
                    f"the screen's scorer returned {got!r} for {self.inner.describe(arch)}; "
                    "it must return a number (higher: more promising)."
                ) from None
            v = float("-inf") if v != v else v  # NaN: the least promising
            self.scores[k] = v
        return v

    def sample(self, rng: Any = None) -> dict[str, Any]:
        return self._pick(rng, ())

    def sample_unseen(self, rng: Any, seen: Container[str]) -> dict[str, Any]:
        # the favourites of every draw are the same few: picking among all draws, a strategy
        # that redraws repeats saw almost nothing but them, and stopped as if the space ran out
        return self._pick(rng, seen if self.prefer_unseen else ())

    def _pick(self, rng: Any, seen: Container[str]) -> dict[str, Any]:
        """The best-scored of ``n_candidates`` draws, an unseen one where any is."""
        gen = as_rng(rng)
        cands = [self.inner.sample(gen) for _ in range(self.n_candidates)]
        fresh = [a for a in cands if self.inner.key(a) not in seen] or cands
        scores = [self.score(a) for a in fresh]
        return fresh[max(range(len(fresh)), key=scores.__getitem__)]
