"""Offline data sets and user data as in-memory tensors.

>>> from metanas.data import load_dataset, dataset_names
>>> "fashion_mnist" in dataset_names()
True

Importing this package is cheap; torch and the loaders load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from metanas.data.registry import dataset_names, load_dataset, register_dataset

__all__ = [
    "Dataset",
    "DatasetUnavailable",
    "dataset_names",
    "from_arrays",
    "from_csv",
    "from_image_folder",
    "input_preprocessing",
    "load_dataset",
    "read_ts",
    "register_dataset",
    "rotten_tomatoes_texts",
    "tokenize",
]

_LAZY = {
    "Dataset": "metanas.data.base",
    "DatasetUnavailable": "metanas.data._common",
    "from_arrays": "metanas.data.user",
    "from_csv": "metanas.data.user",
    "from_image_folder": "metanas.data.user",
    "input_preprocessing": "metanas.data._common",
    "read_ts": "metanas.data.timeseries",
    "rotten_tomatoes_texts": "metanas.data.text",
    "tokenize": "metanas.data.text",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'metanas.data' has no attribute {name!r}")
