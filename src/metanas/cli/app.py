"""The typer application; command modules register themselves on ``app``."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
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


def check_writable_file(path: Path, option: str) -> None:
    """Fail before the work, not after it, when ``option``'s output file cannot be written."""
    from metanas.storage.sqlite import check_not_a_store
    from metanas.types import UserInputError

    check_not_a_store(path, option)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise IsADirectoryError(21, "Is a directory")
        tempfile.TemporaryFile(dir=path.parent).close()  # the truth where permission bits lie
    except OSError as e:
        raise UserInputError(
            f"cannot write {option} {str(path)!r} ({e.strerror or e}); give a writable file path."
        ) from None
