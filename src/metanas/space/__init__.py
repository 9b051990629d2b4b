"""Search spaces: dimensions, conditions, and the registered benchmark and model spaces."""

from metanas.space.base import Space
from metanas.space.dims import Choice, Condition, Dim, FloatRange, IntRange
from metanas.space.registry import get_space, register_space, space_from_dict, space_names
from metanas.space.wrapper import SeededSpace, SpaceWrapper

# imported for their registrations (nb201, nb101, macro, rnn_text, mlp, cnn1d)
from metanas.space.nb201 import (  # isort: skip
    NB201_OPS,
    NB201Space,
    nb201_from_string,
    nb201_to_string,
    nb201_unique_str,
)
from metanas.space.nb101 import (  # isort: skip
    NB101_OPS,
    NB101Space,
    nb101_from_row,
    nb101_hash,
    nb101_spec,
    nb101_to_row,
)
from metanas.space.macro import MacroChainSpace  # isort: skip
from metanas.space.models import CNN1DSpace, MLPSpace, RNNTextSpace  # isort: skip

__all__ = [
    "NB101_OPS",
    "NB201_OPS",
    "CNN1DSpace",
    "Choice",
    "Condition",
    "Dim",
    "FloatRange",
    "IntRange",
    "MLPSpace",
    "MacroChainSpace",
    "NB101Space",
    "NB201Space",
    "RNNTextSpace",
    "SeededSpace",
    "Space",
    "SpaceWrapper",
    "get_space",
    "nb101_from_row",
    "nb101_hash",
    "nb101_spec",
    "nb101_to_row",
    "nb201_from_string",
    "nb201_to_string",
    "nb201_unique_str",
    "register_space",
    "space_from_dict",
    "space_names",
]
