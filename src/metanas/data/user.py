"""User data as a ``Dataset``: numpy / torch arrays, a CSV file, or a folder of images.

>>> import numpy as np
>>> from metanas.data import from_arrays
>>> rng = np.random.default_rng(0)
>>> data = from_arrays(rng.normal(size=(100, 4)), np.arange(100) % 2)
>>> data.modality, data.n_classes, len(data.y_test)
('tabular', 2, 20)
"""

from __future__ import annotations

import csv
import math
import operator
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from metanas.data._common import check_val_fraction, pack
from metanas.data.imagefiles import IMAGE_SUFFIXES, read_image, resize_stack
from metanas.data.splits import TEST_STREAM, rng_for, stratified_split
from metanas.types import UserInputError

_MODALITY_BY_NDIM = {2: "tabular", 3: "timeseries", 4: "image"}
_NORMALIZE = {"tabular": "feature", "timeseries": "channel", "image": "channel"}


def _to_numpy(a: Any, what: str) -> np.ndarray:
    if hasattr(a, "detach"):  # a torch tensor; no torch import needed to recognise it
        a = a.detach().cpu().numpy()
    try:
        return np.asarray(a)
    except (ValueError, TypeError) as e:
        raise UserInputError(f"{what} is not a rectangular array ({e}); pass a numpy array.") from e


def check_labels(y: Any, what: str = "y") -> tuple[np.ndarray, int]:
    """``y`` as int64 with classes 0..K-1 (K >= 2), else a ``UserInputError`` saying how to fix it."""
    y = _to_numpy(y, what)
    if y.ndim != 1:
        raise UserInputError(
            f"{what} must be 1-D class labels, got shape {y.shape}; pass y.ravel()."
        )
    if y.size == 0:
        raise UserInputError(f"{what} is empty; pass at least two labelled examples.")
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    if y.dtype.kind not in "iub":
        raise UserInputError(
            f"{what} must hold integer class labels 0..K-1, got dtype {y.dtype}; "
            "map them first, e.g. np.unique(y, return_inverse=True)[1]."
        )
    y = y.astype(np.int64)
    classes = np.unique(y)
    k = int(classes[-1]) + 1 if classes[0] >= 0 else 0
    if classes[0] < 0 or len(classes) != k:
        raise UserInputError(
            f"{what} must use every label 0..K-1, got {classes[:10].tolist()}; "
            "remap with np.unique(y, return_inverse=True)[1]."
        )
    if k < 2:
        raise UserInputError(f"{what} holds a single class; a classifier needs at least 2 classes.")
    return y, k


def _check_x(
    x: np.ndarray, y: np.ndarray, modality: str | None, what: str
) -> tuple[np.ndarray, str]:
    if x.shape[:1] != y.shape[:1]:
        raise UserInputError(
            f"{what} has {x.shape[0] if x.ndim else 0} rows but its labels have {len(y)}; "
            "pass one label per example."
        )
    if modality is None:
        if x.ndim not in _MODALITY_BY_NDIM:
            raise UserInputError(
                f"{what} has {x.ndim} dimensions; use (N, F) tabular, (N, C, T) series or "
                "(N, C, H, W) images, or name the modality."
            )
        modality = _MODALITY_BY_NDIM[x.ndim]
    expected = {"tabular": 2, "timeseries": 3, "image": 4, "text": 2}
    if modality not in expected:
        raise UserInputError(f"unknown modality {modality!r}; use one of {sorted(expected)}.")
    if x.ndim != expected[modality]:
        raise UserInputError(
            f"{modality} inputs must have {expected[modality]} dimensions, got shape {x.shape}."
        )
    if 0 in x.shape[1:]:
        raise UserInputError(
            f"{what} rows hold no values (shape {x.shape}); give at least one feature per row."
        )
    if modality == "text":
        if x.dtype.kind not in "iu" or (x.size and x.min() < 0):
            raise UserInputError(
                f"text inputs must be non-negative integer token ids (0 = padding), got {x.dtype}."
            )
        return x.astype(np.int64), modality
    if x.dtype.kind not in "biuf":
        raise UserInputError(f"{what} must be numeric, got dtype {x.dtype}; convert it to float.")
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise UserInputError(f"{what} contains NaN or infinite values; impute or drop them first.")
    return x, modality


