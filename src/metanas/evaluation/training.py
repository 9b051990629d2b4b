"""Real training: build a model for an architecture, fit it on in-memory tensors, score it.

:class:`TrainingEvaluator` is the evaluator a study uses; :func:`train_final` retrains the chosen
architecture on train + validation and reports test accuracy once. The loop is deliberately bare
(index-shuffled minibatches of tensors already on the device, no DataLoader), so its per-step cost
stays within a few percent of a hand-written PyTorch loop (``benchmarks/bench_trainer_overhead.py``).

Early stopping: when the reporter answers :attr:`Decision.STOP` before the budget is spent, the
result has state :attr:`TrialState.PRUNED`, the metrics and value reached so far, and
``metrics["pruned"] == 1.0``; a trial that uses its whole budget is :attr:`TrialState.COMPLETE`.

Example:
    >>> ev = TrainingEvaluator("fashion_mnist", "macro", epochs=1, fraction=0.1)  # doctest: +SKIP
    >>> ev.evaluate({"n_stages": 2, ...}, None, continue_always).metrics["val_acc"]  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from metanas.data.base import Dataset
from metanas.evaluation.base import Reporter, continue_always
from metanas.types import (
    Architecture,
    Budget,
    Decision,
    Result,
    TaskInfo,
    TrialState,
    UserInputError,
)

#: builds ``nn.Module`` from (kind, arch, input_shape, n_classes, **options); default metanas.nn
ModelBuilder = Callable[..., nn.Module]

_OPTIMIZERS = ("adam", "adamw", "sgd")
_LOSSES = ("ce", "bce")
# per-process cache of data sets loaded by name, so a worker loads each one once
_DATA_CACHE: dict[tuple[Any, ...], Dataset] = {}


class TimeLimitExceeded(Exception):
    """Raised inside :func:`fit` when the wall-clock limit is passed."""


# --------------------------------------------------------------------------- helpers
def arch_seed(arch: Mapping[str, Any], seed: int) -> int:
    """A 63-bit seed from the run seed and the architecture (same arch + seed -> same seed)."""
    text = json.dumps({k: arch[k] for k in sorted(arch)}, sort_keys=True, default=str)
    digest = hashlib.sha256(f"{seed}:{text}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as given."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@contextmanager
def _torch_context(seed: int, num_threads: int | None, device: torch.device) -> Iterator[None]:
    """Seed torch's global generators inside a fork (restored afterwards), set threads per trial.

    Weight initialisation and dropout draw from torch's global generator; forking it keeps the
    trial deterministic without leaking state to the caller.
    """
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


def load_dataset_cached(
    name: str, seed: int = 0, val_fraction: float = 0.1, limit: int | None = None
) -> Dataset:
    """``metanas.data.load_dataset`` with a per-process cache."""
    key = (name, seed, val_fraction, limit)
    if key not in _DATA_CACHE:
        from metanas.data import load_dataset  # lazy: data sets are heavy and optional

        _DATA_CACHE[key] = load_dataset(name, seed=seed, val_fraction=val_fraction, limit=limit)
    return _DATA_CACHE[key]


def default_builder(
    kind: str, arch: Architecture, input_shape: tuple[int, ...], n_classes: int, **options: Any
) -> nn.Module:
    from metanas.nn import build_model  # lazy: the builders import torch layers

    return build_model(kind, arch, input_shape, n_classes, **options)


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
    raise UserInputError(f"unknown optimizer {name!r}; use one of {', '.join(_OPTIMIZERS)}.")


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
    raise UserInputError(f"unknown loss {loss!r}; use one of {', '.join(_LOSSES)}.")


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
    for i in range(0, n, batch_size):
        out = model(x[i : i + batch_size])
        yb = y[i : i + batch_size]
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
    on_epoch: Callable[[int, float, float], bool] | None = None,
) -> dict[str, float]:
    """Train ``model`` in place for ``epochs`` (fractional allowed) on tensors already on its device.

    ``on_epoch(epoch, epochs_done, train_loss)`` runs after every epoch (and at a fractional end);
    returning ``False`` stops training. Raises :class:`TimeLimitExceeded` past ``deadline``
    (a ``time.perf_counter()`` value) and ``FloatingPointError`` on a non-finite loss.
    Returns ``{"train_loss", "epochs", "steps"}``.
    """
    n = int(x.shape[0])
    if n == 0:
        raise UserInputError("the training split is empty; use more data or a larger fraction.")
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = max(1, math.ceil(epochs * steps_per_epoch))
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
    last_loss = float("nan")
    while step < total_steps:
        perm = torch.randperm(n, generator=generator, device="cpu").to(x.device)
        run_loss = torch.zeros((), device=x.device)
        seen = 0
        for i in range(0, n, batch_size):
            if step >= total_steps:
                break
            idx = perm[i : i + batch_size]
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
    return {"train_loss": last_loss, "epochs": step / steps_per_epoch, "steps": float(step)}


# --------------------------------------------------------------------------- the evaluator
class TrainingEvaluator:
    """Train each architecture with gradient descent and score it on the validation split.

    ``dataset`` is a registered name (loaded lazily, once per process, so the evaluator pickles
    small) or a :class:`~metanas.data.base.Dataset`. ``space_kind`` names the model builder
    (``space.kind``). A :class:`~metanas.types.Budget` passed to :meth:`evaluate` overrides
    ``epochs``, ``fraction`` and ``time_limit``. Objective: ``val_acc``.
    """

    objective = "val_acc"

    def __init__(
        self,
        dataset: str | Dataset,
        space_kind: str,
        *,
        epochs: float = 1,
        fraction: float = 1.0,
        batch_size: int = 128,
        optimizer: str = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        momentum: float = 0.9,
        cosine: bool = True,
        warmup_epochs: float = 0.0,
        label_smoothing: float = 0.0,
        augment: bool = False,
        seed: int = 0,
        num_threads: int | None = None,
        time_limit: float | None = None,
        model_options: Mapping[str, Any] | None = None,
        loss: str = "ce",
        device: str = "auto",
        eval_batch_size: int = 1024,
        data_options: Mapping[str, Any] | None = None,
        builder: ModelBuilder | None = None,
    ) -> None:
        self.dataset = dataset
        self.space_kind = space_kind
        self.epochs = epochs
        self.fraction = fraction
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.weight_decay = weight_decay
        self.momentum = momentum
        self.cosine = cosine
        self.warmup_epochs = warmup_epochs
        self.label_smoothing = label_smoothing
        self.augment = augment
        self.seed = seed
        self.num_threads = num_threads
        self.time_limit = time_limit
        self.model_options = dict(model_options or {})
        self.loss = loss
        self.device = device
        self.eval_batch_size = eval_batch_size
        self.data_options = dict(data_options or {})
        self.builder = builder
        _check_settings(self)

    # ----------------------------------------------------------------- data and models
    def data(self) -> Dataset:
        if isinstance(self.dataset, Dataset):
            return self.dataset
        return load_dataset_cached(self.dataset, **self.data_options)

    def model_options_for(self, data: Dataset) -> dict[str, Any]:
        """Builder options: the data set's facts (e.g. ``vocab_size``) under the user's options."""
        opts = {k: v for k, v in data.meta.items() if k == "vocab_size"}
        opts.update(self.model_options)
        return opts

    def build(self, arch: Architecture, data: Dataset) -> nn.Module:
        builder = self.builder or default_builder
        return builder(
            self.space_kind, arch, data.input_shape, data.n_classes, **self.model_options_for(data)
        )

    def task_info(self) -> TaskInfo:
        return self.data().task_info()

    def train_subset(self, data: Dataset, fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``fraction`` of a seed-fixed permutation: every arch sees the same subset."""
        n = int(data.x_train.shape[0])
        if fraction >= 1.0:
            return data.x_train, data.y_train
        k = max(1, round(n * fraction))
        g = torch.Generator().manual_seed(self.seed)
        idx = torch.randperm(n, generator=g)[:k]
        return data.x_train[idx], data.y_train[idx]

    # ----------------------------------------------------------------- the protocol
    def evaluate(
        self, arch: Architecture, budget: Budget | None = None, report: Reporter = continue_always
    ) -> Result:
        """Train ``arch`` within ``budget``; never raises (failures become ``Result.failed``)."""
        start = time.perf_counter()
        epochs = self.epochs if budget is None or budget.epochs is None else budget.epochs
        fraction = self.fraction if budget is None else budget.fraction * self.fraction
        limit = (
            self.time_limit if budget is None or budget.time_limit is None else budget.time_limit
        )
        deadline = None if limit is None else start + limit
        metrics: dict[str, float] = {}
        curve: list[dict[str, float]] = []
        state = {"pruned": False}
        try:
            device = resolve_device(self.device)
            data = self.data()
            seed = arch_seed(arch, self.seed)
            with _torch_context(seed, self.num_threads, device):
                model = self.build(arch, data).to(device)
                metrics["params"] = float(count_params(model))
                x, y = self.train_subset(data, fraction)
                x, y = x.to(device), y.to(device)
                xv, yv = data.x_val.to(device), data.y_val.to(device)
                gen = torch.Generator().manual_seed(seed)

                def on_epoch(epoch: int, done: float, train_loss: float) -> bool:
                    acc, vloss = evaluate_model(
                        model, xv, yv, batch_size=self.eval_batch_size, loss=self.loss
                    )
                    if not math.isfinite(vloss):
                        raise FloatingPointError(f"validation loss became {vloss} in epoch {epoch}")
                    point = {
                        "epoch": done,
                        "val_acc": acc,
                        "val_loss": vloss,
                        "train_loss": train_loss,
                        "seconds": time.perf_counter() - start,
                    }
                    curve.append(point)
                    metrics.update(val_acc=acc, val_loss=vloss, train_loss=train_loss, epochs=done)
                    # every epoch is reported; a STOP only matters before the budget is spent
                    if report(epoch, point) is Decision.STOP and done + 1e-9 < epochs:
                        state["pruned"] = True
                        return False
                    return True

                self._fit(model, x, y, epochs, gen, deadline, on_epoch, data.n_classes)
        except TimeLimitExceeded as e:
            secs = time.perf_counter() - start
            return _failed(f"time limit of {limit:g} s exceeded {e}", secs, metrics, curve)
        except FloatingPointError as e:
            return _failed(f"non-finite loss: {e}", time.perf_counter() - start, metrics, curve)
        except UserInputError as e:
            return _failed(str(e), time.perf_counter() - start, metrics, curve)
        except Exception as e:  # a broken architecture must not stop the study
            return _failed(f"{type(e).__name__}: {e}", time.perf_counter() - start, metrics, curve)
        secs = time.perf_counter() - start
        metrics["seconds"] = secs
        if state["pruned"]:
            metrics["pruned"] = 1.0
        return Result(
            value=metrics.get("val_acc"),
            metrics=metrics,
            state=TrialState.PRUNED if state["pruned"] else TrialState.COMPLETE,
            cost=secs,
            curve=tuple(curve),
        )

    def _fit(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        epochs: float,
        gen: torch.Generator,
        deadline: float | None,
        on_epoch: Callable[[int, float, float], bool],
        n_classes: int,
    ) -> dict[str, float]:
        return fit(
            model, x, y, epochs=epochs, batch_size=self.batch_size, optimizer=self.optimizer, lr=self.lr,
            weight_decay=self.weight_decay, momentum=self.momentum, cosine=self.cosine,
            warmup_epochs=self.warmup_epochs, loss=self.loss, label_smoothing=self.label_smoothing,
            n_classes=n_classes, augment=self.augment, generator=gen, deadline=deadline, on_epoch=on_epoch,
        )  # fmt: skip

    def __repr__(self) -> str:
        name = self.dataset if isinstance(self.dataset, str) else self.dataset.name
        return f"TrainingEvaluator({name!r}, {self.space_kind!r}, epochs={self.epochs}, fraction={self.fraction})"


