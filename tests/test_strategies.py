"""Behaviour of the core strategies: random, grid, regularized evolution, local search."""

from __future__ import annotations

import importlib
import itertools
import math
import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from metanas.space import Choice, FloatRange, IntRange, Space, get_space
from metanas.strategies import (
    GridSearch,
    LocalSearch,
    RegularizedEvolution,
    SpaceExhausted,
    Strategy,
    get_strategy,
    register_strategy,
    strategy_class,
    strategy_names,
)
from metanas.types import Result, TrialState, UserInputError


def ints(n_dims: int = 4, high: int = 6) -> Space:
    return Space([IntRange(f"x{i}", 0, high) for i in range(n_dims)], name="ints")


def hamming(a: Mapping[str, Any], b: Mapping[str, Any]) -> int:
    return sum(a.get(k) != b.get(k) for k in set(a) | set(b))


def best_value(s: Strategy) -> float:
    best = s.best()
    assert best is not None and best[1].value is not None
    return best[1].value


def nb201() -> Space:
    try:
        importlib.import_module("metanas.space.nb201")
        return get_space("nb201")
    except Exception:
        pytest.fail("the nb201 space is not available")


# ------------------------------------------------------------------------------ registry
def test_registry_names_and_errors() -> None:
    assert {"random", "grid", "evolution", "local_search"} <= set(strategy_names())
    with pytest.raises(UserInputError, match="unknown strategy"):
        get_strategy("nope", ints())
    with pytest.raises(UserInputError, match="bad option"):
        get_strategy("random", ints(), colour="red")
    # capabilities are read from the class, without building a strategy
    assert strategy_class("asha").uses_budgets and not strategy_class("bananas").uses_budgets
    with pytest.raises(UserInputError, match="unknown strategy"):
        strategy_class("nope")
    with pytest.raises(ValueError, match="already registered"):
        register_strategy("random")(type("Dup", (Strategy,), {"_ask": lambda self: {}}))


@pytest.mark.parametrize(
    "name,kw",
    [
        ("evolution", {"population_size": 0}),
        ("evolution", {"population_size": 5, "sample_size": 6}),
        ("local_search", {"n_init": 0}),
        ("random", {"tries": -1}),
    ],
)
def test_bad_parameters_are_user_errors(name: str, kw: dict) -> None:
    with pytest.raises(UserInputError):
        get_strategy(name, ints(), **kw)


@pytest.mark.parametrize(
    "name, kw, says",
    [
        ("bananas", {"ucb_beta": "x"}, "'ucb_beta' of strategy 'bananas' must be a finite number or null"),
        ("bananas", {"ucb_beta": float("nan")}, "must be a finite number or null, got nan"),
        ("bohb", {"n_candidates": 0.5}, "'n_candidates' of strategy 'bohb' must be an integer, got 0.5"),
        ("bohb", {"n_min": "x"}, "must be an integer or null, got 'x'"),
        ("asha", {"sampler_options": "x"}, "'sampler_options' of strategy 'asha' must be a mapping or null"),
        ("asha", {"budgets": "1,3"}, "must be a list or null"),
        ("evolution", {"mutation_tries": -1}, "must not be negative, got -1"),
        ("bananas", {"keep_late": 1}, "must be true or false, got 1"),
    ],
)  # fmt: skip
def test_options_of_the_wrong_type_are_named_before_any_trial(
    name: str, kw: dict, says: str
) -> None:
    # each of these was stored with the study and then crashed its asks (a study never to resume)
    with pytest.raises(UserInputError, match=re.escape(says)):
        get_strategy(name, ints(), **kw)


def test_a_strategy_is_told_a_result_not_a_number() -> None:
    s = get_strategy("evolution", ints())
    with pytest.raises(UserInputError, match=r"tell\(\) takes a Result, got float 0.5"):
        s.tell(s.ask(), 0.5)  # type: ignore[arg-type]


def test_a_strategy_builds_on_a_space_given_by_name() -> None:
    s = get_strategy("random", "nb201")
    assert set(s.ask().arch) == set(get_space("nb201").sample(0))


