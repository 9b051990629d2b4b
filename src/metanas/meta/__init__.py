"""Meta-learning: every store is a knowledge base that makes the next search faster.

- :mod:`~metanas.meta.descriptors`: task descriptors and cheap probe features.
- :mod:`~metanas.meta.similarity`: how alike two tasks are (descriptors, rank correlation).
- :mod:`~metanas.meta.knowledge`: a store's studies grouped into past tasks.
- :mod:`~metanas.meta.prior` / :mod:`~metanas.meta.warmstart`: past results as plain data, and
  the ``warm_start`` strategy that uses them while they keep predicting the new task.
- :mod:`~metanas.meta.predictor`: a performance predictor pretrained across past tasks and
  fine-tuned on the new one (the warm start's second phase).
- :mod:`~metanas.meta.policy`: a REINFORCE controller's starting policy from past tasks.

Importing this package registers the ``warm_start`` strategy. The table experiments live in
:mod:`metanas.meta.transfer` (imported on demand: it loads the table evaluators).
"""

from metanas.meta.descriptors import describe_task, probe_features, reference_archs
from metanas.meta.knowledge import KnowledgeBase, PastTask, space_signature
from metanas.meta.policy import initial_policy
from metanas.meta.predictor import TransferPredictor
from metanas.meta.prior import Prior, PriorModel
from metanas.meta.similarity import Similarity, descriptor_distance, spearman, task_similarity
from metanas.meta.warmstart import SeededSpace, WarmStart

__all__ = [
    "KnowledgeBase",
    "PastTask",
    "Prior",
    "PriorModel",
    "SeededSpace",
    "Similarity",
    "TransferPredictor",
    "WarmStart",
    "describe_task",
    "descriptor_distance",
    "initial_policy",
    "probe_features",
    "reference_archs",
    "space_signature",
    "spearman",
    "task_similarity",
]
