"""Checks of a model space's parameters (lists of options, sizes, counts), shared by the
spaces, so each names the parameter and a fix in one sentence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from metanas.types import UserInputError


def option_names(values: Any, what: str, known: Sequence[str]) -> tuple[str, ...]:
    """``values`` as a tuple of options, each one of ``known``."""
    out = option_list(values, what, known[:2])
    unknown = [v for v in out if v not in known]
    if unknown:
        raise UserInputError(
            f"{what} {unknown} are not built by metanas; choose among {', '.join(known)}."
        )
    return out


def positive_sizes(values: Any, what: str) -> tuple[int, ...]:
    """``values`` as a tuple of positive integers (layer widths, channels, kernel sizes)."""
    out = option_list(values, what)
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in out):
        raise UserInputError(f"{what} must be positive integers, got {list(out)}.")
    return out


def fractions(values: Any, what: str) -> tuple[float, ...]:
    out = option_list(values, what)
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1 for v in out):
        raise UserInputError(f"{what} must be numbers in [0, 1), got {list(out)}.")
    return out


def option_list(values: Any, what: str, example: Sequence[Any] = (32, 64)) -> tuple[Any, ...]:
    """``values`` as a tuple: a non-empty list, not one text (which would read as its letters)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise UserInputError(
            f"{what} must be a non-empty list, got {values!r}; e.g. {list(example)}."
        )
    return tuple(values)


def positive_count(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserInputError(f"{what} must be a positive integer, got {value!r}.")
    return value
