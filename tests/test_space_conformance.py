"""Checks every registered space must pass (the space analogue of sklearn's estimator checks)."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from metanas.space import Choice, Space, get_space, space_from_dict, space_names
from metanas.space.wrapper import SpaceWrapper

NAMES = space_names()
SEEDS = range(12)


def test_all_spaces_registered() -> None:
    assert {"nb201", "nb101", "macro", "rnn_text", "mlp", "cnn1d"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_samples_validate_and_round_trip_json(name: str) -> None:
    space = get_space(name)
    for seed in SEEDS:
        arch = space.sample(seed)
        assert space.is_valid(arch)
        assert space.validate(arch) == arch
        assert space.from_json(space.to_json(arch)) == arch


@pytest.mark.parametrize("name", NAMES)
def test_space_round_trips_through_dict_and_json(name: str) -> None:
    space = get_space(name)
    d = space.to_dict()
    assert d["kind"] == name and "params" in d
    again = space_from_dict(json.loads(json.dumps(d)))
    assert again == space and type(again) is type(space)
    assert again.to_dict() == d
    assert again.sample(3) == space.sample(3)


@pytest.mark.parametrize("name", NAMES)
def test_space_pickles(name: str) -> None:
    space = get_space(name)
    arch = space.sample(1)
    space.key(arch)  # fill any caches first: they must not break pickling
    again = pickle.loads(pickle.dumps(space))
    assert again == space and again.key(arch) == space.key(arch)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_samples(name: str) -> None:
    space = get_space(name)
    assert [space.sample(s) for s in SEEDS] == [get_space(name).sample(s) for s in SEEDS]
    g1, g2 = np.random.default_rng(7), np.random.default_rng(7)
    assert [space.sample(g1) for _ in range(5)] == [space.sample(g2) for _ in range(5)]
    # and seeds actually matter
    assert len({space.to_json(space.sample(s)) for s in SEEDS}) > 1


@pytest.mark.parametrize("name", NAMES)
def test_mutate_gives_valid_different_architecture(name: str) -> None:
    space = get_space(name)
    rng = np.random.default_rng(0)
    for seed in SEEDS:
        parent = space.sample(seed)
        frozen = dict(parent)
        child = space.mutate(parent, rng)
        assert parent == frozen, "mutate must not modify its argument"
        assert child != parent
        assert space.validate(child) == child
    parent = space.sample(0)
    assert space.mutate(parent, 5) == space.mutate(parent, 5)


def _one_dim_away(space, a: dict, b: dict) -> bool:
    common = set(a) & set(b)
    changed = [k for k in common if a[k] != b[k]]
    appeared = set(a) ^ set(b)
    return len(changed) == 1 and all(space.dim(k).when is not None for k in appeared)


@pytest.mark.parametrize("name", NAMES)
def test_neighbours_are_valid_and_one_dim_away(name: str) -> None:
    space = get_space(name)
    for seed in range(4):
        arch = space.sample(seed)
        nbrs = space.neighbours(arch)
        assert nbrs, "every sampled architecture should have a neighbour"
        assert len({space.to_json(n) for n in nbrs}) == len(nbrs)
        for n in nbrs:
            assert space.validate(n) == n
            assert _one_dim_away(space, arch, n)


@pytest.mark.parametrize("name", NAMES)
def test_with_value_sets_one_dimension_or_says_none(name: str) -> None:
    space = get_space(name)
    n_set = 0
    for seed in range(4):
        arch = space.sample(seed)
        # the values one change of each dimension can reach while the space stays valid
        reachable = {(k, repr(v)) for n in space.neighbours(arch) for k, v in n.items()}
        for d in space.active(arch):
            assert space.with_value(arch, d.name, arch[d.name], seed) == arch
            for v in d.neighbours(arch[d.name])[:3]:
                child = space.with_value(arch, d.name, v, seed)
                if (
                    d.name,
                    repr(v),
                ) in reachable:  # a valid architecture has it: None would be wrong
                    assert child is not None, (d.name, v)
                if child is None:  # None: the change breaks the space's constraints
                    continue
                n_set += 1
                assert child[d.name] == v and space.validate(child) == child
                # only that dimension changes (others may be activated or dropped)
                assert all(child[k] == arch[k] for k in arch if k in child and k != d.name)
    assert n_set > 0


@pytest.mark.parametrize("name", NAMES)
def test_decision_features_have_one_fixed_length(name: str) -> None:
    """One-hot choices and scaled ranges only: as long on every architecture, and through a
    wrapper the same as the space's own."""
    space = get_space(name)
    lengths = {space.decision_features(space.sample(s)).shape for s in SEEDS}
    assert len(lengths) == 1
    arch = space.sample(0)
    assert np.array_equal(
        SpaceWrapper(space).decision_features(arch), space.decision_features(arch)
    )


