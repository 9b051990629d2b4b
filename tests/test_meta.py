"""Meta-learning: descriptors, similarity, priors, the warm-start strategy, the knowledge base."""

from __future__ import annotations

import json
import math
import sqlite3
import statistics
from typing import Any, ClassVar

import numpy as np
import pytest

from metanas._resume import legacy_options
from metanas.evaluation.function import FunctionEvaluator
from metanas.meta import (
    KnowledgeBase,
    Prior,
    PriorModel,
    SeededSpace,
    WarmStart,
    describe_task,
    descriptor_distance,
    reference_archs,
    spearman,
    task_similarity,
)
from metanas.meta.hook import warm_start_strategy
from metanas.meta.similarity import quantiles
from metanas.meta.transfer import drive
from metanas.space import Choice, IntRange, Space
from metanas.strategies import get_strategy
from metanas.study import create_study, load_study
from metanas.types import Result, TaskInfo, UserInputError

N_DIMS, N_OPTS = 5, 6


def toy_space() -> Space:
    return Space([Choice(f"d{i}", tuple(range(N_OPTS))) for i in range(N_DIMS)], name="toy")


def toy_task(seed: int, base: int | None = None, noise: float = 0.0):
    """An objective over the toy space: additive tables plus pairwise interactions.

    ``base`` makes it a noisy copy of task ``base`` (a related task); otherwise it is fresh.
    """
    rng = np.random.default_rng(base if base is not None else seed)
    w = rng.normal(size=(N_DIMS, N_OPTS))
    inter = rng.normal(scale=0.5, size=(N_DIMS - 1, N_OPTS, N_OPTS))
    if base is not None:
        r2 = np.random.default_rng(seed)
        w = w + noise * r2.normal(size=w.shape)
        inter = inter + noise * r2.normal(scale=0.5, size=inter.shape)

    def f(arch) -> float:
        a = [arch[f"d{i}"] for i in range(N_DIMS)]
        return float(
            sum(w[i, a[i]] for i in range(N_DIMS))
            + sum(inter[i, a[i], a[i + 1]] for i in range(N_DIMS - 1))
        )

    return f


def optimum_key(space: Space, f) -> str:
    return space.key(max(space.enumerate(), key=f))


def prior_from(space: Space, f, n: int, seed: int, name: str = "past") -> Prior:
    run = drive(
        get_strategy("local_search", space, seed=seed), FunctionEvaluator(f), n, report=None
    )
    archs = [json.loads(k) for k in run.keys]  # a generic space keys by sorted JSON
    return Prior(name, archs, [float(v) for v in run.values])


# ----------------------------------------------------------------- similarity
def test_spearman_matches_known_values() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4], [10, 20, 40, 30]) == pytest.approx(0.8)
    assert spearman([1, 1, 2, 3], [1, 2, 3, 4]) == pytest.approx(
        0.9486832980505138
    )  # ties averaged
    assert math.isnan(spearman([1, 2], [1, 2]))
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))


def test_quantiles_scale_ranks_to_unit_interval() -> None:
    assert quantiles([5.0, 1.0, 3.0]).tolist() == [1.0, 0.0, 0.5]
    assert quantiles([2.0]).tolist() == [0.5]


def test_descriptor_distance_is_log_scale_and_symmetric() -> None:
    a = TaskInfo("a", "image", (1, 28, 28), 10, 60000)
    b = TaskInfo("b", "image", (1, 28, 28), 100, 60000)
    c = TaskInfo("c", "text", (1, 28, 28), 10, 60000)
    assert descriptor_distance(a, a) == 0.0
    assert descriptor_distance(a, b) == pytest.approx(1.0)
    assert descriptor_distance(a, c) == pytest.approx(1.0)
    assert descriptor_distance(b, c) == descriptor_distance(c, b)
    assert descriptor_distance(a, TaskInfo()) == 0.0  # unknown adds nothing