def test_options_of_the_annotated_types_pass() -> None:
    get_strategy("bananas", ints(), ucb_beta=None, patience=0, refit_every=1)  # int for a float
    get_strategy(
        "asha", ints(), budgets=[1, 3, 9], sampler="bananas", sampler_options={"n_init": 3}
    )
    get_strategy("qlearning", ints(), baseline=None, gamma=np.float64(0.9), n_bins=np.int64(4))


# ------------------------------------------------------------------------------ random
def test_random_is_roughly_uniform() -> None:
    space = Space([Choice("op", tuple("abcde")), IntRange("n", 0, 99)])
    counts: Counter[str] = Counter()
    for seed in range(4):
        s = get_strategy("random", space, seed=seed)
        for _ in range(250):
            counts[s.ask().arch["op"]] += 1
    # 1000 draws, 200 expected per option: +-60 is over 4 standard deviations
    assert all(abs(c - 200) < 60 for c in counts.values()), counts


def test_random_avoids_seen_until_space_is_full() -> None:
    space = Space([Choice("a", tuple(range(5))), Choice("b", tuple(range(4)))])
    s = get_strategy("random", space, seed=0)
    keys = [s.ask().key for _ in range(20)]
    assert len(set(keys)) == 20
    s.ask()  # a full space falls back to a repeat instead of failing
    assert s.n_asked == 21


# ------------------------------------------------------------------------------ grid
def test_grid_fixed_order_matches_enumeration() -> None:
    space = ints(2, 3)
    s = GridSearch(space, shuffle=False)
    got = [s.ask().arch for _ in range(16)]
    assert got == list(space.enumerate())
    with pytest.raises(SpaceExhausted):
        s.ask()
    assert s.n_asked == 16  # a refused ask does not consume an id


def test_grid_shuffled_covers_every_key_once() -> None:
    space = ints(2, 3)
    s = GridSearch(space, seed=1)
    keys = [s.ask().key for _ in range(16)]
    assert sorted(keys) == sorted(space.key(x) for x in space.enumerate())
    assert keys != [space.key(x) for x in space.enumerate()]
    with pytest.raises(SpaceExhausted):
        s.ask()


def test_grid_skips_isomorphic_cells_on_nb201() -> None:
    space = nb201()
    s = GridSearch(space, seed=0)
    n = 0
    while True:
        try:
            s.ask()
        except SpaceExhausted:
            break
        n += 1
    assert n == len({space.key(a) for a in space.enumerate()}) < 15_625


def test_grid_walks_a_space_too_large_to_hold_in_order_and_refuses_to_shuffle_it() -> None:
    space = Space([Choice(f"d{i}", tuple(range(10))) for i in range(10)])  # 10^10 architectures
    s = GridSearch(space, shuffle=False)
    assert [s.ask().arch for _ in range(3)] == list(itertools.islice(space.enumerate(), 3))
    with pytest.raises(UserInputError, match="set shuffle to false to walk it in order"):
        GridSearch(space).ask()


def test_grid_refuses_continuous_space() -> None:
    s = GridSearch(Space([FloatRange("lr", 0.1, 1.0)]))
    with pytest.raises(UserInputError, match="finite"):
        s.ask()


# ------------------------------------------------------------------------------ evolution
def test_evolution_first_population_is_random_and_not_overshot() -> None:
    s = RegularizedEvolution(ints(), seed=0, population_size=10, sample_size=3)
    first = [s.ask() for _ in range(10)]
    assert s._random_pending == set(range(10))
    for c in first[:4]:  # 4 in, 6 pending: the population is accounted for, so mutate now
        s.tell(c, Result(value=float(sum(c.arch.values()))))
    parents = [c.arch for c in first[:4]]
    child = s.ask()
    assert min(hamming(child.arch, p) for p in parents) == 1
    s.tell(first[4], Result.failed("oom"))  # a failed random member is replaced by a random one
    s.ask()
    assert len(s._random_pending) == 6


def test_evolution_ages_out_the_oldest() -> None:
    s = RegularizedEvolution(ints(), seed=0, population_size=5, sample_size=2)
    told = []
    for i in range(12):
        c = s.ask()
        s.tell(c, Result(value=float(i)))
        told.append(c.arch)
    assert [v for v, _ in s.population] == [7.0, 8.0, 9.0, 10.0, 11.0]
    assert [a for _, a in s.population] == told[7:]


