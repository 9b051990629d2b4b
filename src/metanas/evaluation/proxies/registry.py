"""Proxy registry: ``register_proxy(name)`` adds a zero-cost proxy, ``compute_proxies`` runs several.

A proxy is ``fn(model, batch, loss_fn) -> float`` scoring an untrained network on one batch
``(x, y)``; higher means "predicted to train better". Proxies may change the model's weights and
gradients: :func:`compute_proxies` builds the model once and restores its initial state before each
proxy. Proxies that share a pass (snip, grad_norm, fisher share one cross-entropy backward; nwot and
jacob_cov share one forward) are registered with a ``group`` whose function computes them together.
Importing this module does not import torch; the built-in families load on first lookup.

Example:
    >>> from metanas.evaluation.proxies import proxy_names
    >>> {"synflow", "nwot", "jacob_cov", "snip", "params"} <= set(proxy_names())
    True
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from metanas.types import UserInputError, did_you_mean

if TYPE_CHECKING:
    import torch
    from torch import nn

ProxyFn = Callable[..., float]
GroupFn = Callable[..., dict[str, float]]
LossFn = Callable[..., "torch.Tensor"]
Batch = tuple["torch.Tensor", "torch.Tensor"]

#: modules whose import registers the built-in proxies
_FAMILIES = (
    "metanas.evaluation.proxies.size",
    "metanas.evaluation.proxies.synflow",
    "metanas.evaluation.proxies.jacobian",
    "metanas.evaluation.proxies.gradient",
)
_loaded = False


@dataclass(frozen=True)
class ProxySpec:
    """A registered proxy: its function, whether it reads the data, and its shared-pass group."""

    name: str
    fn: ProxyFn
    data_dependent: bool = True
    group: str | None = None


_PROXIES: dict[str, ProxySpec] = {}
_GROUPS: dict[str, GroupFn] = {}


def register_proxy(
    name: str, *, data_dependent: bool = True, group: str | None = None
) -> Callable[[ProxyFn], ProxyFn]:
    """Decorator registering ``fn(model, batch, loss_fn) -> float`` as proxy ``name`` (once)."""

    def deco(fn: ProxyFn) -> ProxyFn:
        if name in _PROXIES or name == "vote":
            raise ValueError(f"proxy name {name!r} is already registered")
        _PROXIES[name] = ProxySpec(name, fn, data_dependent, group)
        return fn

    return deco


def register_group(group: str) -> Callable[[GroupFn], GroupFn]:
    """Decorator registering ``fn(model, batch, loss_fn, names) -> {name: score}`` for a group."""

    def deco(fn: GroupFn) -> GroupFn:
        if group in _GROUPS:
            raise ValueError(f"proxy group {group!r} is already registered")
        _GROUPS[group] = fn
        return fn

    return deco


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for mod in _FAMILIES:
            importlib.import_module(mod)


def proxy_names() -> list[str]:
    """Names of all registered proxies (``vote`` is a combination, see ``combined.rank_vote``)."""
    _load()
    return sorted(_PROXIES)


def get_proxy(name: str) -> ProxySpec:
    _load()
    try:
        return _PROXIES[name]
    except KeyError:
        known = proxy_names()
        raise UserInputError(
            f"unknown proxy {name!r}; {did_you_mean(name, known)}use one of {', '.join(known)}."
        ) from None


def check_names(names: Iterable[str]) -> list[str]:
    """``names`` as a list, each checked (unknown names raise :class:`UserInputError`)."""
    out = [str(n).strip() for n in names]
    if not out:
        raise UserInputError("no proxy names given; name at least one, e.g. synflow.")
    for n in out:
        get_proxy(n)
    return out


def cross_entropy() -> LossFn:
    import torch.nn.functional as F

    return F.cross_entropy


def compute_proxies(
    model_factory: Callable[[], nn.Module],
    batch: Batch,
    names: Iterable[str],
    loss_fn: LossFn | None = None,
    timings: MutableMapping[str, float] | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Score the network ``model_factory()`` builds with every proxy in ``names``.

    The model is built once; its initial weights and buffers are restored before each proxy (or
    shared-pass group). ``timings``, when given, receives the seconds spent per proxy (a group's
    time is split evenly among its members) and under ``"build"`` the model construction.
    Random layers (dropout) draw from torch's generator seeded with ``seed`` before each proxy,
    inside a fork: the scores do not depend on, nor change, the caller's random state.
    """
    import torch

    with torch.random.fork_rng(devices=[]):
        return _compute(model_factory, batch, names, loss_fn, timings, seed)


def _compute(
    model_factory: Callable[[], nn.Module],
    batch: Batch,
    names: Iterable[str],
    loss_fn: LossFn | None,
    timings: MutableMapping[str, float] | None,
    seed: int,
) -> dict[str, float]:
    import torch

    wanted = check_names(names)
    loss = loss_fn or cross_entropy()
    t0 = time.perf_counter()
    model = model_factory()
    x, y = batch
    if x.dim() == 4:
        # channels-last convolutions run ~1.5-2x faster on CPU (oneDNN); same values up to rounding
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        batch = (x.contiguous(memory_format=torch.channels_last), y)
    if timings is not None:
        timings["build"] = time.perf_counter() - t0
    # a plain copy of every weight and buffer: restoring with copy_ is cheaper than load_state_dict
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    # run each group once, in the order of its first member
    jobs: list[tuple[str | None, list[str]]] = []
    by_group: dict[str, list[str]] = {}
    for n in wanted:
        g = _PROXIES[n].group
        if g is not None and g in _GROUPS:
            if g not in by_group:
                by_group[g] = []
                jobs.append((g, by_group[g]))
            by_group[g].append(n)
        else:
            jobs.append((None, [n]))
    out: dict[str, float] = {}
    first = True
    for group, members in jobs:
        if not first:
            _restore(model, state)
        first = False
        model.zero_grad(set_to_none=True)
        torch.manual_seed(seed)
        t = time.perf_counter()
        if group is not None and len(members) > 1:
            got = _GROUPS[group](model, batch, loss, members)
            vals = {n: float(got[n]) for n in members}
        else:
            vals = {members[0]: float(_PROXIES[members[0]].fn(model, batch, loss))}
        dt = time.perf_counter() - t
        out.update(vals)
        if timings is not None:
            for n in members:
                timings[n] = dt / len(members)
    return {n: out[n] for n in wanted}


def _restore(model: nn.Module, state: dict[str, Any]) -> None:
    """Copy the saved initial weights and buffers (e.g. batch-norm running stats) back in place."""
    import torch

    with torch.no_grad():
        for k, v in model.state_dict().items():
            v.copy_(state[k])


def layer_weights(model: nn.Module) -> list[Any]:
    """The Conv/Linear layers of ``model`` (the layers every reference proxy sums over)."""
    from torch import nn

    return [m for m in model.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]


__all__ = [
    "Batch",
    "ProxySpec",
    "check_names",
    "compute_proxies",
    "cross_entropy",
    "get_proxy",
    "proxy_names",
    "register_group",
    "register_proxy",
]
