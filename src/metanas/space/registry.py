"""Named spaces: ``get_space("nb201")`` builds a registered space; a duplicate name is refused."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from metanas.space.base import Space
from metanas.types import UserInputError

_REGISTRY: dict[str, Callable[..., Space]] = {}


def register_space(name: str) -> Callable[[Callable[..., Space]], Callable[..., Space]]:
    def deco(factory: Callable[..., Space]) -> Callable[..., Space]:
        if name in _REGISTRY:
            raise ValueError(f"space name {name!r} is already registered")
        _REGISTRY[name] = factory
        return factory

    return deco


def space_names() -> list[str]:
    return sorted(_REGISTRY)


def get_space(name: str, /, **kwargs: Any) -> Space:
    """Build the registered space ``name`` (e.g. ``nb201``, ``nb101``, ``macro``, ``rnn_text``)."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise UserInputError(
            f"unknown space {name!r}; use one of {', '.join(space_names())} or build a Space from dims."
        ) from None
    signature = inspect.signature(factory)
    try:
        signature.bind(**kwargs)
    except TypeError:
        known = [
            p.name
            for p in signature.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        unknown = sorted(set(kwargs) - set(known))
        what = (
            f"has no parameter {', '.join(map(repr, unknown))}"
            if unknown
            else "is missing a required parameter"
        )
        raise UserInputError(
            f"space {name!r} {what}; its parameters are {', '.join(known) or 'none'}."
        ) from None
    try:
        return factory(**kwargs)
    except UserInputError as e:  # the factory named the parameter and the fix
        raise UserInputError(f"space {name!r}: {e}") from None
    except (TypeError, ValueError) as e:  # a parameter of the wrong kind, e.g. a number for a list
        raise UserInputError(
            f"space {name!r} cannot be built from params {dict(kwargs)!r}: {str(e).rstrip('.')}; check their types."
        ) from None


def space_from_dict(d: Mapping[str, Any]) -> Space:
    """Rebuild a space stored with :meth:`Space.to_dict` (registered kinds by name, others from dims)."""
    kind = d.get("kind", "generic")
    if kind == "generic":
        return Space.from_dict(d)
    return get_space(kind, **d.get("params", {}))