def test_task_similarity_uses_shared_ranks_and_clips_opposed_tasks() -> None:
    t = TaskInfo("t", "table")
    vals = {str(i): float(i) for i in range(10)}
    same = task_similarity(t, t, vals, {k: 2 * v for k, v in vals.items()})
    opposed = task_similarity(t, t, vals, {k: -v for k, v in vals.items()})
    few = task_similarity(t, t, {"a": 1.0}, {"a": 2.0})
    assert same.rank == pytest.approx(1.0) and same.score == pytest.approx(1.0)
    assert opposed.rank == pytest.approx(-1.0) and opposed.score == 0.0
    assert math.isnan(few.rank) and few.score == pytest.approx(1.0)  # descriptors only


def test_probe_features_are_fixed_reference_archs_and_drive_similarity() -> None:
    space = toy_space()
    assert reference_archs(space, 6) == reference_archs(space, 6)
    assert len({space.key(a) for a in reference_archs(space, 6)}) == 6
    f = toy_task(1)
    a = describe_task(FunctionEvaluator(f, task=TaskInfo("a")), space=space, n_probe=8)
    b = describe_task(
        FunctionEvaluator(lambda x: 3 * f(x) + 1, task=TaskInfo("b")), space=space, n_probe=8
    )
    c = describe_task(
        FunctionEvaluator(lambda x: -f(x), task=TaskInfo("c")), space=space, n_probe=8
    )
    assert len(a.features) == 8
    assert task_similarity(a, b).rank == pytest.approx(1.0)
    assert task_similarity(a, c).score == 0.0
    with pytest.raises(UserInputError):
        describe_task(FunctionEvaluator(f), n_probe=3)


# ----------------------------------------------------------------- priors
def test_prior_model_knows_past_values_and_predicts_unseen_ones() -> None:
    space = Space([IntRange("w", 1, 40)])
    archs = [{"w": i} for i in range(1, 41, 3)]
    p = Prior("lin", archs, [float(a["w"]) for a in archs])
    m = PriorModel(space, [p])
    assert m.score({"w": 40}) == pytest.approx(1.0)
    assert m.score({"w": 1}) == pytest.approx(0.0)
    assert m.score({"w": 38}) > m.score({"w": 5})  # unseen: from the regression
    assert m.ranked()[0] == {"w": 40}
    assert Prior.from_dict(p.to_dict()) == p
    with pytest.raises(UserInputError):
        Prior("bad", archs, [1.0])


def test_seeded_space_returns_seeds_first_then_samples() -> None:
    space = toy_space()
    seeds = [space.sample(1), space.sample(2)]
    s = SeededSpace(space, seeds)
    rng = np.random.default_rng(0)
    assert [s.sample(rng), s.sample(rng)] == seeds
    assert s.sample(rng) == space.sample(np.random.default_rng(0))
    assert s.key(seeds[0]) == space.key(seeds[0]) and s.to_dict() == space.to_dict()


# ----------------------------------------------------------------- the warm start
def _queries(strategy, f, target: str, n: int = 400) -> int:
    run = drive(strategy, FunctionEvaluator(f), n, report=None, stop=(target, 1))
    return run.queries_to(target) or 10**6


def test_warm_start_first_proposes_the_best_past_architecture() -> None:
    space = toy_space()
    p = prior_from(space, toy_task(1), 60, seed=3)
    s = WarmStart(space, seed=0, priors=[p])
    best_past = p.top(1)[0][0]
    assert s.ask().key == space.key(best_past)


def test_warm_start_from_related_task_is_much_faster_than_cold() -> None:
    space = toy_space()
    new = toy_task(11, base=1, noise=0.3)
    target = optimum_key(space, new)
    warm, cold = [], []
    for seed in range(6):
        p = prior_from(space, toy_task(1), 150, seed=100 + seed)
        warm.append(_queries(WarmStart(space, seed=seed, priors=[p]), new, target))
        cold.append(_queries(get_strategy("local_search", space, seed=seed), new, target))
    assert statistics.median(warm) <= 0.5 * statistics.median(cold), (warm, cold)


