"""The typer application; command modules register themselves on ``app``."""

from __future__ import annotations

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
