"""Where tests find the benchmark tables: ``../shared/data`` beside the checkout when present,
else the byte-identical gzipped copies shipped in the package. Never skipped: a missing table
fails loudly."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
PACKAGED = ROOT / "src" / "metanas" / "tables"


def table_path(relative: str) -> Path:
    """``relative`` like ``"nb201/nb201.csv"``: the shared file, else the packaged ``.gz``."""
    shared = SHARED_DATA / relative
    if shared.exists():
        return shared
    packaged = PACKAGED / (Path(relative).name + ".gz")
    if not packaged.exists():
        raise FileNotFoundError(
            f"benchmark table {relative} is neither in {SHARED_DATA} nor packaged"
        )
    return packaged


def open_table(relative: str) -> IO[str]:
    p = table_path(relative)
    return gzip.open(p, "rt", newline="") if p.suffix == ".gz" else p.open(newline="")


NB201 = "nb201/nb201.csv"
NB101 = "nb101/nb101_subset.csv"


def record_evaluations(monkeypatch: Any) -> list[tuple[float, float | None]]:
    """``(epochs, value)`` of every table evaluation a benchmark run makes, in order."""
    from metanas import benchrun

    evaluated: list[tuple[float, float | None]] = []
    real = benchrun._evaluate

    def recorded(ev: Any, arch: Any, budget: Any) -> Any:
        res = real(ev, arch, budget)
        evaluated.append((res.metrics["epochs"], res.value))
        return res

    monkeypatch.setattr(benchrun, "_evaluate", recorded)
    return evaluated
