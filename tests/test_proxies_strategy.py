"""Proxy pre-screening strategies: no torch, conformance, and a proxy that helps does help."""

from __future__ import annotations

import statistics
import subprocess
import sys
from typing import Any, ClassVar

import numpy as np
import pytest

from metanas.space import Choice, Space, get_space
from metanas.strategies import get_strategy
from metanas.strategies.proxy_prescreen import ProxyPrescreen, ScreenedSpace
from metanas.types import Result, UserInputError
from strategy_conformance import StrategyConformance, objective


def key_scorer(arch) -> float:
    """Deterministic in every process (module-level, so picklable for the spawned-process check)."""
    return float(sum(len(str(v)) * (i + 1) for i, v in enumerate(sorted(arch.items()))))


class TestProxyPrescreenRandom(StrategyConformance):
    strategy = "proxy_prescreen"
    params: ClassVar[dict[str, Any]] = {"scorer": key_scorer, "inner": "random", "n_candidates": 4}
    child_imports = ("metanas.strategies.proxy_prescreen",)


class TestProxyPrescreenLocalSearch(StrategyConformance):
    strategy = "proxy_prescreen"
    params: ClassVar[dict[str, Any]] = {
        "scorer": key_scorer,
        "inner": "local_search",
        "n_candidates": 3,
        "max_age": 5,
        "inner_options": {"n_init": 3},
    }
    child_imports = ("metanas.strategies.proxy_prescreen",)


