"""Search strategies: ask / tell / replay on an encoded space, registered by name.

>>> from metanas.strategies import get_strategy, strategy_names
>>> {"random", "grid", "evolution", "local_search"} <= set(strategy_names())
True
"""

from metanas.strategies.base import (
    AskEvent,
    ReplayMismatch,
    SpaceExhausted,
    Strategy,
    TellEvent,
    get_strategy,
    register_strategy,
    strategy_names,
)

# imported for their registration side effect
from metanas.strategies.evolution import RegularizedEvolution
from metanas.strategies.grid import GridSearch
from metanas.strategies.local_search import LocalSearch
from metanas.strategies.random import RandomSearch

__all__ = [
    "AskEvent",
    "GridSearch",
    "LocalSearch",
    "RandomSearch",
    "RegularizedEvolution",
    "ReplayMismatch",
    "SpaceExhausted",
    "Strategy",
    "TellEvent",
    "get_strategy",
    "register_strategy",
    "strategy_names",
]