@pytest.mark.parametrize("name", NAMES)
def test_count_features_count_each_option_of_a_group_of_like_choices(name: str) -> None:
    """Per group of choices with the same options: entry (option, k) is 1 when at least k of the
    group's active choices took the option (NAS-Bench-101 counts its pruned cell instead);
    through a wrapper the same as the space's own."""
    space = get_space(name)
    for seed in SEEDS:
        arch = space.sample(seed)
        v = space.count_features(arch)
        assert v.shape == (space.n_count_features,) and set(np.unique(v)) <= {0.0, 1.0}
        assert np.array_equal(SpaceWrapper(space).count_features(arch), v)
        if type(space).count_features is not Space.count_features:
            continue
        offset = 0
        for group in space._count_groups:
            n = len(group)
            for j, option in enumerate(group[0].options):
                k = sum(arch.get(d.name, object()) == option for d in group)
                assert list(v[offset + j * n : offset + (j + 1) * n]) == [1.0] * k + [0.0] * (n - k)
            offset += n * len(group[0].options)
        assert offset == len(v)


def test_count_features_group_nb201s_edges_and_skip_a_space_without_like_choices() -> None:
    space = get_space("nb201")
    ops = {"1<-0": "nor_conv_3x3", "2<-0": "nor_conv_3x3", "2<-1": "none"}
    arch = {**ops, "3<-0": "skip_connect", "3<-1": "nor_conv_3x3", "3<-2": "nor_conv_1x1"}
    counts = space.count_features(arch).reshape(5, 6).sum(1)  # options in NB201_OPS order
    assert list(counts) == [1, 1, 1, 3, 0]
    assert Space([Choice("a", (1, 2)), Choice("b", (1, 2, 3))]).n_count_features == 0


def test_nb201_has_24_neighbours() -> None:
    space = get_space("nb201")
    for seed in range(5):
        assert len(space.neighbours(space.sample(seed))) == 24


@pytest.mark.parametrize("name", NAMES)
def test_features_have_fixed_length(name: str) -> None:
    space = get_space(name)
    vecs = [space.features(space.sample(s)) for s in SEEDS]
    for v in vecs:
        assert v.shape == (space.n_features,)
        assert v.dtype == np.float32 and np.all(np.isfinite(v))
    # features tell architectures apart (at least some of them)
    assert len({v.tobytes() for v in vecs}) > 1
    # the returned array is the caller's: changing it must not change later answers
    arch = space.sample(0)
    f = space.features(arch)
    f[:] = -1.0
    assert not np.any(space.features(arch) == -1.0)


@pytest.mark.parametrize("name", NAMES)
def test_key_is_deterministic(name: str) -> None:
    space, fresh = get_space(name), get_space(name)
    for seed in SEEDS:
        arch = space.sample(seed)
        k = space.key(arch)
        assert isinstance(k, str) and k
        assert k == space.key(dict(arch)) == fresh.key(space.from_json(space.to_json(arch)))
        assert k == space.key(dict(reversed(list(arch.items()))))


