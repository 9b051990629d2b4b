"""The study loop: counting, failures, dedupe, guards, directions, executors, manual ask/tell."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from typing import Any

import pytest

from metanas.evaluation.function import FunctionEvaluator
from metanas.execution.base import Job, JobOutcome
from metanas.space import Choice, IntRange, Space
from metanas.storage import SQLiteStore
from metanas.strategies.base import ReplayMismatch, Strategy
from metanas.study import Study, StudyStopped, create_study, load_study
from metanas.types import (
    Budget,
    Decision,
    Result,
    StudyExists,
    TaskInfo,
    TrialState,
    UserInputError,
)

SPACE = Space([IntRange("w", 0, 99), Choice("op", ("a", "b"))], name="toy")


def score(arch: dict[str, Any]) -> float:
    return -abs(arch["w"] - 70) + (arch["op"] == "b")


class ListStrategy(Strategy):
    """Proposes a fixed list (repeats allowed), cycling; records what it is told."""

    name = "list"

    def __init__(self, space, seed=0, archs=()):
        super().__init__(space, seed)
        self.archs = list(archs)
        self.told: list[tuple[int, float | None]] = []

    def _ask(self):
        return self.archs[self.n_asked % len(self.archs)]

    def _tell(self, candidate, result):
        self.told.append((candidate.id, result.value))


def _archs(*ws: int) -> list[dict[str, Any]]:
    return [{"w": w, "op": "a"} for w in ws]


def test_optimize_counts_and_best(tmp_path):
    s = create_study(
        SPACE, "random", FunctionEvaluator(score), storage=tmp_path / "s.db", study_name="r"
    )
    s.optimize(30)
    assert len(s.trials) == 30 and s.n_finished == 30
    assert all(t.state is TrialState.COMPLETE for t in s.trials)
    assert len({t.key for t in s.trials}) == 30
    assert s.best_trial.value == max(score(t.arch) for t in s.trials)
    s.optimize(45)  # n_trials counts what the study already holds
    assert len(s.trials) == 45
    assert [t.number for t in s.trials] == list(range(45))
    seqs = sorted(x for t in s.trials for x in (t.asked_seq, t.told_seq))
    assert seqs == list(range(90))  # inline: ask, tell, ask, tell ...


def test_same_seed_same_trials():
    runs = [
        [
            t.arch
            for t in create_study(
                SPACE,
                "evolution",
                FunctionEvaluator(score),
                seed=3,
                strategy_kwargs={"population_size": 8, "sample_size": 3},
            )
            .optimize(40)
            .trials
        ]
        for _ in range(2)
    ]
    assert runs[0] == runs[1]


def test_minimize_direction_negates_for_strategy():
    strat = ListStrategy(SPACE, archs=_archs(1, 2, 3))
    s = Study(SPACE, strat, FunctionEvaluator(lambda a: float(a["w"])), direction="minimize")
    s.optimize(3)
    assert [t.value for t in s.trials] == [1.0, 2.0, 3.0]  # as measured
    assert [v for _, v in strat.told] == [-1.0, -2.0, -3.0]  # higher is better for the strategy
    assert s.best_trial.number == 0
    with pytest.raises(UserInputError, match="direction"):
        Study(SPACE, ListStrategy(SPACE, archs=_archs(1)), None, direction="up").optimize(1)


def boom(arch):
    if arch["w"] % 2:
        raise RuntimeError(f"odd width {arch['w']}")
    return float(arch["w"])


def test_evaluator_errors_become_failed_trials():
    s = Study(SPACE, ListStrategy(SPACE, archs=_archs(1, 2, 3, 4)), FunctionEvaluator(boom))
    s.optimize(4)
    states = [t.state for t in s.trials]
    assert states == [TrialState.FAILED, TrialState.COMPLETE] * 2
    assert s.trials[0].error == "RuntimeError: odd width 1" and s.trials[0].value is None
    assert s.best_trial.number == 3


def test_missing_objective_fails_trial():
    s = Study(
        SPACE, ListStrategy(SPACE, archs=_archs(1)), FunctionEvaluator(lambda a: {"acc": 1.0})
    )
    s.optimize(1)
    assert s.trials[0].state is TrialState.FAILED and "'value'" in s.trials[0].error
    s2 = Study(
        SPACE,
        ListStrategy(SPACE, archs=_archs(1)),
        FunctionEvaluator(lambda a: {"acc": 0.5}),
        objective="acc",
    )
    assert s2.optimize(1).best_trial.value == 0.5


def test_dedupe_tells_cached_result_and_does_not_count(tmp_path):
    calls: list[int] = []

    def f(a):
        calls.append(a["w"])
        return float(a["w"])

    strat = ListStrategy(SPACE, archs=_archs(1, 2, 1, 1, 3, 2, 4))
    s = Study(SPACE, strat, FunctionEvaluator(f), store=tmp_path / "s.db", name="d")
    s.optimize(4)
    assert calls == [1, 2, 3, 4]
    assert [t.arch["w"] for t in s.trials] == [1, 2, 3, 4]
    assert strat.told == [(0, 1.0), (1, 2.0), (2, 1.0), (3, 1.0), (4, 3.0), (5, 2.0), (6, 4.0)]
    dups = s.store.duplicates(s.id)
    assert [(d.of_number, d.told_seq - d.asked_seq) for d in dups] == [(0, 1), (0, 1), (1, 1)]


def test_dedupe_off_evaluates_again():
    s = Study(
        SPACE, ListStrategy(SPACE, archs=_archs(1, 1)), FunctionEvaluator(score), dedupe=False
    )
    assert len(s.optimize(2).trials) == 2


def test_only_duplicates_stops_with_message():
    s = Study(SPACE, ListStrategy(SPACE, archs=_archs(5)), FunctionEvaluator(score))
    s.max_duplicates = 50
    with pytest.warns(StudyStopped, match="in a row"):
        s.optimize(10)
    assert len(s.trials) == 1 and "in a row" in s.stop_reason


def test_a_study_that_ran_dry_does_not_ask_again_on_resume_or_retry(tmp_path, monkeypatch):
    """Each run of an exhausted study stored another max_duplicates duplicates (1,000 rows per
    resume, all replayed by the next one); once dry, it stops at once."""
    small = Space([IntRange("w", 0, 5)], name="tiny")
    db = tmp_path / "d.db"
    monkeypatch.setattr(Study, "max_duplicates", 40)

    def run() -> Study:
        st = create_study(small, "random", FunctionEvaluator(lambda a: float(a["w"])),
                          storage=db, study_name="d", resume=True)  # fmt: skip
        with pytest.warns(StudyStopped, match="in a row"):
            st.optimize(10)
        return st

    def n_duplicates() -> int:
        with sqlite3.connect(db) as con:
            return int(con.execute("SELECT COUNT(*) FROM duplicates").fetchone()[0])

    st = run()
    assert len(st.trials) == 6
    stored = n_duplicates()
    assert stored >= 40
    with pytest.warns(StudyStopped, match="in a row"):
        st.optimize(10)  # the same study again
    run()  # and resumed
    assert n_duplicates() == stored


def test_a_scheduler_stalled_on_running_trials_is_not_dry_on_resume(tmp_path):
    """Successive halving re-proposes running trials while their results are out; that stall
    is not a spent space: the run waits for their results and promotes them (it used to stop
    asking, and only a resume went on), and a resume then finds nothing more to do."""
    from metanas.execution.inline import InlineExecutor

    class FourAtOnce(InlineExecutor):
        capacity = 4

    class Budgeted:
        def evaluate(self, arch, budget, report):
            return Result(value=arch["a"] * 0.1 + (budget.epochs if budget else 1) * 0.01)

    space = Space([Choice("a", (0, 1, 2))], name="three")
    kw = {"strategy_kwargs": {"min_budget": 1, "max_budget": 3, "eta": 3}}
    db = tmp_path / "sh.db"

    def run() -> int:
        st = create_study(space, "successive_halving", Budgeted(), storage=db, study_name="s",
                          executor=FourAtOnce(), resume=True, **kw)  # fmt: skip
        with pytest.warns(StudyStopped):
            st.optimize(10)
        return st.n_finished

    assert run() == 6  # three at the smaller budget, then the three promoted
    assert run() == 6


def test_max_duplicates_zero_still_asks():
    s = Study(SPACE, ListStrategy(SPACE, archs=_archs(1, 2, 3)), FunctionEvaluator(score))
    s.max_duplicates = 0
    assert len(s.optimize(3).trials) == 3


def test_exhausted_grid_stops():
    small = Space([Choice("op", ("a", "b", "c"))], name="small")
    s = create_study(small, "grid", FunctionEvaluator(lambda a: 1.0))
    with pytest.warns(StudyStopped):
        s.optimize(10)
    assert sorted(t.arch["op"] for t in s.trials) == ["a", "b", "c"]


def test_existing_name_needs_resume(tmp_path):
    db = tmp_path / "s.db"
    create_study(SPACE, "random", FunctionEvaluator(score), storage=db, study_name="x").optimize(2)
    with pytest.raises(StudyExists, match=r"already exists.*; pass resume=True to continue it"):
        create_study(SPACE, "random", FunctionEvaluator(score), storage=db, study_name="x")
    with pytest.raises(UserInputError, match="study name"):
        create_study(SPACE, "random", FunctionEvaluator(score), storage=db, study_name="a/b")
    other = Space([IntRange("w", 0, 9)], name="other")
    with pytest.raises(UserInputError, match="space given differs"):
        create_study(
            other, "random", FunctionEvaluator(score), storage=db, study_name="x", resume=True
        )


def test_resume_rebuilds_strategy_from_config(tmp_path):
    db = tmp_path / "s.db"
    kw = {"population_size": 6, "sample_size": 2}
    ref = create_study(
        SPACE, "evolution", FunctionEvaluator(score), seed=5, strategy_kwargs=kw
    ).optimize(30)
    create_study(
        SPACE,
        "evolution",
        FunctionEvaluator(score),
        storage=db,
        study_name="e",
        seed=5,
        strategy_kwargs=kw,
    ).optimize(12)
    # another strategy or option value is refused; the seed given here is ignored: the stored wins
    with pytest.raises(UserInputError, match="created with strategy 'evolution', not 'random'"):
        create_study(SPACE, "random", FunctionEvaluator(score), storage=db, study_name="e",
                     resume=True)  # fmt: skip
    with pytest.raises(UserInputError, match="created to maximize its objective, not to minimize"):
        create_study(SPACE, evaluator=FunctionEvaluator(score), storage=db, study_name="e",
                     resume=True, direction="minimize")  # fmt: skip
    # another objective or budget would score the new trials otherwise than the stored ones
    with pytest.raises(UserInputError, match="created to optimize 'value', not 'acc'"):
        create_study(SPACE, evaluator=FunctionEvaluator(score), storage=db, study_name="e",
                     resume=True, objective="acc")  # fmt: skip
    with pytest.raises(UserInputError, match="created with no budget, not budget"):
        create_study(SPACE, evaluator=FunctionEvaluator(score), storage=db, study_name="e",
                     resume=True, budget=Budget(epochs=3))  # fmt: skip
    with pytest.raises(
        UserInputError, match="created with strategy option population_size=6, not 8"
    ):
        create_study(SPACE, "evolution", FunctionEvaluator(score), storage=db, study_name="e",
                     resume=True, strategy_kwargs={"population_size": 8})  # fmt: skip
    # an option the store does not name is compared with the default the study ran with
    with pytest.raises(
        UserInputError, match="created with strategy option replace=False, not True"
    ):
        create_study(SPACE, "evolution", FunctionEvaluator(score), storage=db, study_name="e",
                     resume=True, strategy_kwargs={"replace": True})  # fmt: skip
    with pytest.raises(UserInputError, match="'evolution' has no option 'sample_sise'"):
        create_study(SPACE, "evolution", FunctionEvaluator(score), storage=db, study_name="e",
                     resume=True, strategy_kwargs={"sample_sise": 2})  # fmt: skip
    s = create_study(
        SPACE, "evolution", FunctionEvaluator(score), storage=db, study_name="e", seed=99,
        resume=True, strategy_kwargs={"population_size": 6, "replace": False},
    )  # fmt: skip
    assert s.strategy.name == "evolution" and s.strategy.population_size == 6
    s.optimize(30)
    assert [t.arch for t in s.trials] == [t.arch for t in ref.trials]


def test_a_resume_on_other_data_is_refused_and_stores_nothing(tmp_path):
    db = tmp_path / "s.db"
    digits = TaskInfo("digits", "image", (1, 8, 8), 10, 1797)

    def study(task: TaskInfo | None, resume: bool = True) -> Study:
        ev = FunctionEvaluator(score, task=task)
        return create_study(SPACE, "random", ev, storage=db, study_name="t", resume=resume)

    study(digits, resume=False).optimize(3)
    for other, says in [
        (TaskInfo("mnist_5k", "image", (1, 28, 28), 10, 5000), "inputs 1x8x8, 10 classes"),
        (TaskInfo("nb201-cifar100", "table", n_samples=15625), "not on 'nb201-cifar100' (a tab"),
    ]:
        with pytest.raises(
            UserInputError, match=rf"study 't' was searched on 'digits' .*{re.escape(says)}"
        ):
            study(other)
    # another subsample of the same data, and a plain function's task, are the same task
    study(TaskInfo("digits", "image", (1, 8, 8), 10, 500)).optimize(4)  # trials in all
    study(None).optimize(5)
    assert len(load_study(db, "t").trials) == 5


class _Returns:
    """An evaluator that returns whatever ``make`` builds (a buggy one, in these tests)."""

    objective = "value"

    def __init__(self, make: Any) -> None:
        self.make = make

    def evaluate(self, arch: Any, budget: Any = None, report: Any = None) -> Any:
        return self.make(arch)


@pytest.mark.parametrize(
    "result, says",
    [
        (Result(value=1.0, cost=float("nan")), "cost must be the seconds spent, a finite number >= 0, got nan"),
        (Result(value=1.0, cost=-5.0), "cost must be the seconds spent, a finite number >= 0, got -5.0"),
        (Result(value="x"), "value must be a number or None, got 'x'"),  # type: ignore[arg-type]
        (Result(value=1.0, metrics="x"), "metrics must be a mapping of names to numbers, got 'x'"),  # type: ignore[arg-type]
        (Result(value=float("nan")), "objective 'value' is nan, not a finite number"),
        (Result(value=None, metrics={"value": "x"}), "objective 'value' is x, not a finite number"),
        # the store keeps these as JSON: a search ended in a TypeError, its trial left running
        (Result(value=1.0, metrics={"x": object()}), "metrics must hold numbers and text (object is not"),
        (Result(value=1.0, curve=[{"step": 1, "v": object()}]), "curve must hold numbers and text"),
        (Result(value=1.0, state="complete"), "state must be a finished TrialState (complete, pruned or failed), got 'complete'"),  # type: ignore[arg-type]
        # it left the trial running (counted finished, told twice, run again on resume)
        (Result(value=1.0, state=TrialState.RUNNING), "state must be a finished TrialState"),
    ],
)  # fmt: skip
def test_a_malformed_result_fails_its_trial_not_the_run(tmp_path, result: Result, says: str):
    # each used to abort optimize (a NaN cost left the trial running in the store for good)
    st = create_study(SPACE, "random", _Returns(lambda a: result), storage=tmp_path / "s.db")
    st.optimize(2)
    assert [t.state for t in st.trials] == [TrialState.FAILED] * 2
    assert says in (st.trials[0].error or "")
    assert [t.state for t in load_study(tmp_path / "s.db", st.name).trials] == [
        TrialState.FAILED
    ] * 2


def test_a_study_stored_before_bananas_changed_its_model_resumes_with_the_old_one(tmp_path):
    db = tmp_path / "s.db"
    kw = {"predictor": "mlp", "epochs": 20}
    ref = create_study(SPACE, "bananas", FunctionEvaluator(score), strategy_kwargs=kw).optimize(14)
    create_study(
        SPACE, "bananas", FunctionEvaluator(score), storage=db, study_name="b", strategy_kwargs=kw
    ).optimize(9)
    # as the first stores recorded it: no version, and the then-default model not named
    with sqlite3.connect(db) as con:
        cfg = json.loads(con.execute("SELECT config FROM studies").fetchone()[0])
        del cfg["metanas"], cfg["strategy_kwargs"]["predictor"]
        con.execute("UPDATE studies SET config = ?", (json.dumps(cfg),))
    s = create_study(
        SPACE, storage=db, study_name="b", evaluator=FunctionEvaluator(score), resume=True
    )
    assert s.strategy.predictor_name == "mlp"
    s.optimize(14)
    assert [t.arch for t in s.trials] == [t.arch for t in ref.trials]


def test_a_study_stored_by_0_1_resumes_bananas_with_the_stuck_rule_of_its_time(tmp_path):
    # 0.2.0 made a stuck bananas run restart; 0.1.0's runs explored, and replay must agree
    flat = FunctionEvaluator(lambda arch: 0.0)  # never improves: stuck after 3 results
    kw = {"patience": 3, "n_init": 3}
    explore = {**kw, "on_stuck": "explore"}
    old = create_study(SPACE, "bananas", flat, strategy_kwargs=explore).optimize(14)
    new = create_study(SPACE, "bananas", flat, strategy_kwargs=kw).optimize(14)
    assert [t.arch for t in old.trials][:9] != [t.arch for t in new.trials][:9]
    db = tmp_path / "s.db"
    create_study(
        SPACE, "bananas", flat, storage=db, study_name="b", strategy_kwargs=explore
    ).optimize(9)
    # as 0.1.0 recorded it: its version, and its only stuck rule not named
    with sqlite3.connect(db) as con:
        cfg = json.loads(con.execute("SELECT config FROM studies").fetchone()[0])
        cfg["metanas"] = "0.1.0"
        del cfg["strategy_kwargs"]["on_stuck"]
        con.execute("UPDATE studies SET config = ?", (json.dumps(cfg),))
    s = create_study(SPACE, storage=db, study_name="b", evaluator=flat, resume=True)
    assert s.strategy.on_stuck == "explore" and s.strategy.predictor_name == "quadratic"
    s.optimize(14)
    assert [t.arch for t in s.trials] == [t.arch for t in old.trials]


def test_a_study_stored_by_0_2_0_resumes_mf_ucb_with_the_prices_of_its_time(tmp_path):
    # 0.2.1 priced mf_ucb's rungs by measured costs; 0.2.0 by the budgets alone
    db = tmp_path / "s.db"
    ev = FunctionEvaluator(score)
    create_study(
        SPACE, "mf_ucb", ev, storage=db, study_name="m", strategy_kwargs={"n_init": 3}
    ).optimize(4)
    with sqlite3.connect(db) as con:
        cfg = json.loads(con.execute("SELECT config FROM studies").fetchone()[0])
        cfg["metanas"] = "0.2.0"
        con.execute("UPDATE studies SET config = ?", (json.dumps(cfg),))
    resumed = create_study(SPACE, storage=db, study_name="m", evaluator=ev, resume=True)
    assert resumed.strategy.costs == "budget"
    fresh = create_study(SPACE, "mf_ucb", ev, storage=db, study_name="n")
    assert fresh.strategy.costs == "measured"


def test_a_tpe_study_stored_by_0_2_1_resumes_with_failures_among_the_good(tmp_path):
    # before 0.2.2 TPE's split put failed trials first; a resume must replay that rule
    def fails_at_zero(arch):
        return float("nan") if arch["w"] < 30 else score(arch)

    db = tmp_path / "s.db"
    ev = FunctionEvaluator(fails_at_zero)
    kw = {"n_startup": 4, "failures_good": True}
    old = create_study(SPACE, "tpe", ev, seed=3, strategy_kwargs=kw).optimize(20)
    assert sum(t.value is None for t in old.trials) > 2
    create_study(SPACE, "tpe", ev, storage=db, study_name="t", seed=3, strategy_kwargs=kw).optimize(
        12
    )
    with sqlite3.connect(db) as con:  # as 0.2.1 recorded it: no failures_good option
        cfg = json.loads(con.execute("SELECT config FROM studies").fetchone()[0])
        cfg["metanas"] = "0.2.1"
        del cfg["strategy_kwargs"]["failures_good"]
        con.execute("UPDATE studies SET config = ?", (json.dumps(cfg),))
    s = create_study(SPACE, storage=db, study_name="t", evaluator=ev, resume=True)
    assert s.strategy.failures_good is True
    s.optimize(20)
    assert [t.arch for t in s.trials] == [t.arch for t in old.trials]
    assert create_study(SPACE, "tpe", ev).strategy.failures_good is False


@pytest.mark.parametrize(
    ("name", "option", "then"),
    [
        ("local_search", "offer_pending", False),
        ("bananas", "keep_late", True),
        ("bananas", "counts", False),
    ],
)
def test_a_study_stored_by_0_2_2_resumes_with_the_asynchronous_rules_of_its_time(
    tmp_path, name, option, then
):
    # 0.2.3 changed what local search and bananas do with results pending across a move or
    # restart, and bananas' features
    db = tmp_path / "s.db"
    ev = FunctionEvaluator(score)
    create_study(SPACE, name, ev, storage=db, study_name="a").optimize(3)
    with sqlite3.connect(db) as con:
        cfg = json.loads(con.execute("SELECT config FROM studies").fetchone()[0])
        cfg["metanas"] = "0.2.2"
        con.execute("UPDATE studies SET config = ?", (json.dumps(cfg),))
    resumed = create_study(SPACE, storage=db, study_name="a", evaluator=ev, resume=True)
    assert getattr(resumed.strategy, option) is then
    assert getattr(create_study(SPACE, name, ev).strategy, option) is not then


def test_resume_with_other_seed_instance_mismatches(tmp_path):
    db = tmp_path / "s.db"
    create_study(
        SPACE, "random", FunctionEvaluator(score), storage=db, study_name="m", seed=1
    ).optimize(5)
    from metanas.strategies import get_strategy

    with pytest.raises(ReplayMismatch):
        create_study(
            SPACE,
            get_strategy("random", SPACE, seed=2),
            FunctionEvaluator(score),
            storage=db,
            study_name="m",
            resume=True,
        )


def test_running_trial_is_rerun_on_resume(tmp_path):
    db = tmp_path / "s.db"
    s = create_study(SPACE, "random", FunctionEvaluator(score), storage=db, study_name="c")
    s.optimize(3)
    cand = s.ask()  # asked, recorded as running, never told: as if the process died
    s.store.close()
    s2 = create_study(
        SPACE, "random", FunctionEvaluator(score), storage=db, study_name="c", resume=True
    )
    assert s2.trials[3].state is TrialState.RUNNING
    s2.optimize(5)
    assert [t.state for t in s2.trials] == [TrialState.COMPLETE] * 5
    assert s2.trials[3].arch == cand.arch and s2.trials[3].value == score(cand.arch)


def test_manual_ask_tell():
    s = Study(SPACE, ListStrategy(SPACE, archs=_archs(3, 4, 3, 5)), FunctionEvaluator(score))
    c0 = s.ask()
    t0 = s.tell(c0, 7.0)
    c1 = s.ask()
    t1 = s.tell(c1, {"value": 9.0, "acc": 0.1})
    assert (t0.value, t1.value, t1.metrics["acc"]) == (7.0, 9.0, 0.1)
    with pytest.raises(UserInputError, match="already told"):
        s.tell(c1, 1.0)
    c2 = s.ask()  # the repeat of w=3 was told the stored 7.0 and skipped
    assert c2.arch["w"] == 5 and c2.id == 3 and s.strategy.told[2] == (2, 7.0)
    assert s.best_trial.value == 9.0


def test_tell_takes_only_this_studys_candidates_and_numbers(tmp_path):
    db = tmp_path / "s.db"
    a = create_study(SPACE, "random", FunctionEvaluator(score), storage=db, study_name="a")
    b = create_study(SPACE, "random", FunctionEvaluator(score), storage=db, study_name="b")
    ca, cb = a.ask(), b.ask()
    assert (ca.id, ca.key) == (cb.id, cb.key)  # same seed: alike in all but the study
    with pytest.raises(UserInputError, match="was not asked by this study 'a'"):
        a.tell(cb, 0.9)
    with pytest.raises(UserInputError, match="was not asked"):
        a.tell("x", 0.9)  # type: ignore[arg-type]
    for bad, msg in [
        ("abc", "tell\\(\\) got str 'abc'; give a number"),
        (None, "got NoneType"),
        ([1, 2], "got list"),
        ({"value": "x"}, "metric 'value' is 'x', not a number"),
    ]:
        with pytest.raises(UserInputError, match=msg):
            a.tell(ca, bad)  # type: ignore[arg-type]
    assert [t.state for t in load_study(db, "a").trials] == [TrialState.RUNNING]
    assert a.tell(ca, float("inf")).error == "objective 'value' is inf, not a finite number"
    assert b.tell(cb, {"acc": 0.5}).error.startswith(
        "objective 'value' is not among the reported metrics ['acc']; report it, or set"
    )
    assert a.best_trial is None and b.best_trial is None


def test_objective_function_with_a_non_numeric_or_infinite_metric_fails_the_trial():
    outs = iter([{"value": 1.0, "note": "hi"}, float("-inf"), {"value": 2.0}])
    s = Study(
        SPACE, ListStrategy(SPACE, archs=_archs(1, 2, 3)), FunctionEvaluator(lambda a: next(outs))
    )
    s.optimize(3)
    assert [t.error for t in s.trials[:2]] == [
        "objective function: metric 'note' is 'hi', not a number; report only numbers as metrics.",
        "objective 'value' is -inf, not a finite number",
    ]
    assert s.best_trial is not None and s.best_trial.value == 2.0


def test_schedulers_on_a_table_run_at_its_fidelities():
    from metanas.evaluation.tabular import nb201_table

    ev = nb201_table("cifar10")
    s = create_study("nb201", "asha", ev, seed=0)
    s.optimize(30)  # asha's own rungs would be 1/3/9/27 epochs, all answered at 12
    assert sorted({t.budget.epochs for t in s.trials}) == [12.0, 200.0]
    assert s.best_trial.budget.epochs == 200.0
    with pytest.raises(UserInputError, match="rungs 50/200 epochs include 50 epochs, which the"):
        create_study("nb201", "hyperband", ev, strategy_kwargs={"budgets": (50, 200)})
    with pytest.raises(UserInputError, match="budgets must be a list of numbers"):
        create_study("nb201", "hyperband", ev, strategy_kwargs={"budgets": "12,200"})


def test_budget_is_passed_and_part_of_dedupe_key():
    seen: list[Budget | None] = []

    def f(arch, budget, report):
        seen.append(budget)
        for step in range(1, 4):
            assert report(step, {"acc": step / 10}) is Decision.CONTINUE
        return {"value": budget.epochs}

    s = Study(
        SPACE, ListStrategy(SPACE, archs=_archs(1)), FunctionEvaluator(f), budget=Budget(epochs=12)
    )
    s.optimize(1)
    assert seen == [Budget(epochs=12)] and s.trials[0].value == 12
    assert [c["acc"] for c in s.trials[0].curve] == [0.1, 0.2, 0.3]


class ReversingExecutor:
    """Finishes jobs in reverse order, `capacity` at a time: the loop must not assume order."""

    capacity = 3

    def __init__(self):
        self.queue: list[Job] = []
        self.max_inflight = 0
        self.shut = False

    def submit(self, job: Job) -> None:
        self.queue.append(job)
        self.max_inflight = max(self.max_inflight, len(self.queue))

    def wait(self, timeout=None):
        if not self.queue:
            return []
        job = self.queue.pop()
        return [JobOutcome(job.id, job.fn(*job.args))]

    def shutdown(self):
        self.shut = True


def test_executor_agnostic_async_loop():
    ex = ReversingExecutor()
    s = Study(
        SPACE, ListStrategy(SPACE, archs=_archs(*range(20))), FunctionEvaluator(score), executor=ex
    )
    s.optimize(10)
    assert ex.max_inflight == 3 and not ex.shut  # a caller's executor stays usable
    assert len(s.trials) == 10 and s.n_finished == 10
    assert all(t.state is TrialState.COMPLETE for t in s.trials)
    told = [t.told_seq for t in s.trials]
    assert told != sorted(told)  # finished out of order, recorded faithfully


def test_in_flight_duplicate_waits_for_original():
    ex = ReversingExecutor()
    strat = ListStrategy(SPACE, archs=_archs(1, 1, 2, 3))
    s = Study(SPACE, strat, FunctionEvaluator(lambda a: float(a["w"])), executor=ex)
    s.optimize(3)
    assert [t.arch["w"] for t in s.trials] == [1, 2, 3]
    assert (1, 1.0) in strat.told and len(strat.told) == 4


def slow(arch):
    time.sleep(0.01)
    return 1.0


def test_timeout_stops_asking():
    s = Study(SPACE, ListStrategy(SPACE, archs=_archs(*range(100))), FunctionEvaluator(slow))
    s.optimize(100, timeout=0.05)
    assert 0 < len(s.trials) < 100 and all(t.state.finished for t in s.trials)


def test_callbacks_and_quiet_by_default(capsys):
    got = []
    s = Study(SPACE, ListStrategy(SPACE, archs=_archs(*range(10))), FunctionEvaluator(score))
    s.optimize(3, callbacks=[lambda st, t: got.append((st is s, t.number))])
    assert got == [(True, 0), (True, 1), (True, 2)]
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    s.optimize(5, progress=True)
    assert "5/5" in capsys.readouterr().err
    s.optimize(6, callbacks=lambda st, t: got.append((st is s, t.number)))  # one, no list
    assert got[-1] == (True, 5)


def test_bad_arguments():
    s = Study(SPACE, ListStrategy(SPACE, archs=_archs(1)), FunctionEvaluator(score))
    for bad in (-1, 1.5, "3"):
        with pytest.raises(UserInputError, match="n_trials"):
            s.optimize(bad)
    with pytest.raises(UserInputError, match="timeout"):
        s.optimize(1, timeout=0)
    with pytest.raises(UserInputError, match="unknown strategy"):
        create_study(SPACE, "nope", FunctionEvaluator(score))
    with pytest.raises(UserInputError, match="no evaluator"):
        Study(SPACE, ListStrategy(SPACE, archs=_archs(1)), None).optimize(1)


def test_load_study_read_only(tmp_path):
    db = tmp_path / "s.db"
    s = create_study(
        SPACE, "random", FunctionEvaluator(score), storage=db, study_name="l", direction="minimize"
    )
    s.optimize(8)
    ro = load_study(db, "l")
    assert [t.arch for t in ro.trials] == [t.arch for t in s.trials]
    assert ro.best_trial.value == min(t.value for t in s.trials)
    assert ro.space == SPACE and ro.direction == "minimize"
    with pytest.raises(UserInputError, match="no evaluator"):
        ro.optimize(10)
    with pytest.raises(UserInputError, match=r"no study 'zz'.*existing: l"):
        load_study(db, "zz")
    assert SQLiteStore(db).get_study("l").n_complete == 8


def test_function_evaluator_forms():
    rep = lambda step, m: Decision.CONTINUE  # noqa: E731
    assert FunctionEvaluator(lambda a: 2).evaluate({}, None, rep).value == 2.0
    r = FunctionEvaluator(lambda a: float("nan")).evaluate({}, None, rep)
    assert (
        r.state is TrialState.FAILED and r.error == "objective 'value' is nan, not a finite number"
    )
    r = FunctionEvaluator(lambda a: "x").evaluate({}, None, rep)
    assert r.state is TrialState.FAILED
    r = FunctionEvaluator(lambda a: {"acc": 2}).evaluate({}, None, rep)
    assert r.value is None and r.metrics == {"acc": 2.0}
    r = FunctionEvaluator(lambda a, b=None: {"value": 1, "acc": 2}).evaluate({}, None, rep)
    assert r.metrics == {"value": 1.0, "acc": 2.0}
    assert FunctionEvaluator(lambda *a: len(a)).evaluate({}, None, rep).value == 3.0
    assert FunctionEvaluator(score).task_info().name == "score"
    with pytest.raises(UserInputError, match="takes no arguments"):
        FunctionEvaluator(lambda: 1).evaluate({}, None, rep)
    assert isinstance(FunctionEvaluator(lambda a: Result(1.0)).evaluate({}, None, rep), Result)


def test_warnings_are_the_only_output_of_a_stop(capsys):
    # one architecture, proposed again and again: the study stops after one trial, and says so
    # only through the warning (nothing printed to stdout or stderr)
    with pytest.warns(StudyStopped, match="stopped after 1 trials.*in a row") as caught:
        s = Study(SPACE, ListStrategy(SPACE, archs=_archs(5)), FunctionEvaluator(score))
        s.max_duplicates = 3
        s.optimize(3)
    assert [w.category for w in caught] == [StudyStopped]
    assert len(s.trials) == 1 and s.stop_reason
    assert capsys.readouterr() == ("", "")


@pytest.mark.slow  # spawning workers that import torch takes ~20 s on two cores
def test_process_pool_executor_runs_the_loop(tmp_path):
    from metanas.execution import ProcessPoolExecutor

    ex = ProcessPoolExecutor(workers=2, threads_per_worker=1)
    try:
        s = create_study(SPACE, "random", FunctionEvaluator(boom), storage=tmp_path / "p.db",
                         study_name="pool", executor=ex)  # fmt: skip
        s.optimize(8)
    finally:
        ex.shutdown()
    assert len(s.trials) == 8 and all(t.state.finished for t in s.trials)
    for t in s.trials:  # odd widths raise inside the worker and come back as failed trials
        assert (t.state is TrialState.FAILED) == bool(t.arch["w"] % 2)
        assert t.value == (None if t.arch["w"] % 2 else float(t.arch["w"]))


def test_optimize_again_after_ctrl_c_reruns_the_cut_off_trial(tmp_path):
    """In a notebook, Ctrl-C then ``optimize`` again on the same study: the trial the interrupt
    cut off runs again (as a resume would), none stays running for good."""
    calls = [0]

    def score(a: dict) -> float:
        calls[0] += 1
        if calls[0] == 5:
            raise KeyboardInterrupt
        return float(a["w"])

    st = create_study(SPACE, "random", FunctionEvaluator(score), storage=tmp_path / "k.db",
                      study_name="k")  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        st.optimize(20)
    assert [t.state for t in st.trials].count(TrialState.RUNNING) == 1
    st.optimize(20)
    assert len(st.trials) == 20 and all(t.state == TrialState.COMPLETE for t in st.trials)
    stored = load_study(tmp_path / "k.db", "k").trials
    assert [t.number for t in stored] == list(range(20))
    assert all(t.state == TrialState.COMPLETE for t in stored)


def test_a_result_the_store_failed_to_write_is_run_again_by_the_next_optimize(tmp_path):
    """A failed write (a full disk, say) used the trial's sequence number all the same, so the
    same study's next optimize() said another process had changed it, and the trial, already
    out of the loop's in-flight set, was never run again."""
    from metanas.types import StorageError

    st = create_study(SPACE, "random", FunctionEvaluator(score), storage=tmp_path / "s.db")
    st.optimize(2)
    real = st.store.record
    calls = []

    def full_disk(study_id, trial):
        calls.append(trial.state)
        if trial.state is not TrialState.RUNNING and len(calls) == 2:
            raise StorageError("database or disk is full")
        real(study_id, trial)

    st.store.record = full_disk
    with pytest.raises(StorageError):
        st.optimize(4)
    st.optimize(4)
    stored = load_study(tmp_path / "s.db", st.name).trials
    assert [t.state for t in stored] == [TrialState.COMPLETE] * 4


