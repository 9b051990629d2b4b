"""Transfer experiments on benchmark tables: a past search in a store, a new search warm-started
from it, counted in distinct queries (the NAS-Bench-201 protocol of :mod:`metanas.benchrun`).

Used by ``benchmarks/bench_warmstart.py`` and the tests.

Example:
    >>> from metanas.evaluation.tabular import nb201_table
    >>> c10, c100 = nb201_table("cifar10"), nb201_table("cifar100")
    >>> store = past_search(c10, "local_search", seed=1, n_trials=50)
    >>> run = transfer_run(store, c100, "local_search", seed=0, n_queries=30)
    >>> len(run.keys)
    30
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from metanas.benchrun import SeedRun, default_space, drive
from metanas.evaluation.base import Reporter
from metanas.evaluation.tabular import TableEvaluator
from metanas.meta.knowledge import KnowledgeBase
from metanas.meta.warmstart import WarmStart
from metanas.space.base import Space
from metanas.strategies.base import Strategy, get_strategy
from metanas.types import Architecture, Budget, Result, TaskInfo


class ShuffledTable:
    """A table evaluator whose results are those of a fixed random other row (a permutation).

    The negative-transfer control: same space, same value distribution, no relation to any
    real task.
    """

    def __init__(self, table: TableEvaluator, seed: int = 0) -> None:
        self.table = table
        self.seed = seed
        self.perm = np.random.default_rng(seed).permutation(len(table))
        self.name = f"{table.name}-shuffled{seed}"
        self.objective = table.objective
        self.metric_names = table.metric_names
        self.fidelities = table.fidelities
        self.space_name = table.space_name

    def evaluate(self, arch: Architecture, budget: Budget | None, report: Reporter) -> Result:
        row = self.table.row(arch)
        if row is None:
            return Result.failed("not in table")
        other = self.table.arch(int(self.perm[row]))
        return self.table.evaluate(other, budget, report)

    def task_info(self) -> TaskInfo:
        return TaskInfo(name=self.name, modality="table", n_samples=len(self.table))

    def __len__(self) -> int:
        return len(self.table)


def past_search(
    evaluator: Any,
    strategy: str,
    seed: int,
    n_trials: int,
    storage: str | Path | None = None,
    space: Space | None = None,
) -> Any:
    """Run one search through the real study loop into ``storage`` (default: in memory); return
    the store, which now knows the task."""
    from metanas.study import create_study

    space = space if space is not None else _table_space(evaluator)
    study = create_study(
        space,
        strategy,
        evaluator,
        storage=storage,
        seed=seed,
        study_name=f"past-{evaluator.name}-{strategy}-s{seed}",
    )
    study.optimize(n_trials)
    return study.store


def transfer_strategy(
    store: Any,
    evaluator: Any,
    strategy: str,
    seed: int,
    warm: bool = True,
    warm_kwargs: Mapping[str, Any] | None = None,
) -> Strategy:
    """``strategy`` for a new search on ``evaluator``: warm-started from ``store``, or cold."""
    space = _table_space(evaluator)
    if not warm:
        return get_strategy(strategy, space, seed=seed)
    priors = KnowledgeBase(store).priors(space, evaluator.task_info())
    return WarmStart(space, seed=seed, inner=strategy, priors=priors, **dict(warm_kwargs or {}))


def transfer_run(
    store: Any,
    evaluator: Any,
    strategy: str,
    seed: int,
    n_queries: int,
    warm: bool = True,
    stop: tuple[str, int] | None = None,
    warm_kwargs: Mapping[str, Any] | None = None,
) -> SeedRun:
    """A new search on ``evaluator``, warm-started from ``store``'s tasks (or cold)."""
    strat = transfer_strategy(store, evaluator, strategy, seed, warm, warm_kwargs)
    return drive(strat, evaluator, n_queries, stop=stop)


def _table_space(evaluator: Any) -> Space:
    table = evaluator.table if isinstance(evaluator, ShuffledTable) else evaluator
    return default_space(table)


__all__ = ["ShuffledTable", "drive", "past_search", "transfer_run", "transfer_strategy"]
