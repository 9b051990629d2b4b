"""The allocator setting of evaluation/malloc.py: freed training buffers stay mapped for reuse."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

CHILD = """
import resource, sys
import torch
from metanas.evaluation.malloc import keep_freed_memory
print(keep_freed_memory())
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):  # a 64 MB buffer made and freed, as a training step does with its largest
    torch.ones(16 << 20)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(**env: str) -> tuple[str, int]:
    base = {k: v for k, v in os.environ.items() if k != "METANAS_DEFAULT_MALLOC"}
    out = subprocess.run(
        [sys.executable, "-c", CHILD], env={**base, **env}, capture_output=True, text=True,
        check=True,
    ).stdout.split()  # fmt: skip
    return out[0], int(out[1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a setting of glibc's allocator")
def test_freed_buffers_are_reused_without_faulting_their_pages_in_again():
    tuned, faults = _faults()
    default, default_faults = _faults(METANAS_DEFAULT_MALLOC="1")
    assert (tuned, default) == ("True", "False")  # the user's setting wins
    # 16k pages per buffer: glibc's defaults fault them all in 20 times, the setting about once
    # (up to 4 times seen on a busy machine: the kernel's page compaction and migration fault
    # kept pages in again)
    assert default_faults > 15 * 16_384
    assert faults < 8 * 16_384
