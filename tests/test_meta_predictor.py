"""Meta-learning, issue 7 second part: the transfer predictor, its phase in the warm start, the
REINFORCE starting policy and the evidence-scaled patience."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from metanas.meta.policy import initial_policy
from metanas.meta.predictor import TransferPredictor
from metanas.meta.prior import Prior
from metanas.meta.similarity import spearman
from metanas.meta.warmstart import WarmStart
from metanas.space import Choice, Space
from metanas.strategies.reinforce import Reinforce
from metanas.types import Result, UserInputError
from test_meta import _queries, prior_from, toy_space, toy_task


def _values(space: Space, f, archs) -> np.ndarray:
    return np.array([f(a) for a in archs])


def test_predictor_pretrained_on_related_task_ranks_the_new_one() -> None:
    space = toy_space()
    new = toy_task(11, base=1, noise=0.3)
    archs = [space.sample(np.random.default_rng(i)) for i in range(300)]
    y = _values(space, new, archs)
    corr = []
    for seed in range(3):
        p = prior_from(space, toy_task(1), 150, seed=100 + seed)
        mu, sd = TransferPredictor(space, [p], seed=seed).predict(archs)
        assert sd.shape == mu.shape and (sd >= 0).all()
        corr.append(spearman(mu, y))
    assert min(corr) > 0.5, corr


def test_predictor_fine_tuning_fixes_an_unrelated_past() -> None:
    space = toy_space()
    new = toy_task(11, base=1, noise=0.3)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(260)]
    y = _values(space, new, archs)
    p = prior_from(space, toy_task(5), 150, seed=7)  # an unrelated past
    tp = TransferPredictor(space, [p], seed=0)
    before = spearman(tp.predict(archs[60:])[0], y[60:])
    oof = tp.cross_predict(archs[:60], y[:60])
    assert spearman(oof, y[:60]) > 0.3  # out of fold: each point predicted without itself
    tp.finetune(archs[:60], y[:60])
    after = spearman(tp.predict(archs[60:])[0], y[60:])
    assert after > before + 0.2 and after > 0.4, (before, after)


def test_predictor_without_past_or_weight_learns_from_new_results_only() -> None:
    space = toy_space()
    p = prior_from(space, toy_task(1), 50, seed=1)
    tp = TransferPredictor(space, [p], seed=0).pretrain([0.0])
    assert not tp.pretrained
    assert (tp.predict([space.sample(0)])[0] == 0).all()
    archs = [space.sample(np.random.default_rng(i)) for i in range(40)]
    tp.finetune(archs, _values(space, toy_task(2), archs))
    assert tp.predict(archs)[0].std() > 0


def test_warm_start_enters_the_predictor_phase_only_for_a_trusted_past() -> None:
    space = toy_space()
    new = toy_task(11, base=1, noise=0.3)
    related, unrelated = 0, 0
    for seed in range(3):
        for f, good in ((toy_task(1), True), (toy_task(9), False)):
            s = WarmStart(space, seed=seed, priors=[prior_from(space, f, 150, seed=50 + seed)])
            _queries(s, new, "never", n=60)
            if good:
                related += s.predict_at is not None
            else:
                unrelated += s.predict_at is not None
            assert s.mode == "cold"  # every run ends handed over within 60 queries
    assert related >= 2 and unrelated <= 1, (related, unrelated)


def test_patience_scales_with_trust_and_budget() -> None:
    space = toy_space()
    p = prior_from(space, toy_task(1), 60, seed=3)
    s = WarmStart(space, priors=[p])
    s.trust = 0.9
    assert s.current_patience() == 27
    s.trust = 0.05
    assert s.current_patience() == 5
    s = WarmStart(space, priors=[p], budget=40)
    s.trust = 0.9
    assert s.current_patience() == 4
    assert WarmStart(space, priors=[p], patience=12).current_patience() == 12
    with pytest.raises(UserInputError):
        WarmStart(space, priors=[p], n_range=6)
    # the random proposals alternate with the past's after its first: all within n_check
    with pytest.raises(UserInputError, match=r"n_range must be an integer in \[0, n_check / 2\]"):
        WarmStart(space, priors=[p], n_check=4, n_range=3)
    for n_check, n_range in ((4, 2), (6, 3), (6, 2)):
        s = WarmStart(space, priors=[p], n_check=n_check, n_range=n_range)
        turns = []
        for k in range(n_check + 4):
            s._n_warm = k
            turns.append(s._range_turn())
        assert sum(turns[:n_check]) == n_range == sum(turns) and not turns[0]
    with pytest.raises(UserInputError):
        WarmStart(space, priors=[p], budget=0)


# ----------------------------------------------------------------- REINFORCE policy
def test_reinforce_exports_and_restarts_from_its_policy() -> None:
    space = toy_space()
    f = toy_task(3)
    a = Reinforce(space, seed=0)
    for _ in range(40):
        c = a.ask()
        a.tell(c, Result(f(c.arch)))
    pol = a.policy()
    assert isinstance(pol[0][0][0], float)
    b = Reinforce(space, seed=0, init_policy=pol)
    assert all(np.array_equal(x, y) for x, y in zip(a.logits, b.logits))
    ar = Reinforce(space, seed=0, autoregressive=True, init_policy=[row[0] for row in pol])
    assert ar.logits[0].shape[0] > 1 and np.allclose(ar.logits[0], pol[0][0])
    with pytest.raises(UserInputError):
        Reinforce(space, init_policy=pol[:-1])
    with pytest.raises(UserInputError):
        Reinforce(space, init_policy=[[0.0, 1.0]] * len(pol))


def test_study_with_a_starting_policy_resumes_exactly(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from metanas.evaluation.function import FunctionEvaluator
    from metanas.study import create_study

    space, f, db = toy_space(), toy_task(3), str(tmp_path / "rl.db")
    pol = [np.linspace(0, 1, len(row[0])).tolist() for row in Reinforce(space).policy()]
    s1 = create_study(space, Reinforce(space, seed=0, init_policy=pol), FunctionEvaluator(f),
                      storage=db, study_name="rl")  # fmt: skip
    s1.optimize(6)
    keys = [t.key for t in s1.trials]
    s1.store.close()
    s2 = create_study(space, "reinforce", FunctionEvaluator(f), storage=db, study_name="rl",
                      resume=True)  # fmt: skip
    assert all(np.allclose(x, y) for x, y in zip(s2.strategy.init_policy, pol))  # stored as numbers
    s2.optimize(10)
    assert [t.key for t in s2.trials][:6] == keys


def test_initial_policy_prefers_the_past_best_choices_but_keeps_exploring() -> None:
    space = Space([Choice("a", (1, 2, 3)), Choice("b", ("x", "y"))])
    archs = [{"a": a, "b": b} for a in (1, 2, 3) for b in ("x", "y")]
    past = Prior("old", archs, [10 * a + (b == "y") for a in (1, 2, 3) for b in ("x", "y")])
    pol = initial_policy(space, [past], top=3)  # (3, y), (3, x), (2, y)
    assert pol is not None and int(np.argmax(pol[0])) == 2 and int(np.argmax(pol[1])) == 1
    p = np.exp(pol[0]) / np.exp(pol[0]).sum()
    assert p.min() > 0.05  # tempered and clipped: every value is still tried
    assert initial_policy(space, [past], weights=[0.0]) is None
    with pytest.raises(UserInputError):
        initial_policy(space, [past], top=0)


def test_policy_warm_reinforce_finds_good_archs_sooner_than_cold() -> None:
    space = toy_space()
    new = toy_task(11, base=1, noise=0.3)
    warm, cold = [], []
    for seed in range(5):
        p = prior_from(space, toy_task(1), 150, seed=100 + seed)
        for out, pol in ((warm, initial_policy(space, [p])), (cold, None)):
            s = Reinforce(space, seed=seed, init_policy=pol)
            vals = []
            for _ in range(30):
                c = s.ask()
                vals.append(new(c.arch))
                s.tell(c, Result(vals[-1]))
            out.append(max(vals))
    assert statistics.mean(warm) > statistics.mean(cold), (warm, cold)


def test_warm_start_hands_reinforce_the_trusted_policy_only() -> None:
    space = toy_space()
    new = toy_task(11, base=1, noise=0.3)
    got = {}
    for name, f in (("related", toy_task(1)), ("opposed", lambda a: -toy_task(1)(a))):
        # (seed 100's sample of the related past happens to fail the trust check: rank corr 0.30)
        p = prior_from(space, f, 150, seed=101)
        s = WarmStart(space, seed=0, inner="reinforce", priors=[p], predictor=False)
        _queries(s, new, "never", n=60)
        assert s.mode == "cold"
        got[name] = s._cold.init_policy is not None  # type: ignore[union-attr]
    assert got == {"related": True, "opposed": False}


@pytest.mark.parametrize("past", [2, 6, 9])
def test_a_past_the_trust_check_rejected_gives_reinforce_no_policy(past) -> None:
    """These pasts correlate above min_corr (0.1) but under the trust check's bar, which handed
    over to the cold strategy: their policy started reinforce all the same (before 0.2.7, which
    stores of then keep on resume)."""
    from metanas._resume import legacy_options

    space = toy_space()
    new = toy_task(11, base=1, noise=0.3)
    p = prior_from(space, toy_task(past), 150, seed=100)
    got = {}
    for bar in ("trust", "min_corr"):
        s = WarmStart(space, seed=0, inner="reinforce", priors=[p], predictor=False, policy_bar=bar)
        _queries(s, new, "never", n=60)
        assert s.handover is not None and "predicts the new values poorly" in s.handover
        assert s.min_corr <= s.trust < s._bar(s.handover_at or 1)
        got[bar] = s._cold.init_policy is not None  # type: ignore[union-attr]
    assert got == {"trust": False, "min_corr": True}
    assert legacy_options("warm_start", {}, "0.2.6") == {"policy_bar": "min_corr"}
    assert legacy_options("warm_start", {}, "0.2.7") == {}
