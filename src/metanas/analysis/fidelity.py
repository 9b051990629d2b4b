"""How early a study could have judged its candidates: how well the results at each smaller
budget rank those at the largest one.

A multi-fidelity search is only as good as its lowest budget's ranking: where early results do not
rank the final ones, successive halving throws the good architectures away. On a finished study
this is measured from trials at several budgets (a scheduler's rungs) or from the learning curves
that real training records, so the next search can start at a budget that ranks well. The
interval shows how much the data say: on few architectures, rank correlations are uncertain.

Example:
    >>> values = {"a": {1: .5, 3: .6}, "b": {1: .4, 3: .5}, "c": {1: .3, 3: .7}, "d": {1: .2, 3: .1}}
    >>> round(fidelity_agreement(values).budgets[0].rho, 3)
    0.4
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from metanas.analysis._trials import check_study, valued
from metanas.meta.similarity import spearman
from metanas.types import Trial, UserInputError

if TYPE_CHECKING:
    from metanas.study import Study

#: architectures a budget needs, next to the largest budget, for a rank correlation
MIN_PAIRS = 3
#: ... and for its interval: the normal approximation holds from about 10 pairs (below, a
#: perfect order arises by chance often enough that no interval means much)
MIN_PAIRS_INTERVAL = 10
_Z90 = 1.6449  # two-sided 90% normal quantile


@dataclass(frozen=True)
class BudgetAgreement:
    """One smaller budget against the largest.

    Attributes:
        budget: the smaller budget (epochs, or steps of a reporting function).
        n: architectures measured at both budgets.
        rho: Spearman rank correlation of their results at the two budgets (NaN when every
            result at one of them is the same: that budget cannot rank them).
        low, high: its 90% interval (Fisher z with Bonett and Wright's 2000 standard error
            ``sqrt((1 + rho**2 / 2) / (n - 3))``; a perfect order counts as the closest imperfect
            one, so the interval never claims certainty); NaN below :data:`MIN_PAIRS_INTERVAL`
            architectures.
        kept: of the architectures in the largest budget's best ``keep`` share, the share also in
            this budget's best ``keep`` share: what successive halving with ``eta = 1 / keep``
            would have kept of them (a random cut keeps ``keep`` on average); ties at a cut
            count as broken at random, in expectation, so all-equal results keep the chance share.
    """

    budget: float
    n: int
    rho: float
    low: float
    high: float
    kept: float


@dataclass(frozen=True)
class FidelityAgreement:
    """Each smaller budget's agreement with the largest, smallest budget first."""

    top: float
    source: str  # "budgets" (trials at several budgets), "curves" (learning curves) or "values"
    budgets: tuple[BudgetAgreement, ...]
    #: what a budget counts: "rung" (a scheduler's budgets), "epoch" or "step" (curve points)
    unit: str = "epoch"


def fidelity_agreement(
    values: Mapping[str, Mapping[float, float]], *, keep: float = 1 / 3, maximize: bool = True
) -> FidelityAgreement:
    """Rank agreement of every smaller budget with the largest, from ``values[key][budget]``.

    Budgets with fewer than :data:`MIN_PAIRS` architectures also measured at the largest budget
    are left out.
    """
    if not 0 < keep < 1:
        raise UserInputError(f"keep must be a share in (0, 1), got {keep}; use e.g. 1/3.")
    budgets = sorted({float(b) for per in values.values() for b in per})
    if len(budgets) < 2:
        raise UserInputError(
            "fidelity agreement needs results at two budgets at least; these have "
            + (f"only budget {budgets[0]:g}" if budgets else "none")
            + " (a multi-fidelity strategy or per-epoch reports give more)."
        )
    top = budgets[-1]
    sign = 1.0 if maximize else -1.0
    out = []
    for b in budgets[:-1]:
        both = [
            (sign * float(per[b]), sign * float(per[top]))
            for per in values.values()
            if b in per and top in per and math.isfinite(per[b]) and math.isfinite(per[top])
        ]
        if len(both) < MIN_PAIRS:
            continue
        x, y = np.array(both).T
        out.append(_agreement(b, x, y, keep))
    if not out:
        raise UserInputError(
            f"fewer than {MIN_PAIRS} architectures have results both at the largest budget "
            f"({top:g}) and a smaller one; run more trials to the largest budget."
        )
    return FidelityAgreement(top=top, source="values", budgets=tuple(out))