def from_arrays(
    x: Any,
    y: Any,
    *,
    name: str = "arrays",
    modality: str | None = None,
    test_fraction: float = 0.2,
    val_fraction: float = 0.1,
    seed: int = 0,
    x_test: Any = None,
    y_test: Any = None,
    standardize: bool = False,
    meta: dict[str, Any] | None = None,
) -> Any:
    """A ``Dataset`` from arrays: ``x`` (N, ...) and labels ``y`` in 0..K-1.

    The modality follows ``x.ndim`` (2 tabular, 3 time series, 4 images) unless given; integer 2-D
    ``x`` with ``modality="text"`` are token ids. Test and validation are seeded stratified
    splits (``test_fraction`` of all, ``val_fraction`` of the rest) unless ``x_test``/``y_test``
    are passed. ``standardize`` rescales with train mean / std (per feature or channel).
    """
    y_arr, k = check_labels(y)
    x_arr, modality = _check_x(_to_numpy(x, "x"), y_arr, modality, "x")
    if (x_test is None) != (y_test is None):
        raise UserInputError("pass both x_test and y_test, or neither.")
    if x_test is not None:
        yt = _to_numpy(y_test, "y_test")
        if yt.ndim != 1 or yt.dtype.kind not in "iu":
            raise UserInputError(f"y_test must be 1-D integer labels, got {yt.dtype} {yt.shape}.")
        yt = yt.astype(np.int64)
        if yt.size and (yt.min() < 0 or yt.max() >= k):
            raise UserInputError(f"y_test labels must lie in 0..{k - 1} like y; remap them.")
        xt, _ = _check_x(_to_numpy(x_test, "x_test"), yt, modality, "x_test")
        if xt.shape[1:] != x_arr.shape[1:]:
            raise UserInputError(
                f"x_test rows have shape {xt.shape[1:]}, x rows {x_arr.shape[1:]}."
            )
        x_pool, y_pool = x_arr, y_arr
    else:
        if not 0.0 <= test_fraction < 1.0:
            raise UserInputError(f"test_fraction must be in [0, 1), got {test_fraction}.")
        pool, test = stratified_split(y_arr, test_fraction, rng_for(seed, TEST_STREAM))
        x_pool, y_pool, xt, yt = x_arr[pool], y_arr[pool], x_arr[test], y_arr[test]
    check_val_fraction(val_fraction)
    meta = dict(meta or {})
    if modality == "text":
        meta.setdefault("vocab_size", int(max(x_arr.max(initial=0), xt.max(initial=0))) + 1)
    normalize = _NORMALIZE.get(modality) if standardize else None
    return pack(
        name,
        modality,
        x_pool,
        y_pool,
        xt,
        yt,
        n_classes=k,
        seed=seed,
        val_fraction=val_fraction,
        normalize=normalize,
        meta=meta,
    )


def _read_csv(path: Path, delimiter: str) -> tuple[list[str], list[list[str]]]:
    if not path.is_file():
        raise UserInputError(f"CSV file {path} does not exist; check the path.")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f, delimiter=delimiter) if any(c.strip() for c in r)]
    except UnicodeDecodeError as e:
        raise UserInputError(
            f"{path} is not UTF-8 text (byte {e.object[e.start]:#x} at offset {e.start}); save "
            "it as UTF-8 (spreadsheets: 'CSV UTF-8')."
        ) from None
    if len(rows) < 2:
        raise UserInputError(f"{path} needs a header row and at least one data row.")
    header = [h.strip() for h in rows[0]]
    for lineno, r in enumerate(rows[1:], 2):
        if len(r) != len(header):
            raise UserInputError(
                f"{path} row {lineno} has {len(r)} fields but the header has {len(header)}; "
                "fix the row or the delimiter."
            )
    return header, rows[1:]


