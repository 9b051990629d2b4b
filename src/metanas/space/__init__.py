"""Search spaces: dimensions, conditions, and the registered benchmark and model spaces."""

from metanas.space.base import Space
from metanas.space.dims import Choice, Condition, Dim, FloatRange, IntRange
from metanas.space.registry import get_space, register_space, space_from_dict, space_names

__all__ = [
    "Choice",
    "Condition",
    "Dim",
    "FloatRange",
    "IntRange",
    "Space",
    "get_space",
    "register_space",
    "space_from_dict",
    "space_names",
]