def _failed(
    reason: str, secs: float, metrics: dict[str, float], curve: list[dict[str, float]]
) -> Result:
    metrics = dict(metrics, seconds=secs)
    return Result(
        value=None,
        metrics=metrics,
        state=TrialState.FAILED,
        error=reason,
        cost=secs,
        curve=tuple(curve),
    )


def _check_settings(ev: TrainingEvaluator) -> None:
    if ev.optimizer not in _OPTIMIZERS:
        raise UserInputError(
            f"unknown optimizer {ev.optimizer!r}; use one of {', '.join(_OPTIMIZERS)}."
        )
    if ev.loss not in _LOSSES:
        raise UserInputError(f"unknown loss {ev.loss!r}; use one of {', '.join(_LOSSES)}.")
    if not ev.epochs > 0:
        raise UserInputError(f"epochs must be positive, got {ev.epochs}; use e.g. epochs=1.")
    if not 0 < ev.fraction <= 1:
        raise UserInputError(
            f"fraction must be in (0, 1], got {ev.fraction}; use e.g. fraction=0.2."
        )
    if not (isinstance(ev.batch_size, int) and ev.batch_size > 0):
        raise UserInputError(f"batch_size must be a positive integer, got {ev.batch_size!r}.")
    if not ev.lr > 0:
        raise UserInputError(f"lr must be positive, got {ev.lr}; use e.g. lr=1e-3.")