def test_warm_start_from_unrelated_task_hands_over_and_does_not_hurt() -> None:
    space = toy_space()
    new = toy_task(11, base=1, noise=0.3)
    target = optimum_key(space, new)
    warm, cold, handed = [], [], 0
    for seed in range(6):
        p = prior_from(space, lambda a: -toy_task(1)(a), 150, seed=100 + seed)  # opposed task
        s = WarmStart(space, seed=seed, priors=[p])
        warm.append(_queries(s, new, target))
        cold.append(_queries(get_strategy("local_search", space, seed=seed), new, target))
        handed += s.mode == "cold"
    assert handed == 6
    assert statistics.median(warm) <= 1.25 * statistics.median(cold) + 3, (warm, cold)


def test_warm_start_without_priors_is_the_cold_strategy() -> None:
    space = toy_space()
    w, c = (
        WarmStart(space, seed=4, inner="evolution", priors=[]),
        get_strategy("evolution", space, seed=4),
    )
    f = toy_task(2)
    for _ in range(30):
        a, b = w.ask(), c.ask()
        assert a.key == b.key
        w.tell(a, Result(f(a.arch)))
        c.tell(b, Result(f(b.arch)))


def test_warm_start_rejects_bad_options() -> None:
    with pytest.raises(UserInputError):
        WarmStart(toy_space(), inner="warm_start")
    with pytest.raises(UserInputError):
        WarmStart(toy_space(), n_check=0)
    with pytest.raises(UserInputError, match="min_corr must be a number, got 'x'"):
        WarmStart(toy_space(), min_corr="x")  # type: ignore[arg-type]


# ----------------------------------------------------------------- stores
def _fill_store(path, f, name: str, n: int = 40, seed: int = 0, task: str = "toy-a") -> None:
    study = create_study(
        toy_space(),
        "local_search",
        FunctionEvaluator(f),
        storage=str(path),
        study_name=name,
        seed=seed,
        task=TaskInfo(task, "tabular", (5,), 2, 100),
    )
    study.optimize(n)
    study.store.close()


def test_knowledge_base_groups_studies_into_tasks(tmp_path) -> None:
    db = tmp_path / "kb.db"
    _fill_store(db, toy_task(1), "a1", seed=0)
    _fill_store(db, toy_task(1), "a2", seed=1)
    _fill_store(db, toy_task(5), "b1", task="toy-b")
    kb = KnowledgeBase(str(db))
    tasks = {t.name: t for t in kb.tasks(toy_space())}
    assert set(tasks) == {"toy-a", "toy-b"}
    assert tasks["toy-a"].studies == ("a1", "a2")
    assert len(tasks["toy-a"].evaluations) >= 40
    _, best_v = tasks["toy-a"].best(1)[0]
    assert best_v == max(v for _, v in tasks["toy-a"].evaluations.values())
    assert [t.name for t in kb.tasks(toy_space(), exclude=["b1"])] == ["toy-a"]
    assert kb.tasks(Space([IntRange("w", 1, 3)])) == []  # another space knows nothing
    assert len(kb.priors(toy_space(), TaskInfo("new", "tabular", (5,), 2, 100))) == 2
    kb.close()


def test_knowledge_of_a_multi_fidelity_study_is_its_largest_budgets(tmp_path) -> None:
    """Hyperband's 12-epoch results (NB201: ~74%) were averaged with the same cells' 200-epoch
    ones (~90%), and cells seen at 12 epochs only stood beside them as if comparable."""
    from metanas.evaluation.tabular import nb201_table

    db = tmp_path / "hb.db"
    table = nb201_table("cifar10")
    study = create_study("nb201", "hyperband", table, storage=db, study_name="hb", seed=0)
    study.optimize(40)
    top = {t.key: t.value for t in study.trials if t.budget.epochs == 200 and t.value is not None}
    assert 0 < len(top) < len({t.key for t in study.trials})  # promoted cells and the others
    kb = KnowledgeBase(str(db))
    (task,) = kb.tasks()
    assert {k: v for k, (_, v) in task.evaluations.items()} == pytest.approx(top)
    kb.close()


