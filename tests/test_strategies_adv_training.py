"""REINFORCE and Q-learning driving real training (Fashion-MNIST, tiny budget) through a study."""

from __future__ import annotations

import numpy as np
import pytest

from metanas.space.models import MLPSpace
from metanas.types import TrialState

torch = pytest.importorskip("torch")


def _evaluator():
    from metanas.data._common import DatasetUnavailable
    from metanas.evaluation.training import TrainingEvaluator, load_dataset_cached

    try:
        load_dataset_cached("fashion_mnist", seed=0, limit=1000)
    except DatasetUnavailable as e:
        pytest.fail(str(e))
    # one epoch on 1,000 examples, one thread: about a second per trial
    return TrainingEvaluator(
        "fashion_mnist",
        "mlp",
        epochs=1,
        batch_size=64,
        num_threads=1,
        device="cpu",
        data_options={"limit": 1000},
    )


@pytest.fixture(scope="module")
def evaluator():
    return _evaluator()


@pytest.mark.parametrize("name", ["reinforce", "qlearning"])
def test_rl_strategy_runs_real_training(evaluator, name):
    from metanas.study import create_study

    space = MLPSpace(max_depth=2, widths=(16, 32), activations=("relu", "tanh"), dropouts=(0.0,))
    study = create_study(space, name, evaluator, seed=0)
    strat = study.strategy
    before = [lg.copy() for lg in strat.logits] if name == "reinforce" else dict(strat.q)
    study.optimize(4)
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(done) == 4
    for t in done:
        assert 0 < t.result.value <= 1
    # 1 epoch on 1,000 images: a working pipeline is far above chance (0.1)
    assert max(t.result.value for t in done) > 0.3
    assert len(strat.history) == 4
    # the learnt state itself, not bookkeeping that changes on every result anyway
    # (the reward baseline, the replay memory, the reward sum)
    rewards = [t.result.value for t in done]
    if name == "reinforce":
        assert all(np.all(np.isfinite(lg)) for lg in strat.logits)
        moved = [not np.array_equal(b, a) for b, a in zip(before, strat.logits)]
        # the first result only sets the baseline; the next three move the logits of
        # every decision they took, and every trial decides the depth
        assert moved[0] and sum(moved) >= 2, "REINFORCE's logits did not move"
    else:
        assert before == {}
        assert strat.q, "Q-learning's table is still empty after 4 results"
        # every (state, action) each told architecture went through has a learnt value, a
        # blend of the rewards seen (so within their range)
        for t in done:
            for s, a, _ in strat._trajectory(t.candidate.arch):
                assert (s, a) in strat.q
        for v in strat.q.values():
            assert min(rewards) - 1e-9 <= v <= max(rewards) + 1e-9
