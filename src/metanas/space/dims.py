"""Dimensions of a search space: categorical choices, integer and float ranges, each optionally
conditional on another dimension (``when=Condition("depth", ">=", 3)``).

A dimension knows how to sample, list and perturb its own values and how to encode one as numbers;
it knows nothing of the other dimensions.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from metanas.types import UserInputError

_OPS = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "in": lambda a, b: a in b,
}


def _json_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@dataclass(frozen=True)
class Condition:
    """``dim op value``: the owning dimension exists only when this holds."""

    dim: str
    op: str
    value: Any

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise UserInputError(
                f"unknown condition operator {self.op!r}; use one of {', '.join(_OPS)}."
            )
        if self.op == "in" and not isinstance(self.value, (list, tuple, set, frozenset)):
            raise UserInputError(
                f"condition {self.dim!r} in {self.value!r} needs a list of values, e.g. "
                f"Condition({self.dim!r}, 'in', (1, 2))."
            )

    def holds(self, arch: Mapping[str, Any]) -> bool:
        return self.dim in arch and bool(_OPS[self.op](arch[self.dim], self.value))

    def to_dict(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"dim": self.dim, "op": self.op, "value": value}


class Dim:
    """Base of every dimension; subclasses are frozen dataclasses."""

    name: str
    when: Condition | None

    def sample(self, rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def validate(self, value: Any) -> Any:
        raise NotImplementedError

    def neighbours(self, value: Any) -> list[Any]:
        """Values one step away (all other options for a categorical dimension)."""
        raise NotImplementedError

    def perturb(self, value: Any, rng: np.random.Generator) -> Any:
        options = self.neighbours(value)
        return options[int(rng.integers(len(options)))] if options else value

    @property
    def cardinality(self) -> int | None:
        return None

    def values(self) -> Sequence[Any]:
        raise NotImplementedError

    def first(self) -> Any:
        """The value a dimension takes when an edit switches it on (without a generator)."""
        return self.values()[0]

    def encode(self, value: Any) -> list[float]:
        raise NotImplementedError

    @property
    def width(self) -> int:
        """Length of :meth:`encode` output."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name:
        raise UserInputError(f"a dimension needs a non-empty string name, got {name!r}.")


@dataclass(frozen=True)
class Choice(Dim):
    """One of a fixed list of options (op names, widths, booleans...)."""

    name: str
    options: tuple[Any, ...]
    when: Condition | None = None

    def __post_init__(self) -> None:
        _check_name(self.name)
        if isinstance(self.options, (str, bytes, Mapping)) or not hasattr(self.options, "__iter__"):
            raise UserInputError(
                f"choice {self.name!r} needs a list of options, got {self.options!r}; "
                f"e.g. Choice({self.name!r}, ('a', 'b'))."
            )
        if isinstance(self.options, (set, frozenset)):  # their order changes between processes
            raise UserInputError(
                f"choice {self.name!r} got its options as a set, whose order (and so every "
                f"sample) changes from run to run; give a list, e.g. sorted({self.options!r})."
            )
        # numpy scalars (options from an array) as plain Python values, which JSON stores
        options = tuple(o.item() if isinstance(o, np.generic) else o for o in self.options)
        object.__setattr__(self, "options", options)
        for o in options:
            try:
                json.dumps(o, allow_nan=False)
            except (TypeError, ValueError):
                raise UserInputError(
                    f"choice {self.name!r} option {o!r} cannot be stored; use numbers, strings, "
                    "booleans, None or lists of them (a name standing for the object)."
                ) from None
        if not self.options:
            raise UserInputError(f"choice {self.name!r} has no options; give at least one.")
        # as the store gives them back: JSON makes tuples lists
        by_json = {_json_key(o): i for i, o in enumerate(self.options)}
        if len(by_json) != len(self.options):  # twice as written, or as stored: (1, 2), [1, 2]
            raise UserInputError(
                f"choice {self.name!r} lists an option twice (a tuple and a list of the same "
                "values count as one); remove the duplicate."
            )
        object.__setattr__(self, "_index", {repr(o): i for i, o in enumerate(self.options)})
        object.__setattr__(self, "_by_json", by_json)

    def index(self, value: Any) -> int:
        i = self._index.get(repr(value))  # type: ignore[attr-defined]
        if i is None and isinstance(value, np.generic):
            # numpy scalars repr as np.int64(3) under numpy 2; compare as Python values
            i = self._index.get(repr(value.item()))  # type: ignore[attr-defined]
        if i is None and isinstance(value, list):  # a tuple option read back from JSON
            i = self._by_json.get(_json_key(value))  # type: ignore[attr-defined]
        if i is None:
            raise UserInputError(
                f"{value!r} is not an option of {self.name!r}; use one of {list(self.options)}."
            )
        return int(i)

    def sample(self, rng: np.random.Generator) -> Any:
        return self.options[int(rng.integers(len(self.options)))]

    def validate(self, value: Any) -> Any:
        return self.options[self.index(value)]

    def neighbours(self, value: Any) -> list[Any]:
        i = self.index(value)
        return [o for j, o in enumerate(self.options) if j != i]

    @property
    def cardinality(self) -> int:
        return len(self.options)

    def values(self) -> Sequence[Any]:
        return self.options

    def encode(self, value: Any) -> list[float]:
        out = [0.0] * len(self.options)
        out[self.index(value)] = 1.0
        return out

    @property
    def width(self) -> int:
        return len(self.options)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "choice",
            "name": self.name,
            "options": list(self.options),
            "when": self.when.to_dict() if self.when else None,
        }


