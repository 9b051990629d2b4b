"""glibc's allocator, set up for training on the CPU.

glibc serves a large request (tens of MB) with a fresh ``mmap`` and unmaps it when it is freed,
and hands the heap's free top back to the kernel. A training step allocates and frees the same
large buffers every step (a 3x3 convolution's unfolded input at batch 128 and 64 channels is
~230 MB), so every step faults all their pages in again: on 2 cores a third of the CPU time of
the main job went to the kernel. Served from a heap that keeps its freed memory, the pages stay
mapped; the process keeps its peak memory until it ends (benchmarks/README.md, "Allocator").
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # from glibc's malloc.h
_KEEP = 1 << 30  # 1 GiB: blocks up to this come from the heap, and its free top stays mapped

#: a user who tunes the allocator (or replaces it) has the last word
USER_SETTINGS = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "GLIBC_TUNABLES",
    "LD_PRELOAD",
    "METANAS_DEFAULT_MALLOC",
)


@functools.cache
def keep_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse, once per process; ``True`` if it was set here.

    Nothing changes off glibc, or when the environment sets one of :data:`USER_SETTINGS`
    (``METANAS_DEFAULT_MALLOC=1`` keeps glibc's defaults).
    """
    if platform.libc_ver()[0] != "glibc" or any(os.environ.get(k) for k in USER_SETTINGS):
        return False
    try:
        libc = ctypes.CDLL(None)
        return bool(
            libc.mallopt(_M_MMAP_THRESHOLD, _KEEP) and libc.mallopt(_M_TRIM_THRESHOLD, _KEEP)
        )
    except (OSError, AttributeError):  # no mallopt in this C library
        return False


__all__ = ["USER_SETTINGS", "keep_freed_memory"]
