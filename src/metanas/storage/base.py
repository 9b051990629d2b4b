"""The store interface: studies and their trials, durable the moment ``record`` returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from metanas.types import Architecture, Budget, TaskInfo, Trial


@dataclass(frozen=True)
class StudyInfo:
    id: int
    name: str
    space: Mapping[str, Any]
    task: TaskInfo
    #: how the study was configured (strategy name, seed, objective, direction, evaluator ...)
    config: Mapping[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    n_complete: int = 0
    n_failed: int = 0
    n_running: int = 0
    best_value: float | None = None
    n_pruned: int = 0  # stopped early by a multi-fidelity scheduler (a value, but partial)


@dataclass(frozen=True)
class Duplicate:
    """A candidate the strategy proposed again: it was told trial ``of_number``'s result instead
    of being evaluated. Kept so a resumed strategy replays exactly the asks and tells it saw.

    ``told_seq`` is ``None`` while the original trial is still running.
    """

    of_number: int
    arch: Architecture
    key: str
    asked_seq: int
    told_seq: int | None = None
    budget: Budget | None = None
    info: Mapping[str, Any] = field(default_factory=dict)


class Store(Protocol):
    def create_study(
        self, name: str, space: Mapping[str, Any], task: TaskInfo, config: Mapping[str, Any]
    ) -> int: ...

    def get_study(self, name: str) -> StudyInfo | None: ...

    def studies(self) -> list[StudyInfo]: ...

    def record(self, study_id: int, trial: Trial) -> None:
        """Insert or replace trial ``trial.number`` of the study; durable when it returns."""

    def trials(self, study_id: int) -> list[Trial]: ...

    def record_duplicate(self, study_id: int, dup: Duplicate) -> None:
        """Insert or replace the duplicate asked at ``dup.asked_seq``; durable when it returns."""

    def duplicates(self, study_id: int) -> list[Duplicate]: ...

    def close(self) -> None: ...
