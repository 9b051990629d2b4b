"""The training Recipe: one value for the settings TrainingEvaluator and train_final share."""

from __future__ import annotations

import pickle

import pytest

from metanas.config import parse_config
from metanas.evaluation.recipe import RECIPE_FIELDS, Recipe
from metanas.evaluation.training import TrainingEvaluator, train_final
from metanas.types import UserInputError
from test_training import blobs, tiny_builder

SETTINGS = {"epochs": 2, "lr": 1e-2, "device": "cpu", "num_threads": 1, "batch_size": 32}


def test_recipe_is_frozen_hashable_and_validates() -> None:
    r = Recipe(**SETTINGS)
    assert hash(r) == hash(Recipe(**SETTINGS)) and r == Recipe(**SETTINGS)
    with pytest.raises(AttributeError):
        r.lr = 0.5  # type: ignore[misc]
    assert r.replace(lr=0.5).lr == 0.5 and r.lr == 1e-2
    for bad, match in [
        ({"optimizer": "rmsprop"}, "unknown optimizer"),
        ({"loss": "mse"}, "unknown loss"),
        ({"epochs": 0}, "epochs must be a positive number"),
        ({"epochs": float("inf")}, "epochs must be a positive number"),  # every trial failed
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"lr": -1.0}, "lr must be positive"),
    ]:
        with pytest.raises(UserInputError, match=match):
            r.replace(**bad)
    with pytest.raises(
        UserInputError, match=r"unknown training setting\(s\) \['no_such_setting'\]"
    ):
        Recipe.make(r, no_such_setting=1)


def test_keywords_and_recipe_give_the_same_evaluator() -> None:
    data = blobs(300)
    by_kw = TrainingEvaluator(data, "tiny", builder=tiny_builder, fraction=0.5, **SETTINGS)
    by_recipe = TrainingEvaluator(
        data, "tiny", builder=tiny_builder, fraction=0.5, recipe=Recipe(**SETTINGS)
    )
    assert by_kw.recipe == by_recipe.recipe
    assert by_kw.lr == 1e-2 and by_kw.epochs == 2 and by_kw.optimizer == "adam"  # read as before
    with pytest.raises(AttributeError):
        _ = by_kw.no_such_attribute
    r1 = by_kw.evaluate({"w": 8})
    r2 = pickle.loads(pickle.dumps(by_recipe)).evaluate({"w": 8})
    assert r1.metrics["val_acc"] == r2.metrics["val_acc"]
    assert r1.metrics["train_loss"] == r2.metrics["train_loss"]
    # a keyword overrides the recipe's value
    assert (
        TrainingEvaluator(data, "tiny", builder=tiny_builder, recipe=Recipe(**SETTINGS), lr=0.1).lr
        == 0.1
    )


def test_train_final_takes_a_recipe_or_keywords() -> None:
    data = blobs(300)
    _, m1 = train_final("tiny", {"w": 8}, data, builder=tiny_builder, **SETTINGS)
    _, m2 = train_final("tiny", {"w": 8}, data, builder=tiny_builder, recipe=Recipe(**SETTINGS))
    assert m1["test_acc"] == m2["test_acc"] and m1["train_loss"] == m2["train_loss"]
    with pytest.raises(TypeError, match="epochs"):
        train_final("tiny", {"w": 8}, data, builder=tiny_builder, lr=0.1)


def test_config_sections_map_onto_recipe_fields() -> None:
    cfg = parse_config({"data": {"name": "digits"}, "training": {"lr": 0.01, "augment": True}})
    r = Recipe.pick(cfg.training)
    assert r.lr == 0.01 and r.augment is True and r.eval_batch_size == 1024
    kw = cfg.final_training()  # train_final's keywords: recipe fields plus run settings
    assert set(kw) - RECIPE_FIELDS == {"seed", "model_options", "time_budget", "tta"}
    assert kw["tta"] is False
    tta = parse_config({"data": {"name": "digits"}, "final": {"tta": True}})
    assert tta.final_training()["tta"] is True


@pytest.mark.parametrize("threads", [0, 100_000, 2.5, True])
def test_a_recipe_refuses_thread_counts_torch_cannot_take(threads):
    from metanas.evaluation.recipe import Recipe

    with pytest.raises(UserInputError, match="num_threads must be an integer from 1 to 1024"):
        Recipe(num_threads=threads)