def _encode_labels(raw: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    values = [v.strip() for v in raw]
    if any(v == "" for v in values):
        raise UserInputError("the label column has empty cells; drop the unlabelled rows.")
    try:  # numeric labels are numbers: 2 < 10, and "1" and "1.0" are one class
        numbers = [float(v) for v in values]
    except ValueError:
        numbers = []
    if not numbers or not all(math.isfinite(x) for x in numbers):  # text ("nan" too)
        keys = sorted(set(values))
        index = {v: i for i, v in enumerate(keys)}
        return np.array([index[v] for v in values], dtype=np.int64), keys
    spelling: dict[float, str] = {}  # each class named as the file first writes it
    for v, x in zip(values, numbers):
        spelling.setdefault(x, v)
    order = sorted(spelling)
    at = {x: i for i, x in enumerate(order)}
    return np.array([at[x] for x in numbers], dtype=np.int64), [spelling[x] for x in order]


def from_csv(
    path: str | Path,
    label_column: str | int,
    *,
    name: str | None = None,
    delimiter: str = ",",
    test_fraction: float = 0.2,
    val_fraction: float = 0.1,
    seed: int = 0,
    standardize: bool = True,
) -> Any:
    """A tabular ``Dataset`` from a CSV file with a header row and numeric feature columns.

    ``label_column`` is a header name or a column index; its distinct values (numbers or text)
    become classes 0..K-1 in sorted order (``meta["class_names"]``). Features are standardised
    with the train split's mean / std unless ``standardize=False``.
    """
    path = Path(path)
    header, rows = _read_csv(path, delimiter)
    if isinstance(label_column, int) and not isinstance(label_column, bool):
        if not -len(header) <= label_column < len(header):
            raise UserInputError(
                f"label_column={label_column} is out of range for {len(header)} columns."
            )
        col = label_column % len(header)
    elif label_column in header:
        col = header.index(label_column)
    else:
        raise UserInputError(f"{path} has no column {label_column!r}; columns are {header}.")
    features = [i for i in range(len(header)) if i != col]
    if not features:
        raise UserInputError(f"{path} has only the label column; add at least one feature column.")
    x = np.empty((len(rows), len(features)), dtype=np.float64)
    for j, c in enumerate(features):
        for i, r in enumerate(rows):
            cell = r[c].strip()
            try:
                x[i, j] = float(cell)
            except ValueError:
                problem = "is empty" if cell == "" else f"holds {cell!r}"
                raise UserInputError(
                    f"column {header[c]!r} row {i + 2} {problem}, but features must be numeric; "
                    "encode or drop that column, or fill missing cells."
                ) from None
    if not np.all(np.isfinite(x)):
        raise UserInputError(f"{path} has NaN or infinite feature values; impute or drop them.")
    y, class_names = _encode_labels([r[col] for r in rows])
    return from_arrays(
        x,
        y,
        name=name or path.stem,
        modality="tabular",
        test_fraction=test_fraction,
        val_fraction=val_fraction,
        seed=seed,
        standardize=standardize,
        meta={
            "class_names": class_names,
            "feature_names": [header[c] for c in features],
            "source": str(path),
        },
    )


def from_image_folder(
    path: str | Path,
    size: tuple[int, int] = (32, 32),
    *,
    name: str | None = None,
    channels: int | None = None,
    test_fraction: float = 0.2,
    val_fraction: float = 0.1,
    seed: int = 0,
    standardize: bool = True,
) -> Any:
    """An image ``Dataset`` from ``path/<class name>/<image files>``.

    Classes are the sub-folders in sorted order. Images are scaled to [0, 1], resized to ``size``
    (bilinear, antialiased) and given ``channels`` (default: 3 if any image has colour, else 1).
    PNG/JPEG/... need Pillow; .npy, .pgm, .ppm and .pbm files are read without it.
    """
    root = Path(path)
    if not root.is_dir():
        raise UserInputError(f"image folder {root} does not exist; check the path.")
    try:  # operator.index: whole numbers only, of any integer type
        ok = len(size) == 2 and min(operator.index(v) for v in size) >= 1
    except TypeError:
        ok = False
    if not ok:
        raise UserInputError(
            f"size must be (height, width) with positive whole numbers, got {size!r}; e.g. "
            "size=(28, 28)."
        )
    if channels not in (None, 1, 3):
        raise UserInputError(f"channels must be 1, 3 or None (automatic), got {channels}.")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(class_dirs) < 2:
        raise UserInputError(
            f"{root} has {len(class_dirs)} class sub-folders; put each class's images in its own "
            "sub-folder (at least 2)."
        )
    images: list[np.ndarray] = []
    labels: list[int] = []
    for label, d in enumerate(class_dirs):
        files = sorted(f for f in d.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise UserInputError(
                f"class folder {d} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                "add images or remove the folder."
            )
        for f in files:
            images.append(read_image(f))
            labels.append(label)
    want = channels or (3 if any(im.shape[0] >= 3 for im in images) else 1)
    x = resize_stack(images, (int(size[0]), int(size[1])), want)  # (N, want, H, W) in [0, 1]
    if not math.isfinite(float(x.sum())):
        raise UserInputError(f"{root} holds images with NaN or infinite pixels; fix those files.")
    return from_arrays(
        x,
        np.array(labels, dtype=np.int64),
        name=name or root.name,
        modality="image",
        test_fraction=test_fraction,
        val_fraction=val_fraction,
        seed=seed,
        standardize=standardize,
        meta={"class_names": [d.name for d in class_dirs], "source": str(root)},
    )
