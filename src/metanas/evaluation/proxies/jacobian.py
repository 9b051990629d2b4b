"""Input-Jacobian and activation-pattern proxies: jacob_cov (Mellor et al. 2020 v1, as in
Abdelfattah et al. 2021) and NASWOT / nwot (Mellor et al. 2021, BayesWatch/nas-without-training).

Both come from one forward pass: hooks on every ReLU collect the binary activation codes of the
batch (nwot; a network without ReLUs takes the signs of its other activations' inputs), and the
gradient of ``sum(output)`` with respect to the input gives the per-example Jacobians
(jacob_cov). The network stays in its current mode (a fresh model trains: batch-norm uses batch
statistics, as in both reference implementations).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from metanas.evaluation.proxies.registry import Batch, register_group, register_proxy


def jacob_cov_score(jacobs: np.ndarray, k: float = 1e-5) -> float:
    """``-sum(log(v + k) + 1 / (v + k))`` over the eigenvalues ``v`` of the Jacobians' correlations."""
    with np.errstate(invalid="ignore", divide="ignore"):
        corrs = np.corrcoef(jacobs)
    if not np.all(np.isfinite(corrs)):  # a constant Jacobian row: the output ignores the input
        return float("nan")
    v = np.linalg.eigvalsh(corrs)  # symmetric: real eigenvalues (the reference's eig, made robust)
    return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


# activations whose input sign splits a unit into two regimes, as ReLU's does (gelu, tanh, ...)
_SIGNED = (
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
    nn.Tanh,
    nn.Hardtanh,
    nn.Sigmoid,
    nn.Softplus,
    nn.Softsign,
)


def _coded_layers(model: nn.Module) -> list[nn.Module]:
    """The layers whose input signs nwot codes: the ReLUs, as the reference; a network without
    any takes its other activations (it scored -inf, with no pattern to compare)."""
    relus: list[nn.Module] = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    return relus or [m for m in model.modules() if isinstance(m, _SIGNED)]


def _pass(model: nn.Module, batch: Batch, want_jacob: bool, want_nwot: bool) -> dict[str, float]:
    x = batch[0].detach().clone()
    b = x.shape[0]
    kernel = torch.zeros(b, b, dtype=torch.float64)

    # tensors already counted, with how often: in NB201 one node feeds up to three ReLU-Conv-BN
    # edges, so the same activation reaches several ReLUs; the reference counts it once per ReLU,
    # and so do we, but compute its kernel term once (kept alive so ids stay unique)
    seen: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def hook(m: nn.Module, inp: Any, out: Any) -> None:
        # NASWOT: K += c c^T + (1 - c)(1 - c)^T, c the binary code of the ReLU's input. The second
        # term is F - s_i - s_j + (c c^T)_ij (F features, s row sums): one matmul instead of two;
        # float32 counts are exact up to 2^24 features per layer
        a = inp[0]
        hit = seen.get(id(a))
        if hit is not None:
            kernel.add_(hit[1])
            return
        c = a.detach() > 0
        if c.dim() == 4 and c.is_contiguous(memory_format=torch.channels_last):
            c = c.permute(0, 2, 3, 1)  # a view: feature order does not change the kernel
        c = c.reshape(b, -1).to(torch.float32)
        if c.shape[1] >= 2**24:
            c = c.to(torch.float64)
        cc = (c @ c.t()).to(torch.float64)
        s = c.sum(1, dtype=torch.float64)
        term = 2.0 * cc + c.shape[1] - s[:, None] - s[None, :]
        seen[id(a)] = (a, term)
        kernel.add_(term)

    handles = [m.register_forward_hook(hook) for m in _coded_layers(model)] if want_nwot else []
    out: dict[str, float] = {}
    # only the input gradient is needed: freezing the weights skips their gradients (~1/3 of
    # the backward), restored below
    frozen = [p for p in model.parameters() if p.requires_grad]
    if want_jacob and not x.is_floating_point():  # word ids: no gradient to take
        out["jacob_cov"], want_jacob = float("nan"), False
    try:
        for p in frozen:
            p.requires_grad_(False)
        if want_jacob:
            x.requires_grad_(True)
            y = model(x)
            y.backward(torch.ones_like(y))
            assert x.grad is not None
            out["jacob_cov"] = jacob_cov_score(x.grad.reshape(b, -1).numpy().astype(np.float64))
        else:
            with torch.no_grad():
                model(x)
    finally:
        for p in frozen:
            p.requires_grad_(True)
        for h in handles:
            h.remove()
        seen.clear()
    if want_nwot:
        sign, logdet = torch.linalg.slogdet(kernel)
        out["nwot"] = float(logdet) if float(sign) != 0.0 else float("-inf")
    return out


@register_group("jacobian")
def jacobian_group(
    model: nn.Module, batch: Batch, loss_fn: Any, names: list[str]
) -> dict[str, float]:
    return _pass(model, batch, "jacob_cov" in names, "nwot" in names)


@register_proxy("jacob_cov", group="jacobian")
def jacob_cov(model: nn.Module, batch: Batch, loss_fn: Any = None) -> float:
    """Correlation of input Jacobians across the batch (higher: less correlated, better)."""
    return _pass(model, batch, True, False)["jacob_cov"]


@register_proxy("nwot", group="jacobian")
def nwot(model: nn.Module, batch: Batch, loss_fn: Any = None) -> float:
    """NASWOT: log|K| of the Hamming-similarity kernel of the ReLU activation codes (a
    network without ReLUs: its other activations' codes)."""
    return _pass(model, batch, False, True)["nwot"]