@pytest.mark.parametrize("replace, low, high", [(False, 0.0, 0.0), (True, 0.18, 0.32)])
def test_evolution_tournament_draws_with_or_without_replacement(
    replace: bool, low: float, high: float
) -> None:
    # two members, tournaments of two: without replacement the better one always wins; with
    # replacement both draws hit the worse one a quarter of the time (Real et al.'s notebook)
    for seed in range(3):
        s = RegularizedEvolution(
            ints(), seed=seed, population_size=2, sample_size=2, replace=replace
        )
        worse, better = {f"x{i}": 0 for i in range(4)}, {f"x{i}": 6 for i in range(4)}
        s.population.extend([(0.0, worse), (1.0, better)])  # a child (one edit) names its parent
        children = [s._mutate_winner() for _ in range(300)]
        share = sum(hamming(c, worse) == 1 for c in children) / len(children)
        assert low <= share <= high, (seed, share)


def test_evolution_improves_on_a_smooth_objective() -> None:
    space = ints(6, 9)
    finals = []
    for seed in range(3):
        s = RegularizedEvolution(space, seed=seed, population_size=20, sample_size=5)
        for _ in range(300):
            c = s.ask()
            s.tell(c, Result(value=float(sum(c.arch.values()))))
        finals.append(best_value(s))
    assert min(finals) >= 52  # max 54; random search over 300 samples reaches 44-51 (seeds 0-4)


# ------------------------------------------------------------------------------ local search
def test_local_search_climbs_to_the_optimum_of_a_unimodal_objective() -> None:
    space = ints(4, 6)
    for seed in range(3):
        s = LocalSearch(space, seed=seed, n_init=2)
        for _ in range(200):
            c = s.ask()
            s.tell(c, Result(value=-float(sum((v - 4) ** 2 for v in c.arch.values()))))
        assert best_value(s) == 0.0


def test_local_search_proposes_neighbours_of_the_current_best() -> None:
    space = ints(4, 6)
    s = LocalSearch(space, seed=0, n_init=3)
    for _ in range(3):
        c = s.ask()
        s.tell(c, Result(value=float(sum(c.arch.values()))))
    assert s.current is not None
    assert s.current[0] == best_value(s)
    c = s.ask()
    assert hamming(c.arch, s.current[1]) == 1


def test_best_improvement_waits_for_the_whole_neighbourhood() -> None:
    space = ints(2, 6)
    s = LocalSearch(space, seed=0, n_init=1, first_improvement=False)
    c = s.ask()
    s.tell(c, Result(value=0.0))
    start = s.current
    n_nb = len(space.neighbours(c.arch))
    nbs = [s.ask() for _ in range(n_nb)]
    for nb in nbs[:-1]:
        s.tell(nb, Result(value=1.0 + nb.id))
    assert s.current == start  # still waiting for the last neighbour
    s.tell(nbs[-1], Result.failed("x"))
    assert s.current == (float(nbs[-2].id) + 1.0, nbs[-2].arch)


def test_local_search_restarts_at_a_local_optimum() -> None:
    space = ints(2, 6)
    s = LocalSearch(space, seed=0, n_init=1)
    c = s.ask()
    s.tell(c, Result(value=10.0))  # the start is better than every neighbour
    for _ in range(len(space.neighbours(c.arch))):
        nb = s.ask()
        assert hamming(nb.arch, c.arch) == 1
        s.tell(nb, Result(value=0.0))
    assert s.current is None  # restarting: the next ask is a random sample
    s.ask()
    assert s._random_pending


def test_local_search_keeps_proposing_while_results_are_pending() -> None:
    space = ints(3, 4)
    s = LocalSearch(space, seed=0, n_init=2)
    pending = [s.ask() for _ in range(2)]
    for c in pending:
        s.tell(c, Result(value=1.0))
    many = [s.ask() for _ in range(30)]  # more than the neighbourhood: random fills in
    assert len({c.key for c in many}) == 30
    assert s._random_pending


