"""The search config: defaults, one-sentence errors, YAML problems, shipped configs."""

from __future__ import annotations

import pytest

from metanas.config import (
    SearchConfig,
    load_config,
    parse_config,
    resolve_config_path,
    shipped_configs,
)
from metanas.types import UserInputError

MINIMAL = {"data": {"name": "digits"}}


def with_(section: str, **kw) -> dict:
    d = {"data": {"name": "digits"}}
    d.setdefault(section, {}).update(kw)
    return d


def test_minimal_config_has_defaults() -> None:
    cfg = parse_config(MINIMAL)
    assert isinstance(cfg, SearchConfig)
    assert cfg.storage == "metanas.db" and cfg.seed == 0 and cfg.workers == 1
    assert cfg.space.name == "macro" and cfg.strategy.name == "bananas"
    assert cfg.budget.n_trials == 10 and cfg.budget.timeout_minutes is None
    assert cfg.training.optimizer == "adam" and cfg.final.formats == [
        "state_dict",
        "torchscript",
        "onnx",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (with_("budget", n_trials=0), "config field 'budget.n_trials' must be a positive integer (got 0)."),
        (with_("budget", n_trials=2.5), "config field 'budget.n_trials' must be an integer (got 2.5)."),
        (with_("training", lr=-1), "config field 'training.lr' must be positive (got -1)."),
        (with_("training", lrr=0.1), "config field 'training.lrr' is not a known setting; remove it or fix its spelling."),
        (with_("training", optimizer="rmsprop"), "config field 'training.optimizer' must be 'adam', 'adamw' or 'sgd' (got 'rmsprop')."),
        (with_("data", val_fraction=1.5), "config field 'data.val_fraction' must be < 1 (got 1.5)."),
        (with_("final", augment="maybe"), "config field 'final.augment' must be true or false (got 'maybe')."),
        (with_("training", epochs=True), "config field 'training.epochs' must be a number (got True)."),
        (with_("budget", n_trials=True), "config field 'budget.n_trials' must be an integer (got True)."),
        ({"space": {"name": "macro"}}, "config field 'data' is required; add it."),
        ({"data": {"name": "digits"}, "trainig": {}}, "config field 'trainig' is not a known setting; remove it or fix its spelling."),
        ({"data": "digits"}, "config field 'data' must be a mapping of settings (got 'digits')."),
    ],
)  # fmt: skip
def test_errors_are_one_sentence_naming_the_field(data: dict, message: str) -> None:
    with pytest.raises(UserInputError) as info:
        parse_config(data)
    assert str(info.value) == message


def test_several_problems_mention_the_rest() -> None:
    with pytest.raises(UserInputError, match=r"\(1 more problem"):
        parse_config({"data": {"name": "digits"}, "budget": {"n_trials": 0}, "seed": "x"})


def test_top_level_must_be_a_mapping() -> None:
    with pytest.raises(UserInputError, match="must be a YAML mapping"):
        parse_config(["data"])


def test_malformed_yaml_names_the_line(tmp_path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("data:\n  name: digits\nbudget:\n  n_trials: [3\n")
    with pytest.raises(UserInputError, match=r"not valid YAML at line \d") as info:
        load_config(p)
    assert "\n" not in str(info.value)


def test_empty_file_is_an_error(tmp_path) -> None:
    p = tmp_path / "empty.yaml"
    p.write_text("")
    with pytest.raises(UserInputError, match="must be a YAML mapping"):
        load_config(p)


def test_unknown_config_name_lists_shipped_ones() -> None:
    with pytest.raises(UserInputError, match="fashion_mnist_quick"):
        resolve_config_path("no_such_config")


def test_final_training_inherits_search_settings() -> None:
    cfg = parse_config(
        {"data": {"name": "digits"}, "training": {"lr": 0.01, "batch_size": 64, "augment": True},
         "final": {"epochs": 3, "lr": 0.002}}
    )  # fmt: skip
    kw = cfg.final_training()
    assert kw["epochs"] == 3 and kw["lr"] == 0.002
    assert kw["batch_size"] == 64 and kw["augment"] is True and kw["seed"] == 0


@pytest.mark.parametrize("name", ["fashion_mnist_quick", "fashion_mnist_long"])
def test_shipped_configs_are_valid(name: str) -> None:
    from metanas.space import get_space
    from metanas.strategies import get_strategy

    assert name in shipped_configs()
    cfg = load_config(name)
    assert cfg.study == name and cfg.data.name == "fashion_mnist"
    space = get_space(cfg.space.name, **cfg.space.params)
    get_strategy(cfg.strategy.name, space, seed=cfg.seed, **cfg.strategy.params)
    # the model options are accepted by the builder for every unit of the space
    from metanas.nn import build_model

    arch = space.sample(0)
    build_model(space.kind, arch, (1, 28, 28), 10, **cfg.training.model_options)


def test_a_long_config_without_aliases_is_not_taken_for_an_alias_bomb() -> None:
    """The alias limit counts values after expansion: 20,000 rows written out (over 100,000
    values) were refused as if aliases had multiplied them; aliases that do are refused."""
    from metanas.config import _safe_load_unique

    rows = "".join(
        "  - {" + ", ".join(f"k{j}: v{(i + j) % 5}" for j in range(6)) + "}\n"
        for i in range(20_000)
    )
    assert len(_safe_load_unique("start_from:\n" + rows)["start_from"]) == 20_000
    bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 7)
    )
    with pytest.raises(UserInputError, match="through its aliases"):
        _safe_load_unique(bomb)
