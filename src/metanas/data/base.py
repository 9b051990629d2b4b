"""A data set held in memory as tensors, split into train / validation / test."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import torch

from metanas.types import TaskInfo


@dataclass
class Dataset:
    """Train / validation / test tensors of one task.

    ``x_*`` are float32 (images ``(N, C, H, W)``, tabular ``(N, F)``, time series ``(N, C, T)``)
    or int64 token ids ``(N, T)`` for text (0 = padding); ``y_*`` are int64 class labels.
    The test split is for the final report only; searches use train and validation.
    """

    name: str
    modality: str  # image | text | tabular | timeseries
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    #: extra facts a model builder needs, e.g. {"vocab_size": 5000} for text
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def task_info(self) -> TaskInfo:
        return TaskInfo(
            name=self.name,
            modality=self.modality,
            input_shape=self.input_shape,
            n_classes=self.n_classes,
            n_samples=int(self.x_train.shape[0] + self.x_val.shape[0]),
        )

    def subsample_train(self, limit: int, seed: int = 0) -> Dataset:
        """A copy whose train split is a seeded stratified subsample of ``limit`` examples."""
        from metanas.data.splits import LIMIT_STREAM, rng_for, stratified_subsample

        if limit >= self.x_train.shape[0]:
            return self
        idx = stratified_subsample(self.y_train.numpy(), limit, rng_for(seed, LIMIT_STREAM))
        index = torch.from_numpy(idx)
        meta = {**self.meta, "limit": int(limit)}
        return replace(self, x_train=self.x_train[index], y_train=self.y_train[index], meta=meta)

    def summary(self) -> str:
        """One line: name, modality, shapes and split sizes."""
        return (
            f"{self.name} ({self.modality}): input {self.input_shape}, {self.n_classes} classes, "
            f"train/val/test = {len(self.y_train)}/{len(self.y_val)}/{len(self.y_test)}"
        )