def test_local_search_counts_a_neighbour_that_was_pending_before_the_move() -> None:
    # asynchronous: the start's neighbours were asked as random samples before it was chosen
    space = Space([Choice("x", (0, 1, 2, 3))], name="four")
    s = LocalSearch(space, seed=0, n_init=2)
    a, b, c, _d = (s.ask() for _ in range(4))
    s.tell(a, Result(value=0.0))
    s.tell(b, Result(value=1.0))  # the climb starts from b; c and d, its neighbours, are pending
    assert s.current == (1.0, b.arch)
    s.tell(c, Result(value=5.0))
    assert s.current == (5.0, c.arch)  # first improvement moves to it


def test_local_search_before_0_2_3_ignored_pending_neighbours() -> None:
    space = Space([Choice("x", (0, 1, 2, 3))], name="four")
    s = LocalSearch(space, seed=0, n_init=2, offer_pending=False)
    a, b, c, _d = (s.ask() for _ in range(4))
    s.tell(a, Result(value=0.0))
    s.tell(b, Result(value=1.0))
    s.tell(c, Result(value=5.0))
    assert s.current is None  # restarted at once; c went to the next start's pool


@pytest.mark.parametrize("low, high", [(1e-4, 1e-1), (1e-5, 0.3), (1e-6, 1.0), (2.0, 7.0)])
def test_log_float_moves_pass_their_own_validation(low, high):
    """exp(log(low) + 1 * (log(high) - log(low))) may round past ``high``: an architecture
    evolution proposed at the upper end then failed its own space's validation. The value is
    kept as it is (studies stored it so; their replays must regenerate the same keys)."""
    dim = FloatRange("lr", low, high, log=True)
    rng = np.random.default_rng(0)
    moved = [dim.perturb(v, rng) for v in (low, high) for _ in range(200)]
    moved += dim.neighbours(high) + dim.neighbours(low) + [dim._from_unit(1.0)]
    assert all(dim.validate(v) == v for v in moved)
    assert all(v <= high * (1 + 1e-12) and v >= low * (1 - 1e-12) for v in moved)
    with pytest.raises(UserInputError):
        dim.validate(high * 1.001)
    with pytest.raises(UserInputError):  # the slack is the end's own, not the range's width
        dim.validate(low * (1 - 1e-6))


def test_a_float_range_s_slack_never_takes_a_value_whose_log_fails():
    wide = FloatRange("wd", 1e-8, 1e2, log=True)
    for bad in (0.0, -1e-9, 5e-9):
        with pytest.raises(UserInputError, match="use a number from"):
            wide.validate(bad)
    with pytest.raises(UserInputError):
        FloatRange("x", 0.0, 1e9).validate(-0.5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_evolution_goes_on_where_every_child_of_the_winner_was_seen(seed):
    """On one integer range the winner's neighbourhood is soon all seen: evolution then asks an
    unseen sample (it asked the seen child, and the study read 1,000 repeats as exhaustion)."""
    from metanas.evaluation.function import FunctionEvaluator
    from metanas.study import create_study

    space = Space([IntRange("width", 1, 256)], name="a")
    ev = FunctionEvaluator(lambda a: -abs(a["width"] - 100))
    study = create_study(space, "evolution", ev, seed=seed)
    study.optimize(200)
    assert study.stop_reason is None and len(study.trials) == 200
    assert study.best_trial.arch == {"width": 100}


@pytest.mark.parametrize("name", ["qlearning", "reinforce", "evolution", "tpe", "local_search"])
def test_a_strategy_told_a_non_finite_value_directly_takes_it_as_a_failure(name):
    """A study turns NaN and infinity into failed trials; a strategy driven by hand crashed
    (qlearning) or ranked NaN as its best."""
    space = Space([Choice("a", (0, 1, 2)), Choice("b", (0, 1))])
    s = get_strategy(name, space, seed=0)
    for i in range(12):
        c = s.ask()
        s.tell(c, Result(value=(math.nan, math.inf, -math.inf, 1.0)[i % 4]))
    assert [r.state for _, r in s.history[:3]] == [TrialState.FAILED] * 3
    assert s.history[3][1].value == 1.0
