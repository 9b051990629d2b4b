"""The inputs proxies need: one seeded batch of data and a seeded model factory."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from metanas.types import UserInputError

DATA_SOURCES = ("random", "fashion_mnist")


def fit_images(x: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Images ``(B, c, h, w)`` zero-padded (or centre-cropped) to ``shape[1:]`` and with their
    channels repeated (or cut) to ``shape[0]``: e.g. Fashion-MNIST 1x28x28 -> 3x32x32."""
    c, h, w = shape
    dh, dw = h - x.shape[2], w - x.shape[3]
    if dh < 0 or dw < 0:
        top, left = max(-dh, 0) // 2, max(-dw, 0) // 2
        x = x[:, :, top : top + min(h, x.shape[2]), left : left + min(w, x.shape[3])]
        dh, dw = h - x.shape[2], w - x.shape[3]
    x = F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))
    reps = -(-c // x.shape[1])
    return x.repeat(1, reps, 1, 1)[:, :c].contiguous()


def make_batch(
    data: str | Any,
    batch_size: int,
    input_shape: tuple[int, ...],
    n_classes: int,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded batch ``(x, y)``: ``"random"`` (standard normal inputs, uniform labels), a data set
    name (a random train batch, images fitted to ``input_shape``), or a ``metanas.data.Dataset``."""
    if batch_size < 2:
        raise UserInputError(f"proxy batch size must be at least 2, got {batch_size}; use e.g. 64.")
    gen = torch.Generator().manual_seed(seed)
    if isinstance(data, str) and data == "random":
        x = torch.randn((batch_size, *input_shape), generator=gen)
        return x, torch.randint(0, n_classes, (batch_size,), generator=gen)
    if isinstance(data, str):
        from metanas.data import load_dataset

        data = load_dataset(data, seed=seed)
    x_all, y_all = getattr(data, "x_train", None), getattr(data, "y_train", None)
    if x_all is None or y_all is None:
        raise UserInputError(
            f"proxy data must be 'random', a data set name or a Dataset, got {type(data).__name__}."
        )
    idx = torch.randperm(x_all.shape[0], generator=gen)[:batch_size]
    x, y = x_all[idx], y_all[idx].long()
    if x.is_floating_point() or x.dim() != 2:  # 2-D integers are word ids: kept as they are
        x = x.float()
    if x.dim() == 4 and len(input_shape) == 3 and tuple(x.shape[1:]) != tuple(input_shape):
        x = fit_images(x, input_shape)
    if tuple(x.shape[1:]) != tuple(input_shape):
        raise UserInputError(
            f"data of shape {tuple(x.shape[1:])} do not fit input_shape {tuple(input_shape)}; "
            "give matching data or input_shape."
        )
    return x, y % n_classes


def model_factory(
    kind: str,
    arch: Mapping[str, Any],
    input_shape: tuple[int, ...],
    n_classes: int,
    seed: int = 0,
    options: Mapping[str, Any] | None = None,
) -> Callable[[], nn.Module]:
    """A function building ``arch`` with initial weights drawn from ``seed``.

    The build runs inside ``torch.random.fork_rng``, so torch's global generator is left as found.
    """
    from metanas.nn import build_model

    opts = dict(options or {})

    def build() -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return build_model(kind, arch, tuple(input_shape), n_classes, **opts)

    return build
