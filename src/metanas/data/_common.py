"""Shared steps of every loader: carve validation from train, normalise with train statistics, pack."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from metanas.data.splits import VAL_STREAM, rng_for, stratified_split
from metanas.types import UserInputError


class DatasetUnavailable(UserInputError):
    """A data set's files or package are missing; the message says what to install."""


def package_dir(package: str, what: str) -> Path:
    """The install folder of ``package`` without importing it (its imports may be heavy)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetUnavailable(
            f"{what} needs the pip package {package}: pip install {package} --no-deps"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def check_val_fraction(val_fraction: float) -> None:
    if not 0.0 <= val_fraction < 1.0:
        raise UserInputError(
            f"val_fraction must be in [0, 1), got {val_fraction}; use e.g. val_fraction=0.1."
        )


def _reduce_axes(ndim: int, normalize: str) -> tuple[int, ...]:
    if normalize == "global":
        return tuple(range(ndim))
    if normalize == "channel":  # (N, C, ...) -> one statistic per channel
        return (0, *range(2, ndim))
    if normalize == "feature":  # (N, F) -> one statistic per column
        return (0,)
    raise ValueError(f"unknown normalisation {normalize!r}")


def _stats(x: np.ndarray, normalize: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (population) of ``x`` over the normalisation axes, kept for broadcasting."""
    axes = _reduce_axes(x.ndim, normalize)
    # float64 sums in row chunks: exact enough on 47M pixels without a 400 MB float64 temporary
    s1 = np.zeros([1 if a in axes else n for a, n in enumerate(x.shape)], dtype=np.float64)
    s2 = np.zeros_like(s1)
    for lo in range(0, x.shape[0], 4096):
        chunk = x[lo : lo + 4096].astype(np.float64)
        s1 += chunk.sum(axis=axes, keepdims=True)
        s2 += np.square(chunk).sum(axis=axes, keepdims=True)
    count = x.size / s1.size
    mean = s1 / count
    std = np.sqrt(np.maximum(s2 / count - mean**2, 0.0))
    std = np.where(std > 1e-6 * np.maximum(np.abs(mean), 1.0), std, 1.0)  # constant stays constant
    return mean.astype(np.float32), std.astype(np.float32)


def _uint8_to_float(
    parts: list[np.ndarray], scale: float, normalize: str | None
) -> tuple[list[np.ndarray], dict[str, Any] | None]:
    """uint8 images -> float32 ``x / scale``, globally normalised; exact stats from a histogram."""
    mean, std, info = 0.0, 1.0, None
    if normalize == "global":
        flat = parts[0].reshape(-1)
        hist = np.zeros(256, dtype=np.float64)
        for lo in range(0, flat.size, 1 << 22):  # bincount casts to int64: chunks keep that small
            hist += np.bincount(flat[lo : lo + (1 << 22)], minlength=256)
        values = np.arange(256, dtype=np.float64) / scale
        mean = float(hist @ values / hist.sum())
        std = float(np.sqrt(hist @ (values - mean) ** 2 / hist.sum())) or 1.0
        info = {"kind": "global", "scale": scale, "mean": [mean], "std": [std]}
    elif normalize is not None:
        raise ValueError("uint8 inputs support only global normalisation")
    out = []
    for p in parts:
        # two passes straight into one float32 buffer: no int64 or float64 temporaries
        a = np.multiply(p, np.float32(1.0 / (scale * std)), dtype=np.float32)
        a -= np.float32(mean / std)
        out.append(a)
    return out, info