# --------------------------------------------------------------------------- final retraining
def train_final(
    space: Any,
    arch: Architecture,
    dataset: str | Dataset,
    *,
    epochs: float,
    batch_size: int = 128,
    optimizer: str = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    cosine: bool = True,
    warmup_epochs: float = 0.0,
    label_smoothing: float = 0.0,
    augment: bool = False,
    seed: int = 0,
    num_threads: int | None = None,
    model_options: Mapping[str, Any] | None = None,
    loss: str = "ce",
    device: str = "auto",
    data_options: Mapping[str, Any] | None = None,
    builder: ModelBuilder | None = None,
    progress: Callable[[int, float, float], None] | None = None,
    time_budget: float | None = None,
) -> tuple[nn.Module, dict[str, float]]:
    """Retrain ``arch`` on train + validation, then evaluate once on the test split.

    Returns the trained model (in eval mode, on CPU) and ``{"test_acc", "test_loss",
    "train_loss", "params", "epochs", "seconds"}``. ``space`` is a Space (its ``kind`` names the
    builder) or a builder kind string. ``progress(epoch, epochs_done, train_loss)`` is called per epoch.
    ``time_budget`` (seconds) shortens ``epochs`` so training fits, judged from the timed steps of a
    throwaway copy of the model; the cosine schedule then spans the shortened run (the epoch count
    then depends on the machine's speed, so runs are reproducible only without it).
    """
    kind = space if isinstance(space, str) else space.kind
    ev = TrainingEvaluator(
        dataset, kind, epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr,
        weight_decay=weight_decay, momentum=momentum, cosine=cosine, warmup_epochs=warmup_epochs,
        label_smoothing=label_smoothing, augment=augment, seed=seed, num_threads=num_threads,
        model_options=model_options, loss=loss, device=device, data_options=data_options, builder=builder,
    )  # fmt: skip
    start = time.perf_counter()
    data = ev.data()
    dev = resolve_device(device)
    with _torch_context(arch_seed(arch, seed), num_threads, dev):
        model = ev.build(arch, data).to(dev)
        x = torch.cat([data.x_train, data.x_val]).to(dev)
        y = torch.cat([data.y_train, data.y_val]).to(dev)
        gen = torch.Generator().manual_seed(arch_seed(arch, seed))

        def on_epoch(epoch: int, done: float, train_loss: float) -> bool:
            if progress is not None:
                progress(epoch, done, train_loss)
            return True

        planned = epochs
        if time_budget is not None:
            per_epoch = _probe_epoch_seconds(ev, model, x, y, data.n_classes)
            epochs = min(
                epochs, max(0.1, (time_budget - (time.perf_counter() - start)) / per_epoch)
            )
            epochs = math.floor(epochs * 10) / 10  # a readable number of epochs
        out = ev._fit(model, x, y, epochs, gen, None, on_epoch, data.n_classes)
        acc, tloss = evaluate_model(
            model,
            data.x_test.to(dev),
            data.y_test.to(dev),
            batch_size=ev.eval_batch_size,
            loss=loss,
        )
    model = model.cpu().eval()
    metrics = {
        "test_acc": acc,
        "test_loss": tloss,
        "train_loss": out["train_loss"],
        "params": float(count_params(model)),
        "epochs": out["epochs"],
        "planned_epochs": float(planned),
        "seconds": time.perf_counter() - start,
    }
    return model, metrics


