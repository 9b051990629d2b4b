"""Named data sets: ``register_dataset`` adds a loader, ``load_dataset`` calls it.

A loader is ``loader(*, seed, val_fraction, **options) -> Dataset``; ``load_dataset`` then applies
``limit`` (a stratified subsample of the train split), so loaders never deal with it.

>>> from metanas.data import load_dataset
>>> data = load_dataset("digits", seed=0)
>>> data.input_shape, data.n_classes
((1, 8, 8), 10)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from metanas.types import UserInputError, check_option_types, did_you_mean, signature_defaults

if TYPE_CHECKING:
    from metanas.data.base import Dataset

Loader = Callable[..., "Dataset"]
L = TypeVar("L", bound=Loader)

_LOADERS: dict[str, Loader] = {}
_BUILTINS_LOADED = False


def register_dataset(name: str) -> Callable[[L], L]:
    """Decorator: register ``loader`` under ``name``; a name can be registered only once."""
    if not name or name != name.strip() or name.lower() != name:
        raise UserInputError(f"data set names are lower-case without spaces, got {name!r}.")

    def deco(loader: L) -> L:
        if name in _LOADERS:
            raise UserInputError(
                f"data set {name!r} is already registered; pick another name for the new loader."
            )
        _LOADERS[name] = loader
        return loader

    return deco


def _load_builtins() -> None:
    # the built-in loaders register themselves on import; deferred so `import metanas.data` is cheap
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        from metanas.data import images, text, timeseries  # noqa: F401


def dataset_names() -> list[str]:
    """All registered data set names, sorted."""
    _load_builtins()
    return sorted(_LOADERS)


def check_dataset(name: str, *, limit: int | None = None, **options: Any) -> None:
    """Refuse an unknown data set name, a bad ``limit`` or options its loader does not take,
    without loading anything (a search checks before it creates its store)."""
    _load_builtins()
    if name not in _LOADERS:
        raise UserInputError(
            f"unknown data set {name!r}; {did_you_mean(name, _LOADERS)}"
            f"known: {', '.join(sorted(_LOADERS))}."
        )
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise UserInputError(f"limit must be a positive integer or None, got {limit!r}.")
    vf = options.get("val_fraction", 0.1)
    if isinstance(vf, bool) or not isinstance(vf, (int, float)) or not 0 < vf < 1:
        raise UserInputError(
            f"val_fraction must be a number between 0 and 1 (exclusive), got {vf!r}; e.g. 0.1."
        )
    try:
        inspect.signature(_LOADERS[name]).bind(**options)
    except TypeError as e:
        raise UserInputError(
            f"data set {name!r} does not take these options ({e}); remove them."
        ) from e
    check_option_types(f"data set {name!r}", _LOADERS[name], options)


def dataset_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` of data set ``name`` with every option it leaves out at its default (so
    ``{}`` and ``{"seed": 0}`` read the same)."""
    _load_builtins()
    if name not in _LOADERS:
        return dict(options)
    return {**signature_defaults(load_dataset), **signature_defaults(_LOADERS[name]), **options}


def load_dataset(
    name: str,
    *,
    seed: int = 0,
    val_fraction: float = 0.1,
    limit: int | None = None,
    **options: Any,
) -> Dataset:
    """Load the registered data set ``name`` as in-memory tensors.

    ``seed`` fixes the validation split (and the ``limit`` subsample); ``val_fraction`` is the share
    of the training pool held out for validation; ``limit`` keeps a stratified subsample of that
    many training examples; ``options`` go to the loader (e.g. ``max_len`` for text).
    """
    check_dataset(name, seed=seed, val_fraction=val_fraction, limit=limit, **options)
    loader = _LOADERS[name]
    data = loader(seed=seed, val_fraction=val_fraction, **options)
    if limit is not None:
        data = data.subsample_train(limit, seed=seed)
    if not len(data.x_val):  # every trial would score 0 on nothing
        raise UserInputError(
            f"data set {name!r} keeps no validation examples with val_fraction={val_fraction}; "
            "raise val_fraction."
        )
    return data
