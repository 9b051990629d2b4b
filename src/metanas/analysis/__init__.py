"""metanas.analysis: what a finished study says beyond its best trial.

- :func:`decision_importance` / :func:`study_importance`: which decisions matter and which of
  their values win (fANOVA main effects of a random forest fitted to the trials).
- :func:`pareto_front` / :func:`study_pareto`: the trials no other beats on the objective and a
  second metric at once (parameters, latency, training time).
- :func:`fidelity_agreement` / :func:`study_fidelity`: how well each smaller budget (a rung, or an
  epoch of the learning curves) ranks the results at the largest one.
- :func:`~metanas.analysis.trials_table.trial_rows` / :func:`write_trials_csv`: every trial as one
  flat row (decisions and metrics as columns), for pandas or a spreadsheet.
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
from metanas.analysis.trials_table import trial_rows, write_trials_csv

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
    "trial_rows",
    "write_trials_csv",
]
