"""Plain value types shared by every role: what a trial is, what a result says, what a budget asks.

Nothing here imports anything heavier than the standard library, so every layer may use it.
"""

from __future__ import annotations

import difflib
import enum
import inspect
import math
import numbers
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: A decoded architecture: a flat JSON-compatible mapping from dimension name to value.
Architecture = Mapping[str, Any]


#: the most CPU threads a run may ask for (torch and OpenMP crash or fail far below 100,000)
MAX_THREADS = 1024


class MetanasError(Exception):
    """Base class of every error metanas raises on purpose."""


class UserInputError(MetanasError, ValueError):
    """Bad input from the user: the message names the problem and the fix in one sentence."""


class StudyExists(UserInputError):
    """A new study was given the name of a stored one (``resume=True`` continues it)."""

    def __init__(self, name: str, where: str) -> None:
        super().__init__(
            f"study {name!r} already exists in {where}; pass resume=True to continue it, or "
            "another study name."
        )
        self.name, self.where = name, where


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"did you mean 'random'? "`` for a near miss among ``known``, else ``""``."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"did you mean {close[0]!r}? " if close else ""


#: what annotation_kinds names (every other form is ``Any``: not checked)
PLAIN_KINDS = frozenset({bool, int, float, str, type(None), Mapping, Sequence})
_CONTAINERS = {dict: Mapping, Mapping: Mapping, list: Sequence, tuple: Sequence, Sequence: Sequence}


def annotation_kinds(hint: Any) -> set[Any]:
    """The plain kinds an annotation admits, for checking a user's value against it:
    ``int | None`` -> {int, NoneType}, ``Annotated[int, ...]`` -> {int}, ``Mapping[str, Any]``
    -> {Mapping}, ``list[int]`` or ``tuple`` -> {Sequence}; ``Literal``, classes and other forms
    -> {Any}."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        return annotation_kinds(typing.get_args(hint)[0])
    if origin is typing.Union or isinstance(hint, types.UnionType):
        return set().union(*map(annotation_kinds, typing.get_args(hint)))
    if origin is not None:
        return {_CONTAINERS.get(origin, Any)}
    return {hint} if hint in PLAIN_KINDS else {Any}


def signature_defaults(fn: Callable[..., Any], skip: Iterable[str] = ()) -> dict[str, Any]:
    """The default of every parameter of ``fn`` that has one, but those named in ``skip``."""
    skipped = set(skip)
    return {
        k: p.default
        for k, p in inspect.signature(fn).parameters.items()
        if k not in skipped and p.default is not inspect.Parameter.empty
    }


def check_option_types(what: str, fn: Callable[..., Any], kwargs: Mapping[str, Any]) -> None:
    """An option of ``fn`` given as another type than its annotation (``"3"`` from a config
    typed by hand, ``0.5`` for a count) is named here, before anything is stored or loaded, not
    as an error from deep inside later; an integer option (a count) is never negative.
    ``what`` names the owner in the message, e.g. ``"strategy 'bananas'"``. An option without
    an annotation is held to its default's type (a builder written without annotations)."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # an annotation this module cannot resolve: the owner checks its own
        hints = {}
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        params = {}  # type: ignore[assignment]
    for k, v in kwargs.items():
        hint = hints.get(k)
        if hint is None:
            default = params[k].default if k in params else None
            hint = type(default) if isinstance(default, (bool, int, float, str)) else Any
        kinds = annotation_kinds(hint)
        if Any in kinds:
            continue  # objects (a scorer, a strategy, priors): the owner checks its own
        want = _wanted(kinds)
        if v is None:
            ok = type(None) in kinds
        elif isinstance(v, bool) or getattr(getattr(v, "dtype", None), "kind", "") == "b":
            ok = bool in kinds  # numpy's bool too, without importing numpy here
        elif isinstance(v, numbers.Integral):
            ok = bool({int, float} & kinds)
            if ok and float not in kinds and int(v) < 0:  # a count (its owner may want >= 1)
                raise UserInputError(f"option {k!r} of {what} must not be negative, got {v!r}.")
        elif isinstance(v, numbers.Real):
            ok = float in kinds and math.isfinite(v)
        elif isinstance(v, str):
            ok = str in kinds
        elif isinstance(v, Mapping):
            ok = Mapping in kinds
        else:
            ok = isinstance(v, (list, tuple)) and Sequence in kinds
        if not ok:
            raise UserInputError(f"option {k!r} of {what} must be {want}, got {v!r}.")


def _wanted(kinds: set[Any]) -> str:
    names = {bool: "true or false", int: "an integer", float: "a finite number", str: "a text",
             type(None): "null", Mapping: "a mapping", Sequence: "a list"}  # fmt: skip
    if float in kinds:
        kinds = kinds - {int}
    return " or ".join(
        names[k] for k in (bool, int, float, str, Mapping, Sequence, type(None)) if k in kinds
    )


class StorageError(MetanasError):
    """The store cannot be used (corrupt, foreign, newer version, read-only)."""


class TrialState(str, enum.Enum):
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    PRUNED = "pruned"

    @property
    def finished(self) -> bool:
        return self is not TrialState.RUNNING


class Decision(str, enum.Enum):
    """What a multi-fidelity scheduler answers to a per-epoch report."""

    CONTINUE = "continue"
    STOP = "stop"