@pytest.mark.parametrize("name", NAMES)
def test_enumerate_small_spaces(name: str) -> None:
    space = get_space(name)
    size = space.size
    if size is None or size > 20_000:
        assert name in {"nb101", "macro"}, f"{name} should be small enough to count"
        return
    archs = list(space.enumerate())
    assert len(archs) == size
    assert len({space.to_json(a) for a in archs}) == size
    for a in archs[:: max(1, size // 500)]:
        assert space.validate(a) == a


def test_nb201_enumerates_15625() -> None:
    space = get_space("nb201")
    archs = list(space.enumerate())
    assert len(archs) == space.size == 15_625
    assert len({space.describe(a) for a in archs}) == 15_625


@pytest.mark.parametrize("name", NAMES)
def test_describe_is_a_string(name: str) -> None:
    space = get_space(name)
    assert all(isinstance(space.describe(space.sample(s)), str) for s in SEEDS)


def test_a_condition_that_holds_inside_a_long_unsorted_choice_is_accepted():
    from metanas.space import Choice, Condition, Space

    space = Space(
        [Choice("w", (5, *range(6, 200), 3)), Choice("x", (1, 2), when=Condition("w", ">", 50))]
    )
    assert any("x" in space.sample(i) for i in range(20))


def test_a_condition_on_a_tuple_option_survives_the_store() -> None:
    """Stored, tuple options and an ``==`` condition's tuple both become lists: they must still
    match (the condition was made a tuple again, which no list option equals)."""
    from metanas.space import Condition, IntRange

    space = Space(
        [Choice("k", ((1, 2), (3, 4))),
         IntRange("d", 1, 3, when=Condition("k", "==", (1, 2))),
         IntRange("e", 1, 3, when=Condition("k", "in", [(3, 4)]))]
    )  # fmt: skip
    again = space_from_dict(json.loads(json.dumps(space.to_dict())))
    archs = [again.sample(s) for s in range(20)]
    assert {("d" in a, "e" in a) for a in archs} == {(True, False), (False, True)}
    assert again.key(archs[0]) == space.key(json.loads(json.dumps(archs[0])))


def test_choice_options_given_as_a_set_are_refused() -> None:
    """A set's order depends on the process's string hashing: samples, and a resume's check that
    the space is the same, would change from run to run."""
    from metanas.types import UserInputError

    with pytest.raises(UserInputError, match=r"as a set.*give a list"):
        Choice("op", {"conv3x3", "maxpool", "identity"})
    assert Choice("op", sorted({"b", "a"})).options == ("a", "b")


def test_a_dimension_conditional_on_itself_is_refused() -> None:
    from metanas.space import Condition, IntRange
    from metanas.types import UserInputError

    with pytest.raises(UserInputError, match="depends on itself"):
        Space([IntRange("a", 1, 3, when=Condition("a", ">=", 2)), Choice("b", (1, 2))])


def test_with_value_answers_none_for_a_value_the_dimension_does_not_take() -> None:
    from metanas.space import IntRange

    s = Space([IntRange("a", 1, 3), Choice("b", ("x", "y"))])
    assert s.with_value({"a": 1, "b": "x"}, "a", 99) is None
    assert s.with_value({"a": 1, "b": "x"}, "b", "z") is None
    assert s.with_value({"a": 1, "b": "x"}, "a", 3) == {"a": 3, "b": "x"}


@pytest.mark.parametrize("strategy", ["local_search", "tpe", "bananas", "bohb", "mf_ucb"])
def test_strategies_that_walk_neighbours_handle_a_conditional_float(strategy) -> None:
    """A neighbour that switches on a conditional float range took its 'first value', which a
    continuous range has not: five strategies stopped mid-search with an error."""
    from metanas.evaluation.function import FunctionEvaluator
    from metanas.space import Condition, FloatRange
    from metanas.study import create_study

    space = Space(
        [Choice("opt", ("sgd", "adam")),
         FloatRange("momentum", 0.0, 0.99, when=Condition("opt", "==", "sgd"))]
    )  # fmt: skip
    assert space.neighbours({"opt": "adam"}) == [{"opt": "sgd", "momentum": 0.495}]
    ev = FunctionEvaluator(lambda a: 1.0 if a["opt"] == "adam" else a["momentum"] / 2)
    study = create_study(space, strategy, ev, seed=0)
    study.optimize(25)
    assert len(study.trials) == 25


def test_ranges_and_options_a_store_cannot_tell_apart_are_refused() -> None:
    from metanas.space import FloatRange
    from metanas.types import UserInputError

    with pytest.raises(UserInputError, match="wider than a float can hold"):
        FloatRange("x", -1e308, 1e308)
    with pytest.raises(UserInputError, match="lists an option twice"):
        Choice("t", ((1, 2), [1, 2], "x"))
