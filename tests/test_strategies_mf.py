"""Multi-fidelity schedulers: ASHA's incremental ranking, the mutation sampler, the NB101 harness."""

from __future__ import annotations

import math
import zlib
from typing import Any

import numpy as np
import pytest

from metanas.benchrun import default_space, time_to_target
from metanas.evaluation.tabular import nb101_table
from metanas.space import Choice, Space
from metanas.strategies import multifidelity
from metanas.strategies.base import Strategy, get_strategy, register_strategy
from metanas.types import Result, TrialState, UserInputError
from tables import record_evaluations

assert multifidelity  # registers the names

TARGET = {f"x{i}": (3 * i) % 5 for i in range(8)}


def space() -> Space:
    return Space([Choice(f"x{i}", (0, 1, 2, 3, 4)) for i in range(8)], name="toy")


def value(arch: dict[str, Any], epochs: float) -> float:
    """Matches to TARGET, blurred at low budgets (a deterministic, budget-dependent offset)."""
    hits = sum(arch[k] == v for k, v in TARGET.items())
    noise = (zlib.crc32(repr(sorted(arch.items())).encode()) % 1000 / 1000 - 0.5) * 8 / epochs
    return hits + noise


@register_strategy("_test_repeater")
class _Repeater(Strategy):
    """Proposes the same architecture forever."""

    def _ask(self) -> dict[str, Any]:
        return self.space.sample(np.random.default_rng(0))


def run(name: str, seed: int, n: int, **kw: Any) -> tuple[list[Any], float]:
    st = get_strategy(name, space(), seed=seed, budgets=(1, 3, 9, 27), **kw)
    asked, best = [], -math.inf
    for _ in range(n):
        c = st.ask()
        e = float(c.budget.epochs)
        v = value(c.arch, e)
        asked.append((c.key, e))
        if e == 27:
            best = max(best, v)
        st.tell(c, Result(value=v, cost=e))
    return asked, best


def drive(st: Strategy, n: int) -> Strategy:
    """``n`` asks of ``st``, each told its value at the asked budget."""
    for _ in range(n):
        c = st.ask()
        st.tell(c, Result(value=value(c.arch, float(c.budget.epochs))))
    return st


@pytest.mark.parametrize("name", ["successive_halving", "hyperband", "bohb"])
def test_brackets_fill_when_a_nearly_exhausted_space_repeats_architectures(name: str) -> None:
    # 12 architectures: a bracket soon asks one twice; each ask must fill its place in the rung
    space = Space([Choice("a", tuple(range(12)))])
    st = get_strategy(name, space, seed=0, min_budget=1, max_budget=9, eta=3)
    asks = []
    for _ in range(200):
        c = st.ask()
        asks.append(c.budget.epochs)
        st.tell(c, Result(float(c.arch["a"])))
    assert len(st.brackets) <= 2  # before: ~20 brackets stuck at rung 0
    assert asks.count(9.0) >= 10  # and so promotions reach the top budget


def test_asha_promotes_like_the_sorting_rule() -> None:
    """The bisect bookkeeping promotes exactly what sorting each rung on every ask would."""
    st = get_strategy("asha", space(), seed=3, budgets=(1, 3, 9, 27))
    for _ in range(300):
        expected = None
        for k in range(len(st.budgets) - 2, -1, -1):
            ranked = sorted(st.rungs[k].items(), key=lambda kv: -kv[1][1])  # stable: arrival
            free = [
                key for key, _ in ranked[: int(len(ranked) / st.eta)] if key not in st.promoted[k]
            ]
            if free:
                expected = (free[0], k + 1)
                break
        c = st.ask()
        if expected is None:
            assert c.info["rung"] == 0
        else:
            assert (c.key, c.info["rung"]) == expected
        st.tell(c, Result(value=value(c.arch, float(c.budget.epochs))))
    assert any(st.promoted[2])  # the run reached the top rung


@pytest.mark.parametrize("name", ["hyperband", "asha", "successive_halving", "bohb"])
def test_mutation_sampler_is_seeded_and_beats_random(name: str) -> None:
    assert run(name, 1, 200, sampler="mutation")[0] == run(name, 1, 200, sampler="mutation")[0]
    mut = [run(name, s, 400, sampler="mutation")[1] for s in range(6)]
    rnd = [run(name, s, 400, sampler="random")[1] for s in range(6)]
    # 8 dims x 5 values: random rarely matches more than ~4 of 8 in 400 asks; mutation climbs
    assert np.mean(mut) > np.mean(rnd) + 0.5, (mut, rnd)


