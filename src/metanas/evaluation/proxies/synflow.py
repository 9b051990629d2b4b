"""SynFlow (Tanaka et al. 2020) as a zero-cost proxy (Abdelfattah et al. 2021).

Follows mohsaied/zero-cost-nas: the network without batch norm (``bn=False`` there), all parameters
replaced by their absolute values, double precision, a batch of ONE all-ones input; the score is
``sum |w * dR/dw|`` over Conv/Linear weights with ``R = sum(output)``. The data are not read (only
their shape). We return the natural log of that sum: the ranks are the same and deep networks,
whose raw sums overflow even in double, stay finite. A cell with no input-output path scores -inf.

The model is left as found: batch norms are swapped out only for the pass, and the absolute
double-precision weights are fresh tensors fed through ``torch.func.functional_call`` (no deep copy
of the network, no restore of its weights afterwards).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from metanas.evaluation.proxies.registry import Batch, layer_weights, register_proxy

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def strip_batchnorm(model: nn.Module) -> nn.Module:
    """Replace every BatchNorm module of ``model`` by an identity, in place."""
    _swap_batchnorm(model)
    return model


def _swap_batchnorm(model: nn.Module) -> list[tuple[nn.Module, str, nn.Module]]:
    """Replace BatchNorms by identities in place; returns ``(parent, name, bn)`` to undo it."""
    swapped: list[tuple[nn.Module, str, nn.Module]] = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, _BN):
                setattr(parent, name, nn.Identity())
                swapped.append((parent, name, child))
    return swapped


@register_proxy("synflow", data_dependent=False)
def synflow(model: nn.Module, batch: Batch, loss_fn: Any = None) -> float:
    """ln of the synaptic flow of ``model`` (higher is better); ``batch`` gives the input shape."""
    from torch.func import functional_call

    swapped = _swap_batchnorm(model)
    try:
        weight_ids = {id(m.weight) for m in layer_weights(model)}
        params: dict[str, torch.Tensor] = {}
        for n, p in model.named_parameters():
            params[n] = p.detach().to(torch.float64).abs().requires_grad_(id(p) in weight_ids)
        for n, b in model.named_buffers():
            params[n] = b.detach().to(torch.float64).abs() if b.is_floating_point() else b
        # all ones: for word ids, word 1 everywhere (the embedding's |row| carries the flow)
        xb = batch[0]
        x = torch.ones(
            (1, *xb.shape[1:]), dtype=torch.float64 if xb.is_floating_point() else xb.dtype
        )
        out = torch.sum(functional_call(model, params, (x,)))
        wanted = [n for n, p in model.named_parameters() if id(p) in weight_ids]
        tensors = [params[n] for n in wanted]
        grads = torch.autograd.grad(out, tensors, allow_unused=True) if out.requires_grad else []
        with torch.no_grad():
            total = sum(float((w * g).abs().sum()) for w, g in zip(tensors, grads) if g is not None)
    finally:
        for parent, name, bn in swapped:
            setattr(parent, name, bn)
    if total <= 0.0:
        return float("-inf")
    return math.log(total)
