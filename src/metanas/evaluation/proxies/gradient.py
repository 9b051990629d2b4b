"""Gradient-based pruning-at-init proxies, after mohsaied/zero-cost-nas (Abdelfattah et al. 2021).

Each sums a per-weight (or per-channel) saliency over all Conv/Linear layers of a freshly built
network after a cross-entropy backward on one batch:

* ``snip`` (Lee et al. 2019): ``|w * dL/dw|``
* ``grad_norm``: the L2 norm of each layer's weight gradient, summed over layers
* ``fisher`` (Turner et al. 2020): ``0.5 * mean_n (sum_hw a * dL/da)^2`` per output channel
* ``grasp`` (Wang et al. 2020): ``-w * (H g)``, a Hessian-gradient product (a double backward)

snip, grad_norm and fisher share one forward/backward pass (group ``ce_grad``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from metanas.evaluation.proxies.registry import (
    Batch,
    LossFn,
    layer_weights,
    register_group,
    register_proxy,
)


def _ce_pass(model: nn.Module, batch: Batch, loss_fn: LossFn, names: list[str]) -> dict[str, float]:
    x, y = batch
    layers = layer_weights(model)
    fisher: dict[int, torch.Tensor] = {}
    handles = []
    if "fisher" in names:

        def fwd(m: nn.Module, inp: Any, out: torch.Tensor) -> None:
            if not out.requires_grad:
                return

            act, mid = out.detach(), id(m)

            def back(g: torch.Tensor) -> None:
                prod = act * g.detach()
                g_nk = prod.sum(dim=tuple(range(2, prod.dim()))) if prod.dim() > 2 else prod
                fisher[mid] = fisher.get(mid, 0.0) + 0.5 * g_nk.pow(2).mean(0)  # type: ignore[operator]

            out.register_hook(back)

        handles = [m.register_forward_hook(fwd) for m in layers]
    try:
        model.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
    finally:
        for h in handles:
            h.remove()
    out: dict[str, float] = {}
    with torch.no_grad():
        grads = [(m.weight, m.weight.grad) for m in layers if m.weight.grad is not None]
        if "snip" in names:
            out["snip"] = float(sum(float((w * g).abs().sum()) for w, g in grads))
        if "grad_norm" in names:
            out["grad_norm"] = float(sum(float(g.norm()) for _, g in grads))
        if "fisher" in names:
            out["fisher"] = float(sum(float(v.sum()) for v in fisher.values()))
    return out


@register_group("ce_grad")
def ce_grad_group(
    model: nn.Module, batch: Batch, loss_fn: LossFn, names: list[str]
) -> dict[str, float]:
    return _ce_pass(model, batch, loss_fn, names)


@register_proxy("snip", group="ce_grad")
def snip(model: nn.Module, batch: Batch, loss_fn: LossFn) -> float:
    """Connection sensitivity ``sum |w * dL/dw|``."""
    return _ce_pass(model, batch, loss_fn, ["snip"])["snip"]


@register_proxy("grad_norm", group="ce_grad")
def grad_norm(model: nn.Module, batch: Batch, loss_fn: LossFn) -> float:
    """Sum over layers of the weight gradient's L2 norm."""
    return _ce_pass(model, batch, loss_fn, ["grad_norm"])["grad_norm"]


@register_proxy("fisher", group="ce_grad")
def fisher(model: nn.Module, batch: Batch, loss_fn: LossFn) -> float:
    """Fisher information of the layer outputs, summed over channels and layers."""
    return _ce_pass(model, batch, loss_fn, ["fisher"])["fisher"]


@register_proxy("grasp")
def grasp(model: nn.Module, batch: Batch, loss_fn: LossFn) -> float:
    """GraSP: ``sum -w * (H g)`` with ``g`` the gradient on the batch, held fixed.

    The reference computes ``g`` in a first pass and the differentiable gradient in a second one
    on the same batch; both have the same value, so one pass with ``create_graph`` serves as both.
    """
    x, y = batch
    weights = [m.weight for m in layer_weights(model)]
    model.zero_grad(set_to_none=True)
    grads = torch.autograd.grad(loss_fn(model(x), y), weights, create_graph=True, allow_unused=True)
    z = sum((g.detach() * g).sum() for g in grads if g is not None)
    if not isinstance(z, torch.Tensor) or not z.requires_grad:
        return 0.0
    z.backward()
    with torch.no_grad():
        return float(sum(float((-w * w.grad).sum()) for w in weights if w.grad is not None))
