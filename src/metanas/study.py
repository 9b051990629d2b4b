"""A study wires the five roles together: ask the strategy, evaluate, record, tell.

Example:
    >>> from metanas import Space, IntRange
    >>> from metanas.evaluation.function import FunctionEvaluator
    >>> from metanas.study import create_study
    >>> space = Space([IntRange("width", 1, 64)])
    >>> study = create_study(space, "random", FunctionEvaluator(lambda a: -abs(a["width"] - 40)))
    >>> len(study.optimize(20).trials)
    20

Every ask and tell gets a sequence number in the store, so a resumed study replays its strategy
exactly and re-runs only the trials a crash left running. ``Trial.value`` holds the objective as
measured; the strategy sees it negated when the direction is ``minimize``.

Parallelism and concurrency: trials of one study run in parallel through its executor (a process
pool, or Ray across machines), with one driver process owning the strategy. Several processes may
share one store file, each optimizing its own study. A second process that tries to optimize a
study another live process is optimizing is refused with a clear error (the store keeps a lock
per study, with a heartbeat); a lock left by a crashed process is taken over, so a resume after
``kill -9`` just works. (Unlike Optuna's many-workers-per-study, a metanas strategy's state is
replayed exactly from the store, which needs one writer per study.)
"""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from metanas._resume import (
    StudyLock,
    budget_key,
    check_resumed,
    legacy_space,
    open_record,
    replay_log,
    resumed_strategy,
    stored_space,
)
from metanas.evaluation.base import as_metrics, objective_value
from metanas.space.base import Space
from metanas.space.wrapper import SeededSpace, seeds_of
from metanas.storage.base import Duplicate
from metanas.storage.sqlite import check_study_name, discard_if_new, json_default, open_store
from metanas.strategies.base import (
    SpaceExhausted,
    Strategy,
    check_can_start_from,
    get_strategy,
)
from metanas.types import (
    Budget,
    Candidate,
    Result,
    TaskInfo,
    Trial,
    TrialState,
    UserInputError,
    did_you_mean,
)

_DIRECTIONS = ("maximize", "minimize")


#: why a study whose strategy keeps proposing evaluated candidates stops asking
_DRY = (
    "the strategy proposed only already-evaluated candidates (Study.max_duplicates in a row); "
    "the space may be exhausted, so use a larger space or fewer trials"
)
#: ... and why it proposes nothing new for now (see Study._ask_trial)
_WAITING = (
    "it proposed only already-evaluated candidates while trials still run; tell their results "
    "first (a scheduler promotes once they are in)"
)


class StudyStopped(UserWarning):
    """The study stopped before reaching ``n_trials`` (exhausted space or only duplicates)."""


