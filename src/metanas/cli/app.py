"""The typer application; command modules register themselves on ``app``."""

from __future__ import annotations

import json
import math
from typing import Any

import typer

app = typer.Typer(
    name="metanas",
    help="Neural architecture search as meta-learning.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Interrupted(Exception):
    """Ctrl-C or SIGTERM during a command; the message says what was kept and how to go on."""


def strict_json(obj: Any, indent: int | None = None) -> str:
    """``obj`` as JSON that strict parsers (jq, JavaScript) read: NaN and infinities, which
    Python writes as bare ``NaN`` / ``Infinity``, become ``null``."""

    def clean(x: Any) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(obj), indent=indent, allow_nan=False)


def table_console() -> Any:
    """A rich console for tables: in a pipe or a file, wide enough that no row wraps (rich
    would fold at 80 columns and split study names that scripts grep for). Text is shown as it
    is: study names and paths may hold brackets that rich would read as markup."""
    from rich.console import Console

    out = Console(markup=False)
    return out if out.is_terminal else Console(width=200, markup=False)