@dataclass(frozen=True)
class IntRange(Dim):
    """An integer in ``[low, high]`` (both included); neighbours are one step up or down."""

    name: str
    low: int
    high: int
    when: Condition | None = None

    def __post_init__(self) -> None:
        _check_name(self.name)
        for bound in (self.low, self.high):
            if isinstance(bound, bool) or not isinstance(bound, (int, np.integer)):
                raise UserInputError(
                    f"int range {self.name!r} needs integer bounds, got {self.low!r}, "
                    f"{self.high!r}; use FloatRange for real numbers."
                )
        object.__setattr__(self, "low", int(self.low))
        object.__setattr__(self, "high", int(self.high))
        if max(abs(self.low), abs(self.high)) >= 2**62:
            raise UserInputError(
                f"int range {self.name!r} bounds must be below 2**62 in size, got {self.low}, "
                f"{self.high}; use FloatRange(..., log=True) for huge ranges."
            )
        if int(self.low) > int(self.high):
            raise UserInputError(
                f"int range {self.name!r} has low {self.low} above high {self.high}; swap them."
            )

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high + 1))

    def validate(self, value: Any) -> int:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, np.integer))
            or not self.low <= value <= self.high
        ):
            raise UserInputError(
                f"{value!r} is not valid for {self.name!r}; use an integer from {self.low} to {self.high}."
            )
        return int(value)

    def neighbours(self, value: Any) -> list[int]:
        return [v for v in (value - 1, value + 1) if self.low <= v <= self.high]

    @property
    def cardinality(self) -> int:
        return self.high - self.low + 1

    def values(self) -> Sequence[int]:
        return range(self.low, self.high + 1)

    def encode(self, value: Any) -> list[float]:
        span = max(self.high - self.low, 1)
        return [(value - self.low) / span]

    @property
    def width(self) -> int:
        return 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "int",
            "name": self.name,
            "low": self.low,
            "high": self.high,
            "when": self.when.to_dict() if self.when else None,
        }


