"""Command line: thin wrappers that parse, build objects and run.

User errors (:class:`metanas.MetanasError`) become one sentence on stderr and exit code 2.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Sequence
from importlib import import_module
from typing import Annotated

import typer

from metanas.cli.app import Interrupted, app
from metanas.types import MetanasError, out_of_memory

# command modules, each registering its commands on ``app``
_COMMANDS = ["studies", "analyze", "bench", "search", "kb", "proxies"]


def _load_commands() -> None:
    if app.registered_callback is None:
        # a root callback keeps ``metanas studies ...`` a subcommand even while only one is registered
        app.callback()(_root)
    for mod in _COMMANDS:
        try:
            import_module(f"metanas.cli.{mod}")
        except ModuleNotFoundError as e:  # a command module not written yet
            if e.name != f"metanas.cli.{mod}":
                raise


def _show_version(value: bool) -> None:
    if value:
        from metanas import __version__

        typer.echo(f"metanas {__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Neural architecture search as meta-learning."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 2 bad input or usage, 130 interrupted by
    Ctrl-C, 143 by SIGTERM)."""
    click_error, usage_error, abort = _click_exceptions()
    _load_commands()
    _terminated.clear()
    restore = _term_as_interrupt()
    try:
        rv = app(args=list(argv) if argv is not None else None, standalone_mode=False)
    except MetanasError as e:
        print(f"error: {_one_line(e)}", file=sys.stderr)
        return 2
    except Interrupted as e:  # a command said what it kept
        print(_one_line(e), file=sys.stderr)
        return _interrupt_code(e.__context__)
    except KeyboardInterrupt as e:
        print("interrupted", file=sys.stderr)
        return _interrupt_code(e)
    except (MemoryError, RuntimeError) as e:  # e.g. --C 100000000: torch's allocation fails
        need = out_of_memory(e)
        if need is None:
            raise
        print(f"error: out of memory ({need}); ask for smaller sizes.", file=sys.stderr)
        return 2
    except OSError as e:
        if e.filename is None:  # not about a path the user gave
            raise
        # a path the checks let through: a name too long, a folder that vanished, a full disk
        name = str(e.filename)
        name = name if len(name) <= 80 else f"{name[:40]}...{name[-20:]}"
        print(
            f"error: cannot use {name!r} ({e.strerror or e}); give another path.", file=sys.stderr
        )
        return 2
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except click_error as e:  # usage errors: bad option, missing argument
        e.show()  # type: ignore[attr-defined]
        return 2 if isinstance(e, usage_error) else int(getattr(e, "exit_code", 1))
    except abort:
        print("aborted", file=sys.stderr)
        return _interrupt_code(None)
    finally:
        restore()
    if rv == 130:  # typer turns a Ctrl-C (or SIGTERM) the command did not catch into 130
        print("interrupted", file=sys.stderr)
        return _interrupt_code(None)
    # standalone_mode=False hands back a command's return value or an Exit's code
    return rv if isinstance(rv, int) and not isinstance(rv, bool) else 0


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be, so a command stops the same way."""


#: set by the SIGTERM handler: typer turns any uncaught interrupt into 130, whatever its kind
_terminated: list[bool] = []


def _interrupt_code(e: BaseException | None) -> int:
    """The shell's code for a command ended by a signal: 128 + SIGTERM's 15, else SIGINT's 2."""
    return 128 + signal.SIGTERM if isinstance(e, Terminated) or _terminated else 130


def _term_as_interrupt() -> Callable[[], object]:
    """Make SIGTERM (``kill``, a job scheduler's stop) end a command as Ctrl-C does: the study
    releases its lock and says how to resume. Returns what restores the previous handler."""
    main_pid = os.getpid()

    def on_term(signum: int, frame: object) -> None:
        if os.getpid() != main_pid:  # a forked worker inherited this handler: die as asked
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        _terminated.append(True)
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread: leave signals alone
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, previous)


def _click_exceptions() -> tuple[type[Exception], type[Exception], type[BaseException]]:
    """(ClickException, UsageError, Abort) of the click that typer uses.

    typer >= 0.20 vendors click as ``typer._click`` (``import click`` may fail); older typer
    depends on click itself.
    """
    try:
        from typer import _click
        from typer.exceptions import Abort

        return _click.exceptions.ClickException, _click.exceptions.UsageError, Abort
    except ImportError:
        import click

        return click.ClickException, click.UsageError, click.exceptions.Abort


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


__all__ = ["app", "main"]