@pytest.mark.parametrize("sampler", ["bananas", "bananas_mf"])
@pytest.mark.parametrize("name", ["hyperband", "asha"])
def test_bananas_sampler_is_seeded_and_beats_random(name: str, sampler: str) -> None:
    assert run(name, 1, 80, sampler=sampler)[0] == run(name, 1, 80, sampler=sampler)[0]
    model = [run(name, s, 200, sampler=sampler)[1] for s in range(3)]
    rnd = [run(name, s, 200, sampler="random")[1] for s in range(3)]
    # the predictor learns the 8 independent dims from the largest budget's results (bananas)
    # or from every rung's, the rung as an input (bananas_mf)
    assert np.mean(model) > np.mean(rnd) + 1.0, (model, rnd)


def test_rung_model_encodes_the_rung_and_scores_the_pool_at_the_top() -> None:
    st = drive(
        get_strategy("asha", space(), seed=0, budgets=(1, 3, 9, 27), sampler="bananas_mf"), 40
    )
    model = st._rung_model
    assert model is not None and model.n_rungs == 4
    model.propose_rungs(st._arrived, st.seen)  # feeds what arrived since the last proposal
    # every result is in the model's data once, tagged with the rung it came from
    told = sorted((a.rung, st.space.key(a)) for a, _ in model._data)
    assert told == sorted((k, key) for k in range(4) for key in st.rungs[k])
    X = model._encode([model._data[0][0], st.space.sample(0)])
    width = len(st.space.features(st.space.sample(0)))
    assert X.shape == (2, width + 4)
    assert X[0, width + model._data[0][0].rung] == 1 and X[0, width:].sum() == 1
    assert X[1, width:].tolist() == [0, 0, 0, 1]  # an unseen architecture: the top rung


@pytest.mark.parametrize("name,sampler", [("asha", "bananas_mf"), ("bohb", "bananas")])
def test_sampler_options_reach_the_model(name: str, sampler: str) -> None:
    from metanas.strategies._surrogates import MLPEnsemble, QuadraticGP

    def model_after(n: int, budgets: tuple[int, ...], options: dict[str, Any]) -> Any:
        st = get_strategy(
            name, space(), seed=0, budgets=budgets, sampler=sampler, sampler_options=options
        )
        drive(st, n)
        return st._rung_model if sampler == "bananas_mf" else st._bananas

    opts = {"predictor": "quadratic", "ucb_beta": 1.0}
    st = get_strategy(name, space(), seed=0, budgets=(1, 3, 9, 27), sampler=sampler)
    assert st.sampler_options == {}
    # without options the samplers keep the ensemble, unlike bananas itself
    assert isinstance(model_after(200, (1, 3, 9, 27), {})._model, MLPEnsemble)
    model = model_after(200, (1, 3, 9, 27), opts)
    assert model is not None and model.ucb_beta == 1.0
    assert isinstance(model._model, QuadraticGP)
    quad = [run(name, s, 200, sampler=sampler, sampler_options=opts)[1] for s in range(3)]
    rnd = [run(name, s, 200, sampler="random")[1] for s in range(3)]
    assert np.mean(quad) > np.mean(rnd) + 1.0, (quad, rnd)
    # the user's options override the scheduler's own settings for its model
    model = model_after(60, (1, 3), {"sweep_after": 3})
    assert model is not None and model.sweep_after == 3 and model.patience == 0
    with pytest.raises(UserInputError, match="bananas samplers only"):
        get_strategy(name, space(), seed=0, sampler="mutation", sampler_options=opts)
    with pytest.raises(UserInputError, match="sampler_options"):
        get_strategy(name, space(), seed=0, sampler=sampler, sampler_options={"predictr": "x"})


def test_default_sampler_unchanged_and_bad_options() -> None:
    # default hyperband proposes uniform samples: no model draws from the generator
    a = get_strategy("hyperband", space(), seed=0, budgets=(1, 3, 9))
    b = get_strategy("hyperband", space(), seed=0, budgets=(1, 3, 9), sampler="random")
    assert [a.ask().key for _ in range(20)] == [b.ask().key for _ in range(20)]
    with pytest.raises(UserInputError, match="sampler"):
        get_strategy("asha", space(), seed=0, sampler="tpe")
    with pytest.raises(UserInputError, match="random_fraction"):
        get_strategy("hyperband", space(), seed=0, sampler="mutation", random_fraction=2)