def test_does_not_import_torch() -> None:
    code = (
        "import sys, metanas.strategies.proxy_prescreen; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bad_options() -> None:
    s = Space([Choice("w", (1, 2))])
    with pytest.raises(UserInputError, match="scorer"):
        get_strategy("proxy_prescreen", s)
    with pytest.raises(UserInputError, match="n_candidates"):
        ProxyPrescreen(s, scorer=key_scorer, n_candidates=0)
    with pytest.raises(UserInputError, match="max_age"):
        ProxyPrescreen(s, scorer=key_scorer, max_age=0)
    for inner in ("asha", "hyperband", "mf_ucb"):  # they promote runs: budgets were dropped
        with pytest.raises(UserInputError, match=f"but '{inner}' runs them at several budgets"):
            ProxyPrescreen(get_space("nb201"), scorer=key_scorer, inner=inner)
    with pytest.raises(UserInputError):
        ScreenedSpace(s, key_scorer, 0)
    with pytest.raises(
        UserInputError, match="needs a scorer function arch -> number, got 'synflow'"
    ):
        ScreenedSpace(s, "synflow", 3)  # type: ignore[arg-type]
    with pytest.raises(UserInputError, match="wraps a Space, got str 'nb201'"):
        ScreenedSpace("nb201", key_scorer, 3)  # type: ignore[arg-type]
    with pytest.raises(UserInputError, match="the screen's scorer returned 'x' for"):
        ScreenedSpace(s, lambda a: "x", 2).sample(0)
    # grid enumerates and never samples: it would search the space unscreened
    from metanas import FunctionEvaluator, create_study

    with pytest.raises(UserInputError, match="'grid' does not start from samples, so it cannot"):
        create_study(ScreenedSpace(s, key_scorer, 2), "grid", FunctionEvaluator(lambda a: 1.0))


def _grid() -> Space:
    return Space([Choice("a", tuple(range(10))), Choice("b", tuple(range(10)))], name="grid")


def _value(arch) -> float:
    return float(arch["a"] * 10 + arch["b"])  # optimum (9, 9), value 99


def _queries_to_best(strat, cap: int = 100) -> int:
    for n in range(1, cap + 1):
        c = strat.ask()
        v = _value(c.arch)
        if v == 99:
            return n
        strat.tell(c, Result(value=v))
    return cap + 1


def test_informative_proxy_speeds_up_search() -> None:
    """A noisy but informative proxy finds the optimum of a 100-cell space in fewer queries than
    random search, over 20 seeds (random needs ~50 on average). The pool wrapper looks ahead
    ``n_candidates`` proposals of the inner strategy; the screened space screens every sample."""
    space = _grid()
    noise = np.random.default_rng(5).normal(scale=5, size=100)

    def proxy(arch) -> float:
        return _value(arch) + noise[arch["a"] * 10 + arch["b"]]

    plain = [_queries_to_best(get_strategy("random", space, seed=s)) for s in range(20)]
    screened = [
        _queries_to_best(ProxyPrescreen(space, seed=s, scorer=proxy, n_candidates=60))
        for s in range(20)
    ]
    spaced = [
        _queries_to_best(get_strategy("random", ScreenedSpace(space, proxy, 20), seed=s))
        for s in range(20)
    ]
    assert statistics.median(screened) < 0.5 * statistics.median(plain)
    assert statistics.median(spaced) < 0.5 * statistics.median(plain)


def test_results_reach_inner_strategy_and_scores_cached() -> None:
    calls: list[str] = []

    def proxy(arch) -> float:
        calls.append(str(arch))
        return _value(arch)

    s = ProxyPrescreen(
        _grid(),
        seed=0,
        scorer=proxy,
        inner="local_search",
        n_candidates=5,
        inner_options={"n_init": 2},
    )
    for _ in range(30):
        c = s.ask()
        s.tell(c, Result(value=_value(c.arch)))
    assert len(calls) == len(set(calls)) == len(s.scores)  # each key scored once
    told = {c.key for c, _ in s.inner.history}
    assert {c.key for c, _ in s.history} <= told  # every evaluation was told to the inner
    assert len(s.history) == 30


def test_screened_space_keeps_identity() -> None:
    inner = _grid()
    sp = ScreenedSpace(inner, _value, 30)
    a = sp.sample(0)
    assert sp.key(a) == inner.key(a) and sp.neighbours(a) == inner.neighbours(a)
    assert _value(a) >= np.quantile([_value(inner.sample(i)) for i in range(200)], 0.8)
    assert objective(sp.key(a)) == objective(inner.key(a))


def test_screened_study_resumes_where_it_stopped(tmp_path) -> None:
    """A study on a ScreenedSpace, interrupted and resumed with the same screened space, proposes
    what the uninterrupted one does (the README's proxy-screened search)."""
    import metanas

    def run(n: int, name: str, resume: bool = False) -> list[str]:
        st = metanas.create_study(
            ScreenedSpace(_grid(), key_scorer, 10), "bananas", metanas.FunctionEvaluator(_value),
            storage=str(tmp_path / "s.db"), study_name=name, resume=resume,
            strategy_kwargs={"n_init": 3, "epochs": 20},
        )  # fmt: skip
        st.optimize(n)
        return [t.key for t in st.trials]

    whole = run(12, "whole")
    run(7, "cut")
    assert run(12, "cut", resume=True) == whole


@pytest.mark.parametrize("strategy", ["random", "evolution"])
def test_a_screened_search_runs_its_trials_on_unseen_architectures(strategy) -> None:
    """The screen's favourites are the same few in every draw: random search saw almost only
    them, and stopped after ~30 of 80 trials as if the space had run out."""
    import metanas

    sp = ScreenedSpace(_grid(), _value, 50)
    st = metanas.create_study(sp, strategy, metanas.FunctionEvaluator(_value), seed=0)
    st.optimize(80)
    keys = [t.key for t in st.trials]
    assert len(keys) == len(set(keys)) == 80
    # still screened: the first ten are far better than uniform draws (mean 49.5)
    assert statistics.mean(_value(t.arch) for t in st.trials[:10]) > 85


def test_seeds_come_first_then_the_screen_picks_unseen() -> None:
    from metanas.space.wrapper import SeededSpace

    sp = SeededSpace(ScreenedSpace(_grid(), _value, 50), [{"a": 0, "b": 0}])
    s = get_strategy("random", sp, seed=0)
    keys = [s.ask().key for _ in range(40)]
    assert keys[0] == sp.key({"a": 0, "b": 0}) and len(set(keys)) == 40


def test_a_screened_study_of_0_2_6_resumes_with_its_old_picks(tmp_path) -> None:
    """Before 0.2.7 the screen picked among all draws; a stored study replays those picks."""
    import json
    import sqlite3

    import metanas

    kw = {"storage": str(tmp_path / "s.db"), "study_name": "s"}
    ev = metanas.FunctionEvaluator(_value)
    old = ScreenedSpace(_grid(), _value, 50)
    old.prefer_unseen = False  # as 0.2.6 ran
    first = metanas.create_study(old, "random", ev, **kw)
    first.optimize(12)
    keys = [t.key for t in first.trials]
    first.store.close()
    with sqlite3.connect(kw["storage"]) as con:
        (cfg,) = con.execute("SELECT config FROM studies WHERE name = 's'").fetchone()
        cfg = json.loads(cfg)
        cfg["metanas"] = "0.2.6"
        con.execute("UPDATE studies SET config = ? WHERE name = 's'", (json.dumps(cfg),))
    again = metanas.create_study(
        ScreenedSpace(_grid(), _value, 50), "random", ev, resume=True, **kw
    )
    again.optimize(14)
    assert [t.key for t in again.trials][:12] == keys


def test_an_architecture_being_evaluated_is_not_served_again() -> None:
    """With results pending (parallel workers, ask/tell), the inner strategy's repeat of a key
    being evaluated went back into the pool and was served again, before any unseen one."""
    space = Space([Choice("a", (0, 1, 2))])
    s = ProxyPrescreen(space, scorer=lambda a: a["a"], n_candidates=3)
    cands = [s.ask() for _ in range(3)]
    assert [c.arch["a"] for c in cands] == [2, 1, 0]
    for c in cands:
        s.tell(c, Result(value=float(c.arch["a"])))
    assert s._pending == {} and s._served == {}  # every inner candidate heard its result
