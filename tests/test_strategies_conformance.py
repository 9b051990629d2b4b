"""Every core strategy through the shared conformance suite, on a toy space and on NAS-Bench-201."""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

import pytest

from metanas.space import Space, get_space
from strategy_conformance import StrategyConformance


def _nb201() -> Space:
    try:
        importlib.import_module("metanas.space.nb201")
        return get_space("nb201")
    except Exception:
        pytest.fail("the nb201 space is not available")


class TestRandom(StrategyConformance):
    strategy = "random"


class TestGridShuffled(StrategyConformance):
    strategy = "grid"


class TestGridFixed(StrategyConformance):
    strategy = "grid"
    params: ClassVar[dict[str, Any]] = {"shuffle": False}
    seeded = False


class TestEvolution(StrategyConformance):
    strategy = "evolution"
    params: ClassVar[dict[str, Any]] = {"population_size": 8, "sample_size": 3}


class TestEvolutionDefaults(StrategyConformance):
    strategy = "evolution"
    n_asks = 80
    avoids_repeats = False  # 60 toy archs: mutation may run out of unseen children


class TestLocalSearch(StrategyConformance):
    strategy = "local_search"
    params: ClassVar[dict[str, Any]] = {"n_init": 3}


class TestLocalSearchBestImprovement(StrategyConformance):
    strategy = "local_search"
    params: ClassVar[dict[str, Any]] = {"n_init": 2, "first_improvement": False}


class TestLocalSearchNB201(StrategyConformance):
    strategy = "local_search"
    n_asks = 120

    def make_space(self) -> Space:
        return _nb201()


class TestEvolutionNB201(StrategyConformance):
    strategy = "evolution"
    params: ClassVar[dict[str, Any]] = {"population_size": 20, "sample_size": 5}
    n_asks = 120

    def make_space(self) -> Space:
        return _nb201()
