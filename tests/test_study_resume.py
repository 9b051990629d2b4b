"""Crash safety: a study killed with SIGKILL at random moments and resumed ends exactly where an
uninterrupted run ends: same trials, same order, none lost, none evaluated twice."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from metanas.evaluation.function import FunctionEvaluator
from metanas.space import Choice, IntRange, Space
from metanas.study import create_study, load_study
from metanas.types import TrialState

# stuck_sample=False: evolution then asks seen children, so the replay meets repeats too
OPTIONS = '{"population_size": 12, "sample_size": 4, "stuck_sample": false}'
CHILD = textwrap.dedent(
    """
    import json, sys, time, warnings
    warnings.simplefilter("ignore")
    from metanas.evaluation.function import FunctionEvaluator
    from metanas.space import Choice, IntRange, Space
    from metanas.study import create_study

    space = Space([IntRange("w", 0, 19), Choice("op", ("a", "b", "c")), IntRange("d", 1, 4)], name="k")

    def score(a):
        time.sleep(0.002)  # long enough that kills land mid-evaluation too
        return -abs(a["w"] - 13) - abs(a["d"] - 3) + (a["op"] == "b")

    db, n = sys.argv[1], int(sys.argv[2])
    OPTIONS = json.loads(sys.argv[3])
    study = create_study(space, "evolution", FunctionEvaluator(score), storage=db, study_name="k",
                         seed=11, resume=True, strategy_kwargs=OPTIONS)
    study.optimize(n)
    """
)

SPACE = Space([IntRange("w", 0, 19), Choice("op", ("a", "b", "c")), IntRange("d", 1, 4)], name="k")


def _score(a):
    return -abs(a["w"] - 13) - abs(a["d"] - 3) + (a["op"] == "b")


def _n_finished(db) -> int:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            return con.execute("SELECT COUNT(*) FROM trials WHERE state != 'running'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:  # not created yet
        return 0


def _killed_run(tmp_path, n: int, kills: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    db = tmp_path / "k.db"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done_kills = 0
    for _ in range(kills * 3):  # a run may finish before its kill lands; then stop early
        before = _n_finished(db)
        if before >= n:
            break
        target = before + int(rng.integers(1, max(2, n // (kills + 1))))
        p = subprocess.Popen(
            [sys.executable, str(script), str(db), str(n), OPTIONS],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        while p.poll() is None and _n_finished(db) < target:
            time.sleep(0.005)
        time.sleep(float(rng.uniform(0, 0.01)))  # land anywhere: mid-trial, mid-commit, between
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            done_kills += 1
        out, err = p.communicate(timeout=60)
        assert p.returncode in (0, -signal.SIGKILL), err.decode()
        assert out == b""
        if done_kills >= kills:
            break
    p = subprocess.run(
        [sys.executable, str(script), str(db), str(n), OPTIONS],
        env=env,
        capture_output=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr.decode()
    assert done_kills >= 1
    from metanas.study import load_study

    study = load_study(db, "k")
    assert len(study.store.duplicates(study.id)) > 0  # repeats were recorded and replayed too
    return study.trials


def _reference(n: int) -> list:
    return (
        create_study(
            SPACE,
            "evolution",
            FunctionEvaluator(_score),
            seed=11,
            strategy_kwargs=json.loads(OPTIONS),
        )
        .optimize(n)
        .trials
    )


def _check(trials, ref, n):
    assert len(trials) == n
    assert all(t.state is TrialState.COMPLETE for t in trials)
    assert len({t.key for t in trials}) == n
    assert [(t.number, t.key, t.value) for t in trials] == [(t.number, t.key, t.value) for t in ref]


def test_sigkill_and_resume_matches_uninterrupted_run(tmp_path):
    n = 120
    _check(_killed_run(tmp_path, n, kills=3, seed=0), _reference(n), n)


@pytest.mark.slow
def test_twenty_sigkills_and_resume(tmp_path):
    n = 160  # near the space's 240 architectures: thousands of repeats are told and replayed
    _check(_killed_run(tmp_path, n, kills=20, seed=1), _reference(n), n)


@pytest.mark.parametrize("strategy", ["bananas", "tpe", "reinforce", "evolution"])
def test_tuple_options_come_back_as_tuples_and_resume(tmp_path, strategy):
    # JSON stores (3, 3) as [3, 3]: the model-based strategies could not resume such a study
    space = Space([Choice("k", ((3, 3), (5, 5), (1, 7))), IntRange("w", 0, 9)])
    ev = FunctionEvaluator(lambda a: a["w"] + a["k"][0])
    db = tmp_path / "s.db"
    ref = create_study(space, strategy, ev).optimize(20)
    create_study(space, strategy, ev, storage=db, study_name="t").optimize(12)
    resumed = create_study(space, strategy, ev, storage=db, study_name="t", resume=True)
    assert all(isinstance(t.arch["k"], tuple) for t in resumed.trials)
    resumed.optimize(20)
    assert [t.arch for t in resumed.trials] == [t.arch for t in ref.trials]
    # read without the space it was made with, the study is in the JSON form of its store
    assert [t.arch["k"] for t in load_study(db, "t").trials] == [
        list(t.arch["k"]) for t in ref.trials
    ]


def test_resume_refuses_training_settings_that_would_score_new_trials_otherwise(tmp_path):
    """The data subsample, the validation split or the training recipe changed on resume would
    mix trials scored two ways in one study; how fast a trial runs (threads, device) may change."""
    from metanas.evaluation.training import TrainingEvaluator
    from metanas.types import UserInputError

    def ev(epochs: float = 1, limit: int = 150, threads: int = 1, **data) -> TrainingEvaluator:
        return TrainingEvaluator("digits", "mlp", epochs=epochs, num_threads=threads,
                                 data_options={"limit": limit, **data})  # fmt: skip

    db = tmp_path / "t.db"
    create_study("mlp", "random", ev(), storage=db, study_name="t").optimize(1)
    for changed, words in (
        (ev(epochs=2), "recipe.epochs=1, not 2"),
        (ev(limit=200), "data_options.limit=150, not 200"),
    ):
        with pytest.raises(UserInputError, match=f"evaluated with other settings: {words}"):
            create_study("mlp", "random", changed, storage=db, study_name="t", resume=True)
    # a default written out is the same setting; so is one a later version adds (not stored)
    create_study("mlp", "random", ev(seed=0), storage=db, study_name="t", resume=True)
    with sqlite3.connect(db) as con:
        (cfg,) = con.execute("SELECT config FROM studies").fetchone()
        cfg = json.loads(cfg)
        del cfg["evaluator_settings"]["recipe"]["loss"]
        con.execute("UPDATE studies SET config = ?", (json.dumps(cfg),))
    st = create_study("mlp", "random", ev(threads=2), storage=db, study_name="t", resume=True)
    st.optimize(2)
    assert len(load_study(db, "t").trials) == 2


@pytest.mark.parametrize("strategy", ["random", "evolution", "bananas"])
def test_a_study_seeded_with_none_resumes(tmp_path, strategy):
    """seed=None draws fresh entropy, but as a concrete seed the store keeps (a None seed
    rebuilt another strategy on resume: 'replay diverged at candidate 0')."""
    space = Space([IntRange("w", 0, 99), Choice("op", ("a", "b", "c"))], name="k")
    ev = FunctionEvaluator(lambda a: -abs(a["w"] - 13) + (a["op"] == "b"))
    db = tmp_path / "s.db"
    first = create_study(space, strategy, ev, storage=db, study_name="s", seed=None)
    first.optimize(12)
    seed = first.strategy.seed
    assert isinstance(seed, int)
    again = create_study(space, strategy, ev, storage=db, study_name="s", seed=None, resume=True)
    again.optimize(20)
    assert again.strategy.seed == seed and len(again.trials) == 20
    other = create_study(space, strategy, ev, seed=None)
    assert other.strategy.seed != seed  # still fresh entropy each time


def _proxy(a):
    return float(a["w"])


def test_an_option_the_store_cannot_keep_is_given_again_on_resume(tmp_path):
    """A function (proxy_prescreen's scorer) has no stored form: the store marks it, a resume
    takes it again from strategy_kwargs, and one without it says what to give."""
    from metanas.types import UserInputError

    space = Space([IntRange("w", 0, 99), Choice("op", ("a", "b"))], name="k")
    ev = FunctionEvaluator(lambda a: -abs(a["w"] - 13) + (a["op"] == "b"))
    kw = {"storage": tmp_path / "s.db", "study_name": "s"}
    opts = {"scorer": _proxy, "n_candidates": 5}
    create_study(space, "proxy_prescreen", ev, strategy_kwargs=opts, **kw).optimize(5)
    stored = load_study(kw["storage"], "s").store.get_study("s").config["strategy_kwargs"]
    assert stored["n_candidates"] == 5 and "_proxy" in json.dumps(stored["scorer"])
    with pytest.raises(UserInputError, match=r"scorer=_proxy \(function\), which a store cannot"):
        create_study(space, "proxy_prescreen", ev, resume=True, **kw)
    with pytest.raises(UserInputError, match="n_candidates=5, not 6"):
        create_study(space, "proxy_prescreen", ev, resume=True,
                     strategy_kwargs={"scorer": _proxy, "n_candidates": 6}, **kw)  # fmt: skip
    study = create_study(space, "proxy_prescreen", ev, resume=True,
                         strategy_kwargs={"scorer": _proxy}, **kw)  # fmt: skip
    study.optimize(10)
    assert study.strategy.scorer is _proxy and len(study.trials) == 10


def test_a_wrapped_strategy_of_an_older_store_resumes_with_that_version_s_defaults(tmp_path):
    """proxy_prescreen's inner strategy, like warm_start's, gets the defaults of the version that
    stored it: evolution asked seen children before 0.2.5 (stuck_sample=False)."""
    space = Space([IntRange("w", 0, 99), Choice("op", ("a", "b"))], name="k")
    ev = FunctionEvaluator(lambda a: -abs(a["w"] - 13) + (a["op"] == "b"))
    kw = {"storage": tmp_path / "s.db", "study_name": "s"}
    opts = {
        "inner": "evolution",
        "inner_options": {"population_size": 8, "sample_size": 3},
        "scorer": _proxy,
    }
    create_study(space, "proxy_prescreen", ev, strategy_kwargs=opts, **kw).optimize(5)
    with sqlite3.connect(kw["storage"]) as con:
        (cfg,) = con.execute("SELECT config FROM studies WHERE name = 's'").fetchone()
        cfg = json.loads(cfg)
        cfg["metanas"] = "0.2.4"
        con.execute("UPDATE studies SET config = ? WHERE name = 's'", (json.dumps(cfg),))
    resumed = create_study(space, "proxy_prescreen", ev, resume=True,
                           strategy_kwargs={"scorer": _proxy}, **kw)  # fmt: skip
    assert resumed.strategy.inner.stuck_sample is False
    assert resumed.strategy.inner.population_size == 8
    current = create_study(space, "proxy_prescreen", ev, strategy_kwargs=opts, study_name="t",
                           storage=kw["storage"])  # fmt: skip
    assert current.strategy.inner.stuck_sample is True


@pytest.mark.parametrize(
    "name, options, attribute, value",
    [
        ("bananas", {"predictor": "mlp", "n_models": 2, "epochs": 5}, "predictor_name", "mlp"),
        ("reinforce", {"baseline_decay": 0.5}, "decay", 0.5),
        ("qlearning", {"replay": 3}, "n_replay", 3),
    ],
)
def test_a_study_of_a_strategy_instance_resumes_by_name_as_built(
    tmp_path, name, options, attribute, value
):
    """Options kept under other attribute names (or shadowed by a method: qlearning's replay)
    were stored wrong or not at all, and the rebuilt strategy was another one."""
    from metanas.strategies import get_strategy

    space = Space([IntRange("w", 0, 99), Choice("op", ("a", "b"))], name="k")
    ev = FunctionEvaluator(lambda a: -abs(a["w"] - 13) + (a["op"] == "b"))
    kw = {"storage": tmp_path / "s.db", "study_name": "s"}
    built = get_strategy(name, space, seed=3, **options)
    create_study(space, built, ev, **kw).optimize(6)
    study = create_study(space, None, ev, resume=True, **kw)
    assert getattr(study.strategy, attribute) == value and study.strategy.seed == 3
    study.optimize(9)  # the replay reproduced the six stored asks
    assert len(study.trials) == 9


def test_a_replay_at_other_budgets_is_refused(tmp_path):
    """Replays compared keys only: a scheduler resumed with other rungs went on mixing them."""
    from metanas.strategies import SuccessiveHalving
    from metanas.strategies.base import ReplayMismatch

    space = Space([IntRange("w", 0, 999)], name="w")
    ev = FunctionEvaluator(lambda a: a["w"] / 1000)
    kw = {"storage": tmp_path / "s.db", "study_name": "s"}
    first = SuccessiveHalving(space, seed=0, budgets=[1, 3, 9])
    create_study(space, first, ev, **kw).optimize(10)
    other = SuccessiveHalving(space, seed=0, budgets=[2, 6, 18])
    with pytest.raises(ReplayMismatch, match=r"at Budget\(epochs=1"):
        create_study(space, other, ev, resume=True, **kw)
    same = SuccessiveHalving(space, seed=0, budgets=[1, 3, 9])
    create_study(space, same, ev, resume=True, **kw).optimize(12)


@pytest.mark.parametrize("name", ["reinforce", "qlearning"])
def test_an_rl_study_of_0_2_5_resumes_with_the_bins_it_was_run_with(tmp_path, name):
    """0.2.6 bins a range at the values conditions compare it with too; a study stored by 0.2.5
    still replays with its old bins (and a resume that regenerated other asks would raise)."""
    from metanas.space import Condition

    space = Space(
        [IntRange("w", 1, 200), Choice("op", ("a", "b")),
         Choice("x", (1, 2), when=Condition("w", "==", 50))], name="c",
    )  # fmt: skip
    ev = FunctionEvaluator(lambda a: a["w"] / 200 + (a.get("x") == 2))
    kw = {"storage": tmp_path / "s.db", "study_name": "s"}
    first = create_study(space, name, ev, strategy_kwargs={"bin_conditions": False}, **kw)
    first.optimize(12)
    keys = [t.key for t in first.trials]
    first.store.close()
    with sqlite3.connect(kw["storage"]) as con:  # as 0.2.5 stored it: no such option then
        (cfg,) = con.execute("SELECT config FROM studies WHERE name = 's'").fetchone()
        cfg = json.loads(cfg)
        cfg["metanas"] = "0.2.5"
        del cfg["strategy_kwargs"]["bin_conditions"]
        con.execute("UPDATE studies SET config = ? WHERE name = 's'", (json.dumps(cfg),))
    again = create_study(space, name, ev, resume=True, **kw)
    assert again.strategy.dec.values[0] == sorted({round(x) for x in np.linspace(1, 200, 16)})
    again.optimize(20)
    assert [t.key for t in again.trials][:12] == keys
    assert 50 in create_study(space, name, ev).strategy.dec.values[0]  # a new study: new bins


def test_resuming_with_another_dedupe_is_refused(tmp_path):
    from metanas.types import UserInputError

    space = Space([IntRange("w", 0, 9)], name="d")
    ev = FunctionEvaluator(lambda a: float(a["w"]))
    kw = {"storage": tmp_path / "s.db", "study_name": "s"}
    create_study(space, "random", ev, dedupe=False, **kw).optimize(3)
    with pytest.raises(UserInputError, match="created with dedupe=False, not True"):
        create_study(space, "random", ev, resume=True, dedupe=True, **kw)
    assert create_study(space, "random", ev, resume=True, **kw).dedupe is False
