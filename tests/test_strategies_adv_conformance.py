"""The shared conformance suite for bananas, tpe, reinforce, qlearning and the schedulers."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from metanas.space import Space
from metanas.strategies import bayesopt, multifidelity, qlearning, reinforce
from metanas.strategies.base import Strategy, get_strategy
from strategy_conformance import StrategyConformance

assert bayesopt and multifidelity and qlearning and reinforce  # registration side effect


class TestBananas(StrategyConformance):
    strategy = "bananas"
    params: ClassVar[dict[str, Any]] = {"n_init": 4, "n_models": 2, "epochs": 20}


class TestBananasRestarts(StrategyConformance):
    """Short patience: the runs restart several times, which replay and resume must reproduce."""

    strategy = "bananas"
    params: ClassVar[dict[str, Any]] = {"n_init": 3, "patience": 4, "sweep_after": 2}


@pytest.mark.slow
class TestBananasRF(StrategyConformance):
    strategy = "bananas"
    params: ClassVar[dict[str, Any]] = {"n_init": 4, "predictor": "rf", "acquisition": "ucb"}


class TestTPE(StrategyConformance):
    strategy = "tpe"
    params: ClassVar[dict[str, Any]] = {"n_startup": 4}


class TestReinforce(StrategyConformance):
    strategy = "reinforce"


class TestReinforceAutoregressive(StrategyConformance):
    strategy = "reinforce"
    params: ClassVar[dict[str, Any]] = {"autoregressive": True}


class TestQLearning(StrategyConformance):
    strategy = "qlearning"


class TestQLearningEdit(StrategyConformance):
    strategy = "qlearning"
    params: ClassVar[dict[str, Any]] = {"baseline": {"depth": 1, "op": "conv", "k": 0}}

    def make_tiny(self, space: Space) -> Strategy:  # the toy baseline is not in the tiny space
        return get_strategy(self.strategy, space, seed=0, baseline={"a": 1, "b": "y"})


class _MF(StrategyConformance):
    avoids_repeats = False  # promotions repeat a key with a larger budget
    params: ClassVar[dict[str, Any]] = {"budgets": (1, 3, 9)}


class TestSuccessiveHalving(_MF):
    strategy = "successive_halving"


class TestHyperband(_MF):
    strategy = "hyperband"


class TestASHA(_MF):
    strategy = "asha"


class TestBOHB(_MF):
    strategy = "bohb"
    params: ClassVar[dict[str, Any]] = {"budgets": (1, 3, 9), "n_min": 4}


class TestHyperbandBananas(_MF):
    strategy = "hyperband"
    params: ClassVar[dict[str, Any]] = {"budgets": (1, 3, 9), "sampler": "bananas", "n_min": 3}


class TestASHABananas(_MF):
    strategy = "asha"
    params: ClassVar[dict[str, Any]] = {"budgets": (1, 3, 9), "sampler": "bananas", "n_min": 3}


class TestHyperbandBananasMF(_MF):
    strategy = "hyperband"
    params: ClassVar[dict[str, Any]] = {"budgets": (1, 3, 9), "sampler": "bananas_mf", "n_min": 3}


class TestASHABananasMF(_MF):
    strategy = "asha"
    params: ClassVar[dict[str, Any]] = {"budgets": (1, 3, 9), "sampler": "bananas_mf", "n_min": 3}


class TestMultiFidelityUCB(_MF):
    strategy = "mf_ucb"
    params: ClassVar[dict[str, Any]] = {"budgets": (1, 3, 9), "n_init": 4}
