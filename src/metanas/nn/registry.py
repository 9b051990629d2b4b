"""Builder registry: ``build_model(kind, arch, input_shape, n_classes)`` -> ``nn.Module``.

A builder is a function ``(arch, input_shape, n_classes, **options) -> nn.Module`` registered under a
space kind. Built-in builders live in sibling modules and are imported on first use, so importing
this module does not import torch.

Example:
    >>> from metanas.nn import build_model
    >>> m = build_model("mlp", {"depth": 1, "width_1": 32, "activation": "relu", "dropout": 0.0},
    ...                 input_shape=(8,), n_classes=3)
    >>> tuple(m(__import__("torch").zeros(2, 8)).shape)
    (2, 3)
"""

from __future__ import annotations

import importlib
import inspect
import operator
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from metanas.types import UserInputError, check_option_types, did_you_mean, signature_defaults

if TYPE_CHECKING:
    from torch import nn

Builder = Callable[..., "nn.Module"]

_REGISTRY: dict[str, Builder] = {}
#: built-in kinds and the module whose import registers them
_BUILTIN: dict[str, str] = {
    "nb201": "metanas.nn.nb201",
    "nb101": "metanas.nn.nb101",
    "macro": "metanas.nn.macro",
    "rnn_text": "metanas.nn.text",
    "mlp": "metanas.nn.mlp",
    "cnn1d": "metanas.nn.cnn1d",
}


def register_builder(kind: str) -> Callable[[Builder], Builder]:
    """Decorator registering ``fn(arch, input_shape, n_classes, **options)`` for space ``kind``.

    A kind may be registered once; a second registration raises ``ValueError``.
    """

    def deco(fn: Builder) -> Builder:
        if kind in _REGISTRY:
            raise ValueError(f"a model builder for kind {kind!r} is already registered")
        _REGISTRY[kind] = fn
        return fn

    return deco


def builder_kinds() -> list[str]:
    """Kinds with a builder (built-in ones whether imported yet or not)."""
    return sorted(set(_REGISTRY) | set(_BUILTIN))


def get_builder(kind: str) -> Builder:
    if kind not in _REGISTRY and kind in _BUILTIN:
        importlib.import_module(_BUILTIN[kind])
    try:
        return _REGISTRY[kind]
    except KeyError:
        kinds = builder_kinds()
        raise UserInputError(
            f"no model builder for space kind {kind!r}; {did_you_mean(kind, kinds)}use one of "
            f"{', '.join(kinds)} or register one with metanas.nn.register_builder."
        ) from None


#: what every builder is given besides its options
_FIXED = frozenset({"arch", "input_shape", "n_classes"})


def takes_option(kind: str, name: str) -> bool:
    """Whether the ``kind`` builder takes option ``name`` (e.g. ``vocab_size``: reads text)."""
    params = inspect.signature(get_builder(kind)).parameters
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def model_options_with_defaults(kind: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` of the ``kind`` builder with every option it leaves out at its default."""
    return {**signature_defaults(get_builder(kind), skip=_FIXED), **options}


def check_model_options(kind: str, options: Mapping[str, Any]) -> None:
    """Refuse options the ``kind`` builder does not take (before a search, not at each trial)."""
    params = inspect.signature(get_builder(kind)).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(options) - (set(params) - _FIXED))
        if unknown:
            allowed = sorted(set(params) - _FIXED)
            raise UserInputError(
                f"unknown option(s) {unknown} for {kind!r} models; use only {allowed}."
                if allowed
                else f"{kind!r} models take no options; remove {unknown}."
            )
    # a YAML config's 8.0 or "8" for a channel count: one sentence, not a TypeError from torch
    check_option_types(f"{kind!r} models", get_builder(kind), options)


def build_model(
    kind: str,
    arch: Mapping[str, Any],
    input_shape: tuple[int, ...],
    n_classes: int,
    **options: Any,
) -> nn.Module:
    """Build the network of ``arch`` (a decoded architecture of a ``kind`` space).

    ``input_shape`` excludes the batch: images ``(C, H, W)``, text ``(T,)`` token ids, tabular
    ``(F,)``, time series ``(C, T)``. The model maps a batch to logits ``(B, n_classes)``.
    """
    builder = get_builder(kind)
    try:  # operator.index accepts numpy ints, refuses floats and strings
        shape = tuple(operator.index(s) for s in input_shape)
    except TypeError:
        shape = ()
    if not shape or min(shape) < 1:
        raise UserInputError(
            f"input_shape must be a tuple of positive ints without the batch, got {input_shape!r}."
        )
    try:
        classes = operator.index(n_classes)
    except TypeError:
        classes = 0
    if classes < 1:
        raise UserInputError(f"n_classes must be a positive int, got {n_classes!r}.")
    check_model_options(kind, options)
    return builder(arch, shape, classes, **options)
