"""The training loop and its torch plumbing: optimiser, loss, augmentation, seeding, scoring.

:func:`fit` is deliberately bare (index-shuffled minibatches of tensors already on the device, no
DataLoader), so its per-step cost stays within a few percent of a hand-written PyTorch loop
(``benchmarks/bench_trainer_overhead.py``). :func:`fit_recipe` runs it with a
:class:`~metanas.evaluation.recipe.Recipe`.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from metanas.evaluation.malloc import keep_freed_memory
from metanas.evaluation.recipe import LOSSES, OPTIMIZERS, Recipe
from metanas.types import UserInputError


class TimeLimitExceeded(Exception):
    """Raised inside :func:`fit` when the wall-clock limit is passed."""


def arch_seed(arch: Mapping[str, Any], seed: int) -> int:
    """A 63-bit seed from the run seed and the architecture (same arch + seed -> same seed)."""
    text = json.dumps({k: arch[k] for k in sorted(arch)}, sort_keys=True, default=str)
    digest = hashlib.sha256(f"{seed}:{text}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as given."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise UserInputError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N.") from None


def check_device_here(device: str | torch.device) -> None:
    """Refuse a device this machine lacks before any trial runs on it (not for remote workers,
    which may have one)."""
    dev = resolve_device(device)
    if dev.type == "cuda" and (
        not torch.cuda.is_available() or (dev.index or 0) >= torch.cuda.device_count()
    ):
        found = torch.cuda.device_count() if torch.cuda.is_available() else 0
        raise UserInputError(
            f"device {str(device)!r} is not on this machine (torch finds {found} CUDA GPUs); "
            "use device: auto, which falls back to the CPU, or cpu."
        )


@contextmanager
def torch_context(seed: int, num_threads: int | None, device: torch.device) -> Iterator[None]:
    """Seed torch's global generators inside a fork (restored afterwards), set threads per trial.

    Weight initialisation and dropout draw from torch's global generator; forking it keeps the
    trial deterministic without leaking state to the caller.
    """
    keep_freed_memory()
    devices = [device.index or 0] if device.type == "cuda" else []
    old_threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        try:
            yield
        finally:
            if num_threads is not None:
                torch.set_num_threads(old_threads)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def make_optimizer(
    model: nn.Module, name: str, lr: float, weight_decay: float, momentum: float = 0.9
) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=True
        )
    raise UserInputError(f"unknown optimizer {name!r}; use one of {', '.join(OPTIMIZERS)}.")


def _loss_fn(
    loss: str, n_classes: int, label_smoothing: float
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if loss == "ce":
        return nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    if loss == "bce":
        bce = nn.BCEWithLogitsLoss()

        def f(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            if logits.shape[1] == 1:  # one logit: sigmoid of P(class 1), binary tasks
                return bce(logits[:, 0], y.to(logits.dtype))
            return bce(logits, nn.functional.one_hot(y, n_classes).to(logits.dtype))

        return f
    raise UserInputError(f"unknown loss {loss!r}; use one of {', '.join(LOSSES)}.")


def _augment(x: torch.Tensor, gen: torch.Generator, shift: int = 2) -> torch.Tensor:
    """Random horizontal flip and a random shift of up to ``shift`` pixels (images ``(B,C,H,W)``)."""
    b, _, h, w = x.shape
    # draw on the CPU generator, then move: one generator serves every device
    flip = (torch.rand(b, generator=gen) < 0.5).to(x.device)
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if shift > 0:
        padded = nn.functional.pad(x, (shift, shift, shift, shift))
        dy = torch.randint(0, 2 * shift + 1, (b,), generator=gen).to(x.device)
        dx = torch.randint(0, 2 * shift + 1, (b,), generator=gen).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (B,1,H,1)
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (B,1,1,W)
        bidx = torch.arange(b, device=x.device)[:, None, None, None]
        cidx = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        x = padded[bidx, cidx, rows, cols]
    return x


def _steps(epochs: float, steps_per_epoch: int) -> int:
    """Whole steps for ``epochs`` (a partial step counts), blind to float rounding: a rung of
    0.6000000000000001 epochs at 10 steps per epoch is 6 steps, not 7."""
    return math.ceil(round(epochs * steps_per_epoch, 6))


@torch.inference_mode()
def evaluate_model(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int = 1024,
    loss: str = "ce",
    n_classes: int | None = None,
) -> tuple[float, float]:
    """(accuracy, mean loss) of ``model`` on ``x, y``, in eval mode."""
    was_training = model.training
    model.eval()
    n = int(x.shape[0])
    n_classes = n_classes or 0
    correct = 0
    total_loss = 0.0
    for i, j in _batches(n, batch_size):
        out = model(x[i:j])
        yb = y[i:j]
        if out.shape[1] == 1:  # one logit (sigmoid, binary): class 1 when the logit is > 0
            tgt = yb.to(out.dtype)
            total_loss += float(
                nn.functional.binary_cross_entropy_with_logits(out[:, 0], tgt, reduction="sum")
            )
            correct += int(((out[:, 0] > 0).long() == yb).sum())
            continue
        if loss == "bce":
            tgt = nn.functional.one_hot(yb, out.shape[1]).to(out.dtype)
            total_loss += (
                float(nn.functional.binary_cross_entropy_with_logits(out, tgt, reduction="sum"))
                / out.shape[1]
            )
        else:
            total_loss += float(nn.functional.cross_entropy(out, yb, reduction="sum"))
        correct += int((out.argmax(1) == yb).sum())
    model.train(was_training)
    return correct / max(n, 1), total_loss / max(n, 1)


def fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: float,
    batch_size: int = 128,
    optimizer: str = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    cosine: bool = True,
    warmup_epochs: float = 0.0,
    loss: str = "ce",
    label_smoothing: float = 0.0,
    n_classes: int | None = None,
    augment: bool = False,
    generator: torch.Generator,
    deadline: float | None = None,
    time_budget: float | None = None,
    max_epochs: float | None = None,
    on_epoch: Callable[[int, float, float], bool] | None = None,
) -> dict[str, float]:
    """Train ``model`` in place for ``epochs`` (fractional allowed) on tensors already on its device.

    ``on_epoch(epoch, epochs_done, train_loss)`` runs after every epoch (and at a fractional end);
    returning ``False`` stops training. Raises :class:`TimeLimitExceeded` past ``deadline``
    (a ``time.perf_counter()`` value) and ``FloatingPointError`` on a non-finite loss.
    ``time_budget`` (seconds) re-plans instead of failing: after each epoch the remaining steps
    are cut to what the measured pace fits, and the cosine schedule ends at the new last step;
    with ``max_epochs`` they may also grow, up to that many epochs (``epochs`` was a guess of what
    fits, which a busy moment can make too small).
    Returns ``{"train_loss", "epochs", "steps"}``.
    """
    keep_freed_memory()
    n = int(x.shape[0])
    if n == 0:
        raise UserInputError("the training split is empty; use more data or a larger fraction.")
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = max(1, _steps(epochs, steps_per_epoch))
    most_steps = total_steps
    if max_epochs is not None:
        most_steps = max(total_steps, _steps(max_epochs, steps_per_epoch))
    n_classes = n_classes or int(y.max()) + 1
    opt = make_optimizer(model, optimizer, lr, weight_decay, momentum)
    warm = int(warmup_epochs * steps_per_epoch)
    sched = None
    if cosine or warm:

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            if not cosine:
                return 1.0
            t = (step - warm) / max(1, total_steps - warm)
            return 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0)))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    criterion = _loss_fn(loss, n_classes, label_smoothing)
    model.train()
    step = 0
    epoch = 0
    started = time.perf_counter()
    last_loss = float("nan")
    while step < total_steps:
        perm = torch.randperm(n, generator=generator, device="cpu").to(x.device)
        run_loss = torch.zeros((), device=x.device)
        seen = 0
        for i in range(0, n, batch_size):
            if step >= total_steps:
                break
            # a last batch of one also takes the example before it: batch norm needs two
            idx = perm[i - 1 : i + 1] if n - i == 1 and n > 1 else perm[i : i + batch_size]
            xb, yb = x[idx], y[idx]
            if augment and xb.dim() == 4:
                xb = _augment(xb, generator)
            opt.zero_grad(set_to_none=True)
            out = model(xb)
            batch_loss = criterion(out, yb)
            batch_loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            run_loss += batch_loss.detach() * len(idx)
            seen += len(idx)
            step += 1
            if deadline is not None and time.perf_counter() > deadline:
                raise TimeLimitExceeded(f"after {step / steps_per_epoch:.2f} epochs")
        epoch += 1
        last_loss = float(run_loss) / max(seen, 1)
        if not math.isfinite(last_loss):
            raise FloatingPointError(f"training loss became {last_loss} in epoch {epoch}")
        if on_epoch is not None and on_epoch(epoch, step / steps_per_epoch, last_loss) is False:
            break
        if time_budget is not None:  # `factor` reads total_steps, so the schedule follows
            elapsed = time.perf_counter() - started
            fits = step + int((time_budget - elapsed) * step / max(elapsed, 1e-9))
            total_steps = min(most_steps, max(step, fits))
    return {"train_loss": last_loss, "epochs": step / steps_per_epoch, "steps": float(step)}


def _batches(n: int, batch_size: int) -> list[tuple[int, int]]:
    """``[start, end)`` of ``n`` examples in batches, a last batch of one joined to the one
    before (a network that normalises by batch statistics cannot take a batch of one)."""
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return [(a, b) for a, b in zip(starts, [*starts[1:], n], strict=True)]


def fit_recipe(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    recipe: Recipe,
    *,
    generator: torch.Generator,
    epochs: float | None = None,
    deadline: float | None = None,
    time_budget: float | None = None,
    max_epochs: float | None = None,
    on_epoch: Callable[[int, float, float], bool] | None = None,
    n_classes: int | None = None,
) -> dict[str, float]:
    """:func:`fit` with ``recipe``'s settings; ``epochs`` (default ``recipe.epochs``) overrides."""
    return fit(
        model, x, y, epochs=recipe.epochs if epochs is None else epochs, n_classes=n_classes,
        generator=generator, deadline=deadline, time_budget=time_budget, max_epochs=max_epochs,
        on_epoch=on_epoch, **recipe.fit_options(),
    )  # fmt: skip


__all__ = [
    "TimeLimitExceeded",
    "arch_seed",
    "check_device_here",
    "count_params",
    "evaluate_model",
    "fit",
    "fit_recipe",
    "make_optimizer",
    "resolve_device",
    "torch_context",
]