@dataclass(frozen=True)
class Budget:
    """How much to spend on one evaluation.

    ``epochs`` is the training length (or the table fidelity, e.g. 12 or 200 for NAS-Bench-201);
    ``fraction`` the share of the training data; ``time_limit`` a wall-clock cap in seconds.
    ``None`` means "the evaluator's default".
    """

    epochs: float | None = None
    fraction: float = 1.0
    time_limit: float | None = None

    def __post_init__(self) -> None:
        if self.epochs is not None and not 0 < self.epochs < math.inf:
            raise UserInputError(
                f"budget epochs must be a positive number, got {self.epochs}; use e.g. epochs=5."
            )
        if not 0 < self.fraction <= 1:
            raise UserInputError(
                f"budget fraction must be in (0, 1], got {self.fraction}; use e.g. fraction=0.5."
            )
        if self.time_limit is not None and not self.time_limit > 0:
            raise UserInputError(
                f"budget time_limit must be positive seconds, got {self.time_limit}."
            )

    def to_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs, "fraction": self.fraction, "time_limit": self.time_limit}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> Budget | None:
        return None if d is None else cls(**d)


@dataclass(frozen=True)
class Candidate:
    """What a strategy proposes: an architecture, optionally a budget, and an id unique in its run."""

    id: int
    arch: Architecture
    key: str
    budget: Budget | None = None
    #: strategy-private bookkeeping (e.g. the bracket of a multi-fidelity scheduler); JSON-compatible.
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    """The outcome of one evaluation.

    ``value`` is the objective as the strategy sees it: higher is better, ``None`` when the trial
    failed. ``metrics`` holds everything measured; ``cost`` the seconds spent (real or simulated);
    ``curve`` the per-step reports, for multi-fidelity schedulers and learning-curve analysis.
    """

    value: float | None
    metrics: Mapping[str, float] = field(default_factory=dict)
    state: TrialState = TrialState.COMPLETE
    error: str | None = None
    cost: float = 0.0
    curve: tuple[Mapping[str, float], ...] = ()

    @classmethod
    def failed(
        cls, error: str, cost: float = 0.0, metrics: Mapping[str, float] | None = None
    ) -> Result:
        return cls(
            value=None, metrics=dict(metrics or {}), state=TrialState.FAILED, error=error, cost=cost
        )


@dataclass(frozen=True)
class Trial:
    """A stored trial: one candidate and, once finished, its result."""

    number: int
    arch: Architecture
    key: str
    state: TrialState
    budget: Budget | None = None
    value: float | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    error: str | None = None
    cost: float = 0.0
    curve: tuple[Mapping[str, float], ...] = ()
    info: Mapping[str, Any] = field(default_factory=dict)
    started_at: float | None = None
    finished_at: float | None = None
    #: order of events in the study, so a strategy can be replayed exactly (ask and tell interleave)
    asked_seq: int = 0
    told_seq: int | None = None

    @property
    def candidate(self) -> Candidate:
        return Candidate(
            id=self.number, arch=self.arch, key=self.key, budget=self.budget, info=self.info
        )

    @property
    def result(self) -> Result | None:
        if not self.state.finished:
            return None
        return Result(
            value=self.value,
            metrics=self.metrics,
            state=self.state,
            error=self.error,
            cost=self.cost,
            curve=self.curve,
        )

    @property
    def epochs(self) -> float:
        """The budget in epochs: the trial's own, else the epochs its evaluation reports having
        run (a table's unbudgeted lookup is its 200-epoch column, a training its recipe's), else
        ``inf`` (the evaluator's full evaluation). An unbudgeted result thus ranks with
        budgeted ones of the same epochs, not above all of them."""
        e = self.budget.epochs if self.budget is not None else None
        if e is None:
            e = self.metrics.get("epochs")
        return math.inf if e is None else float(e)

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


@dataclass(frozen=True)
class TaskInfo:
    """What a study's task is, so later searches can find similar ones (meta-learning)."""

    name: str = "unnamed"
    modality: str = "unknown"  # image | text | tabular | timeseries | table | proxy
    input_shape: tuple[int, ...] = ()
    n_classes: int = 0
    n_samples: int = 0
    #: cheap probe features (e.g. scores of reference architectures); JSON-compatible floats
    features: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "modality": self.modality,
            "input_shape": list(self.input_shape),
            "n_classes": self.n_classes,
            "n_samples": self.n_samples,
            "features": dict(self.features),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TaskInfo:
        return cls(
            name=d.get("name", "unnamed"),
            modality=d.get("modality", "unknown"),
            input_shape=tuple(d.get("input_shape", ())),
            n_classes=int(d.get("n_classes", 0)),
            n_samples=int(d.get("n_samples", 0)),
            features=dict(d.get("features", {})),
        )


def out_of_memory(e: BaseException | None) -> str | None:
    """What an allocation that failed asked for (``"tried to allocate 8.0 GB"``), or ``None``
    when ``e`` is not an allocation failure (torch raises a RuntimeError for its own)."""
    if isinstance(e, MemoryError):
        return "out of memory"
    text = str(e) if isinstance(e, RuntimeError) else ""
    found = re.search(r"tried to allocate (\d+) bytes", text)
    if found:
        return f"tried to allocate {int(found.group(1)) / 1e9:,.1f} GB"
    return "out of memory" if "out of memory" in text.lower() else None
