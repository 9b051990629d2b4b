"""Gradient-based pruning-at-init proxies, after mohsaied/zero-cost-nas (Abdelfattah et al. 2021).

Each sums a per-weight (or per-channel) saliency over all Conv/Linear layers of a freshly built
network after a cross-entropy backward on one batch:

* ``snip`` (Lee et al. 2019): ``|w * dL/dw|``
* ``grad_norm``: the L2 norm of each layer's weight gradient, summed over layers
* ``fisher`` (Turner et al. 2020): ``0.5 * mean_n (sum_hw a * dL/da)^2`` per output channel
* ``grasp`` (Wang et al. 2020): ``-w * (H g)``, a Hessian-gradient product (a double backward
  for the layers whose scale the loss sees, ``|g|^2`` for the rest)

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


def _uses_batch_statistics(m: nn.Module) -> bool:
    return isinstance(m, nn.modules.batchnorm._BatchNorm) and (m.training or m.running_mean is None)


class _ScaleInvariance:
    """Finds the Conv/Linear layers the loss cannot see the scale of.

    A layer without bias whose every output goes only into a batch norm that normalises with the
    batch's statistics leaves the loss unchanged when its weight is scaled (up to the norm's eps).
    Forward hooks note each layer's output node and each such norm's output node while the loss is
    built; a walk of the autograd graph from the loss then finds each node's consumers.
    """

    def __init__(self, model: nn.Module, layers: list[nn.Module]) -> None:
        self.model, self.layers = model, layers
        self.outputs: dict[nn.Module, list[Any]] = {m: [] for m in layers}
        self.norms: set[Any] = set()

    def __enter__(self) -> _ScaleInvariance:
        def layer_hook(m: nn.Module, inp: Any, out: torch.Tensor) -> None:
            self.outputs[m].append(out.grad_fn)

        def norm_hook(m: nn.Module, inp: Any, out: torch.Tensor) -> None:
            self.norms.add(out.grad_fn)

        self.handles = [m.register_forward_hook(layer_hook) for m in self.layers]
        norms = [m for m in self.model.modules() if _uses_batch_statistics(m)]
        self.handles += [m.register_forward_hook(norm_hook) for m in norms]
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self.handles:
            h.remove()

    def layers_of(self, loss: torch.Tensor) -> list[bool]:
        """Per layer: is ``loss`` invariant to the scale of its weight?"""
        consumers: dict[Any, list[Any]] = {}
        stack: list[Any] = [loss.grad_fn]
        seen = {loss.grad_fn}
        while stack:
            node = stack.pop()
            for parent, _ in node.next_functions:
                if parent is None:
                    continue
                consumers.setdefault(parent, []).append(node)
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)

        def feeds_only_norms(node: Any) -> bool:
            users = consumers.get(node, [])
            return len(users) == 1 and users[0] in self.norms

        return [
            getattr(m, "bias", None) is None
            and bool(self.outputs[m])
            and all(feeds_only_norms(n) for n in self.outputs[m])
            for m in self.layers
        ]


@register_proxy("grasp")
def grasp(model: nn.Module, batch: Batch, loss_fn: LossFn) -> float:
    """GraSP: ``sum -w * (H g)`` with ``g`` the gradient on the batch, held fixed.

    The reference computes ``g`` in a first pass and the differentiable gradient in a second one
    on the same batch; both have the same value, so one pass with ``create_graph`` serves as both.

    Most layers need no Hessian: if the loss is invariant to the scale of layer ``l``'s weight
    (a bias-free layer feeding only a batch norm), then ``w_l . dL/dw_l = 0`` for every weight
    setting; its derivative along ``g`` gives ``-w_l . (H g)_l = |g_l|^2``, exact up to the norm's
    eps. Only the other layers (in NB201 the classifier and the two reduction shortcuts) go through
    the double backward, and autograd walks only the part of the graph they need.
    """
    x, y = batch
    layers = layer_weights(model)
    with _ScaleInvariance(model, layers) as scale:
        loss = loss_fn(model(x), y)
    if not loss.requires_grad:
        return 0.0
    invariant = scale.layers_of(loss)
    weights = [m.weight for m in layers]
    hessian_needed = not all(invariant)
    grads = torch.autograd.grad(loss, weights, create_graph=hessian_needed, allow_unused=True)
    score = sum(
        float(g.detach().pow(2).sum()) for g, i in zip(grads, invariant) if i and g is not None
    )
    z = sum(
        (w.detach() * g).sum()
        for w, g, i in zip(weights, grads, invariant)
        if not i and g is not None
    )
    if isinstance(z, torch.Tensor) and z.requires_grad:
        # -g . (H w_rest) = -w_rest . (H g): one double backward, from the other layers only
        hz = torch.autograd.grad(z, weights, allow_unused=True)
        with torch.no_grad():
            score -= float(
                sum((g * h).sum() for g, h in zip(grads, hz) if g is not None and h is not None)
            )
    return float(score)
