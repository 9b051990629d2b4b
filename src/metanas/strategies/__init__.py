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
    strategy_class,
    strategy_names,
)

# imported for their registration side effect
from metanas.strategies.bayesopt import TPE, Bananas
from metanas.strategies.evolution import RegularizedEvolution
from metanas.strategies.grid import GridSearch
from metanas.strategies.local_search import LocalSearch
from metanas.strategies.mf_ucb import MultiFidelityUCB
from metanas.strategies.most_probable import MostProbable
from metanas.strategies.multifidelity import ASHA, BOHB, Hyperband, SuccessiveHalving
from metanas.strategies.proxy_prescreen import ProxyPrescreen, ScreenedSpace
from metanas.strategies.qlearning import QLearning
from metanas.strategies.random import RandomSearch
from metanas.strategies.reinforce import Reinforce

__all__ = [
    "ASHA",
    "BOHB",
    "TPE",
    "AskEvent",
    "Bananas",
    "GridSearch",
    "Hyperband",
    "LocalSearch",
    "MostProbable",
    "MultiFidelityUCB",
    "ProxyPrescreen",
    "QLearning",
    "RandomSearch",
    "RegularizedEvolution",
    "Reinforce",
    "ReplayMismatch",
    "ScreenedSpace",
    "SpaceExhausted",
    "Strategy",
    "SuccessiveHalving",
    "TellEvent",
    "get_strategy",
    "register_strategy",
    "strategy_class",
    "strategy_names",
]
