"""UCR/UEA time-series classification sets shipped inside the ``aeon`` wheel, read without aeon.

Series are ``(N, C, T)`` float32 as published (UCR sets are already z-normalised per series);
labels map to 0..K-1 in the order of the file's ``@classLabel`` line; the official TRAIN / TEST
split is kept and validation is carved from TRAIN.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from metanas.data._common import DatasetUnavailable, pack, package_dir
from metanas.data.registry import register_dataset
from metanas.types import UserInputError

#: registered name -> folder and file stem under aeon/datasets/data/ (equal-length sets only)
UCR_SETS = {
    "ucr_gunpoint": "GunPoint",
    "ucr_italypowerdemand": "ItalyPowerDemand",
    "ucr_arrowhead": "ArrowHead",
    "ucr_osuleaf": "OSULeaf",
    "ucr_acsf1": "ACSF1",
    "uea_basicmotions": "BasicMotions",
}


def read_ts(path: str | Path) -> tuple[np.ndarray, list[str], list[str]]:
    """Parse a ``.ts`` file: ``(x (N, C, T) float32, raw labels, declared class labels)``.

    Unequal-length series are right-padded with zeros to the longest; ``?`` becomes NaN.
    """
    path = Path(path)
    declared: list[str] = []
    rows: list[list[list[float]]] = []
    labels: list[str] = []
    in_data = False
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                low = line.lower()
                if low.startswith("@classlabel"):
                    parts = line.split()
                    if len(parts) < 2 or parts[1].lower() != "true":
                        raise UserInputError(
                            f"{path} has no class labels; it is not a classification set."
                        )
                    declared = parts[2:]
                elif low.startswith("@timestamps") and line.split()[-1].lower() == "true":
                    raise UserInputError(
                        f"{path} uses time stamps, which this reader does not support."
                    )
                elif low.startswith("@data"):
                    in_data = True
                continue
            *dims, label = line.split(":")
            if not dims:
                raise UserInputError(f"{path}:{lineno} has no values before the label.")
            rows.append([[float(v) if v != "?" else np.nan for v in d.split(",")] for d in dims])
            labels.append(label.strip())
    if not rows:
        raise UserInputError(f"{path} holds no series after @data; check the file.")
    n_ch = {len(r) for r in rows}
    if len(n_ch) != 1:
        raise UserInputError(f"{path} mixes series with {sorted(n_ch)} channels.")
    length = max(len(d) for r in rows for d in r)
    x = np.zeros((len(rows), n_ch.pop(), length), dtype=np.float32)
    for i, r in enumerate(rows):
        for c, d in enumerate(r):
            x[i, c, : len(d)] = d
    return x, labels, declared or sorted(set(labels))


@functools.lru_cache(maxsize=8)
def _read_ucr(stem: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    folder = package_dir("aeon", f"UCR set {stem}") / "datasets" / "data" / stem
    tr_path, te_path = folder / f"{stem}_TRAIN.ts", folder / f"{stem}_TEST.ts"
    if not (tr_path.is_file() and te_path.is_file()):
        raise DatasetUnavailable(
            f"UCR set {stem} expects {tr_path} and {te_path} in the aeon package: "
            "pip install aeon --no-deps"
        )
    x_tr, l_tr, declared = read_ts(tr_path)
    x_te, l_te, _ = read_ts(te_path)
    index = {name: i for i, name in enumerate(declared)}
    unknown = sorted((set(l_tr) | set(l_te)) - set(index))
    if unknown:
        raise UserInputError(f"{stem} has labels {unknown} missing from its @classLabel line.")
    y_tr = np.array([index[v] for v in l_tr], dtype=np.int64)
    y_te = np.array([index[v] for v in l_te], dtype=np.int64)
    return x_tr, y_tr, x_te, y_te, declared


def _ucr_loader(name: str, stem: str) -> None:
    def load(*, seed: int = 0, val_fraction: float = 0.1) -> Any:
        x_tr, y_tr, x_te, y_te, declared = _read_ucr(stem)
        return pack(
            name,
            "timeseries",
            x_tr,
            y_tr,
            x_te,
            y_te,
            n_classes=len(declared),
            seed=seed,
            val_fraction=val_fraction,
            meta={"class_names": declared, "source": f"aeon/datasets/data/{stem}"},
        )

    load.__doc__ = f"The UCR/UEA set {stem}: official TRAIN/TEST, validation carved from TRAIN."
    register_dataset(name)(load)


for _name, _stem in UCR_SETS.items():
    _ucr_loader(_name, _stem)