def test_create_study_warm_start_uses_store_and_resumes_exactly(tmp_path) -> None:
    db, twin = tmp_path / "ws.db", tmp_path / "twin.db"
    _fill_store(db, toy_task(1), "past", n=80)
    _fill_store(twin, toy_task(1), "past", n=80)  # the same past, kept free of the new study
    new = toy_task(11, base=1, noise=0.3)
    ev = FunctionEvaluator(new, task=TaskInfo("toy-new", "tabular", (5,), 2, 100))
    s1 = create_study(
        toy_space(),
        "local_search",
        ev,
        storage=str(db),
        study_name="new",
        seed=0,
        warm_start=True,
        warm_options={"budget": 20},
    )
    assert isinstance(s1.strategy, WarmStart) and s1.strategy.budget == 20
    s1.optimize(12)
    keys1 = [t.key for t in s1.trials]
    s1.store.close()
    s2 = create_study(
        toy_space(), "local_search", ev, storage=str(db), study_name="new", resume=True
    )
    assert isinstance(s2.strategy, WarmStart) and s2.strategy.budget == 20  # stored, rebuilt
    s2.optimize(20)
    assert [t.key for t in s2.trials][:12] == keys1
    # a fresh in-memory run with the same seed and the same past proposes the same sequence
    s3 = create_study(
        toy_space(),
        "local_search",
        ev,
        storage=None,
        seed=0,
        warm_start=str(twin),
        warm_options={"budget": 20},
        study_name="again",
    )
    s3.optimize(20)
    assert [t.key for t in s3.trials] == [t.key for t in s2.trials]
    # the store grew: a later study sees both tasks
    s4 = create_study(
        toy_space(), "random", ev, storage=str(db), study_name="later", warm_start=True
    )
    assert sorted(p["task"] for p in s4.strategy.priors) == ["toy-a", "toy-new"]


def test_warm_start_strategy_without_knowledge_is_cold(tmp_path) -> None:
    s = warm_start_strategy(toy_space(), "evolution", None, seed=3)
    assert s.name == "evolution"
    with pytest.raises(UserInputError):
        warm_start_strategy(toy_space(), "warm_start", None)


