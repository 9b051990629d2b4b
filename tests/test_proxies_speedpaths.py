"""The fast paths of the proxies give the reference values: channels-last passes, NASWOT's shared
kernel terms for an activation reaching several ReLUs, synflow without a deep copy."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from metanas.evaluation.proxies import compute_proxies, make_batch, model_factory
from metanas.evaluation.proxies.synflow import strip_batchnorm, synflow
from metanas.space.nb201 import nb201_from_string

SHAPE = (3, 32, 32)
# node 0 feeds three ReLU-Conv-BN edges and node 1 two: the same tensor reaches several ReLUs
DENSE = "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_3x3~1|avg_pool_3x3~2|"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _factory(seed: int = 0):
    return model_factory("nb201", nb201_from_string(DENSE), SHAPE, 10, seed, {"C": 4, "N": 2})


@pytest.mark.parametrize("seed", [0, 1])
def test_nwot_equals_naswot_reference_on_nb201(seed: int) -> None:
    b = make_batch("random", 12, SHAPE, 10, seed=seed)
    got = compute_proxies(_factory(seed), b, ["nwot"])["nwot"]
    # the same channels-last layout as compute_proxies: a different summation order could flip
    # the sign of a near-zero activation and so change a code
    m = _factory(seed)().to(memory_format=torch.channels_last)
    k = torch.zeros(12, 12, dtype=torch.float64)
    relus = 0

    def hook(mod: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        c = (inp[0].reshape(12, -1) > 0).double()
        k.add_(c @ c.t() + (1 - c) @ (1 - c).t())

    for mod in m.modules():
        if isinstance(mod, nn.ReLU):
            mod.register_forward_hook(hook)
            relus += 1
    with torch.no_grad():
        m(b[0].contiguous(memory_format=torch.channels_last))
    assert relus > 20  # the shared-term path really ran
    assert got == pytest.approx(float(torch.linalg.slogdet(k)[1]), rel=1e-9)


def test_gradient_and_jacobian_proxies_match_plain_layout() -> None:
    """compute_proxies runs in channels-last; a plain NCHW computation gives the same values."""
    b = make_batch("random", 8, SHAPE, 10, seed=3)
    got = compute_proxies(_factory(), b, ["snip", "grad_norm", "jacob_cov"])
    m = _factory()()
    convs = [x for x in m.modules() if isinstance(x, (nn.Conv2d, nn.Linear))]
    nn.functional.cross_entropy(m(b[0]), b[1]).backward()
    snip = sum(float((c.weight * c.weight.grad).abs().sum()) for c in convs)
    gn = sum(float(c.weight.grad.norm()) for c in convs)
    m2 = _factory()()
    x = b[0].clone().requires_grad_(True)
    y = m2(x)
    y.backward(torch.ones_like(y))
    j = x.grad.reshape(8, -1).double()
    corr = torch.corrcoef(j)
    v = torch.linalg.eigvalsh(corr)
    jc = float(-torch.sum(torch.log(v + 1e-5) + 1.0 / (v + 1e-5)))
    assert got["snip"] == pytest.approx(snip, rel=1e-4)
    assert got["grad_norm"] == pytest.approx(gn, rel=1e-4)
    assert got["jacob_cov"] == pytest.approx(jc, rel=1e-3)


def test_synflow_matches_deep_copy_reference_on_nb201() -> None:
    """The mohsaied/zero-cost-nas recipe: copy without BN, abs, double, one all-ones input."""
    m = _factory()()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    got = synflow(m, make_batch("random", 2, SHAPE, 10))
    net = strip_batchnorm(copy.deepcopy(m)).double()
    with torch.no_grad():
        for v in net.state_dict().values():
            v.abs_()
    torch.sum(net(torch.ones(1, *SHAPE, dtype=torch.float64))).backward()
    layers = [x for x in net.modules() if isinstance(x, (nn.Conv2d, nn.Linear))]
    ref = sum(float((x.weight * x.weight.grad).abs().sum()) for x in layers)
    assert got == pytest.approx(math.log(ref), rel=1e-12)
    # left as found: weights, dtype and batch norms
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    assert any(isinstance(x, nn.BatchNorm2d) for x in m.modules())
    assert all(p.dtype == torch.float32 for p in m.parameters())
