"""Per-call time of key / describe / features / mutate / sample for the NB201 and NB101 spaces.

Run: ``.venv/bin/python benchmarks/space_timing.py`` (a few seconds). Figures are microseconds
per call, best of 3 repeats; "warm" calls hit the spaces' caches as a long search does.
"""

from __future__ import annotations

import itertools
import timeit
from collections.abc import Callable

import numpy as np

from metanas.space import get_space


def per_call_us(fn: Callable[[], object], n: int) -> float:
    return min(timeit.repeat(fn, number=n, repeat=3)) / n * 1e6


def time_space(name: str) -> None:
    space = get_space(name)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(1000)]
    cold = get_space(name)  # a fresh space: first calls miss the per-space caches
    t0 = timeit.default_timer()
    for a in archs:
        cold.key(a)
    key_cold = (timeit.default_timer() - t0) / len(archs) * 1e6
    cycle = itertools.cycle(archs)
    rows = {
        "key (first call, uncached)": key_cold,
        "key (warm)": per_call_us(lambda: space.key(next(cycle)), 20000),
        "describe (warm)": per_call_us(lambda: space.describe(next(cycle)), 20000),
        "features (warm)": per_call_us(lambda: space.features(next(cycle)), 20000),
        "mutate": per_call_us(lambda: space.mutate(next(cycle), rng), 5000),
        "sample (shared generator)": per_call_us(lambda: space.sample(rng), 5000),
        "sample (int seed)": per_call_us(lambda: space.sample(7), 2000),
    }
    print(f"{name}:")
    for label, us in rows.items():
        print(f"  {label:28s}{us:9.2f} us")


if __name__ == "__main__":
    for space_name in ("nb201", "nb101"):
        time_space(space_name)
