"""Small checks shared by the builders: one clear sentence per bad input."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from metanas.types import UserInputError


def get_choice(arch: Mapping[str, Any], key: str, choices: Iterable[Any], kind: str) -> Any:
    """``arch[key]``, which must be one of ``choices``."""
    options = tuple(choices)
    if key not in arch:
        raise UserInputError(f"{kind} architecture lacks {key!r}; give one of {list(options)}.")
    value = arch[key]
    if value not in options:
        raise UserInputError(
            f"{kind} architecture has {key}={value!r}; use one of {list(options)}."
        )
    return value


def get_int(
    arch: Mapping[str, Any], key: str, kind: str, low: int = 1, high: int | None = None
) -> int:
    """``arch[key]`` as an int in ``[low, high]`` (no upper bound when ``high`` is None)."""
    if key not in arch:
        raise UserInputError(f"{kind} architecture lacks {key!r}; give an int >= {low}.")
    value = arch[key]
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
    if not ok or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f">= {low}"
        raise UserInputError(f"{kind} architecture has {key}={value!r}; use an int {bound}.")
    return int(value)


def get_fraction(arch: Mapping[str, Any], key: str, kind: str) -> float:
    """``arch[key]`` as a float in ``[0, 1)`` (a dropout rate)."""
    if key not in arch:
        raise UserInputError(f"{kind} architecture lacks {key!r}; give a rate in [0, 1).")
    value = arch[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise UserInputError(f"{kind} architecture has {key}={value!r}; use a rate in [0, 1).")
    return float(value)


def check_shape(input_shape: tuple[int, ...], ndim: int, what: str, kind: str) -> None:
    if len(input_shape) != ndim:
        raise UserInputError(
            f"{kind} models take input_shape {what} ({ndim} dims without the batch), "
            f"got {input_shape!r}."
        )