def test_time_to_target_charges_and_stalls(monkeypatch) -> None:
    evaluated = record_evaluations(monkeypatch)
    ev = nb101_table()
    sp = default_space(ev)
    opts = {"budgets": (4, 12, 36, 108)}
    # only a fully trained (108 epochs) result ends a run, in either convention: with the median
    # as target, hyperband's seed 0 first reaches it at lower fidelities and goes on
    median = float(np.quantile(ev.values(), 0.5))
    for charge in ("full", "continue"):
        evaluated.clear()
        r = time_to_target(ev, sp, "hyperband", 0, median, 1e9, opts, charge)
        assert r.n_evaluations == len(evaluated) and math.isfinite(r.cost)
        assert evaluated[-1] == (108.0, r.best_value) and r.best_value >= median
        assert all(v < median for e, v in evaluated[:-1] if e == 108.0)
        assert any(v >= median for e, v in evaluated[:-1] if e < 108.0)
    easy = float(np.quantile(ev.values(), 0.9))
    full = time_to_target(ev, sp, "hyperband", 0, easy, 1e9, opts, "full")
    cont = time_to_target(ev, sp, "hyperband", 0, easy, 1e9, opts, "continue")
    assert full.best_value is not None and full.best_value >= easy
    # the same asks, cheaper promotions
    assert cont.n_evaluations == full.n_evaluations and cont.cost < full.cost
    # a target above the table's best is never reached; the repeat guard ends the run
    never = time_to_target(ev, sp, "_test_repeater", 0, 2.0, 1e12, None, "full", max_stalled=50)
    assert math.isinf(never.cost) and never.n_evaluations == 1
    with pytest.raises(UserInputError, match="charge"):
        time_to_target(ev, sp, "random", 0, 2.0, 1.0, None, "half")


def _mf_ucb_run(
    seed: int, cheap: str, n: int = 60, start_up: float = 0.0, **options: Any
) -> tuple[list[tuple[str, int]], float]:
    """(key, rung) of each ask of ``mf_ucb`` on the toy, rungs (1, 27), and the best top value;
    the cheap rung is the top value (``"copy"``) or unrelated to it (``"noise"``); every
    result costs its epochs plus ``start_up``."""
    st = get_strategy("mf_ucb", space(), seed=seed, budgets=(1, 27), n_init=5, **options)
    asked, best = [], -math.inf
    for _ in range(n):
        c = st.ask()
        rung = int(c.info["rung"])
        top = value(c.arch, 1e9)
        v = top if rung == 1 or cheap == "copy" else zlib.crc32(c.key.encode()) % 997 / 100
        asked.append((c.key, rung))
        if rung == 1:
            best = max(best, top)
        st.tell(c, Result(value=v, cost=float(c.budget.epochs) + start_up))
    return asked, best


def test_mf_ucb_prices_rungs_by_their_measured_costs():
    # costs proportional to the budget measure the budgets' ratio: the same asks either way
    for seed in range(2):
        assert _mf_ucb_run(seed, "copy") == _mf_ucb_run(seed, "copy", costs="budget")
    # a start-up cost of 26 epochs makes a 1-epoch result cost half a 27-epoch one, so the
    # cheap rung, priced by what it measured, screens fewer picks than its budget suggests
    share = {
        costs: np.mean(
            [
                np.mean([r for _, r in _mf_ucb_run(s, "copy", 60, 26.0, costs=costs)[0]])
                for s in range(4)
            ]
        )
        for costs in ("measured", "budget")
    }
    assert share["measured"] > share["budget"] + 0.1, share
    st = get_strategy("mf_ucb", space(), budgets=(1, 27))
    assert st._price(0) == pytest.approx(1 / 27)  # nothing measured yet
    with pytest.raises(UserInputError, match="costs"):
        get_strategy("mf_ucb", space(), costs="time")