def pack(
    name: str,
    modality: str,
    x_pool: np.ndarray,
    y_pool: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    n_classes: int,
    seed: int,
    val_fraction: float,
    normalize: str | None = None,
    scale: float | None = None,
    meta: dict[str, Any] | None = None,
) -> Any:  # Dataset; Any keeps torch out of this module's import time
    """Split ``x_pool`` into train/val (seeded, stratified), normalise, return a ``Dataset``.

    ``normalize`` is None, "global", "channel" or "feature"; statistics come from the train part
    only. uint8 inputs with a ``scale`` (255 for pixels) become ``x / scale`` before normalising.
    """
    import torch

    from metanas.data.base import Dataset

    check_val_fraction(val_fraction)
    keep, val = stratified_split(y_pool, val_fraction, rng_for(seed, VAL_STREAM))
    if val_fraction > 0 and len(val) < 2:  # one example scores every architecture 0 or 1
        raise UserInputError(
            f"val_fraction={val_fraction} leaves the validation split {len(val)} of "
            f"{len(y_pool)} examples, too few to score architectures; raise val_fraction "
            "or give more data."
        )
    meta = dict(meta or {})
    if x_pool.dtype == np.uint8 and scale is not None:
        (x_tr, x_va, x_te), info = _uint8_to_float(
            [x_pool[keep], x_pool[val], x_test], scale, normalize
        )
    elif normalize is not None:
        x_tr, x_va = x_pool[keep].astype(np.float32), x_pool[val].astype(np.float32)
        x_te = np.array(x_test, dtype=np.float32)  # a copy: normalised in place below
        mean, std = _stats(x_tr, normalize)
        for a in (x_tr, x_va, x_te):
            a -= mean
            a /= std
        info = {"kind": normalize, "mean": mean.ravel().tolist(), "std": std.ravel().tolist()}
    else:
        x_tr, x_va, x_te, info = x_pool[keep], x_pool[val], x_test, None
    if info is not None:
        meta["normalization"] = info
    dtype = np.int64 if modality == "text" else np.float32

    def t(a: np.ndarray, dt: Any) -> torch.Tensor:
        # a copy unless ``a`` is a fresh array of the right type: loaders cache raw arrays, and
        # callers may edit tensors in place
        fresh = a.dtype == dt and a.flags.c_contiguous and a.flags.owndata
        fresh = fresh and not any(a is b for b in (x_pool, y_pool, x_test, y_test))
        return torch.from_numpy(a if fresh else np.array(a, dtype=dt, order="C"))

    return Dataset(
        name=name,
        modality=modality,
        x_train=t(x_tr, dtype),
        y_train=t(y_pool[keep], np.int64),
        x_val=t(x_va, dtype),
        y_val=t(y_pool[val], np.int64),
        x_test=t(x_te, dtype),
        y_test=t(y_test, np.int64),
        n_classes=int(n_classes),
        meta=meta,
    )


def input_preprocessing(meta: dict[str, Any]) -> dict[str, Any] | None:
    """How raw inputs became a data set's model inputs (``meta`` of a :class:`Dataset`): word
    ids for text, the train split's standardisation for images, series and tables, ``None``
    where inputs are used as given. An export keeps it, so new raw inputs are prepared the same
    way (:func:`metanas.export.prepare_inputs`)."""
    from metanas.data.text import text_preprocessing

    text = text_preprocessing(meta)
    norm = meta.get("normalization")
    if text is not None or norm is None:
        return text
    return {
        "kind": "standardize",
        "formula": "(raw / scale - mean) / std, mean and std one value or one per index of axis 1",
        "scale": float(norm.get("scale", 1.0)),
        "mean": [float(v) for v in norm["mean"]],
        "std": [float(v) for v in norm["std"]],
    }


def standardize(raw: Any, prep: dict[str, Any]) -> np.ndarray:
    """``raw`` (a batch ``(N, ...)``) prepared as :func:`input_preprocessing` says."""
    x = np.asarray(raw, dtype=np.float32) / np.float32(prep["scale"])
    mean, std = (np.asarray(prep[k], dtype=np.float32) for k in ("mean", "std"))
    if mean.size > 1:  # per channel or feature: along axis 1
        if x.ndim < 2 or x.shape[1] != mean.size:
            raise UserInputError(
                f"inputs of shape {x.shape} do not match the export's {mean.size} channels or "
                "features on axis 1; pass a batch (N, ...) shaped as the training data."
            )
        shape = (1, mean.size, *([1] * (x.ndim - 2)))
        mean, std = mean.reshape(shape), std.reshape(shape)
    return (x - mean) / std