@pytest.mark.parametrize("name", ["asha", "successive_halving"])
def test_parallel_schedulers_promote_after_their_new_samples_run_out(name):
    """With trials running, a scheduler's only proposals may be repeats until a result makes
    room for a promotion: the loop waited for none, stopped asking, and the top rung was never
    reached (run alone, it was)."""
    import zlib

    space = Space([IntRange("w", 0, 8)], name="nine")
    ev = FunctionEvaluator(lambda a: float(zlib.crc32(str(a["w"]).encode()) % 100))
    opts = {"budgets": [1, 3, 9]}
    alone = create_study(space, name, ev, seed=0, strategy_kwargs=opts)
    with pytest.warns(StudyStopped):
        alone.optimize(50)
    four = ReversingExecutor()
    four.capacity = 4
    four.wait = lambda timeout=None: (  # the oldest job finishes first
        [JobOutcome(j.id, j.fn(*j.args)) for j in [four.queue.pop(0)]] if four.queue else []
    )
    parallel = create_study(space, name, ev, seed=0, strategy_kwargs=opts, executor=four)
    with pytest.warns(StudyStopped):
        parallel.optimize(50)
    assert any(t.budget.epochs == 9 for t in alone.trials)
    assert any(t.budget.epochs == 9 for t in parallel.trials)
    # beyond the run alone's repeats: at most two streaks (one finds the wait, then one try per
    # result; with nothing running, a full one); a full streak after each promotion stored more
    streak = parallel.max_duplicates + 1
    stored = len(parallel.store.duplicates(parallel.id))
    assert stored <= len(alone.store.duplicates(alone.id)) + 2 * streak
    assert parallel.stop_reason is not None and "space may be exhausted" in parallel.stop_reason


def test_metrics_in_any_mapping_are_stored(tmp_path):
    """A read-only mapping was judged not storable as JSON, though the store writes a dict."""
    from types import MappingProxyType

    result = Result(value=None, metrics=MappingProxyType({"value": 8.0}),
                    curve=[MappingProxyType({"step": 1.0, "value": 8.0})])  # fmt: skip
    st = create_study(SPACE, "random", _Returns(lambda a: result), storage=tmp_path / "s.db")
    st.optimize(1)
    (t,) = load_study(tmp_path / "s.db", st.name).trials
    assert t.state is TrialState.COMPLETE and t.value == 8.0 and t.curve[0]["value"] == 8.0


def test_telling_a_number_too_large_for_a_float_is_one_sentence():
    s = Study(SPACE, ListStrategy(SPACE, archs=_archs(3, 4)), FunctionEvaluator(score))
    c = s.ask()
    for result in (10**400, {"value": 10**400}):
        with pytest.raises(UserInputError, match="not a number"):
            s.tell(c, result)
    assert s.tell(c, 1.0).value == 1.0  # nothing was recorded by the refused tells