@dataclass(frozen=True)
class FloatRange(Dim):
    """A real number in ``[low, high]``, optionally on a log scale."""

    name: str
    low: float
    high: float
    log: bool = False
    when: Condition | None = None

    def __post_init__(self) -> None:
        _check_name(self.name)
        for bound in (self.low, self.high):
            if (
                isinstance(bound, bool)
                or not isinstance(bound, (int, float, np.integer, np.floating))
                or not math.isfinite(bound)
            ):
                raise UserInputError(
                    f"float range {self.name!r} needs finite numbers as bounds, got "
                    f"{self.low!r}, {self.high!r}."
                )
        if not self.low < self.high:
            raise UserInputError(
                f"float range {self.name!r} needs low < high, got {self.low}, {self.high}."
            )
        if not math.isfinite(float(self.high) - float(self.low)):  # every sample would be inf
            raise UserInputError(
                f"float range {self.name!r} from {self.low:g} to {self.high:g} is wider than a "
                "float can hold; narrow it, or use log=True with positive bounds."
            )
        if self.log and self.low <= 0:
            raise UserInputError(f"log-scale range {self.name!r} needs low > 0, got {self.low}.")

    def _to_unit(self, v: float) -> float:
        if self.log:
            return (math.log(v) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (v - self.low) / (self.high - self.low)

    def _from_unit(self, u: float) -> float:
        u = min(max(u, 0.0), 1.0)
        if self.log:
            return float(
                math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
            )
        return float(self.low + u * (self.high - self.low))

    def sample(self, rng: np.random.Generator) -> float:
        return self._from_unit(float(rng.random()))

    def validate(self, value: Any) -> float:
        # exp(log(low) + 1 * (log(high) - log(low))) may round past an end (0.1 gives
        # 0.10000000000000006): such a value is the end itself, kept as it is so its key stays.
        # The slack is relative to each end: one relative to the width let a log range from
        # 1e-8 to 100 take 0, whose log fails.
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float, np.floating, np.integer))
            or not self.low - 1e-9 * abs(self.low) <= value <= self.high + 1e-9 * abs(self.high)
        ):
            raise UserInputError(
                f"{value!r} is not valid for {self.name!r}; use a number from {self.low} to {self.high}."
            )
        return float(value)

    def neighbours(self, value: Any) -> list[float]:
        u = self._to_unit(value)
        return [self._from_unit(x) for x in (u - 0.1, u + 0.1) if 0.0 <= x <= 1.0]

    def perturb(self, value: Any, rng: np.random.Generator) -> float:
        return self._from_unit(self._to_unit(value) + float(rng.normal(0.0, 0.1)))

    def values(self) -> Sequence[float]:
        raise UserInputError(
            f"{self.name!r} is continuous and cannot be enumerated; use a Choice for grids."
        )

    def first(self) -> float:
        """The middle of the range (on its scale): there is no first value to enumerate."""
        return self._from_unit(0.5)

    def encode(self, value: Any) -> list[float]:
        return [self._to_unit(value)]

    @property
    def width(self) -> int:
        return 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": "float",
            "name": self.name,
            "low": self.low,
            "high": self.high,
            "log": self.log,
            "when": self.when.to_dict() if self.when else None,
        }


def dim_from_dict(d: Mapping[str, Any]) -> Dim:
    """Inverse of ``Dim.to_dict`` (used to rebuild a user space from a store or a config)."""
    when = Condition(**d["when"]) if d.get("when") else None
    # JSON keeps an "in" condition's values as a list, and a tuple option as a list too (so
    # ``k == (1, 2)`` is ``k == [1, 2]`` against options that became lists)
    if when is not None and when.op == "in" and isinstance(when.value, list):
        when = Condition(when.dim, when.op, tuple(when.value))
    kind = d.get("type")
    if kind == "choice":
        return Choice(d["name"], tuple(d["options"]), when=when)
    if kind == "int":
        return IntRange(d["name"], int(d["low"]), int(d["high"]), when=when)
    if kind == "float":
        return FloatRange(
            d["name"], float(d["low"]), float(d["high"]), log=bool(d.get("log")), when=when
        )
    raise UserInputError(f"unknown dimension type {kind!r}; use choice, int or float.")
