"""Final retraining: the chosen architecture on train + validation, tested once on the test split.

Example (minutes of training, so a code block rather than a doctest)::

    model, m = train_final(space, best.arch, "fashion_mnist", epochs=8)
    m["test_acc"]
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from metanas.evaluation.fit import (
    arch_seed,
    count_params,
    evaluate_model,
    fit_recipe,
    resolve_device,
    torch_context,
)
from metanas.evaluation.recipe import Recipe
from metanas.nn.averaging import TestTimeAugmented
from metanas.types import Architecture, UserInputError

if TYPE_CHECKING:
    from metanas.data.base import Dataset
    from metanas.evaluation.training import ModelBuilder


def train_final(
    space: Any,
    arch: Architecture,
    dataset: str | Dataset,
    *,
    recipe: Recipe | None = None,
    seed: int = 0,
    model_options: Mapping[str, Any] | None = None,
    data_options: Mapping[str, Any] | None = None,
    builder: ModelBuilder | None = None,
    progress: Callable[[int, float, float], None] | None = None,
    time_budget: float | None = None,
    tta: bool = False,
    **recipe_fields: Any,
) -> tuple[nn.Module, dict[str, float]]:
    """Retrain ``arch`` on train + validation, then evaluate once on the test split.

    The training settings are ``recipe`` with any :class:`Recipe` field given as a keyword
    (``epochs=8, lr=0.01``) replacing its value; without a recipe, ``epochs`` is required.
    Returns the trained model (in eval mode, on CPU) and ``{"test_acc", "test_loss",
    "train_loss", "params", "epochs", "planned_epochs", "seconds"}``. ``space`` is a Space (its
    ``kind`` names the builder) or a builder kind string. ``progress(epoch, epochs_done,
    train_loss)`` is called per epoch. ``time_budget`` (seconds) shortens ``epochs`` so training
    fits, judged first from the timed steps of a throwaway copy of the model and then, after
    every epoch, from the real pace, up to ``epochs`` (a short probe can misjudge a long run, and
    a busy moment can make it guess too few); the cosine schedule
    spans the shortened run (the epoch count then depends on the machine's speed, so runs are
    reproducible only without it). ``tta`` (image data only) returns the model wrapped in
    :class:`~metanas.nn.averaging.TestTimeAugmented` and tests that; ``"test_acc_single_view"`` then
    holds the bare network's accuracy.
    """
    from metanas.evaluation.training import TrainingEvaluator  # it re-exports this function

    if recipe is None and "epochs" not in recipe_fields:
        raise TypeError("train_final() missing required keyword argument: 'epochs' (or recipe=)")
    recipe = Recipe.make(recipe, **recipe_fields)
    kind = space if isinstance(space, str) else space.kind
    ev = TrainingEvaluator(
        dataset, kind, recipe=recipe, seed=seed, model_options=model_options,
        data_options=data_options, builder=builder,
    )  # fmt: skip
    start = time.perf_counter()
    data = ev.data()
    if not len(data.x_test):  # before training: it would report accuracy 0 on nothing
        raise UserInputError(
            f"data set {data.name!r} has no test examples; make it with test_fraction > 0 "
            "(e.g. 0.2) or give x_test and y_test."
        )
    if tta and data.x_test.dim() != 4:  # before training, not after it
        raise UserInputError(
            "test-time augmentation needs image data (N, C, H, W); set tta: false."
        )
    dev = resolve_device(recipe.device)
    with torch_context(arch_seed(arch, seed), recipe.num_threads, dev):
        model = ev.build(arch, data).to(dev)
        x = torch.cat([data.x_train, data.x_val]).to(dev)
        y = torch.cat([data.y_train, data.y_val]).to(dev)
        gen = torch.Generator().manual_seed(arch_seed(arch, seed))

        def on_epoch(epoch: int, done: float, train_loss: float) -> bool:
            if progress is not None:
                progress(epoch, done, train_loss)
            return True

        epochs = planned = recipe.epochs
        left = None
        if time_budget is not None:
            per_epoch = _probe_epoch_seconds(recipe, model, x, y, data.n_classes)
            left = time_budget - (time.perf_counter() - start)
            epochs = min(epochs, max(0.1, left / per_epoch))
            epochs = math.floor(epochs * 10) / 10  # a readable number of epochs
        out = fit_recipe(
            model, x, y, recipe, epochs=epochs, generator=gen, on_epoch=on_epoch,
            n_classes=data.n_classes, time_budget=left, max_epochs=planned,
        )  # fmt: skip
        x_test, y_test = data.x_test.to(dev), data.y_test.to(dev)

        def test(net: nn.Module) -> tuple[float, float]:
            return evaluate_model(
                net, x_test, y_test, batch_size=recipe.eval_batch_size, loss=recipe.loss
            )

        extra: dict[str, float] = {}
        if tta:
            extra["test_acc_single_view"] = test(model)[0]
            model = TestTimeAugmented(model)
        acc, tloss = test(model)
    model = model.cpu().eval()
    metrics = {
        **extra,
        "test_acc": acc,
        "test_loss": tloss,
        "train_loss": out["train_loss"],
        "params": float(count_params(model)),
        "epochs": out["epochs"],
        "planned_epochs": float(planned),
        "seconds": time.perf_counter() - start,
    }
    return model, metrics


def _probe_epoch_seconds(
    recipe: Recipe,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    steps: int = 8,
) -> float:
    """Seconds one epoch over ``x`` takes, timed on a copy of ``model`` (the original is untouched)."""
    probe = copy.deepcopy(model)
    bs = recipe.batch_size
    n = min(int(x.shape[0]), (steps + 2) * bs)
    gen = torch.Generator().manual_seed(0)
    timings: list[float] = []

    def on_epoch(epoch: int, done: float, loss: float) -> bool:
        timings.append(time.perf_counter())
        return True

    # two warm-up steps (allocator, oneDNN kernels), then `steps` timed ones; data of two
    # batches or fewer: half of it warms up, the other half is timed (the timed part was empty)
    warm = max(1, min(2 * bs, n // 2))
    for lo, hi in ((0, warm), (warm, n)):
        fit_recipe(
            probe, x[lo:hi], y[lo:hi], recipe, epochs=1, generator=gen, on_epoch=on_epoch,
            n_classes=n_classes,
        )  # fmt: skip
    per_step = (timings[1] - timings[0]) / max(1, math.ceil((n - warm) / bs))
    return per_step * math.ceil(int(x.shape[0]) / bs)


__all__ = ["train_final"]
