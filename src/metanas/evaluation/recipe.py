"""The training recipe: how a candidate (or the final model) is trained, in one frozen value.

:class:`~metanas.evaluation.training.TrainingEvaluator` and
:func:`~metanas.evaluation.final.train_final` both take one, so the ~15 settings are declared
once. Torch-free, so configs and the CLI can build recipes without importing torch.

Example:
    >>> r = Recipe(epochs=3, lr=0.01)
    >>> r.replace(lr=0.002).lr
    0.002
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from metanas.types import MAX_THREADS, UserInputError, did_you_mean

OPTIMIZERS = ("adam", "adamw", "sgd")
LOSSES = ("ce", "bce")
# the fields that are keyword arguments of metanas.evaluation.fit.fit, by the same names
_FIT_FIELDS = (
    "batch_size", "optimizer", "lr", "weight_decay", "momentum", "cosine", "warmup_epochs",
    "loss", "label_smoothing", "augment",
)  # fmt: skip


@dataclass(frozen=True)
class Recipe:
    """Epochs, optimiser, schedule, loss, augmentation, threads and device of one training run.

    ``epochs`` may be fractional. ``num_threads`` sets torch's threads during the run
    (``None``: leave them); ``device`` is ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda:0"``.
    Bad values raise :class:`~metanas.types.UserInputError` when the recipe is made.
    """

    epochs: float = 1
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    cosine: bool = True
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    augment: bool = False
    loss: str = "ce"
    num_threads: int | None = None
    device: str = "auto"
    eval_batch_size: int = 1024

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise UserInputError(
                f"unknown optimizer {self.optimizer!r}; use one of {', '.join(OPTIMIZERS)}."
            )
        if self.loss not in LOSSES:
            raise UserInputError(f"unknown loss {self.loss!r}; use one of {', '.join(LOSSES)}.")
        if not 0 < self.epochs < math.inf:
            raise UserInputError(
                f"epochs must be a positive number, got {self.epochs}; use e.g. epochs=1."
            )
        if not (isinstance(self.batch_size, int) and self.batch_size > 0):
            raise UserInputError(f"batch_size must be a positive integer, got {self.batch_size!r}.")
        if not self.lr > 0:
            raise UserInputError(f"lr must be positive, got {self.lr}; use e.g. lr=1e-3.")
        t = self.num_threads
        if t is not None and (
            isinstance(t, bool) or not isinstance(t, int) or not 0 < t <= MAX_THREADS
        ):
            raise UserInputError(
                f"num_threads must be an integer from 1 to {MAX_THREADS}, got {t!r}; e.g. the "
                "machine's cores divided by its workers."
            )

    @classmethod
    def make(cls, base: Recipe | None = None, /, **fields: Any) -> Recipe:
        """``base`` (default: all defaults) with ``fields`` replaced; unknown names are refused."""
        base = base if base is not None else cls()
        unknown = sorted(set(fields) - RECIPE_FIELDS)
        if unknown:
            raise UserInputError(
                f"unknown training setting(s) {unknown}; "
                f"{did_you_mean(unknown[0], sorted(RECIPE_FIELDS))}the settings are "
                f"{', '.join(sorted(RECIPE_FIELDS))}."
            )
        return dataclasses.replace(base, **fields) if fields else base

    @classmethod
    def pick(cls, settings: Any) -> Recipe:
        """A recipe from the like-named attributes of ``settings`` (e.g. a ``TrainingConfig``)."""
        names = [f.name for f in dataclasses.fields(cls) if hasattr(settings, f.name)]
        return cls(**{n: getattr(settings, n) for n in names})

    def replace(self, **fields: Any) -> Recipe:
        """A copy with ``fields`` changed (validated again)."""
        return dataclasses.replace(self, **fields)

    def fit_options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`metanas.evaluation.fit.fit` this recipe sets."""
        return {k: getattr(self, k) for k in _FIT_FIELDS}


#: the names of the recipe's fields, for callers that accept them as keyword arguments
RECIPE_FIELDS = frozenset(f.name for f in dataclasses.fields(Recipe))

__all__ = ["LOSSES", "OPTIMIZERS", "RECIPE_FIELDS", "Recipe"]