def _probe_epoch_seconds(
    ev: TrainingEvaluator,
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    n_classes: int,
    steps: int = 8,
) -> float:
    """Seconds one epoch over ``x`` takes, timed on a copy of ``model`` (the original is untouched)."""
    probe = copy.deepcopy(model)
    n = min(int(x.shape[0]), (steps + 2) * ev.batch_size)
    gen = torch.Generator().manual_seed(0)
    timings: list[float] = []

    def on_epoch(epoch: int, done: float, loss: float) -> bool:
        timings.append(time.perf_counter())
        return True

    # two warm-up steps (allocator, oneDNN kernels), then `steps` timed ones
    ev._fit(
        probe, x[: 2 * ev.batch_size], y[: 2 * ev.batch_size], 1, gen, None, on_epoch, n_classes
    )
    ev._fit(
        probe, x[2 * ev.batch_size : n], y[2 * ev.batch_size : n], 1, gen, None, on_epoch, n_classes
    )
    per_step = (timings[1] - timings[0]) / max(
        1, math.ceil((n - 2 * ev.batch_size) / ev.batch_size)
    )
    return per_step * math.ceil(int(x.shape[0]) / ev.batch_size)


__all__ = [
    "TimeLimitExceeded",
    "TrainingEvaluator",
    "arch_seed",
    "evaluate_model",
    "fit",
    "load_dataset_cached",
    "resolve_device",
    "train_final",
]
