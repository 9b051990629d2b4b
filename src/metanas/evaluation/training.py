"""Real training: build a model for an architecture, fit it on in-memory tensors, score it.

:class:`TrainingEvaluator` is the evaluator a study uses; :func:`train_final` retrains the chosen
architecture on train + validation and reports test accuracy once. Both take one
:class:`~metanas.evaluation.recipe.Recipe` (or its fields as keywords). The loop itself is
:func:`~metanas.evaluation.fit.fit`; final retraining lives in :mod:`metanas.evaluation.final`.
Both are re-exported here.

Early stopping: when the reporter answers :attr:`Decision.STOP` before the budget is spent, the
result has state :attr:`TrialState.PRUNED`, the metrics and value reached so far, and
``metrics["pruned"] == 1.0``; a trial that uses its whole budget is :attr:`TrialState.COMPLETE`.

Example (it loads Fashion-MNIST and trains, so a code block rather than a doctest)::

    ev = TrainingEvaluator("fashion_mnist", "macro", epochs=1, fraction=0.1)
    arch = {"depth": 1, "unit_1": "conv3x3", "width_1": 32, "skip_1": False}
    ev.evaluate(arch, None, continue_always).metrics["val_acc"]
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from metanas.data.base import Dataset
from metanas.evaluation.base import Reporter, continue_always
from metanas.evaluation.final import train_final
from metanas.evaluation.fit import (
    TimeLimitExceeded,
    arch_seed,
    count_params,
    evaluate_model,
    fit,
    fit_recipe,
    make_optimizer,
    resolve_device,
    torch_context,
)
from metanas.evaluation.recipe import RECIPE_FIELDS, Recipe
from metanas.types import (
    Architecture,
    Budget,
    Decision,
    Result,
    TaskInfo,
    TrialState,
    UserInputError,
    out_of_memory,
)

#: builds ``nn.Module`` from (kind, arch, input_shape, n_classes, **options); default metanas.nn
ModelBuilder = Callable[..., nn.Module]

# per-process cache of data sets loaded by name, so a worker loads each one once
_DATA_CACHE: dict[tuple[Any, ...], Dataset] = {}


def load_dataset_cached(
    name: str, seed: int = 0, val_fraction: float = 0.1, limit: int | None = None, **options: Any
) -> Dataset:
    """``metanas.data.load_dataset`` with a per-process cache; ``options`` go to the loader
    (e.g. ``max_len`` for text)."""
    key = (name, seed, val_fraction, limit, repr(sorted(options.items())))
    if key not in _DATA_CACHE:
        from metanas.data import load_dataset  # lazy: data sets are heavy and optional

        _DATA_CACHE[key] = load_dataset(
            name, seed=seed, val_fraction=val_fraction, limit=limit, **options
        )
    return _DATA_CACHE[key]


def default_builder(
    kind: str, arch: Architecture, input_shape: tuple[int, ...], n_classes: int, **options: Any
) -> nn.Module:
    from metanas.nn import build_model  # lazy: the builders import torch layers

    return build_model(kind, arch, input_shape, n_classes, **options)


class TrainingEvaluator:
    """Train each architecture with gradient descent and score it on the validation split.

    ``dataset`` is a registered name (loaded lazily, once per process, so the evaluator pickles
    small) or a :class:`~metanas.data.base.Dataset`. ``space_kind`` names the model builder
    (``space.kind``). The training settings are ``recipe`` with any :class:`Recipe` field given
    as a keyword (``epochs=2, lr=0.01``) replacing its value; they read back as attributes
    (``ev.lr``). A :class:`~metanas.types.Budget` passed to :meth:`evaluate` overrides
    ``epochs``, ``fraction`` and ``time_limit``. Objective: ``val_acc``.
    """

    objective = "val_acc"

    def __init__(
        self,
        dataset: str | Dataset,
        space_kind: str,
        *,
        recipe: Recipe | None = None,
        fraction: float = 1.0,
        seed: int = 0,
        time_limit: float | None = None,
        model_options: Mapping[str, Any] | None = None,
        data_options: Mapping[str, Any] | None = None,
        builder: ModelBuilder | None = None,
        **recipe_fields: Any,
    ) -> None:
        self.dataset = dataset
        self.space_kind = space_kind
        self.recipe = Recipe.make(recipe, **recipe_fields)  # validates the settings
        self.fraction = fraction
        self.seed = seed
        self.time_limit = time_limit
        self.model_options = dict(model_options or {})
        self.data_options = dict(data_options or {})
        self.builder = builder
        if not 0 < fraction <= 1:
            raise UserInputError(
                f"fraction must be in (0, 1], got {fraction}; use e.g. fraction=0.2."
            )
        # a misspelt name or option fails here, before a study stores anything
        if isinstance(dataset, str):
            from metanas.data.registry import check_dataset

            check_dataset(dataset, **self.data_options)
        if builder is None:  # an unknown kind, or options its builder does not take
            from metanas.nn.registry import check_model_options

            check_model_options(space_kind, self.model_options)

    def check_space(self, space: Any) -> None:
        """Refuse a space of another built-in kind than the networks this evaluator builds, or
        whose networks do not take this data (e.g. a text model on images): one network is
        built (of up to five samples) before the study stores anything, instead of every trial failing."""
        from metanas.nn.registry import builder_kinds

        kind = getattr(space, "kind", None)
        if self.builder is None and kind != self.space_kind and kind in builder_kinds():
            raise UserInputError(
                f"this evaluator builds {self.space_kind} networks, but the space is a {kind} "
                f"space; build the evaluator with space_kind={kind!r}, or search a "
                f"{self.space_kind} space."
            )
        if self.builder is not None or kind not in builder_kinds():
            return  # the user's networks: their trials report what they refuse
        data = self.data()
        error: Exception | None = None
        for seed in range(5):  # one network that builds shows the data fits; some may not
            try:
                self.build(space.sample(seed), data)
                return
            except UserInputError as e:
                error = e
            except (MemoryError, RuntimeError) as e:
                if out_of_memory(e) is None:
                    raise
                error = error or e
        if isinstance(error, UserInputError):
            raise UserInputError(
                f"the {kind} space's networks cannot take the data set {data.name!r}: {error}"
            ) from None
        raise UserInputError(
            f"the {kind} space's networks do not fit in memory ({out_of_memory(error)}, "
            "building five samples); search smaller widths or sizes."
        ) from None

    def __getattr__(self, name: str) -> Any:
        # the recipe's fields read as the evaluator's own (ev.epochs), as before the Recipe
        recipe = self.__dict__.get("recipe")
        if recipe is not None and name in RECIPE_FIELDS:
            return getattr(recipe, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ----------------------------------------------------------------- data and models
    def data(self) -> Dataset:
        if isinstance(self.dataset, Dataset):
            return self.dataset
        return load_dataset_cached(self.dataset, **self.data_options)

    def model_options_for(self, data: Dataset) -> dict[str, Any]:
        """Builder options: the data set's facts (e.g. ``vocab_size``) under the user's options."""
        opts = {k: v for k, v in data.meta.items() if k == "vocab_size"}
        from metanas.nn.registry import takes_option  # lazy, as in default_builder

        if opts and self.builder is None and not takes_option(self.space_kind, "vocab_size"):
            name = self.dataset if isinstance(self.dataset, str) else "this data set"
            raise UserInputError(
                f"{name!r} is text (word ids), which {self.space_kind!r} networks cannot read; "
                "search a space for text, such as 'rnn_text'."
            )
        opts.update(self.model_options)
        return opts

    def build(self, arch: Architecture, data: Dataset) -> nn.Module:
        builder = self.builder or default_builder
        return builder(
            self.space_kind, arch, data.input_shape, data.n_classes, **self.model_options_for(data)
        )

    def task_info(self) -> TaskInfo:
        """The task a search on this evaluator runs (create_study asks before the first trial)."""
        data = self.data()
        if not len(data.x_val):  # every trial would score 0 on nothing
            raise UserInputError(
                f"data set {data.name!r} has no validation examples, on which a search scores "
                "architectures; make it with val_fraction > 0, e.g. 0.1."
            )
        return data.task_info()

    #: recipe fields that change how fast a trial runs, not its score: a resume may change them
    _PACE_FIELDS = ("num_threads", "device", "eval_batch_size")

    def settings(self) -> dict[str, Any]:
        """What decides a trial's score besides its architecture (stored with a study, so a
        resume that would score new trials otherwise is refused)."""
        from metanas.data.registry import dataset_options
        from metanas.nn.registry import builder_kinds, model_options_with_defaults

        recipe = {k: v for k, v in vars(self.recipe).items() if k not in self._PACE_FIELDS}
        data, model = dict(self.data_options), dict(self.model_options)
        if isinstance(self.dataset, str):  # the defaults too: {} and {"seed": 0} read the same
            data = dataset_options(self.dataset, data)
        if self.builder is None and self.space_kind in builder_kinds():
            model = model_options_with_defaults(self.space_kind, model)
        return {
            "recipe": recipe,
            "fraction": self.fraction,
            "seed": self.seed,
            "data_options": data,
            "model_options": model,
        }

    def prepare(self) -> None:
        """What a fresh process pays once before its first trial: the data set into its cache,
        and torch's first optimizer (which imports ~800 modules, seconds). A pool worker does
        this before a trial's time limit starts, so a cold worker's start is not the trial's."""
        self.data()
        r = self.recipe
        make_optimizer(nn.Linear(1, 1), r.optimizer, r.lr, r.weight_decay, r.momentum)

    def train_subset(self, data: Dataset, fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``fraction`` of a seed-fixed permutation: every arch sees the same subset."""
        n = int(data.x_train.shape[0])
        if fraction >= 1.0:
            return data.x_train, data.y_train
        k = max(1, round(n * fraction))
        g = torch.Generator().manual_seed(self.seed)
        idx = torch.randperm(n, generator=g)[:k]
        return data.x_train[idx], data.y_train[idx]

    # ----------------------------------------------------------------- the protocol
    def evaluate(
        self, arch: Architecture, budget: Budget | None = None, report: Reporter = continue_always
    ) -> Result:
        """Train ``arch`` within ``budget``; never raises (failures become ``Result.failed``)."""
        start = time.perf_counter()
        r = self.recipe
        epochs = r.epochs if budget is None or budget.epochs is None else budget.epochs
        fraction = self.fraction if budget is None else budget.fraction * self.fraction
        limit = (
            self.time_limit if budget is None or budget.time_limit is None else budget.time_limit
        )
        deadline = None if limit is None else start + limit
        metrics: dict[str, float] = {}
        curve: list[dict[str, float]] = []
        state = {"pruned": False}
        try:
            device = resolve_device(r.device)
            data = self.data()
            seed = arch_seed(arch, self.seed)
            with torch_context(seed, r.num_threads, device):
                model = self.build(arch, data).to(device)
                metrics["params"] = float(count_params(model))
                x, y = self.train_subset(data, fraction)
                x, y = x.to(device), y.to(device)
                xv, yv = data.x_val.to(device), data.y_val.to(device)
                gen = torch.Generator().manual_seed(seed)

                def on_epoch(epoch: int, done: float, train_loss: float) -> bool:
                    acc, vloss = evaluate_model(
                        model, xv, yv, batch_size=r.eval_batch_size, loss=r.loss
                    )
                    if not math.isfinite(vloss):
                        raise FloatingPointError(f"validation loss became {vloss} in epoch {epoch}")
                    point = {
                        "epoch": done,
                        "val_acc": acc,
                        "val_loss": vloss,
                        "train_loss": train_loss,
                        "seconds": time.perf_counter() - start,
                    }
                    curve.append(point)
                    metrics.update(val_acc=acc, val_loss=vloss, train_loss=train_loss, epochs=done)
                    # every epoch is reported; a STOP only matters before the budget is spent
                    if report(epoch, point) is Decision.STOP and done + 1e-9 < epochs:
                        state["pruned"] = True
                        return False
                    return True

                fit_recipe(
                    model, x, y, r, epochs=epochs, generator=gen, deadline=deadline,
                    on_epoch=on_epoch, n_classes=data.n_classes,
                )  # fmt: skip
        except TimeLimitExceeded as e:
            secs = time.perf_counter() - start
            return _failed(f"time limit of {limit:g} s exceeded {e}", secs, metrics, curve)
        except FloatingPointError as e:
            return _failed(f"non-finite loss: {e}", time.perf_counter() - start, metrics, curve)
        except UserInputError as e:
            return _failed(str(e), time.perf_counter() - start, metrics, curve)
        except Exception as e:  # a broken architecture must not stop the study
            return _failed(f"{type(e).__name__}: {e}", time.perf_counter() - start, metrics, curve)
        secs = time.perf_counter() - start
        metrics["seconds"] = secs
        if state["pruned"]:
            metrics["pruned"] = 1.0
        return Result(
            value=metrics.get("val_acc"),
            metrics=metrics,
            state=TrialState.PRUNED if state["pruned"] else TrialState.COMPLETE,
            cost=secs,
            curve=tuple(curve),
        )

    def __repr__(self) -> str:
        name = self.dataset if isinstance(self.dataset, str) else self.dataset.name
        return f"TrainingEvaluator({name!r}, {self.space_kind!r}, epochs={self.recipe.epochs}, fraction={self.fraction})"


def _failed(
    reason: str, secs: float, metrics: dict[str, float], curve: list[dict[str, float]]
) -> Result:
    metrics = dict(metrics, seconds=secs)
    return Result(
        value=None,
        metrics=metrics,
        state=TrialState.FAILED,
        error=reason,
        cost=secs,
        curve=tuple(curve),
    )


__all__ = [
    "ModelBuilder",
    "Recipe",
    "TimeLimitExceeded",
    "TrainingEvaluator",
    "arch_seed",
    "evaluate_model",
    "fit",
    "load_dataset_cached",
    "resolve_device",
    "train_final",
]