class Study:
    """A search of ``space`` with ``strategy``, scored by ``evaluator``, recorded in ``store``.

    Args:
        store: ``None`` (in-memory SQLite), a path, a ``sqlite:///...`` URL, or a store object.
        name: the study's name in the store (default: ``study-N``, the first free N).
        objective: metric to optimise (default: ``evaluator.objective``).
        direction: ``"maximize"`` or ``"minimize"``.
        budget: default budget for candidates that carry none.
        executor: where evaluations run (default: inline, one at a time).
        dedupe: tell a repeated candidate (same key and budget) the stored result instead of
            evaluating it again; it does not count as a trial.
        task: what the task is (default: ``evaluator.task_info()``).
        resume: continue a stored study of the same name instead of refusing it.
    """

    #: consecutive duplicate proposals after which the study stops asking
    max_duplicates: int = 1000

    def __init__(
        self,
        space: Space | None,
        strategy: Strategy | None,
        evaluator: Any,
        *,
        store: Any = None,
        name: str | None = None,
        objective: str | None = None,
        direction: str = "maximize",
        budget: Budget | None = None,
        executor: Any = None,
        dedupe: bool = True,
        task: TaskInfo | None = None,
        resume: bool = False,
    ) -> None:
        self.space = space
        self.strategy = strategy
        self.evaluator = evaluator
        self.executor = executor
        self._store_arg = store
        self._name = name
        self.objective = objective
        self.direction = direction
        self.budget = budget
        self.dedupe = dedupe
        self.task = task
        self.resume = resume
        self.stop_reason: str | None = None
        self._waiting = False  # the last ask found nothing new while trials still ran
        self._opened = False
        #: the options a named strategy was built with (create_study sets it), kept for resume
        self._strategy_kwargs: Mapping[str, Any] | None = None
        self._lock: StudyLock | None = None

    # ----------------------------------------------------------------- opening and replay
    def _open(self, readonly: bool = False) -> None:
        if self._opened:
            return
        if self.direction not in _DIRECTIONS:
            raise UserInputError(
                f"direction must be 'maximize' or 'minimize', got {self.direction!r}."
            )
        store = open_store(self._store_arg, readonly=readonly)
        self._store = store
        self._name, self._id = open_record(self, store, self._name)
        self._opened = True
        self._load()

    def _load(self) -> None:
        """Fold the stored trials and duplicates into memory and replay them into the strategy."""
        trials = self._store.trials(self._id)
        dups = self._store.duplicates(self._id) if hasattr(self._store, "duplicates") else []
        if self.space is not None:  # JSON gave tuple options back as lists
            trials = [replace(t, arch=self.space.restore(t.arch)) for t in trials]
            dups = [replace(d, arch=self.space.restore(d.arch)) for d in dups]
        self._trials: dict[int, Trial] = {t.number: t for t in trials}
        self._done: dict[tuple[str, str], int] = {}  # (key, budget) -> finished trial number
        self._running: dict[tuple[str, str], int] = {}  # (key, budget) -> running trial number
        self._waiters: dict[int, list[tuple[Candidate, Duplicate]]] = {}
        self._rerun: list[int] = []
        self._best: Trial | None = None
        self._n_finished = 0
        # a run whose asks ended in more than max_duplicates duplicates in a row, with every
        # trial told before them (none running that a scheduler waits on), ran dry for good
        last_trial = max((t.asked_seq or 0 for t in trials), default=-1)
        streak = sorted(d.asked_seq for d in dups if d.asked_seq > last_trial)
        self._dry = len(streak) > self.max_duplicates and all(
            t.told_seq is not None and t.told_seq < streak[0] for t in trials
        )
        log = replay_log(self._trials, dups, self._strategy_result)
        self._cands, self._number_of, self._seq = log.cands, log.number_of, log.next_seq
        for t in sorted(self._trials.values(), key=lambda t: t.number):
            bkey = (t.key, budget_key(self._effective_budget(t.budget)))
            if t.state.finished:
                self._done.setdefault(bkey, t.number)
                self._note_finished(t)
            else:
                self._running[bkey] = t.number
                self._rerun.append(t.number)
        if self.strategy is not None:
            self.strategy.replay(iter(log.events))
            for cand, d in log.dup_cands:  # duplicates whose tell a crash cut off
                if d.told_seq is None:
                    if self._trials[d.of_number].state.finished:
                        self._tell_duplicate(cand, d)
                    else:
                        self._waiters.setdefault(d.of_number, []).append((cand, d))

    # ----------------------------------------------------------------- value conventions
    def _strategy_result(self, t: Trial | Result) -> Result:
        """The result as the strategy sees it: higher is better."""
        v = t.value
        if v is not None and self.direction == "minimize":
            v = -v
        return Result(
            value=v, metrics=t.metrics, state=t.state, error=t.error, cost=t.cost, curve=t.curve
        )

    def _normalise(self, r: Result) -> Result:
        """Take the study's objective from the evaluator's result (value as measured); a
        malformed result (an evaluator's bug) fails its trial instead of the whole run."""
        problem = _malformed(r)
        if problem is not None:
            metrics = r.metrics if isinstance(r.metrics, Mapping) else {}
            metrics = {k: v for k, v in metrics.items() if _unstorable({k: v}) is None}
            return Result.failed(f"the evaluator's Result is malformed: {problem}", 0.0, metrics)
        if r.state is TrialState.FAILED:
            return replace(r, value=None)
        assert self.objective is not None
        if self.objective in r.metrics:
            try:
                v = objective_value(r.metrics, self.objective)
            except (TypeError, ValueError):  # a text or another object: not a finite number
                v = None
        elif r.value is not None and self.objective == getattr(
            self.evaluator, "objective", self.objective
        ):
            r = replace(r, metrics={**r.metrics, self.objective: float(r.value)})
            v = objective_value(r.metrics, self.objective)  # None when NaN or infinite
        else:
            v = None
        if v is None and r.state is TrialState.COMPLETE:
            if self.objective in r.metrics:
                error = f"objective {self.objective!r} is {r.metrics[self.objective]}, not a finite number"
            else:
                error = (
                    f"objective {self.objective!r} is not among the reported metrics "
                    f"{sorted(r.metrics)}; report it, or set objective= to one of them."
                )
            return replace(r, value=None, state=TrialState.FAILED, error=error)
        return replace(r, value=v)

    def _effective_budget(self, b: Budget | None) -> Budget | None:
        return b if b is not None else self.budget

    def _better(self, a: Trial, b: Trial) -> bool:
        assert a.value is not None and b.value is not None
        return a.value < b.value if self.direction == "minimize" else a.value > b.value

    def _note_finished(self, t: Trial) -> None:
        self._n_finished += 1
        if (
            t.state is TrialState.COMPLETE
            and t.value is not None
            and (self._best is None or self._better(t, self._best))
        ):
            self._best = t

    # ----------------------------------------------------------------- one process per study
    def _acquire(self) -> bool:
        """Become the one process writing this study; ``True`` if the lock was taken just now."""
        if self._lock is None:
            self._lock = StudyLock(self._store, self._id, self.name)
        return self._lock.acquire((len(self._trials), self._seq - 1))

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()

    def _check_lock(self) -> None:
        """Before a write: this process still holds the study (see StudyLock.check)."""
        if self._lock is not None:
            self._lock.check()

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq - 1

    # ----------------------------------------------------------------- the steps of the loop
    def _ask_trial(self, tries: int | None = None) -> Trial | None:
        """Ask until the strategy proposes something new (at most ``tries`` proposals, by default
        ``max_duplicates + 1``); record it as running. ``None``: nothing new, for good (``_dry``,
        or the strategy ran out) or, while trials still run, for now (``_waiting``): a
        scheduler's promotions wait for their results."""
        assert self.strategy is not None
        self._waiting = False
        if self._dry:  # it ran dry before: asking again would only store more duplicates
            self._stop(_DRY)
            return None
        self._check_lock()
        for _ in range(self.max_duplicates + 1 if tries is None else tries):
            try:
                cand = self.strategy.ask()
            except SpaceExhausted as e:
                self._stop(f"the strategy has nothing new to propose ({e})")
                return None
            bkey = (cand.key, budget_key(self._effective_budget(cand.budget)))
            of = self._done.get(bkey) if self.dedupe else None
            if of is None and self.dedupe:
                of = self._running.get(bkey)
            if of is not None:
                d = Duplicate(
                    of, cand.arch, cand.key, self._next_seq(), None, cand.budget, cand.info
                )
                if self._trials[of].state.finished:
                    self._tell_duplicate(cand, d)
                else:  # told when the original finishes
                    self._store.record_duplicate(self._id, d)
                    self._waiters.setdefault(of, []).append((cand, d))
                continue
            number = len(self._trials)
            trial = Trial(
                number=number,
                arch=dict(cand.arch),
                key=cand.key,
                state=TrialState.RUNNING,
                budget=cand.budget,
                info=dict(cand.info),
                started_at=time.time(),
                asked_seq=self._next_seq(),
            )
            self._store.record(self._id, trial)
            self._trials[number], self._cands[number] = trial, cand
            self._number_of[cand.id] = number
            self._running[bkey] = number
            return trial
        # dry for good only when nothing runs: a scheduler may wait for a running trial's result
        self._dry = all(t.state.finished for t in self._trials.values())
        self._waiting = not self._dry
        if self._dry:
            self._stop(_DRY)
        return None

    def _stop(self, reason: str) -> None:
        self.stop_reason = reason
        warnings.warn(
            # the trials still running finish as well
            f"study {self._name!r} stopped after {self._n_finished + len(self._running)} "
            f"trials: {reason}.",
            StudyStopped,
            stacklevel=4,
        )
        return None

    def _tell_duplicate(self, cand: Candidate, d: Duplicate) -> None:
        d = replace(d, told_seq=self._next_seq())
        self._store.record_duplicate(self._id, d)  # durable before the strategy learns of it
        assert self.strategy is not None
        self.strategy.tell(cand, self._strategy_result(self._trials[d.of_number]))

    def _next_rerun(self) -> Trial | None:
        """A trial a crash left running, to evaluate again before asking anything new."""
        return self._trials[self._rerun.pop(0)] if self._rerun else None

    def _finish(self, number: int, result: Result) -> Trial:
        r = self._normalise(result)
        t = self._trials[number]
        if t.state.finished:
            raise UserInputError(
                f"trial {number} of study {self._name!r} was already told; ask a new one."
            )
        self._check_lock()
        seq = self._seq
        t = replace(
            t,
            state=r.state,
            value=r.value,
            metrics=dict(r.metrics),
            error=r.error,
            cost=float(r.cost),
            curve=tuple(dict(c) for c in r.curve),
            finished_at=time.time(),
            told_seq=self._next_seq(),
        )
        try:
            self._store.record(self._id, t)  # durable before anyone learns of it
        except BaseException:
            self._seq = seq  # not stored: the store and this study must agree on the next one
            raise
        self._trials[number] = t
        bkey = (t.key, budget_key(self._effective_budget(t.budget)))
        self._running.pop(bkey, None)
        self._done.setdefault(bkey, number)
        self._note_finished(t)
        if self.strategy is not None:
            self.strategy.tell(self._cands[number], self._strategy_result(t))
            for cand, d in self._waiters.pop(number, []):
                self._tell_duplicate(cand, d)
        return t

    # ----------------------------------------------------------------- public API
    def optimize(
        self,
        n_trials: int,
        *,
        timeout: float | None = None,
        progress: bool = False,
        callbacks: Iterable[Callable[[Study, Trial], None]] = (),
    ) -> Study:
        """Run until the study holds ``n_trials`` finished trials (counting earlier runs)."""
        from metanas._loop import optimize

        self._open()
        runnable = self.strategy is not None and self.evaluator is not None
        took = self._acquire() if runnable else False
        try:
            optimize(self, n_trials, timeout=timeout, progress=progress, callbacks=callbacks)
        finally:
            if took:
                self._release()
        return self

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[Study]:
        """Hold the study's one-writer lock for the block: another process already optimizing
        it is refused here, before anything is printed or built (``optimize``, ``ask`` and
        ``tell`` take the lock by themselves)."""
        self._open()
        took = self._acquire()
        try:
            yield self
        finally:
            if took:
                self._release()

    def ask(self) -> Candidate:
        """The next candidate to evaluate (a trial a crash left running comes first)."""
        self._open()
        if self.strategy is None:
            raise UserInputError(
                "this study has no strategy (loaded read-only); resume it with create_study."
            )
        self._acquire()  # held until the process ends or optimize() finishes
        trial = self._next_rerun() or self._ask_trial()
        if trial is None:
            why = _WAITING if self._waiting else self.stop_reason
            raise SpaceExhausted(f"study {self._name!r} cannot propose more: {why}.")
        return self._cands[trial.number]

    def tell(self, candidate: Candidate, result: Result | float | Mapping[str, float]) -> Trial:
        """Record the result of a candidate from :meth:`ask` (a number, metrics or a Result)."""
        self._open()
        number = self._number_of.get(getattr(candidate, "id", None))  # type: ignore[arg-type]
        # the very object ask() gave: another study's (or an earlier process') candidate may
        # carry the same id and key
        if number is None or self._cands[number] is not candidate:
            raise UserInputError(
                f"{type(candidate).__name__} {getattr(candidate, 'id', candidate)!r} was not "
                f"asked by this study {self._name!r}; tell only a candidate its ask() returned."
            )
        if not isinstance(result, Result):
            assert self.objective is not None
            if isinstance(result, Mapping):
                metrics = as_metrics(result)
            elif isinstance(result, numbers.Real):
                metrics = as_metrics({self.objective: result})  # 10 ** 400: one sentence
            else:
                raise UserInputError(
                    f"tell() got {type(result).__name__} {result!r}; give a number, a mapping "
                    "of metric names to numbers, or a Result."
                )
            result = Result(value=None, metrics=metrics)
        self._acquire()
        return self._finish(number, result)

    @property
    def name(self) -> str:
        self._open()
        assert self._name is not None
        return self._name

    @property
    def id(self) -> int:
        """The study's id in its store."""
        self._open()
        return self._id

    @property
    def store(self) -> Any:
        self._open()
        return self._store

    @property
    def trials(self) -> list[Trial]:
        """Every trial (running ones included), by number."""
        self._open()
        return [self._trials[i] for i in sorted(self._trials)]

    @property
    def n_finished(self) -> int:
        self._open()
        return self._n_finished

    @property
    def best_trial(self) -> Trial | None:
        """The complete trial with the best objective value, if any."""
        self._open()
        return self._best

    def __repr__(self) -> str:
        return f"Study(name={self._name!r}, trials={len(getattr(self, '_trials', {}))})"


