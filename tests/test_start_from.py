"""Starting a search from given architectures (a baseline network): ``create_study(start_from=)``,
:class:`~metanas.space.SeededSpace` and the config's ``strategy.start_from``."""

from __future__ import annotations

import json

import numpy as np
import pytest

import metanas.meta.warmstart  # noqa: F401 - registers warm_start
from metanas.cli import main
from metanas.evaluation.function import FunctionEvaluator
from metanas.space import SeededSpace, get_space
from metanas.strategies import get_strategy, strategy_names
from metanas.strategies.base import strategy_class
from metanas.study import create_study, load_study
from metanas.types import UserInputError

SPACE = get_space("nb201")
SEEDS = [SPACE.sample(np.random.default_rng(s)) for s in (11, 12)]


def _score(arch):  # a deterministic value per cell
    return float(SPACE.features(arch) @ np.linspace(-1, 1, SPACE.n_features))


def _evaluator():
    return FunctionEvaluator(_score)


@pytest.mark.parametrize("name", [n for n in strategy_names() if strategy_class(n).draws_samples])
def test_a_strategy_that_draws_samples_proposes_the_seeds_first(name):
    st = get_strategy(name, SeededSpace(SPACE, SEEDS), seed=0)
    assert [st.ask().key for _ in SEEDS] == [SPACE.key(a) for a in SEEDS]


@pytest.mark.parametrize(
    "name",
    ["grid", "reinforce", "qlearning"],  # the others need options to be built at all
)
def test_a_strategy_that_does_not_start_from_samples_refuses_seeds(name):
    assert not strategy_class(name).draws_samples
    with pytest.raises(UserInputError, match=f"strategy {name!r} does not start from samples"):
        create_study(SPACE, name, _evaluator(), start_from=SEEDS)


def test_the_study_evaluates_the_baseline_first_and_stores_it(tmp_path):
    db = tmp_path / "s.db"
    st = create_study(
        "nb201", "local_search", _evaluator(), storage=db, study_name="a",
        start_from=[SPACE.to_json(SEEDS[0])],  # JSON works as well as a mapping
    )  # fmt: skip
    st.optimize(6)
    trials = load_study(db, "a").trials
    assert trials[0].key == SPACE.key(SEEDS[0])
    assert st.store.get_study("a").config["start_from"] == [SEEDS[0]]


def test_a_seeded_space_keeps_its_seeds_through_the_table_check():
    from metanas.evaluation.tabular import nb201_table

    # create_study samples a space to see that the table holds it: not the seeds' space
    st = create_study(SeededSpace(SPACE, SEEDS), "random", nb201_table("cifar10"))
    st.optimize(len(SEEDS))
    assert [t.key for t in st.trials] == [SPACE.key(a) for a in SEEDS]


@pytest.mark.parametrize("strategy", ["evolution", "bananas"])
def test_a_resume_from_the_store_alone_starts_from_the_same_seeds(tmp_path, strategy):
    db = tmp_path / "s.db"
    kw = {"seed": 3, "start_from": SEEDS}
    create_study("nb201", strategy, _evaluator(), storage=db, study_name="a", **kw).optimize(4)
    resumed = create_study(None, storage=db, study_name="a", resume=True, evaluator=_evaluator())
    resumed.optimize(15)
    whole = create_study("nb201", strategy, _evaluator(), **kw)
    whole.optimize(15)
    assert [t.key for t in resumed.trials] == [t.key for t in whole.trials]
    with pytest.raises(UserInputError, match="created with other starting architectures"):
        create_study(
            "nb201", strategy, _evaluator(), storage=db, study_name="a", resume=True,
            start_from=SEEDS[::-1],
        )  # fmt: skip


def test_bad_starting_architectures_are_one_sentence():
    with pytest.raises(UserInputError, match="starting architecture 2: architecture lacks"):
        create_study(SPACE, "random", _evaluator(), start_from=[SEEDS[0], {"1<-0": "none"}])
    with pytest.raises(UserInputError, match=r"starting architecture 1: .*malformed"):
        create_study(SPACE, "random", _evaluator(), start_from=["{not json"])
    with pytest.raises(UserInputError, match="must be a list; pass \\[arch\\]"):
        create_study(SPACE, "random", _evaluator(), start_from=SEEDS[0])
    with pytest.raises(UserInputError, match="either warm_start or start_from"):
        create_study(SPACE, "random", _evaluator(), start_from=SEEDS, warm_start=True)
    with pytest.raises(UserInputError, match="needs the strategy by name"):
        create_study(SPACE, get_strategy("random", SPACE), _evaluator(), start_from=SEEDS)


TINY = """\
study: tiny
space: {name: macro, params: {max_depth: 2, widths: [16], units: [conv3x3, maxpool3x3]}}
strategy:
  name: local_search
  start_from: [%s]
data: {name: digits, limit: 200}
training: {epochs: 1, num_threads: 1, model_options: {stem_channels: 8}}
budget: {n_trials: 2}
final: {enabled: false}
"""
BASELINE = {"depth": 2, "unit_1": "maxpool3x3", "width_1": 16, "skip_1": True,
            "unit_2": "conv3x3", "width_2": 16, "skip_2": False}  # fmt: skip


def test_search_config_starts_from_its_baseline(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(TINY % json.dumps(BASELINE))
    assert main(["search", "c.yaml", "--storage", "s.db", "-q"]) == 0
    first = load_study("s.db", "tiny").trials[0]
    assert dict(first.arch) == BASELINE
    (tmp_path / "bad.yaml").write_text(TINY % json.dumps({**BASELINE, "depth": 7}))
    assert main(["search", "bad.yaml", "--storage", "s2.db", "-q"]) == 2
    err = capsys.readouterr().err
    assert "starting architecture 1:" in err and "Traceback" not in err
