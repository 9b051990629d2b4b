"""Command line: thin wrappers that parse, build objects and run.

User errors (:class:`metanas.MetanasError`) become one sentence on stderr and exit code 2.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib import import_module

from metanas.cli.app import app
from metanas.types import MetanasError

# command modules, each registering its commands on ``app``
_COMMANDS = ["studies", "bench", "search"]


def _load_commands() -> None:
    for mod in _COMMANDS:
        try:
            import_module(f"metanas.cli.{mod}")
        except ModuleNotFoundError as e:  # a command module not written yet
            if e.name != f"metanas.cli.{mod}":
                raise


def main(argv: Sequence[str] | None = None) -> int:
    _load_commands()
    try:
        app(args=list(argv) if argv is not None else None, standalone_mode=False)
    except MetanasError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; resume with --resume", file=sys.stderr)
        return 130
    except SystemExit as e:
        return int(e.code or 0)
    except Exception as e:  # click usage errors and the like
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            return 2
        if isinstance(e, click.exceptions.Abort):
            return 130
        raise
    return 0


__all__ = ["app", "main"]
