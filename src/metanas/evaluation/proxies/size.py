"""Size proxies: parameter count and multiply-adds, the baselines every other proxy must beat."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from metanas.evaluation.proxies.registry import Batch, register_proxy


@register_proxy("params", data_dependent=False)
def params(model: nn.Module, batch: Batch, loss_fn: Any = None) -> float:
    """Trainable parameters, in millions."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6


@register_proxy("flops", data_dependent=False)
def flops(model: nn.Module, batch: Batch, loss_fn: Any = None) -> float:
    """Multiply-adds of Conv/Linear layers for one input, in millions (counted by forward hooks)."""
    total = [0]

    def conv_hook(m: Any, inp: Any, out: torch.Tensor) -> None:
        # each output element costs (in_channels / groups) * kernel volume multiply-adds
        k = math.prod(int(s) for s in m.kernel_size)
        total[0] += out.numel() * (int(m.in_channels) // int(m.groups)) * k

    def linear_hook(m: Any, inp: Any, out: torch.Tensor) -> None:
        total[0] += out.numel() * int(m.in_features)

    handles = []
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    x = batch[0][:1]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return total[0] / 1e6
