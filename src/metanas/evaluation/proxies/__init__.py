"""Zero-cost proxies: score an untrained network in a fraction of a second.

Families: size (params, flops), synflow, jacobian (nwot, jacob_cov), gradient (snip, grad_norm,
fisher, grasp); combinations: ``rank_vote`` and ``LearnedCombination``; ``ProxyEvaluator`` plugs
them into a study. Importing this package does not import torch.

Example:
    >>> from metanas.evaluation.proxies import compute_proxies, make_batch, model_factory
    >>> arch = {"1<-0": "nor_conv_3x3", "2<-0": "none", "2<-1": "skip_connect",
    ...         "3<-0": "none", "3<-1": "none", "3<-2": "avg_pool_3x3"}
    >>> f = model_factory("nb201", arch, (3, 32, 32), 10, options={"C": 8, "N": 1})
    >>> s = compute_proxies(f, make_batch("random", 8, (3, 32, 32), 10), ["synflow", "snip"])
    >>> sorted(s)
    ['snip', 'synflow']
"""

from __future__ import annotations

import importlib
from typing import Any

from metanas.evaluation.proxies.registry import (
    ProxySpec,
    compute_proxies,
    get_proxy,
    proxy_names,
    register_group,
    register_proxy,
)

_LAZY = {
    "ProxyEvaluator": "metanas.evaluation.proxies.evaluator",
    "ProxyScorer": "metanas.evaluation.proxies.evaluator",
    "LearnedCombination": "metanas.evaluation.proxies.combined",
    "VOTE_PROXIES": "metanas.evaluation.proxies.combined",
    "quantile_ranks": "metanas.evaluation.proxies.combined",
    "rank_vote": "metanas.evaluation.proxies.combined",
    "make_batch": "metanas.evaluation.proxies.batch",
    "model_factory": "metanas.evaluation.proxies.batch",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'metanas.evaluation.proxies' has no attribute {name!r}")


__all__ = [
    "VOTE_PROXIES",
    "LearnedCombination",
    "ProxyEvaluator",
    "ProxyScorer",
    "ProxySpec",
    "compute_proxies",
    "get_proxy",
    "make_batch",
    "model_factory",
    "proxy_names",
    "quantile_ranks",
    "rank_vote",
    "register_group",
    "register_proxy",
]
