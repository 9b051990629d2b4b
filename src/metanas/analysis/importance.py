"""Which decisions matter, and which of their values win: functional ANOVA of a study's trials.

A random forest is fitted to the finished trials (the space's features -> the objective). A
decision's *share* is the variance of its main effect divided by the variance of the forest's
prediction, both under the space's own sampling distribution (Hutter et al. 2014, fANOVA; Optuna's
default importance). The main effect of value ``v`` is the forest's mean prediction over reference
architectures drawn from the space with the decision set to ``v``; the references are a Monte Carlo
sample, not the exact integral over the trees' cells, so any space works, conditional and
constrained ones included. Shares are computed per tree and averaged, which gives each a spread.
What the main effects leave unexplained (``interactions``) is what decisions do only together.
The forest sees the space's own features (for NAS-Bench-201 and -101 those of the computed cell),
so a choice that changes nothing the network computes, such as the operation of an NB101 vertex
that no path uses, shows no effect (on NB201 these features ranked the shares better than plain
one-hot decisions: rho 0.63 vs 0.54 at 50 random trials, level at 200).

Example:
    >>> from metanas.space import Space, Choice
    >>> space = Space([Choice("op", ("conv", "pool")), Choice("width", (16, 32))])
    >>> archs = [space.sample(i) for i in range(40)]
    >>> values = [1.0 * (a["op"] == "conv") for a in archs]
    >>> imp = decision_importance(space, archs, values, seed=0)
    >>> imp.decisions[0].name, imp.decisions[0].best
    ('op', 'conv')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from metanas.analysis._trials import at_top_budget, check_study, valued
from metanas.space.base import Space
from metanas.space.dims import Choice, Dim
from metanas.space.wrapper import own_distribution
from metanas.types import UserInputError

if TYPE_CHECKING:
    from metanas.study import Study

#: fewer finished trials than this cannot support a forest with anything to say
MIN_TRIALS = 10
#: numeric decisions with more distinct values than this are evaluated on this many quantiles
_GRID = 10


@dataclass(frozen=True)
class DecisionEffect:
    """One decision: its share of the objective's variance and its main effect per value."""

    name: str
    #: main-effect variance / total variance, mean over the forest's trees
    share: float
    #: standard deviation of ``share`` over the trees
    std: float
    values: tuple[Any, ...]
    #: the forest's mean prediction with the decision set to each value
    effects: tuple[float, ...]
    #: finished trials that used each value (nearest grid value for numeric decisions)
    counts: tuple[int, ...]
    maximize: bool = True

    @property
    def best(self) -> Any:
        """The value with the best main effect."""
        return self.values[self._order()[0]]

    @property
    def worst(self) -> Any:
        return self.values[self._order()[-1]]

    def effect(self, value: Any) -> float:
        return self.effects[self.values.index(value)]

    def _order(self) -> list[int]:
        sign = -1.0 if self.maximize else 1.0
        return sorted(range(len(self.values)), key=lambda i: sign * self.effects[i])


@dataclass(frozen=True)
class Importance:
    """Decisions sorted by share, most important first."""

    decisions: tuple[DecisionEffect, ...]
    #: 1 - the sum of the shares (floored at 0): the part of the variance only interactions explain
    interactions: float
    n_trials: int

    def __getitem__(self, name: str) -> DecisionEffect:
        for d in self.decisions:
            if d.name == name:
                return d
        raise KeyError(name)

    def shares(self) -> dict[str, float]:
        return {d.name: d.share for d in self.decisions}