def _as_space(space: Space | str | None) -> Space | None:
    if isinstance(space, str):
        from metanas.space import get_space

        return get_space(space)
    if space is not None and not isinstance(space, Space):
        raise UserInputError(
            f"space must be a Space or a registered space name, got {type(space).__name__}; "
            "wrap dimensions as Space([...])."
        )
    return space


def _same_store(source: Any, store: Any) -> bool:
    """Whether a warm start's ``source`` is the study's own ``store``."""
    if source is True or source is store:
        return True
    try:
        return os.path.realpath(os.fspath(source)) == os.path.realpath(str(store.path))
    except (TypeError, AttributeError):
        return False


#: what create_study hands on to :class:`Study`, and the type each must have
_STUDY_ARGS: dict[str, tuple[tuple[type, ...], str]] = {
    "objective": ((str,), "a metric name such as 'val_acc'"),
    "direction": ((str,), "'maximize' or 'minimize'"),
    "budget": ((Budget,), "a Budget such as Budget(epochs=12)"),
    "dedupe": ((bool,), "True or False"),
    "task": ((TaskInfo,), "a TaskInfo"),
    "executor": ((object,), "an executor such as make_executor('pool', workers=2)"),
}


def _check_arguments(
    seed: Any, strategy: Any, strategy_kwargs: Any, evaluator: Any, study_kwargs: Mapping[str, Any]
) -> None:
    """Refuse, before the store is touched, arguments that would fail later and less clearly."""
    if strategy is not None and not isinstance(strategy, (str, Strategy)):
        what = f"the class {strategy.__name__}" if isinstance(strategy, type) else repr(strategy)
        raise UserInputError(
            f"strategy must be a registered name such as 'bananas' or a Strategy instance, got "
            f"{what}; build a class as Cls(space, seed=...) or register it with a name."
        )
    for k, v in study_kwargs.items():
        if k not in _STUDY_ARGS:
            import inspect

            named = [p for p in inspect.signature(create_study).parameters if p != "study_kwargs"]
            known = [*named, *_STUDY_ARGS]
            hint = " (give the number of trials to optimize())" if k == "n_trials" else ""
            raise UserInputError(
                f"create_study got an unknown argument {k!r}{hint}; "
                f"{did_you_mean(k, known)}it takes {', '.join(known)}."
            )
        types, example = _STUDY_ARGS[k]
        bad = not isinstance(v, types) if k != "executor" else not hasattr(v, "submit")
        if v is not None and bad:
            raise UserInputError(f"{k} must be {example}, got {type(v).__name__} {v!r}.")
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0
    ):
        raise UserInputError(f"seed must be a non-negative integer or None, got {seed!r}.")
    if strategy_kwargs is not None and not isinstance(strategy_kwargs, Mapping):
        raise UserInputError(
            "strategy_kwargs must be a mapping of option names to values, got "
            f"{type(strategy_kwargs).__name__}; e.g. strategy_kwargs={{'population_size': 8}}."
        )
    for k in sorted({"seed", "space"} & set(strategy_kwargs or {})):
        raise UserInputError(
            f"strategy_kwargs holds {k!r}, which create_study gives the strategy itself; "
            f"pass it as create_study's {k} argument instead."
        )
    if evaluator is not None and not callable(getattr(evaluator, "evaluate", None)):
        raise UserInputError(
            f"evaluator {type(evaluator).__name__} has no evaluate(arch, budget, report) method; "
            "wrap a plain function as FunctionEvaluator(fn)."
        )