def test_mf_ucb_screens_on_a_cheap_rung_only_when_it_carries():
    runs = {c: [_mf_ucb_run(s, c) for s in range(3)] for c in ("copy", "noise")}
    for asked, _ in runs["copy"] + runs["noise"]:
        assert all(r == 0 for _, r in asked[:5])  # the random starts, at the cheap rung
        last: dict[str, int] = {}
        for key, r in asked:  # a key only ever moves up
            assert r > last.get(key, -1)
            last[key] = r
    top_share = {c: np.mean([np.mean([r for _, r in a]) for a, _ in rs]) for c, rs in runs.items()}
    # a faithful cheap rung screens many picks; a useless one is mostly skipped for the top
    assert top_share["copy"] + 0.15 < top_share["noise"] and top_share["noise"] > 0.75, top_share
    # and the search still climbs: 8 dims x 5 values, random picks match ~1.6 on average
    best = [b for rs in runs.values() for _, b in rs]
    assert min(best) >= 5, best
    with pytest.raises(UserInputError, match="n_init"):
        get_strategy("mf_ucb", space(), n_init=0)
    with pytest.raises(UserInputError, match="pool"):
        get_strategy("mf_ucb", space(), pool="near")


class _FailsMostly:
    """Three in four widths fail (out of memory, say) at every budget."""

    objective = "value"

    def evaluate(self, arch, budget, report):
        if arch["w"] % 4:
            return Result.failed("out of memory")
        return Result(value=arch["w"] / 1000, metrics={})


@pytest.mark.parametrize("name", ["asha", "hyperband", "successive_halving", "bohb"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_failed_run_is_never_promoted(name, seed):
    from metanas.space import IntRange
    from metanas.study import create_study

    space = Space([IntRange("w", 0, 999)], name="w")
    opts = {"budgets": [1, 3, 9]}
    study = create_study(space, name, _FailsMostly(), seed=seed, strategy_kwargs=opts)
    study.optimize(60)
    failed = {(t.key, t.budget.epochs) for t in study.trials if t.value is None}
    promoted = [t for t in study.trials if t.budget.epochs > 1]
    assert promoted  # the successes still go on
    for t in promoted:
        below = max(b for b in (1, 3, 9) if b < t.budget.epochs)
        assert (t.key, below) not in failed
    # as before 0.2.5 on request (and for studies stored then): failures fill empty places
    old = create_study(space, name, _FailsMostly(), seed=seed,
                       strategy_kwargs={**opts, "promote_failed": True})  # fmt: skip
    old.optimize(60)
    lost = {(t.key, t.budget.epochs) for t in old.trials if t.value is None}
    assert any(
        (t.key, max(b for b in (1, 3, 9) if b < t.budget.epochs)) in lost
        for t in old.trials
        if t.budget.epochs > 1
    )


class _PrunesHalf:
    """Even widths stop early (a pruner's decision): PRUNED with a high value from fewer
    epochs than asked; odd widths finish their budget."""

    objective = "value"

    def evaluate(self, arch, budget, report):
        if arch["w"] % 2 == 0:
            return Result(value=0.99, metrics={}, state=TrialState.PRUNED)
        return Result(value=arch["w"] / 1000, metrics={})


@pytest.mark.parametrize("name", ["asha", "hyperband", "successive_halving", "bohb"])
@pytest.mark.parametrize("seed", [0, 1])
def test_a_pruned_run_is_not_promoted_by_its_partial_value(name, seed):
    """Its value (from fewer epochs) ranked with the rung's finished results: the highest, it
    went first to the next budget, overruling the pruner."""
    from metanas._resume import legacy_options
    from metanas.space import IntRange
    from metanas.study import create_study

    space = Space([IntRange("w", 0, 999)], name="w")
    opts = {"budgets": [1, 3, 9]}

    def promoted(trials):  # trials run again at a larger budget (hyperband also starts some there)
        first = {}
        for t in trials:
            first.setdefault(t.key, t.budget.epochs)
        return [t for t in trials if t.budget.epochs > first[t.key]]

    study = create_study(space, name, _PrunesHalf(), seed=seed, strategy_kwargs=opts)
    study.optimize(60)
    assert promoted(study.trials) and all(t.arch["w"] % 2 for t in promoted(study.trials))
    old = create_study(space, name, _PrunesHalf(), seed=seed,
                       strategy_kwargs={**opts, "promote_pruned": True})  # fmt: skip
    old.optimize(60)
    assert any(t.arch["w"] % 2 == 0 for t in promoted(old.trials))
    assert legacy_options(name, {}, "0.2.6")["promote_pruned"] is True
