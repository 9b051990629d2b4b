"""metanas.analysis: what a finished study says beyond its best trial.

- :func:`decision_importance` / :func:`study_importance`: which decisions matter and which of
  their values win (fANOVA main effects of a random forest fitted to the trials).
- :func:`pareto_front` / :func:`study_pareto`: the trials no other beats on the objective and a
  second metric at once (parameters, latency, training time).
- :func:`fidelity_agreement` / :func:`study_fidelity`: how well each smaller budget (a rung, or an
  epoch of the learning curves) ranks the results at the largest one.
- :mod:`metanas.analysis.plots`: the same as figures (matplotlib, optional: ``metanas[plot]``),
  and the search's history; :func:`~metanas.analysis.plots.save_study_plots` writes them all.
"""

from metanas.analysis.fidelity import (
    BudgetAgreement,
    FidelityAgreement,
    fidelity_agreement,
    study_fidelity,
)
from metanas.analysis.importance import (
    DecisionEffect,
    Importance,
    decision_importance,
    study_importance,
)
from metanas.analysis.pareto import pareto_front, study_pareto

__all__ = [
    "BudgetAgreement",
    "DecisionEffect",
    "FidelityAgreement",
    "Importance",
    "decision_importance",
    "fidelity_agreement",
    "pareto_front",
    "study_fidelity",
    "study_importance",
    "study_pareto",
]
