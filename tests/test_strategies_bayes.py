"""bananas' ensemble Thompson sampling, trust-region share and predictor options on toy spaces."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from metanas.space import Choice, Space
from metanas.strategies import bayesopt
from metanas.strategies._surrogates import MLPEnsemble
from metanas.strategies.base import AskEvent, TellEvent, get_strategy
from metanas.types import Result, TrialState, UserInputError

assert bayesopt  # importing it registers "bananas"

FAST = {"n_models": 3, "epochs": 50}
TARGET = {f"x{i}": (i * 7) % 4 for i in range(6)}


def flat_space() -> Space:
    return Space([Choice(f"x{i}", (0, 1, 2, 3)) for i in range(6)], name="flat")


def flat_obj(arch: dict) -> float:
    return sum(arch[k] == v for k, v in TARGET.items()) + 0.3 * (arch["x0"] == arch["x1"])


def run(space: Space, n: int, seed: int = 0, strategy: str = "bananas", **kw):
    st = get_strategy(
        strategy, space, seed=seed, **({**FAST, **kw} if strategy == "bananas" else kw)
    )
    cands, events = [], []
    while len(cands) < n:
        c = st.ask()
        r = Result(value=flat_obj(c.arch))
        st.tell(c, r)
        events += [AskEvent(c), TellEvent(c, r)]
        cands.append(c)
    return st, cands, events


def test_member_predictions_agree_with_mean_and_spread():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6))
    y = X[:, 0] - 0.5 * X[:, 1] ** 2
    m = MLPEnsemble(seed=1, n_models=4, epochs=60)
    m.fit(X, y)
    P = m.predict_members(X)
    mu, sd = m.predict(X)
    assert P.shape == (4, 40)
    np.testing.assert_allclose(P.mean(0), mu, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(P.std(0), sd, rtol=1e-4, atol=1e-5)
    assert sd.max() > 0  # members differ (bootstrap + initialisation)


@pytest.mark.parametrize("pool", ["all", "local"])
def test_defaults_never_repeat_and_replay(pool):
    st, cands, events = run(flat_space(), 30, seed=3, pool=pool)
    assert len({c.key for c in cands}) == 30
    _, again, _ = run(flat_space(), 30, seed=3, pool=pool)
    assert [c.key for c in again] == [c.key for c in cands]
    fresh = get_strategy("bananas", flat_space(), seed=3, pool=pool, **FAST)
    fresh.replay(events)
    assert fresh.ask().key == st.ask().key


def test_options_checked():
    with pytest.raises(UserInputError, match="local_share"):
        get_strategy("bananas", flat_space(), local_share=1.5)
    with pytest.raises(UserInputError, match="acquisition"):
        get_strategy("bananas", flat_space(), acquisition="ei")


@pytest.mark.parametrize("opts", [{"acquisition": "ts"}, {"local_share": 1.0}])
def test_thompson_and_trust_region_learn_on_toy(opts):
    def best(strategy: str, seed: int, **kw) -> float:
        _, cands, _ = run(flat_space(), 25, seed=seed, strategy=strategy, **kw)
        return max(flat_obj(c.arch) for c in cands)

    ours = np.mean([best("bananas", s, **opts) for s in range(4)])
    rand = np.mean([best("random", s) for s in range(4)])
    assert ours > rand + 0.5, (ours, rand)


def _asks_near_the_top(seed: int, local_share: float, n: int = 25) -> list[bool]:
    """For each model-based ask: is it a neighbour of the ``top_k`` best told so far?"""
    space = flat_space()
    # "its" samples its scores, so without the trust region most picks land elsewhere
    st = get_strategy(
        "bananas", space, seed=seed, local_share=local_share, acquisition="its", **FAST
    )
    told: list[dict] = []
    inside = []
    for _ in range(n):
        c = st.ask()
        if len(told) >= st.n_init:
            top = sorted(told, key=lambda a: -flat_obj(a))[: st.top_k]  # ties: arrival order
            near = {space.key(nb) for a in top for nb in space.neighbours(a)}
            inside.append(c.key in near)
        st.tell(c, Result(value=flat_obj(c.arch)))
        told.append(dict(c.arch))
    return inside


def test_trust_region_asks_a_neighbour_of_the_best():
    # every one of the 20 model-based asks per seed stays next to the top architectures (the
    # region of 5 x 18 neighbours is never used up in 25 asks)
    for seed in range(3):
        inside = _asks_near_the_top(seed, local_share=1.0)
        assert len(inside) == 20 and all(inside), (seed, inside)
    # without the trust region the same runs mostly leave it (about 4 of 20 stay inside)
    stay = [sum(_asks_near_the_top(seed, local_share=0.0)) for seed in range(3)]
    assert sum(stay) < 0.5 * 60, stay


def test_ts_in_local_pool_space():
    # a space too large for the full pool: the local pool path scores one member per ask
    space = Space([Choice(f"x{i}", tuple(range(10))) for i in range(6)], name="big")
    st = get_strategy("bananas", space, seed=0, acquisition="ts", pool_max=1000, **FAST)
    assert st.pool == "local"
    keys = set()
    for _ in range(15):
        c = st.ask()
        keys.add(c.key)
        st.tell(c, Result(value=float(sum(c.arch.values()))))
    assert len(keys) == 15


@pytest.mark.parametrize("pool", ["all", "local"])
def test_ts_asks_the_argmax_of_one_members_predictions(pool, monkeypatch):
    # ensemble Thompson sampling: each ask is the best architecture of the pool in the opinion
    # of one member of the ensemble (not of the mean, nor of a sample around it)
    if pool == "all":
        space = flat_space()
        values = [tuple(range(4))] * 6
    else:
        space = Space([Choice(f"x{i}", tuple(range(10))) for i in range(6)], name="big")
        values = [tuple(range(10))] * 6
    pools: list[list[dict]] = []
    if pool == "local":  # record the pool each model-based ask scores
        real = bayesopt.candidate_pool

        def recorded(*args, **kw):
            out = real(*args, **kw)
            pools.append(out)
            return out

        monkeypatch.setattr(bayesopt, "candidate_pool", recorded)
    st = get_strategy(
        "bananas",
        space,
        seed=2,
        acquisition="ts",
        predictor="mlp",
        pool=pool,
        pool_max=1000,
        sweep_after=0,
        **FAST,
    )
    assert st.pool == pool
    n_checked, n_members = 0, set()
    for j in range(20):
        seen = set(st.seen)
        c = st.ask()
        if j >= st.n_init:
            if pool == "all":
                cands = [
                    a
                    for a in (
                        dict(zip([d.name for d in space.dims], v))
                        for v in itertools.product(*values)
                    )
                    if space.key(a) not in seen
                ]
            else:
                assert len(pools) == j - st.n_init + 1
                cands = pools[-1]
            P = st._model.predict_members(st._encode(cands))
            mine = P[:, [space.key(a) for a in cands].index(c.key)]
            best_of = np.flatnonzero(mine >= P.max(1) - 1e-5)  # members whose argmax it is
            assert len(best_of), (j, mine, P.max(1))
            n_members.add(int(best_of[0]))
            n_checked += 1
        st.tell(c, Result(value=flat_obj(c.arch) if pool == "all" else sum(c.arch.values())))
    assert n_checked == 15
    assert len(n_members) > 1  # a different member speaks at different asks


def test_failed_trials_teach_bananas_to_avoid_their_region() -> None:
    # the best value of x0 always fails (think: too slow to train); bananas must learn to stop
    # proposing it, where random search keeps paying for it
    def count_failures(strategy: str, seed: int) -> int:
        kw = FAST if strategy == "bananas" else {}
        st = get_strategy(strategy, flat_space(), seed=seed, **kw)
        fails = 0
        for _ in range(40):
            c = st.ask()
            if c.arch["x0"] == TARGET["x0"]:
                st.tell(c, Result(value=None, state=TrialState.FAILED, error="over time"))
                fails += 1
            else:
                st.tell(c, Result(value=flat_obj(c.arch)))
        return fails

    bananas = [count_failures("bananas", s) for s in range(4)]
    rand = [count_failures("random", s) for s in range(4)]
    assert np.mean(bananas) < 0.6 * np.mean(rand), (bananas, rand)


def test_tpe_counts_failed_trials_among_the_bad_ones():
    data = [({"a": i}, float(i)) for i in range(9)] + [({"a": 99}, None)]
    good, bad = bayesopt.split_good_bad(data, 0.15)
    assert good == [{"a": 8}, {"a": 7}] and bad[-1] == {"a": 99}
    good, _ = bayesopt.split_good_bad(data, 0.15, failures_good=True)  # the rule before 0.2.2
    assert good == [{"a": 99}, {"a": 8}]


@pytest.mark.parametrize("name", ["tpe", "bohb"])
def test_tpe_steers_away_from_what_fails(name):
    # a=0 always fails; the rest scores a + b: the model phase should rarely ask a=0 again
    space = Space([Choice("a", tuple(range(10))), Choice("b", tuple(range(10)))])
    failed = {False: 0, True: 0}
    for good in (False, True):
        for seed in range(5):
            st = get_strategy(name, space, seed=seed, failures_good=good)
            for t in range(60):
                c = st.ask()
                v = None if c.arch["a"] == 0 else float(c.arch["a"] + c.arch["b"])
                st.tell(c, Result(v, state=TrialState.FAILED if v is None else TrialState.COMPLETE))
                failed[good] += t >= 10 and v is None
    assert failed[False] < failed[True] / 2, failed
