"""SynFlow (Tanaka et al. 2020) as a zero-cost proxy (Abdelfattah et al. 2021).

Follows mohsaied/zero-cost-nas: a copy of the network without batch norm (``bn=False`` there),
all parameters replaced by their absolute values, double precision, one all-ones input; the score is
``sum |w * dR/dw|`` over Conv/Linear weights with ``R = sum(output)``. The data are not read (only
their shape). We return the natural log of that sum: the ranks are the same and deep networks,
whose raw sums overflow even in double, stay finite. A cell with no input-output path scores -inf.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

from metanas.evaluation.proxies.registry import Batch, layer_weights, register_proxy

_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def strip_batchnorm(model: nn.Module) -> nn.Module:
    """Replace every BatchNorm module of ``model`` by an identity, in place."""
    for name, child in list(model.named_children()):
        if isinstance(child, _BN):
            setattr(model, name, nn.Identity())
        else:
            strip_batchnorm(child)
    return model


@register_proxy("synflow", data_dependent=False)
def synflow(model: nn.Module, batch: Batch, loss_fn: Any = None) -> float:
    """ln of the synaptic flow of ``model`` (higher is better); ``batch`` gives the input shape."""
    net = strip_batchnorm(copy.deepcopy(model)).double()
    with torch.no_grad():
        for v in net.state_dict().values():
            v.abs_()
    net.zero_grad(set_to_none=True)
    x = torch.ones((1, *batch[0].shape[1:]), dtype=torch.float64)
    torch.sum(net(x)).backward()
    total = 0.0
    with torch.no_grad():
        for layer in layer_weights(net):
            g = layer.weight.grad
            if g is not None:
                total += float((layer.weight * g).abs().sum())
    if total <= 0.0:
        return float("-inf")
    return math.log(total)
