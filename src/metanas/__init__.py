"""metanas: neural architecture search as meta-learning.

Public names only; torch, ray and plotting are imported lazily by the modules that need them.
"""

from metanas.evaluation.function import FunctionEvaluator
from metanas.space import Choice, Condition, FloatRange, IntRange, Space, get_space
from metanas.study import Study, create_study, load_study
from metanas.types import (
    Budget,
    Candidate,
    MetanasError,
    Result,
    StorageError,
    StudyExists,
    TaskInfo,
    Trial,
    TrialState,
    UserInputError,
)

__version__ = "0.2.7"

__all__ = [
    "Budget",
    "Candidate",
    "Choice",
    "Condition",
    "FloatRange",
    "FunctionEvaluator",
    "IntRange",
    "MetanasError",
    "Result",
    "Space",
    "StorageError",
    "Study",
    "StudyExists",
    "TaskInfo",
    "Trial",
    "TrialState",
    "UserInputError",
    "__version__",
    "create_study",
    "get_space",
    "load_study",
]
