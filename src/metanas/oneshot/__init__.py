"""Gradient-based one-shot search: one weight-sharing supernet trained for all architectures.

A one-shot search is not an ask / tell strategy: it trains a supernet (torch, like an evaluator),
and what it learns, each decision's op distribution, is handed to the ``most_probable`` strategy,
which asks the most probable architectures in order for stand-alone evaluation.
"""

from metanas.oneshot.search import EpochRecord, OneShotResult, oneshot_search
from metanas.oneshot.supernet import NB201Supernet

__all__ = ["EpochRecord", "NB201Supernet", "OneShotResult", "oneshot_search"]