def test_kb_command_lists_tasks_similarity_and_best(tmp_path, capsys) -> None:
    from metanas.cli import main

    db = tmp_path / "cli.db"
    _fill_store(db, toy_task(1), "a1")
    _fill_store(db, toy_task(5), "b1", task="toy-b")
    assert main(["kb", str(db), "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "toy-a" in out and "toy-b" in out and "similarity" in out and "best 2" in out
    assert main(["kb", str(tmp_path / "missing.db")]) == 2


# ----------------------------------------------------------------- conformance
def _conformance_prior() -> dict:
    from strategy_conformance import objective
    from strategy_conformance import toy_space as conf_space

    space = conf_space()
    archs = [space.sample(i) for i in range(25)]
    vals = [objective(space.key(a)) for a in archs]
    ok = [(a, v) for a, v in zip(archs, vals) if v is not None]
    return Prior("conf", [a for a, _ in ok], [v for _, v in ok]).to_dict()


try:
    from strategy_conformance import StrategyConformance
except ImportError:  # the shared suite is not importable from this rootdir
    StrategyConformance = object  # type: ignore[assignment,misc]


class TestWarmStartConformance(StrategyConformance):  # type: ignore[misc,valid-type]
    strategy = "warm_start"
    params: ClassVar[dict[str, Any]] = {
        "inner": "local_search",
        "inner_kwargs": {"n_init": 3},
        "priors": [_conformance_prior()],
        "n_check": 4,
    }
    avoids_repeats = False  # the cold phase re-proposes the warm results (answered for free)


def test_a_warm_study_stored_before_bananas_changed_its_model_resumes_with_the_old_one(
    tmp_path,
) -> None:
    db = tmp_path / "ws.db"
    _fill_store(db, toy_task(1), "past", n=40)
    ev = FunctionEvaluator(toy_task(2), task=TaskInfo("toy-new", "tabular", (5,), 2, 100))
    s1 = create_study(
        toy_space(),
        "bananas",
        ev,
        storage=str(db),
        study_name="new",
        seed=0,
        warm_start=True,
        # every option as a store without a version ran it (the legacy table's, so a later
        # default change keeps this record old); the predictor is dropped from the record below
        strategy_kwargs=legacy_options("bananas", {"epochs": 20}),
    )
    s1.optimize(25)
    keys = [t.key for t in s1.trials]
    assert s1.strategy._cold is not None  # the stored trials reach the wrapped bananas
    s1.store.close()
    # as the first stores recorded it: no version, and the inner strategy's then-default unnamed
    with sqlite3.connect(db) as con:
        (cfg,) = con.execute("SELECT config FROM studies WHERE name = 'new'").fetchone()
        cfg = json.loads(cfg)
        del cfg["metanas"], cfg["strategy_kwargs"]["inner_kwargs"]["predictor"]
        con.execute("UPDATE studies SET config = ? WHERE name = 'new'", (json.dumps(cfg),))
    s2 = create_study(toy_space(), storage=str(db), study_name="new", evaluator=ev, resume=True)
    assert s2.strategy.inner_kwargs["predictor"] == "mlp"
    s2.optimize(30)  # the replay regenerates the stored asks, or raises ReplayMismatch
    assert [t.key for t in s2.trials][:25] == keys


def test_studies_of_opposite_directions_are_not_pooled(tmp_path) -> None:
    db = tmp_path / "kb.db"
    space = toy_space()
    for direction in ("maximize", "minimize"):
        create_study(space, "random", FunctionEvaluator(toy_task(1)), storage=db,
                     study_name=direction, direction=direction).optimize(5)  # fmt: skip
    kb = KnowledgeBase(str(db))
    tasks = kb.tasks(space)
    assert sorted((t.studies, t.direction) for t in tasks) == [
        (("maximize",), "maximize"), (("minimize",), "minimize")
    ]  # fmt: skip
    kb.close()


def test_a_task_s_cheaper_study_does_not_water_down_its_full_results(tmp_path):
    """Two studies of one task, one at a study-wide 12-epoch budget: only the 200-epoch values
    are the task's (their mean with 12-epoch ones was neither)."""
    from metanas.evaluation.tabular import nb201_table
    from metanas.types import Budget

    db = tmp_path / "kb.db"
    for name, budget in (("cheap", Budget(epochs=12)), ("full", None)):
        create_study("nb201", "random", nb201_table("cifar10"), storage=db, study_name=name,
                     seed=0, budget=budget).optimize(20)  # fmt: skip
    full = {t.key: t.value for t in load_study(db, "full").trials}
    (task,) = KnowledgeBase(db).tasks()
    assert task.studies == ("cheap", "full")
    assert {k: v for k, (_, v) in task.evaluations.items()} == full


def test_a_warm_start_from_another_store_may_learn_from_a_study_of_the_same_name(tmp_path):
    """Only the study being created is left out of its own store's past: the CLI names studies
    after their config, so another store's same-named study is the usual past."""
    from metanas.evaluation.tabular import nb201_table

    past = tmp_path / "a.db"
    create_study("nb201", "local_search", nb201_table("cifar10"), storage=past,
                 study_name="search", seed=0).optimize(30)  # fmt: skip
    new = create_study("nb201", "local_search", nb201_table("cifar10"), storage=tmp_path / "b.db",
                       study_name="search", seed=1, warm_start=str(past))  # fmt: skip
    assert new.strategy.name == "warm_start"


def test_a_past_that_optimized_another_objective_is_no_prior(tmp_path):
    """A latency search's fastest networks are no accuracy search's best."""
    from metanas.evaluation.tabular import nb201_table

    db = tmp_path / "kb.db"
    table = nb201_table("cifar10", extra=("lat_pixel3_ms",))
    create_study("nb201", "random", table, storage=db, study_name="fast", seed=0,
                 objective="lat_pixel3_ms", direction="minimize").optimize(30)  # fmt: skip
    acc = create_study("nb201", "local_search", nb201_table("cifar10"), storage=db,
                       study_name="acc", seed=1, warm_start=True)  # fmt: skip
    assert acc.strategy.name == "local_search"  # cold: no past of val_acc to maximize
    create_study("nb201", "random", nb201_table("cifar10"), storage=db, study_name="acc0",
                 seed=2).optimize(30)  # fmt: skip
    again = create_study("nb201", "local_search", nb201_table("cifar10"), storage=db,
                         study_name="acc2", seed=1, warm_start=True)  # fmt: skip
    (prior,) = again.strategy.priors  # the accuracy study's, not the latency study's
    assert prior["task"] == "nb201-cifar10" and max(prior["values"]) > 80


def test_a_warm_start_checks_its_cold_strategy_s_options_before_the_first_trial(tmp_path):
    """They were first used at the hand-over, dozens of trials in (and again on every resume)."""
    db = tmp_path / "ws.db"
    _fill_store(db, toy_task(1), "past", n=40)
    ev = FunctionEvaluator(toy_task(2), task=TaskInfo("toy-new", "tabular", (5,), 2, 100))
    with pytest.raises(UserInputError, match="foo"):
        create_study(toy_space(), "local_search", ev, storage=db, study_name="new",
                     warm_start=True, strategy_kwargs={"foo": 1})  # fmt: skip


def test_a_warm_start_that_fails_leaves_no_new_store_and_keeps_an_old_one(tmp_path):
    """A bad warm start left an empty store file behind ("nothing was created", it said)."""
    ev = FunctionEvaluator(toy_task(2), task=TaskInfo("toy-new", "tabular", (5,), 2, 100))
    new = tmp_path / "new.db"
    for bad in (
        {"warm_start": tmp_path / "none.db"},
        {"warm_start": True, "warm_options": {"x": 1}},
    ):
        with pytest.raises(UserInputError):
            create_study(toy_space(), "local_search", ev, storage=new, study_name="s", **bad)
        assert list(tmp_path.iterdir()) == []
    old = tmp_path / "old.db"
    _fill_store(old, toy_task(1), "past", n=5)
    with pytest.raises(UserInputError):
        create_study(toy_space(), "local_search", ev, storage=old, study_name="s",
                     warm_start=True, warm_options={"x": 1})  # fmt: skip
    assert len(load_study(old, "past").trials) == 5


def test_a_warm_started_strategy_instance_keeps_its_options(tmp_path):
    db = tmp_path / "ws.db"
    _fill_store(db, toy_task(1), "past", n=40)
    ev = FunctionEvaluator(toy_task(2), task=TaskInfo("toy-new", "tabular", (5,), 2, 100))
    evo = get_strategy("evolution", toy_space(), seed=7, population_size=4, sample_size=2)
    study = create_study(toy_space(), evo, ev, storage=db, study_name="new", warm_start=True)
    assert study.strategy.name == "warm_start"
    assert study.strategy.inner_kwargs == {"population_size": 4, "sample_size": 2}


def test_unbudgeted_results_rank_with_budgeted_ones_of_the_same_epochs(tmp_path):
    """A table's unbudgeted lookup is its 200-epoch column: a random study's results join a
    multi-fidelity study's 200-epoch ones instead of hiding them as 'infinite' epochs."""
    from metanas.evaluation.tabular import nb201_table

    db = tmp_path / "kb.db"
    mf = create_study("nb201", "asha", nb201_table("cifar10"), storage=db, study_name="mf",
                      seed=0, strategy_kwargs={"budgets": (12, 200)})  # fmt: skip
    mf.optimize(60)
    create_study("nb201", "random", nb201_table("cifar10"), storage=db, study_name="r",
                 seed=0).optimize(5)  # fmt: skip
    full = {t.key for t in load_study(db, "mf").trials if t.budget and t.budget.epochs == 200}
    full |= {t.key for t in load_study(db, "r").trials}
    (task,) = KnowledgeBase(db).tasks()
    assert set(task.evaluations) == full and len(full) > 5
