"""The shared conformance suite for bananas, tpe, reinforce, qlearning and the schedulers."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from metanas.space import Space
from metanas.strategies import bayesopt, multifidelity, qlearning, reinforce
from metanas.strategies.base import AskEvent, Strategy, get_strategy
from strategy_conformance import StrategyConformance, drive, keys_of, toy_space

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


def test_bananas_rf_same_seed_same_asks_and_replay_continues() -> None:
    """TestBananasRF's determinism and replay checks on a small budget, outside the slow suite:
    the forest is seeded from the strategy's generator, so a second run with the same seed
    regenerates the first one's asks while it replays them (a mismatch raises ReplayMismatch),
    asks on exactly as the first did, and ends with the same forest; an unseeded forest
    predicts differently (and its picks soon diverge)."""

    def make() -> Strategy:
        return get_strategy(
            "bananas", toy_space(), seed=7, n_init=3, predictor="rf", acquisition="ucb"
        )

    first = make()
    events = drive(first, 8)
    keys = keys_of(events)
    assert len(keys) == 8 and len(set(keys)) == 8
    # replay up to the 5th ask (3 random picks, 2 model-based), then ask on (3 more)
    cut = [i for i, ev in enumerate(events) if isinstance(ev, AskEvent)][5]
    fresh = make()
    fresh.replay(events[:cut])
    for ev in events[cut:]:
        if isinstance(ev, AskEvent):
            assert fresh.ask().key == ev.candidate.key
        else:
            fresh.tell(ev.candidate, ev.result)
    assert fresh.n_asked == 8
    # the last model-based ask fitted a forest on the same results in both: the same forest
    assert first._model is not None and fresh._model is not None
    X = first._encode([ev.candidate.arch for ev in events if isinstance(ev, AskEvent)])
    for a, b in zip(first._model.predict(X), fresh._model.predict(X)):
        np.testing.assert_array_equal(a, b)


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
