"""Gradient-based one-shot search (DARTS, GDAS) on the NAS-Bench-201 cell space.

One supernet holds every architecture (:mod:`metanas.oneshot.supernet`). Its network weights and
its architecture logits are trained in turns, first-order: a step on the weights with a minibatch
of one half of the training split, then a step on the logits with a minibatch of the other half,
so the architecture is chosen by how well it generalises, not by how well it fits. The result is
each edge's op distribution and the architecture of its most likely ops; stand-alone training of
the most probable architectures then says which is best (the ``most_probable`` strategy asks them
in order):

>>> from metanas.data import load_dataset
>>> data = load_dataset("digits", seed=0)
>>> result = oneshot_search(data, method="gdas", epochs=1, C=4, N=1, seed=0, selection="logits")
>>> sorted(result.arch) == ["1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"]
True
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from metanas.data.base import Dataset
from metanas.evaluation.fit import (
    check_device_here,
    evaluate_model,
    resolve_device,
    torch_context,
)
from metanas.nn.nb201 import NB201_EDGES, NB201_OPS
from metanas.oneshot.supernet import MIXES, NB201Supernet
from metanas.types import MAX_THREADS, UserInputError


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    train_loss: float
    #: validation accuracy of the supernet in eval mode (GDAS: its derived architecture; in the
    #: warm-up, whose logits are untrained, a uniformly drawn cell per batch, as it trains)
    val_accuracy: float
    probs: dict[str, dict[str, float]]


@dataclass(frozen=True)
class OneShotResult:
    """What a one-shot search found: ``arch`` (each edge's most likely op) and ``probs``."""

    method: str
    arch: dict[str, str]
    probs: dict[str, dict[str, float]]
    history: tuple[EpochRecord, ...]
    seconds: float
    #: the epochs run (fewer than asked when ``time_budget`` ran out)
    epochs: int
    #: how ``probs`` were read off the supernet: ``"logits"`` or ``"perturbation"``
    selection: str


def _by_edge(p: torch.Tensor) -> dict[str, dict[str, float]]:
    """A ``(6, 5)`` distribution as ``{edge: {op: probability}}``."""
    rows = p.cpu().tolist()
    return {key: dict(zip(NB201_OPS, row)) for (key, _, _), row in zip(NB201_EDGES, rows)}


def _check(data: Dataset, method: str, epochs: int, C: int, N: int, batch_size: int) -> None:
    if method not in MIXES:
        raise UserInputError(f"unknown one-shot method {method!r}; use one of {', '.join(MIXES)}.")
    if data.modality != "image" or data.x_train.dim() != 4:
        raise UserInputError(
            f"one-shot search on the NB201 cell space needs images (N, C, H, W); data set "
            f"{data.name!r} is {data.modality}."
        )
    for name, v in (("epochs", epochs), ("C", C), ("N", N)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise UserInputError(f"one-shot {name} must be a positive integer, got {v!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 2:
        # batch norm needs two examples once the images are pooled to one pixel
        raise UserInputError(f"one-shot batch_size must be an integer >= 2, got {batch_size!r}.")
    if data.x_train.shape[0] < 2 * batch_size:
        raise UserInputError(
            f"one-shot search splits the {data.x_train.shape[0]} training examples into two halves "
            f"of at least batch_size={batch_size}; use more data or a smaller batch_size."
        )


def _check_rates(
    lr: float,
    weight_decay: float,
    arch_lr: float,
    arch_weight_decay: float,
    tau: Any,
    num_threads: int | None,
) -> None:
    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    for name, v, low in (
        ("lr", lr, 0.0),
        ("arch_lr", arch_lr, 0.0),
        ("weight_decay", weight_decay, None),
        ("arch_weight_decay", arch_weight_decay, None),
    ):
        if not number(v) or (v <= low if low is not None else v < 0):
            need = "a positive number" if low is not None else "a number >= 0"
            raise UserInputError(f"one-shot {name} must be {need}, got {v!r}.")
    # GDAS divides by the temperature: 0 made every Gumbel draw infinite (a hang)
    if not (
        isinstance(tau, (tuple, list)) and len(tau) == 2 and all(number(t) and t > 0 for t in tau)
    ):
        raise UserInputError(
            f"one-shot tau must be two positive temperatures (start, end), got {tau!r}."
        )
    if num_threads is not None and (
        isinstance(num_threads, bool)
        or not isinstance(num_threads, int)
        or not 0 < num_threads <= MAX_THREADS
    ):
        raise UserInputError(
            f"one-shot num_threads must be an integer from 1 to {MAX_THREADS}, got {num_threads!r}."
        )


SELECTIONS = ("logits", "perturbation")


@torch.no_grad()
def perturbation_scores(
    net: NB201Supernet, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500
) -> torch.Tensor:
    """``(6, 5)``: how much each op on each edge matters to the trained supernet, measured.

    DARTS: the accuracy the supernet loses on ``x, y`` when the op is removed from its edge's
    mixture (DARTS-PT, Wang et al. 2021: an op's softmax weight does not say how much the
    supernet relies on it, which is why skip connections win the weights). GDAS: the accuracy of
    the derived cell with the edge set to the op.
    """
    net.eval()
    base = evaluate_model(net, x, y, batch_size=batch_size)[0] if net.mix == "darts" else 0.0
    scores = torch.zeros(len(NB201_EDGES), len(NB201_OPS))
    try:
        for e in range(len(NB201_EDGES)):
            for k in range(len(NB201_OPS)):
                net.forced = net.edited(e, k)
                acc = evaluate_model(net, x, y, batch_size=batch_size)[0]
                scores[e, k] = base - acc if net.mix == "darts" else acc
    finally:
        net.forced = None
    return scores


def oneshot_search(
    data: Dataset,
    *,
    method: str = "darts",
    epochs: int = 10,
    C: int = 8,
    N: int = 1,
    batch_size: int = 64,
    lr: float = 0.025,
    weight_decay: float = 5e-4,
    arch_lr: float = 3e-3,
    arch_weight_decay: float = 1e-3,
    warmup: float = 0.3,
    selection: str = "perturbation",
    temperature: float = 0.01,
    tau: tuple[float, float] = (10.0, 0.1),
    seed: int = 0,
    device: str = "auto",
    num_threads: int | None = None,
    time_budget: float | None = None,
    progress: bool = False,
) -> OneShotResult:
    """Train an NB201 supernet on ``data`` with ``method`` (``"darts"`` or ``"gdas"``).

    The defaults, DARTS read by perturbation, found the best cells of the four combinations on
    Fashion-MNIST (``benchmarks/bench_oneshot.py``); GDAS is ~4x cheaper per epoch but on short
    budgets collapses to parameter-free cells.

    ``C`` and ``N`` size the supernet (channels of the first stage, cells per stage). Weights:
    SGD with Nesterov momentum, cosine from ``lr``; logits: Adam at ``arch_lr`` (NAS-Bench-201 uses
    3e-4 over 250 epochs; short CPU runs need larger steps to move the logits at all). GDAS anneals
    its Gumbel temperature linearly from ``tau[0]`` to ``tau[1]``. The first ``warmup`` share of
    the epochs trains the weights alone (GDAS sampling uniformly): untrained convolutions only add
    noise, and logits updated then learn to prefer the parameter-free ops, which is how one-shot
    search collapses on short budgets. ``selection="perturbation"`` reads the distributions off
    :func:`perturbation_scores` (on up to 2,000 examples of the logits' half of the training split)
    as ``softmax(score / temperature)`` per edge, instead of the softmax of the logits.
    ``time_budget`` (seconds) stops the training after the epoch that passes it; the
    perturbation read-out comes after it (a supernet pass over its examples per op and edge).
    With ``selection="logits"``, a budget that ends the training within the warm-up is refused:
    the logits would not have learned anything.
    """
    _check(data, method, epochs, C, N, batch_size)
    if selection not in SELECTIONS:
        raise UserInputError(
            f"unknown one-shot selection {selection!r}; use one of {', '.join(SELECTIONS)}."
        )
    if not temperature > 0:
        raise UserInputError(f"one-shot temperature must be positive, got {temperature!r}.")
    if not 0 <= warmup < 1:
        raise UserInputError(f"one-shot warmup is a share of the epochs in [0, 1), got {warmup!r}.")
    _check_rates(lr, weight_decay, arch_lr, arch_weight_decay, tau, num_threads)
    warm_epochs = int(warmup * epochs)
    check_device_here(device)
    dev = resolve_device(device)
    started = time.perf_counter()
    with torch_context(seed, num_threads, dev):
        gen = torch.Generator().manual_seed(seed)
        order = torch.randperm(data.x_train.shape[0], generator=gen)
        half = order.shape[0] // 2
        xw, yw = data.x_train[order[:half]].to(dev), data.y_train[order[:half]].to(dev)
        xa, ya = data.x_train[order[half:]].to(dev), data.y_train[order[half:]].to(dev)
        xv, yv = data.x_val.to(dev), data.y_val.to(dev)
        net = NB201Supernet(data.x_train.shape[1], data.n_classes, C=C, N=N, mix=method).to(dev)
        weights = net.weight_parameters()
        w_opt = torch.optim.SGD(
            weights, lr=lr, momentum=0.9, weight_decay=weight_decay, nesterov=True
        )
        a_opt = torch.optim.Adam(
            [net.arch_logits], lr=arch_lr, betas=(0.5, 0.999), weight_decay=arch_weight_decay
        )
        steps = math.ceil(half / batch_size)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, epochs * steps, eta_min=1e-3)
        loss_fn = nn.CrossEntropyLoss()
        history: list[EpochRecord] = []
        bar = _bar(epochs) if progress else None
        try:
            for epoch in range(epochs):
                searching = epoch >= warm_epochs
                net.tau = tau[0] - (tau[0] - tau[1]) * epoch / max(epochs - 1, 1)
                net.uniform = not searching
                net.train()
                pw = torch.randperm(half, generator=gen).to(dev)
                pa = torch.randperm(xa.shape[0], generator=gen).to(dev)
                total, seen = 0.0, 0
                for s in range(steps):
                    iw = pw[s * batch_size : (s + 1) * batch_size]
                    ia = pa[(s * batch_size) % xa.shape[0] :][:batch_size]
                    if len(iw) < 2 or len(ia) < 2:  # batch norm cannot train on one example
                        continue
                    w_opt.zero_grad(set_to_none=True)
                    loss = loss_fn(net(xw[iw]), yw[iw])
                    loss.backward()
                    nn.utils.clip_grad_norm_(weights, 5.0)
                    w_opt.step()
                    sched.step()
                    if searching:
                        a_opt.zero_grad(set_to_none=True)
                        loss_fn(net(xa[ia]), ya[ia]).backward()
                        a_opt.step()
                    total += float(loss.detach()) * len(iw)
                    seen += len(iw)
                if not math.isfinite(total):
                    raise FloatingPointError(
                        f"one-shot training loss became {total} in epoch {epoch + 1}"
                    )
                acc, _ = evaluate_model(net, xv, yv, batch_size=512)
                history.append(
                    EpochRecord(epoch + 1, total / seen, acc, _by_edge(net.probabilities()))
                )
                if bar is not None:
                    bar.update(epoch + 1, acc, net.derive())
                if time_budget is not None and time.perf_counter() - started > time_budget:
                    break
        finally:
            if bar is not None:
                bar.close()
        if selection == "logits" and len(history) <= warm_epochs:
            raise UserInputError(
                f"the one-shot time budget ended the training after {len(history)} epoch(s), "
                f"within its {warm_epochs}-epoch warm-up, so the architecture logits learned "
                "nothing; raise the time budget, lower warmup, or use selection='perturbation'."
            )
        if selection == "perturbation":
            scores = perturbation_scores(net, xa[:2000], ya[:2000])
            probs = _by_edge(torch.softmax(scores / temperature, dim=-1))
        else:
            probs = _by_edge(net.probabilities())
    arch = {key: max(dist, key=dist.__getitem__) for key, dist in probs.items()}
    return OneShotResult(
        method=method,
        arch=arch,
        probs=probs,
        history=tuple(history),
        seconds=time.perf_counter() - started,
        epochs=len(history),
        selection=selection,
    )


class _bar:
    """A rich progress bar over epochs, showing the supernet's accuracy and derived cell."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._p = Progress(
            TextColumn("[bold]one-shot epochs"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            console=Console(stderr=True),
        )
        self._p.start()
        self._task = self._p.add_task("epochs", total=total, info="")

    def update(self, done: int, acc: float, arch: Mapping[str, Any]) -> None:
        cell = " ".join(f"{k}:{v}" for k, v in arch.items())
        self._p.update(self._task, completed=done, info=f"val {acc:.3f} | {cell}")

    def close(self) -> None:
        self._p.stop()
