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


def unsendable() -> Result:
    """A result that cannot be pickled back to the driver (a generator among the metrics)."""
    return Result(value=1.0, metrics={"g": (i for i in range(2))})  # type: ignore[dict-item]


def start_sleeper(pid_file: str) -> Result:
    """Start a subprocess that outlives the job unless its worker's group is killed."""
    import subprocess

    p = subprocess.Popen(["sleep", "120"])
    with open(pid_file, "w") as f:
        f.write(str(p.pid))
    time.sleep(120)
    return Result(value=0.0)


def exit_with(code: int) -> Result:
    raise SystemExit(code)


def interrupt() -> Result:
    raise KeyboardInterrupt