def _malformed(r: Result) -> str | None:
    """What is wrong with a Result an evaluator or a caller of tell() made, if anything."""
    if not isinstance(r.metrics, Mapping):
        return f"metrics must be a mapping of names to numbers, got {r.metrics!r}"
    if r.value is not None and (isinstance(r.value, bool) or not isinstance(r.value, numbers.Real)):
        return f"value must be a number or None, got {r.value!r}"
    cost = r.cost
    if isinstance(cost, bool) or not isinstance(cost, numbers.Real) or not 0 <= cost < math.inf:
        return f"cost must be the seconds spent, a finite number >= 0, got {cost!r}"
    if not isinstance(r.curve, (list, tuple)) or not all(isinstance(c, Mapping) for c in r.curve):
        return f"curve must be a list of mappings (one report per step), got {r.curve!r}"
    if not isinstance(r.state, TrialState) or not r.state.finished:
        # a running trial's result would leave it running: told again, or run again on resume
        return f"state must be a finished TrialState (complete, pruned or failed), got {r.state!r}"
    # as the store writes them: any mapping as a dict
    for what, x in (("metrics", dict(r.metrics)), ("curve", [dict(c) for c in r.curve])):
        problem = _unstorable(x)
        if problem is not None:
            return f"{what} must hold numbers and text ({problem})"
    return None


