"""The one call the study and the CLI make: wrap a cold strategy in a warm start from a store.

Example:
    >>> from metanas.space import Space, IntRange
    >>> s = warm_start_strategy(Space([IntRange("w", 1, 9)]), "random", None)
    >>> s.name                     # an empty store knows nothing: the cold strategy itself
    'random'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from metanas.meta.knowledge import KnowledgeBase
from metanas.meta.warmstart import WarmStart
from metanas.space.base import Space
from metanas.strategies.base import Strategy, get_strategy
from metanas.types import StorageError, TaskInfo, UserInputError


def warm_start_strategy(
    space: Space,
    strategy: str | Strategy,
    source: Any,
    *,
    seed: int | None = 0,
    strategy_kwargs: Mapping[str, Any] | None = None,
    task: TaskInfo | None = None,
    evaluator: Any = None,
    exclude: Iterable[str | None] = (),
    max_tasks: int = 5,
    objective: str | None = None,
    direction: str | None = None,
    **warm_kwargs: Any,
) -> Strategy:
    """``strategy`` warm-started from the tasks ``source`` (a store, path or URL) knows on
    ``space``, most similar to ``task`` first; the cold strategy itself when it knows none.

    ``task`` defaults to ``evaluator.task_info()``. ``exclude`` names studies to ignore (the
    study being created). Only past tasks of ``objective`` (default: the evaluator's) and
    ``direction`` count, when given. The priors end up in the
    strategy's options, so a study stores them and a resume rebuilds the same warm start.
    """
    if isinstance(strategy, Strategy):
        if isinstance(strategy, WarmStart):
            return strategy
        name, seed = strategy.name, strategy.seed
        # the instance's own options carry over to the cold strategy the warm start builds
        strategy_kwargs = {**(strategy.given_options or {}), **dict(strategy_kwargs or {})}
    else:
        name = strategy
    if name == "warm_start":
        raise UserInputError("warm_start=... wraps a cold strategy; name one, e.g. local_search.")
    unknown = sorted(set(warm_kwargs) - _warm_options())
    if unknown:  # checked even when the store knows nothing yet, so a typo shows at once
        raise UserInputError(
            f"unknown warm start option(s) {unknown}; use some of {sorted(_warm_options())}."
        )
    if task is None and callable(getattr(evaluator, "task_info", None)):
        task = evaluator.task_info()
    if objective is None:
        objective = getattr(evaluator, "objective", None)
    kb = _knowledge(source)
    try:
        priors = kb.priors(
            space, task, exclude=[e for e in exclude if e], max_tasks=max_tasks,
            objective=objective, direction=direction,
        )  # fmt: skip
    finally:
        kb.close()
    if isinstance(strategy, Strategy) and not priors:
        return strategy
    # built now, not at the hand-over: a bad option is refused before the first trial
    cold = get_strategy(name, space, seed=seed, **dict(strategy_kwargs or {}))
    if not priors:
        return cold
    return WarmStart(
        space,
        seed=seed,
        inner=name,
        inner_kwargs=dict(strategy_kwargs or {}),
        priors=priors,
        **warm_kwargs,
    )


def _warm_options() -> set[str]:
    """The options :class:`WarmStart` takes besides those warm_start_strategy sets itself."""
    import inspect

    params = inspect.signature(WarmStart.__init__).parameters
    return set(params) - {"self", "space", "seed", "inner", "inner_kwargs", "priors"}


def _knowledge(source: Any) -> KnowledgeBase:
    """The store a warm start reads, its errors naming it as the warm start's."""
    try:
        return KnowledgeBase(source)
    except (StorageError, UserInputError) as e:
        raise type(e)(f"warm start: {e}") from None


def warm_factory(
    source: Any,
    space: Space,
    evaluator: Any = None,
    task: TaskInfo | None = None,
    **warm_kwargs: Any,
) -> Callable[[str, int, Mapping[str, Any]], Strategy]:
    """``make(strategy_name, seed, options)`` building warm-started strategies from ``source``,
    whose priors are read once (for ``metanas bench --warm-start STORE``: many seeds, one store);
    ``options`` are the cold strategy's keyword arguments."""
    if task is None and callable(getattr(evaluator, "task_info", None)):
        task = evaluator.task_info()
    kb = _knowledge(source)
    try:
        priors = kb.priors(space, task)
    finally:
        kb.close()

    def make(name: str, seed: int, options: Mapping[str, Any] | None = None) -> Strategy:
        if not priors:
            return get_strategy(name, space, seed=seed, **(options or {}))
        return WarmStart(
            space, seed=seed, inner=name, inner_kwargs=options, priors=priors, **warm_kwargs
        )

    return make


__all__ = ["warm_factory", "warm_start_strategy"]