def _agreement(budget: float, x: np.ndarray, y: np.ndarray, keep: float) -> BudgetAgreement:
    n = len(x)
    rho = spearman(x, y)  # NaN when one side is constant
    low = high = math.nan
    if n >= MIN_PAIRS_INTERVAL and math.isfinite(rho):
        # the largest |rho| short of a perfect order (one adjacent swap): Fisher z is infinite at 1
        cap = 1 - 12 / (n**3 - n)
        r = min(max(rho, -cap), cap)
        # Bonett and Wright's standard error widens with |rho|; Fieller's constant 1.03 / sqrt(n - 3)
        # covered a true 0.95 in only 83% of 90% intervals at 15 pairs (89% with this one)
        z, half = math.atanh(r), _Z90 * math.sqrt((1 + r * r / 2) / (n - 3))
        low, high = min(math.tanh(z - half), rho), max(math.tanh(z + half), rho)
    m = max(1, math.ceil(keep * n))
    # ties broken at random, in expectation: a budget whose results are all equal keeps the
    # chance share m / n, not a share that depends on the trials' order
    kept = float(_top_chance(x, m) @ _top_chance(y, m)) / m
    return BudgetAgreement(budget, n, rho, low, high, kept)


def _top_chance(v: np.ndarray, m: int) -> np.ndarray:
    """Each entry's chance to be among the ``m`` largest when ties are broken at random."""
    cut = np.sort(v)[::-1][m - 1]
    above, tied = v > cut, v == cut
    return above + tied * ((m - above.sum()) / tied.sum())


def study_fidelity(study: Study, *, source: str = "auto", keep: float = 1 / 3) -> FidelityAgreement:
    """:func:`fidelity_agreement` of a study's complete trials.

    ``source="budgets"`` pairs an architecture's trials at different budgets (multi-fidelity
    schedulers); ``"curves"`` reads each trial's learning curve (its ``epoch``, ``epochs`` or
    ``step`` points of the study's objective); ``"auto"`` takes budgets when the study has several, else curves.

    In a scheduler's study only promoted architectures reach the largest budget, and they are
    the best at the smaller one: the correlation is among those, lower than over all
    architectures would be. That is the ranking the scheduler's promotions depend on.
    """
    check_study(study, "study_fidelity")
    if source not in ("auto", "budgets", "curves"):
        raise UserInputError(f"source must be 'auto', 'budgets' or 'curves', got {source!r}.")
    done = valued(study.trials)
    by_budget = _by_budget(done)
    n_budgets = len({b for per in by_budget.values() for b in per})
    if source == "budgets" or (source == "auto" and n_budgets > 1):
        values, used = by_budget, "budgets"
    else:
        values, used = _from_curves(done, study.objective), "curves"
        if not values:
            raise UserInputError(
                f"no complete trial of study {study.name!r} has a learning curve of "
                f"{study.objective!r} nor do its trials use several budgets; fidelity "
                "agreement needs one or the other."
            )
    agr = fidelity_agreement(values, keep=keep, maximize=study.direction == "maximize")
    epochs = any("epoch" in point or "epochs" in point for t in done for point in t.curve)
    unit = "rung" if used == "budgets" else ("epoch" if epochs else "step")
    return replace(agr, source=used, unit=unit)


def _by_budget(trials: list[Trial]) -> dict[str, dict[float, float]]:
    out: dict[str, dict[float, float]] = {}
    for t in trials:
        if t.budget is not None and t.budget.epochs is not None:
            out.setdefault(t.key, {}).setdefault(float(t.budget.epochs), float(t.value or 0.0))
    return out


def _from_curves(trials: list[Trial], objective: str | None) -> dict[str, dict[float, float]]:
    out: dict[str, dict[float, float]] = {}
    for t in trials:
        for point in t.curve:
            # real training reports "epoch" (or "step"), a benchmark table "epochs"
            at = point.get("epoch", point.get("epochs", point.get("step")))
            v = point.get(objective) if objective is not None else None
            if at is not None and v is not None:
                out.setdefault(t.key, {}).setdefault(round(float(at), 6), float(v))
    return out
