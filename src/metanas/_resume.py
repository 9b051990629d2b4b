"""How a :class:`metanas.study.Study` finds its stored record, replays it, and holds its lock.

Kept apart from the study so ``study.py`` reads as the ask / evaluate / record / tell loop; every
function here is about the store: naming and creating a study, restoring its settings, folding
its trials and duplicates into the ask/tell events a strategy replays, rebuilding the strategy of
a resumed study, and the one-writer-per-study lock.
"""

from __future__ import annotations

import gc
import inspect
import json
import os
import socket
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from metanas.space.wrapper import SpaceWrapper, seeds_of
from metanas.storage.base import Duplicate
from metanas.storage.sqlite import check_study_name
from metanas.strategies.base import (
    AskEvent,
    Event,
    Strategy,
    TellEvent,
    get_strategy,
    strategy_class,
)
from metanas.types import (
    Budget,
    Candidate,
    Result,
    StudyExists,
    TaskInfo,
    Trial,
    UserInputError,
    signature_defaults,
)

if TYPE_CHECKING:
    from metanas.space.base import Space
    from metanas.storage.base import StudyInfo
    from metanas.study import Study


def jsonable(x: Any) -> Any:
    try:  # numpy scalars and arrays alike become plain numbers and (nested) lists
        return json.loads(
            json.dumps(x, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
        )
    except (TypeError, ValueError):
        return str(x)


#: the stored form of a strategy option JSON cannot hold (a function, an object)
UNSTORED = "metanas: not stored"


def stored_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Strategy options as the store keeps them; one JSON cannot hold becomes
    ``{UNSTORED: "<what it was>"}``, to be given again on resume (see :func:`resumed_strategy`)."""

    def plain(o: Any) -> Any:
        for method in ("tolist", "to_dict"):  # numpy values; priors and other value objects
            if callable(getattr(o, method, None)):
                return getattr(o, method)()
        raise TypeError(o)

    out: dict[str, Any] = {}
    for k, v in options.items():
        try:
            out[k] = json.loads(json.dumps(v, default=plain))
        except (TypeError, ValueError):
            what = getattr(v, "__qualname__", None) or type(v).__name__
            out[k] = {UNSTORED: f"{what} ({type(v).__name__})"}
    return out


def _unstored(value: Any) -> str | None:
    return value.get(UNSTORED) if isinstance(value, Mapping) and len(value) == 1 else None


def strategy_params(strategy: Strategy) -> dict[str, Any]:
    """The options a strategy was built with, for a later rebuild by name: those given to its
    constructor, or (a strategy that does not keep them) the constructor arguments it keeps as
    attributes (sklearn style)."""
    given = getattr(strategy, "given_options", None)
    if given is not None:
        return stored_options(given)
    out: dict[str, Any] = {}
    for p in list(inspect.signature(type(strategy).__init__).parameters)[1:]:
        if p not in ("space", "seed") and hasattr(strategy, p):
            out[p] = jsonable(getattr(strategy, p))
    return out


def budget_key(b: Budget | None) -> str:
    return "" if b is None else json.dumps(b.to_dict(), sort_keys=True)


# --------------------------------------------------------------------------- the study's record
def study_config(study: Study) -> dict[str, Any]:
    """What the store keeps of a new study's settings (read back on resume)."""
    s = study.strategy
    return {
        "strategy": getattr(s, "name", type(s).__name__),
        "strategy_kwargs": stored_options(study._strategy_kwargs)
        if study._strategy_kwargs is not None
        else (strategy_params(s) if s is not None else {}),
        "seed": jsonable(getattr(s, "seed", None)),
        "objective": study.objective,
        "direction": study.direction,
        "budget": None if study.budget is None else study.budget.to_dict(),
        "dedupe": study.dedupe,
        "evaluator": type(study.evaluator).__name__,
        "evaluator_settings": _evaluator_settings(study.evaluator),
        "space": getattr(study.space, "name", None),
        "start_from": jsonable(seeds_of(study.space)) if study.space is not None else [],
        "metanas": _version(),
    }


def _evaluator_settings(evaluator: Any) -> dict[str, Any] | None:
    settings = getattr(evaluator, "settings", None)
    return dict(jsonable(settings())) if callable(settings) else None


def _version() -> str:
    from metanas import __version__  # here, not at the top: metanas' __init__ imports this module

    return __version__


def open_record(study: Study, store: Any, name: str | None) -> tuple[str, int]:
    """(name, id) of ``study`` in ``store``: the stored one (its settings restored onto
    ``study``) when resuming, else a new record (default name ``study-N``, the first free N)."""
    if name is None:
        taken = {s.name for s in store.studies()}
        name = next(f"study-{i}" for i in range(len(taken) + 1) if f"study-{i}" not in taken)
    check_study_name(name)
    info = store.get_study(name)
    if info is not None and not study.resume:
        raise StudyExists(name, str(getattr(store, "path", store)))
    if info is not None:
        _check_same_settings(study, info.config, f"study {name!r}")
    if study.objective is None:
        study.objective = (info.config.get("objective") if info else None) or getattr(
            study.evaluator, "objective", "value"
        )
    if info is not None:
        cfg = info.config
        study.direction = cfg.get("direction", study.direction)
        if study.budget is None and cfg.get("budget"):
            study.budget = Budget.from_dict(cfg["budget"])
        study.dedupe = cfg.get("dedupe", study.dedupe)
        task_info = getattr(study.evaluator, "task_info", None)
        if callable(task_info):
            check_same_task(info.task, task_info(), f"study {name!r}")
        study.task = info.task
        if study.space is not None and jsonable(study.space.to_dict()) != info.space:
            raise UserInputError(
                f"the space given differs from the one study {name!r} was created with; "
                "resume with the original space or start a new study."
            )
        return name, info.id
    if study.space is None or study.strategy is None:
        raise UserInputError(
            f"study {name!r} does not exist; create it with a space and a strategy."
        )
    if study.task is None:
        ti = getattr(study.evaluator, "task_info", None)
        study.task = ti() if callable(ti) else TaskInfo()
    return name, store.create_study(
        name, jsonable(study.space.to_dict()), study.task, study_config(study)
    )


def _check_same_settings(study: Study, cfg: Mapping[str, Any], what: str) -> None:
    """Refuse to resume with another objective, evaluator settings (``evaluator.settings()``,
    e.g. the training recipe) or budget: the new trials would be scored otherwise than the
    stored ones, in one study."""
    stored = cfg.get("objective")
    if study.objective is not None and stored and study.objective != stored:
        raise UserInputError(
            f"{what} was created to optimize {stored!r}, not {study.objective!r}; resume it "
            "with that objective (or none), or give the new search another study name."
        )
    stored_settings = cfg.get("evaluator_settings")
    given_settings = _evaluator_settings(study.evaluator)
    changed = _changed(stored_settings or {}, given_settings or {})
    if changed:
        raise UserInputError(
            f"{what} was evaluated with other settings: {changed}; resume it with the stored "
            "ones (new trials would be scored otherwise), or give the new search another study "
            "name."
        )
    given = None if study.budget is None else study.budget.to_dict()
    if given is not None and jsonable(given) != jsonable(cfg.get("budget")):
        had = f"budget {cfg['budget']!r}" if cfg.get("budget") else "no budget"
        raise UserInputError(
            f"{what} was created with {had}, not budget {given!r}; resume it with the stored "
            "budget (or none), or give the new search another study name."
        )


def _changed(stored: Mapping[str, Any], given: Mapping[str, Any], prefix: str = "") -> str:
    """``a.b=old, not new`` for each stored setting that differs (nested mappings flattened);
    a setting the store does not name (one a later version added) is not compared."""
    out = []
    for k in sorted(set(stored) & set(given)):
        a, b = stored[k], given[k]
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            inner = _changed(a, b, f"{prefix}{k}.")
            out += [inner] if inner else []
        elif a != b:
            out.append(f"{prefix}{k}={a!r}, not {b!r}")
    return "; ".join(out)


def _identity(task: TaskInfo) -> tuple[Any, ...]:
    """What names a task's data: a table's rows count too, a data set's vary with its subsample."""
    rows = task.n_samples if task.modality == "table" else None
    return (task.name, task.modality, tuple(task.input_shape), task.n_classes, rows)


def check_same_task(
    stored: TaskInfo,
    given: TaskInfo,
    what: str,
    remedy: str = "use the data it was created with, or give the new search another study name",
) -> None:
    """Refuse to add results on other data to ``what`` (a stored study), or to export it with
    them; tasks of unknown kind (plain functions, records before tasks were stored) pass."""
    if "unknown" in (stored.modality, given.modality) or _identity(stored) == _identity(given):
        return
    raise UserInputError(
        f"{what} was searched on {stored.name!r} ({_describe(stored)}), not on {given.name!r} "
        f"({_describe(given)}); {remedy}."
    )


def _describe(task: TaskInfo) -> str:
    if task.modality == "table":
        return f"a table of {task.n_samples} rows"
    shape = "x".join(map(str, task.input_shape)) or "?"
    return f"{task.modality}, inputs {shape}, {task.n_classes} classes"


def stored_space(info: StudyInfo) -> Space | None:
    """The space a stored study was created with; ``None`` for a kind this installation lacks."""
    try:
        from metanas.space import space_from_dict

        return space_from_dict(info.space)
    except Exception:  # the trials are still readable without it
        return None


#: defaults that changed, each with the first version that has the new one, and the old value:
#: a study stored by an earlier version (or before its record named one) resumes with the old
#: value, so its replay regenerates the same asks
LEGACY_DEFAULTS: dict[str, tuple[tuple[str, dict[str, Any]], ...]] = {
    "bananas": (
        ("0.1.0", {"predictor": "mlp"}),
        ("0.2.0", {"on_stuck": "explore"}),
        ("0.2.3", {"keep_late": True, "counts": False}),
    ),
    "local_search": (("0.2.3", {"offer_pending": False}),),
    "mf_ucb": (("0.2.1", {"costs": "budget"}),),
    "tpe": (("0.2.2", {"failures_good": True}),),
    "bohb": (
        ("0.2.2", {"failures_good": True}),
        ("0.2.5", {"promote_failed": True}),
        ("0.2.7", {"promote_pruned": True}),
    ),
    "successive_halving": (
        ("0.2.5", {"promote_failed": True}),
        ("0.2.7", {"promote_pruned": True}),
    ),
    "hyperband": (("0.2.5", {"promote_failed": True}), ("0.2.7", {"promote_pruned": True})),
    "asha": (("0.2.5", {"promote_failed": True}), ("0.2.7", {"promote_pruned": True})),
    "evolution": (("0.2.5", {"stuck_sample": False}),),
    "reinforce": (("0.2.6", {"bin_conditions": False}),),
    "qlearning": (("0.2.6", {"bin_conditions": False}),),
    "warm_start": (("0.2.7", {"policy_bar": "min_corr"}),),
}


def _older(version: str | None, than: str) -> bool:
    """Whether a store written by ``version`` (``None``: before records named one) predates
    ``than`` (dotted integers)."""
    if version is None:
        return True
    return tuple(map(int, version.split("."))) < tuple(map(int, than.split(".")))


def legacy_options(
    name: str, kwargs: Mapping[str, Any], version: str | None = None
) -> dict[str, Any]:
    """``kwargs`` of strategy ``name``, as stored by metanas ``version``, filled with the
    defaults of that time (:data:`LEGACY_DEFAULTS`), and so are a wrapped strategy's
    (``warm_start``'s ``inner_kwargs``, ``proxy_prescreen``'s ``inner_options``)."""
    old: dict[str, Any] = {}
    for since, values in LEGACY_DEFAULTS.get(name, ()):
        if _older(version, since):
            old.update(values)
    out = {**old, **kwargs}
    inner = out.get("inner")
    if isinstance(inner, str):
        params = inspect.signature(strategy_class(name)).parameters
        for opts in ("inner_kwargs", "inner_options"):
            if opts in params:
                out[opts] = legacy_options(inner, out.get(opts) or {}, version)
    return out


def legacy_space(space: Space, version: str | None) -> Space:
    """``space`` of a study stored by metanas ``version``, its wrappers behaving as they did
    then: a proxy screen of a study before 0.2.7 picks among all its draws, seen or not."""
    if _older(version, "0.2.7"):
        s = space
        while isinstance(s, SpaceWrapper):
            if getattr(s, "screens_samples", False):
                cast(Any, s).prefer_unseen = False
            s = s.inner
    return space


def resumed_strategy(info: StudyInfo, space: Space, given: Mapping[str, Any]) -> Strategy:
    """The strategy of a resumed study, rebuilt from its stored configuration (name, options, seed);
    an option the store could not keep comes from ``given`` (the options given to the resume)."""
    cfg = info.config
    kwargs = legacy_options(cfg["strategy"], cfg.get("strategy_kwargs") or {}, cfg.get("metanas"))
    for k, v in kwargs.items():
        what = _unstored(v)
        if what is None:
            continue
        if k not in given:
            raise UserInputError(
                f"study {info.name!r} was created with strategy option {k}={what}, which a store "
                f"cannot keep; give it again to resume: strategy_kwargs={{{k!r}: ...}}."
            )
        kwargs[k] = given[k]
    return get_strategy(cfg["strategy"], space, seed=cfg.get("seed"), **kwargs)


def check_resumed(
    info: Any,
    strategy: Any,
    direction: str | None,
    options: Mapping[str, Any],
    store: Any,
    dedupe: bool | None = None,
) -> None:
    """Refuse to resume a study as what it is not: another strategy, direction, ``dedupe`` or a
    strategy option given another value than the stored one."""
    cfg = info.config
    where = f"study {info.name!r} in {getattr(store, 'path', store)}"
    stored = cfg.get("strategy")
    stored_opts = cfg.get("strategy_kwargs") or {}
    inner = stored_opts.get("inner") if stored == "warm_start" else None
    if inner is not None:  # a warm start keeps the cold strategy's options as its own
        stored_opts = stored_opts.get("inner_kwargs") or {}
    if isinstance(strategy, str) and strategy not in (stored, inner):
        raise UserInputError(
            f"{where} was created with strategy {inner or stored!r}, not {strategy!r}; resume "
            "it with that strategy, or give the new search another study name."
        )
    defaults = resumed_defaults(inner or stored, cfg.get("metanas"))
    for k, v in options.items():
        if k in stored_opts:
            old = stored_opts[k]
        elif defaults is None:  # a strategy that takes any option: nothing to compare with
            continue
        elif k in defaults:
            old = defaults[k]
        else:
            raise UserInputError(
                f"strategy {inner or stored!r} has no option {k!r} (options: "
                f"{', '.join(sorted(defaults)) or 'none'}); fix its name or leave it out."
            )
        if _unstored(old) is None and stored_options({k: v})[k] != old:
            raise UserInputError(
                f"{where} was created with strategy option {k}={old!r}, not {v!r}; "
                "resume it with the stored options, or give the new search another study name."
            )
    if direction is not None and cfg.get("direction") and direction != cfg["direction"]:
        raise UserInputError(
            f"{where} was created to {cfg['direction']} its objective, not to {direction} it; "
            "resume it as it was, or give the new search another study name."
        )
    if dedupe is not None and dedupe != cfg.get("dedupe", True):
        raise UserInputError(
            f"{where} was created with dedupe={cfg.get('dedupe', True)}, not {dedupe}; resume "
            "it as it was, or give the new search another study name."
        )


def resumed_defaults(name: str | None, version: str | None) -> dict[str, Any] | None:
    """The options a resumed strategy ``name`` takes when the store does not name them: its
    defaults of metanas ``version`` (those of today unless one changed since); ``None`` when
    they cannot be told (a strategy not installed here, or one that takes any option)."""
    if name is None:
        return None
    try:
        init = strategy_class(name).__init__
    except UserInputError:  # not installed here: resumed_strategy says so
        return None
    if any(p.kind is p.VAR_KEYWORD for p in inspect.signature(init).parameters.values()):
        return None
    out = signature_defaults(init, skip=("self", "space", "seed"))
    return dict(jsonable({**out, **legacy_options(name, {}, version)}))


# --------------------------------------------------------------------------- replay
@dataclass
class ReplayLog:
    """The stored asks and tells as a strategy replays them, and the bookkeeping they imply."""

    events: list[Event]  # in store sequence order
    dup_cands: list[tuple[Candidate, Duplicate]]  # every stored duplicate, as the strategy saw it
    cands: dict[int, Candidate]  # trial number -> candidate as the strategy made it
    number_of: dict[int, int]  # strategy candidate id -> trial number
    next_seq: int  # the next free sequence number


def replay_log(
    trials: Mapping[int, Trial],
    dups: Sequence[Duplicate],
    result_of: Callable[[Trial], Result],
) -> ReplayLog:
    """Fold stored trials and duplicates into ask/tell events; ``result_of`` gives a tell's result."""
    asks: list[tuple[int, Any]] = [(t.asked_seq, t) for t in trials.values()]
    asks += [(d.asked_seq, d) for d in dups]
    asks.sort(key=lambda x: x[0])
    events: list[tuple[int, Event]] = []
    log = ReplayLog([], [], {}, {}, 0)
    seq = -1
    for cid, (s, rec) in enumerate(asks):  # the strategy numbers its candidates in ask order
        cand = Candidate(id=cid, arch=rec.arch, key=rec.key, budget=rec.budget, info=rec.info)
        events.append((s, AskEvent(cand)))
        seq = max(seq, s, rec.told_seq or 0)
        if isinstance(rec, Trial):
            log.cands[rec.number], log.number_of[cid] = cand, rec.number
            if rec.state.finished:
                events.append((rec.told_seq or s, TellEvent(cand, result_of(rec))))
        else:
            log.dup_cands.append((cand, rec))
            if rec.told_seq is not None:
                orig = trials[rec.of_number]
                events.append((rec.told_seq, TellEvent(cand, result_of(orig))))
    events.sort(key=lambda e: e[0])
    log.events = [ev for _, ev in events]
    log.next_seq = seq + 1
    return log


# --------------------------------------------------------------------------- one process per study
#: the study locks this process holds, by (store file, study id): see
#: StudyLock._refuse_a_second_object
_HELD: dict[tuple[str, int], weakref.ReferenceType[StudyLock]] = {}


class StudyLock:
    """The store's lock that makes one process the writer of a study (with a heartbeat).

    Several processes may share a store, each on its own study; a second process on the same
    study is refused with a clear error, because a strategy's state lives in one process (add
    parallel trials with an executor instead). A lock left by a dead process is taken over.
    """

    def __init__(self, store: Any, study_id: int, name: str) -> None:
        self.store, self.study_id, self.name = store, study_id, name
        self.owner = ""
        self.held = False
        self._alive: Any = None  # the store's KeepAlive, beating while the lock is held
        self._dropped: Any = None  # stops it if this lock is collected while held
        path = str(getattr(store, "path", ":memory:"))
        where = f"memory {id(store)}" if path == ":memory:" else os.path.realpath(path)
        self._where = (where, study_id)

    def acquire(self, fingerprint: tuple[int, int]) -> bool:
        """Take the lock; ``True`` if taken just now. ``fingerprint``: (trials, last seq) as
        this process knows them; a store that has moved on since means another writer."""
        if self.held or not hasattr(self.store, "acquire_lock"):
            return False
        self._refuse_a_second_object()
        owner = f"{socket.gethostname()}:{os.getpid()}"
        self.store.acquire_lock(self.study_id, owner)
        if self.store.fingerprint(self.study_id) != fingerprint:
            self.store.release_lock(self.study_id, owner)
            raise UserInputError(
                f"study {self.name!r} was changed by another process since it was opened (or a "
                "write of this one failed); open it again with resume=True (--resume) to "
                "continue from its latest state."
            )
        self.owner, self.held = owner, True
        _HELD[self._where] = weakref.ref(self)
        if hasattr(self.store, "keep_alive"):
            self._alive = self.store.keep_alive(self.study_id, owner)
            if self._alive is not None:  # a Study dropped while holding: its heartbeat ends too
                self._dropped = weakref.finalize(self, self._alive.stop)
        return True

    def _refuse_a_second_object(self) -> None:
        """The store's lock names processes, so two Study objects of one process on one study
        would both pass it and overwrite each other's trials: the second is refused here while
        the first, still in use (its store open), holds the study."""
        ref = _HELD.get(self._where)
        if ref is not None and ref() is not None and ref() is not self:
            gc.collect()  # a Study only a reference cycle keeps is gone, not in use
        other = ref() if ref is not None else None
        # a Study whose store was closed writes nothing more: as good as gone
        if (
            other is not None
            and other is not self
            and other.held
            and not getattr(other.store, "closed", False)
        ):
            raise UserInputError(
                f"study {self.name!r} is in use by another Study object of this process (it "
                "asked a trial or is optimizing); go on with that object, or drop it (del) "
                "before opening the study again."
            )

    def release(self) -> None:
        if self.held:
            self._let_go()
            self.store.release_lock(self.study_id, self.owner)

    def _let_go(self) -> None:
        self.held = False
        ref = _HELD.get(self._where)
        if ref is not None and ref() is self:
            del _HELD[self._where]
        if self._alive is not None:
            self._alive.stop()
            self._alive = None
            self._dropped.detach()

    def check(self) -> None:
        """Refuse to write once another process has taken the lock over (it judged this one
        gone: no heartbeat for too long); that process owns the study's trials now."""
        if not self.held or not hasattr(self.store, "lock_owner"):
            return
        if self.store.lock_owner(self.study_id) != self.owner:
            self._let_go()  # the lock is the other process's: nothing to release
            raise UserInputError(
                f"study {self.name!r} was taken over by another process while this one ran "
                "(this process went unheard for too long, e.g. suspended); this process stopped "
                "without writing its last result. Let the other process finish, or stop it and "
                "resume the study (--resume)."
            )