def _unstorable(x: Any) -> str | None:
    """Why the store cannot keep ``x`` (as JSON), or ``None`` when it can."""
    try:
        json.dumps(x, default=json_default)
    except (TypeError, ValueError) as e:
        return str(e)
    return None


def _seeded(
    space: Space, start_from: Sequence[Any], strategy: str | Strategy, warm_start: Any
) -> Space:
    """``space`` whose first samples are ``start_from`` (a new study's starting architectures)."""
    if warm_start:
        raise UserInputError(
            "give either warm_start or start_from: a warm start picks its own first proposals."
        )
    if isinstance(strategy, Strategy):
        raise UserInputError(
            "start_from needs the strategy by name; or build your strategy on "
            "SeededSpace(space, start_from) yourself."
        )
    return SeededSpace(space, start_from)


def _stored_seeds(space: Space, stored: Sequence[Any], given: Sequence[Any]) -> Space:
    """A resumed study's space with the starting architectures it was created with."""
    if given and [space.key(a) for a in SeededSpace(space, given).seeds] != [
        space.key(a) for a in stored
    ]:
        raise UserInputError(
            "the study was created with other starting architectures (start_from); resume "
            "with the same ones or leave them out."
        )
    return SeededSpace(space, stored) if stored and not seeds_of(space) else space