def decision_importance(
    space: Space,
    archs: Sequence[Mapping[str, Any]],
    values: Sequence[float],
    *,
    maximize: bool = True,
    n_trees: int = 64,
    n_reference: int = 256,
    seed: int | None = 0,
) -> Importance:
    """fANOVA main effects of ``space``'s decisions from evaluated architectures.

    Args:
        space: the space the architectures come from; its ``features`` feed the forest and its
            ``sample`` draws the reference architectures.
        archs, values: evaluated architectures and their objective values (non-finite ones dropped).
        maximize: whether higher values are better (only ``best`` / ``worst`` depend on it).
        n_trees: trees in the random forest.
        n_reference: reference architectures over which each main effect is averaged.
        seed: seeds the forest and the references.
    """
    for name, n in (("n_trees", n_trees), ("n_reference", n_reference)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise UserInputError(f"{name} must be a positive integer, got {n!r}.")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise UserInputError(f"seed must be an integer >= 0 or None, got {seed!r}.")
    y = np.asarray(values, dtype=float)
    if len(archs) != len(y):
        raise UserInputError(f"got {len(archs)} architectures but {len(y)} values; pass one each.")
    finite = np.isfinite(y)
    if finite.sum() < MIN_TRIALS:
        raise UserInputError(
            f"importance needs at least {MIN_TRIALS} finished trials with a value, got "
            f"{int(finite.sum())}; run more trials first."
        )
    from sklearn.ensemble import RandomForestRegressor  # heavy; only importance needs it

    kept = [a for a, ok in zip(archs, finite) if ok]
    forest = RandomForestRegressor(n_estimators=n_trees, random_state=seed, n_jobs=1)
    forest.fit(np.stack([space.features(a) for a in kept]), y[finite])

    rng = np.random.default_rng(seed)
    # the space's own distribution: not a search's seeds or proxy screen (which would also
    # score every reference sample with the proxy)
    refs = [own_distribution(space).sample(rng) for _ in range(n_reference)]
    probes: list[dict[str, Any]] = list(refs)  # every architecture the trees will predict
    plans = []  # (dim, grid, weights, active share, probe index ranges per value)
    for d in space.dims:
        active = [r for r in refs if d.name in r]
        if not active:
            continue
        grid, weights = _grid(d, [r[d.name] for r in active])
        spans = []
        for v in grid:
            changed = [space.with_value(r, d.name, v, rng) for r in active]
            start = len(probes)
            probes.extend(c for c in changed if c is not None)
            spans.append((start, len(probes)))
        plans.append((d, grid, weights, len(active) / len(refs), spans))

    features = np.stack([space.features(a) for a in probes])
    pred = np.stack([tree.predict(features) for tree in forest.estimators_])  # trees x probes
    total = pred[:, : len(refs)].var(axis=1)
    informative = total > 1e-12 * max(1.0, float(np.abs(pred).max()))
    decisions = []
    for d, grid, weights, active_share, spans in plans:
        usable = [i for i, (a, b) in enumerate(spans) if b > a]
        if not usable:  # no reference stays valid with this decision changed
            continue
        means = np.stack([pred[:, a:b].mean(axis=1) for a, b in (spans[i] for i in usable)], axis=1)
        w = weights[usable] / weights[usable].sum()
        centre = means @ w
        main = ((means - centre[:, None]) ** 2) @ w * active_share
        per_tree = main[informative] / total[informative] if informative.any() else np.zeros(1)
        # a share is part of the variance: estimated on other probes than the total, a decision
        # that explains (nearly) all of it can come out a little above 1
        per_tree = np.minimum(per_tree, 1.0)
        grid_used = [grid[i] for i in usable]
        decisions.append(
            DecisionEffect(
                name=d.name,
                share=float(per_tree.mean()),
                std=float(per_tree.std()),
                values=tuple(grid_used),
                effects=tuple(float(m) for m in means.mean(axis=0)),
                counts=_counts(d, grid_used, [a.get(d.name) for a in kept]),
                maximize=maximize,
            )
        )
    decisions.sort(key=lambda e: -e.share)
    return Importance(
        decisions=tuple(decisions),
        # a constant fit explains nothing and leaves nothing to interactions either
        interactions=max(0.0, 1.0 - sum(e.share for e in decisions)) if informative.any() else 0.0,
        n_trials=len(kept),
    )


def study_importance(study: Study, **kwargs: Any) -> Importance:
    """:func:`decision_importance` over a study's complete trials at its largest budget.

    Results at different budgets (multi-fidelity studies) measure different things, so only the
    trials of the largest budget that has any are used. A model-based search samples mostly good
    architectures, so the forest knows the rest of the space less well; on NAS-Bench-201 the
    shares from 100 BANANAS trials still rank like the table's own (``benchmarks/README.md``),
    but they miss most of the interactions that only poor architectures show.
    """
    check_study(study, "study_importance")
    if study.space is None:
        raise UserInputError("the study has no stored space, so its decisions are unknown.")
    done = at_top_budget(study.trials)
    n_valued = len(valued(study.trials))
    if len(done) < MIN_TRIALS and n_valued > len(done):
        raise UserInputError(
            f"importance needs at least {MIN_TRIALS} finished trials at the study's largest "
            f"budget ({_budget_words(done[0].epochs)}), got {len(done)} (of {n_valued} at all "
            "budgets, which measure different things); run more trials to the full budget."
        )
    kwargs.setdefault("maximize", study.direction == "maximize")
    return decision_importance(
        study.space, [t.arch for t in done], [float(t.value or 0.0) for t in done], **kwargs
    )


def _budget_words(e: float) -> str:
    return "the full evaluation" if e == float("inf") else f"{e:g} epochs"


def _grid(dim: Dim, observed: Sequence[Any]) -> tuple[list[Any], np.ndarray]:
    """Values at which to evaluate ``dim``'s main effect, weighted by the reference distribution."""
    if isinstance(dim, Choice):
        return list(dim.options), np.array(_tally(dim.options, observed), dtype=float)
    distinct = sorted(set(observed))
    if len(distinct) <= _GRID:
        return distinct, np.array(_tally(distinct, observed), dtype=float)
    qs = np.quantile(np.asarray(observed, dtype=float), (np.arange(_GRID) + 0.5) / _GRID)
    integral = isinstance(distinct[0], (int, np.integer))
    grid = sorted({int(np.rint(q)) if integral else float(q) for q in qs})
    return grid, np.ones(len(grid))


def _counts(dim: Dim, grid: Sequence[Any], used: Sequence[Any]) -> tuple[int, ...]:
    present = [u for u in used if u is not None]
    if isinstance(dim, Choice) or not present:
        return _tally(grid, present)
    nearest = np.abs(np.subtract.outer(np.asarray(present, float), np.asarray(grid, float)))
    return tuple(np.bincount(nearest.argmin(axis=1), minlength=len(grid)).tolist())


def _tally(values: Sequence[Any], seen: Sequence[Any]) -> tuple[int, ...]:
    """How often each of ``values`` occurs in ``seen``."""
    return tuple(sum(1 for s in seen if s == v) for v in values)


__all__ = ["MIN_TRIALS", "DecisionEffect", "Importance", "decision_importance", "study_importance"]
