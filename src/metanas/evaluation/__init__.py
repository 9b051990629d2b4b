"""Evaluators: what a study calls to score an architecture (``evaluate(arch, budget, report)``).

The package imports nothing itself; each evaluator lives in its own module, so torch is imported
only by those that train or build networks:

- :mod:`metanas.evaluation.tabular`: benchmark tables (``nb201_table``, ``nb101_table``, your CSV
  through ``TableEvaluator.from_csv``).
- :mod:`metanas.evaluation.training`: real training (``TrainingEvaluator``, ``train_final``).
- :mod:`metanas.evaluation.proxies`: zero-cost proxies (``ProxyEvaluator``).
- :mod:`metanas.evaluation.function`: any Python function (``FunctionEvaluator``, also
  ``metanas.FunctionEvaluator``).
- :mod:`metanas.evaluation.base`: the ``Evaluator`` protocol and ``continue_always``.
"""