def _check_starts(strategy: Any) -> None:
    if isinstance(strategy, Strategy) and seeds_of(strategy.space):
        check_can_start_from(strategy.name, "start_from")


def create_study(
    space: Space | str | None,
    strategy: str | Strategy | None = None,
    evaluator: Any = None,
    *,
    storage: Any = None,
    study_name: str | None = None,
    seed: int | None = 0,
    resume: bool = False,
    strategy_kwargs: Mapping[str, Any] | None = None,
    warm_start: Any = False,
    warm_options: Mapping[str, Any] | None = None,
    start_from: Sequence[Mapping[str, Any] | str] = (),
    **study_kwargs: Any,
) -> Study:
    """Create a study, or with ``resume=True`` continue the stored one of that name.

    The default strategy is ``bananas`` (Bayesian optimisation on architecture features), the most
    sample-efficient on our benchmarks (``benchmarks/README.md``).

    A resumed study rebuilds its strategy from the stored configuration (name, options, seed),
    replays the stored asks and tells, and re-runs the trials a crash left running. A strategy
    name, a strategy option's value, a direction, an objective or a budget that differs from the
    stored one is refused;
    the seed and the other settings given with ``resume=True`` are the stored ones.
    ``warm_start=True`` (or a store path) starts a new study from what the store's earlier
    studies on this space learnt (:func:`metanas.meta.hook.warm_start_strategy`);
    ``warm_options`` are the warm start's own options, e.g. ``{"budget": n_trials}`` so its
    patience suits the run's length (stored with the study, so a resume rebuilds the same).

    ``start_from`` architectures (mappings, or their JSON) are the search's first proposals: a
    baseline network to improve on, or designs known to be good. They take the place of the
    strategy's first random samples (the rest of those stay random), so local search climbs
    from the best of its ``n_init`` first samples (set ``n_init`` to their number to climb from
    them alone), evolution breeds from them and the model-based strategies learn from them first. Strategies that do not start from
    samples (:attr:`~metanas.strategies.Strategy.draws_samples`: grid, reinforce, qlearning,
    most_probable, proxy_prescreen, warm_start) refuse them. They are stored with the study, so a
    resume starts from the same.
    """
    import metanas.meta.warmstart  # registers warm_start, for resumes
    import metanas.strategies  # noqa: F401 - registers the built-in strategies

    _check_arguments(seed, strategy, strategy_kwargs, evaluator, study_kwargs)
    if warm_options and not warm_start:
        raise UserInputError(
            "warm_options are the warm start's; pass warm_start=True (or a store) with them, "
            "or leave them out."
        )
    given_options = dict(strategy_kwargs or {})
    if isinstance(strategy, str):  # before the store: a typo must not leave an empty file
        from metanas.strategies.multifidelity import fidelity_rungs

        # a table's fidelities as a scheduler's rungs; stored, so a resume rebuilds the same
        strategy_kwargs = fidelity_rungs(
            strategy, getattr(evaluator, "fidelities", None) or (), strategy_kwargs
        )
    if study_name is not None:
        check_study_name(study_name)
    space = _as_space(space)
    if isinstance(strategy, str) and getattr(space, "screens_samples", False):
        from metanas.strategies.base import check_can_start_from

        check_can_start_from(strategy, "a proxy screen (ScreenedSpace), which screens samples")
    check_space = getattr(evaluator, "check_space", None)
    if space is not None and callable(check_space):  # e.g. does a table hold this space's cells?
        check_space(space)
    store = open_store(storage)
    try:
        info = store.get_study(study_name) if study_name is not None else None
        given_instance = isinstance(strategy, Strategy)
        if info is not None and resume:
            check_resumed(
                info, strategy, study_kwargs.get("direction"), given_options, store,
                dedupe=study_kwargs.get("dedupe"),
            )  # fmt: skip
            if space is None:
                from metanas.space import space_from_dict

                space = space_from_dict(info.space)
            space = _stored_seeds(space, info.config.get("start_from") or [], start_from)
            space = legacy_space(space, info.config.get("metanas"))
            if not isinstance(strategy, Strategy):
                strategy = resumed_strategy(info, space, given_options)
        elif space is None:
            raise UserInputError(
                "create_study needs a space (a Space or a registered name such as 'nb201')."
            )
        else:
            strategy = "bananas" if strategy is None else strategy
            if start_from:  # the strategy is built on the seeded space below
                space = _seeded(space, start_from, strategy, warm_start)
            if warm_start:
                from metanas.meta.hook import warm_start_strategy

                strategy = warm_start_strategy(
                    space,
                    strategy,
                    store if warm_start is True else warm_start,
                    seed=seed,
                    strategy_kwargs=strategy_kwargs,
                    task=study_kwargs.get("task"),
                    evaluator=evaluator,
                    # the study being created is not its own past, in its own store only: another
                    # store's study of the same name is a past like any other
                    exclude=[study_name] if _same_store(warm_start, store) else [],
                    objective=study_kwargs.get("objective"),
                    direction=study_kwargs.get("direction", "maximize"),
                    **dict(warm_options or {}),
                )
                given_instance = given_instance or strategy.name == "warm_start"  # its own options
            elif not isinstance(strategy, Strategy):
                strategy = get_strategy(strategy, space, seed=seed, **dict(strategy_kwargs or {}))
        _check_starts(strategy)
        study = Study(
            space, strategy, evaluator, store=store, name=study_name, resume=resume, **study_kwargs
        )
        if not given_instance:  # the exact options, for a faithful rebuild on resume
            study._strategy_kwargs = dict(strategy_kwargs or {})
        study._open()
    except BaseException:  # e.g. a bad warm start: a store this call created is not left behind
        if store is not storage:
            discard_if_new(store)
        raise
    return study


def load_study(storage: Any, study_name: str) -> Study:
    """Open a stored study for reading its trials and best trial (no strategy, no evaluator)."""
    store = open_store(storage, readonly=True)
    info = store.get_study(study_name)
    if info is None:
        names = ", ".join(s.name for s in store.studies()) or "none"
        raise UserInputError(
            f"no study {study_name!r} in {getattr(store, 'path', store)}; existing: {names}."
        )
    study = Study(stored_space(info), None, None, store=store, name=study_name, resume=True)
    study._open(readonly=True)
    return study


__all__ = ["Study", "StudyStopped", "create_study", "load_study"]
