"""Jobs that misbehave on purpose, shared by the executor tests (picklable: module level)."""

from __future__ import annotations

import os
import signal
import time

from metanas.types import Result


def square(x: int) -> Result:
    return Result(value=float(x * x))


def die_once(marker: str) -> Result:
    # The first attempt kills its own worker; the retry finds the marker and succeeds.
    if not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return Result(value=1.0)


def always_die() -> Result:
    os.kill(os.getpid(), signal.SIGKILL)
    return Result(value=0.0)


def hang(seconds: float = 120) -> Result:
    time.sleep(seconds)
    return Result(value=0.0)


def boom() -> Result:
    raise RuntimeError("boom")


def lost_connection() -> Result:
    raise BrokenPipeError("the evaluator's own download broke off")
