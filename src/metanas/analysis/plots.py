"""Figures of a study, written as image files: how the search progressed, which decisions mattered
and what their values did, how well small budgets ranked the final results, and the front of the
objective and a second metric.

matplotlib is optional (``pip install 'metanas[plot]'``) and only this module imports it. Figures
are built with matplotlib's object API, not ``pyplot``, so no global state or display is involved
and they work on a headless machine.

Example (``metanas analyze metanas.db --study s --plots plots`` does the same)::

    from metanas.study import load_study
    save_study_plots(load_study("metanas.db", "s"), "plots")  # plots/history.png, ...
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metanas.analysis._trials import at_top_budget, check_study, valued
from metanas.analysis.fidelity import FidelityAgreement, study_fidelity
from metanas.analysis.importance import MIN_TRIALS, Importance, study_importance
from metanas.analysis.pareto import study_pareto
from metanas.types import TrialState, UserInputError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from metanas.study import Study

#: file formats :func:`save_study_plots` writes
FORMATS = ("png", "svg", "pdf")


def check_can_plot(fmt: str = "png") -> None:
    """Raise one clear error, before any work, when matplotlib is missing or ``fmt`` unknown."""
    if fmt not in FORMATS:
        raise UserInputError(f"unknown plot format {fmt!r}; use one of {', '.join(FORMATS)}.")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UserInputError(
            "plots need matplotlib, which is not installed; run pip install 'metanas[plot]'."
        ) from None


def _figure(width: float = 6.4, height: float = 4.0) -> Figure:
    check_can_plot()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _budget_label(epochs: float) -> str:
    if epochs == math.inf:
        return "full"
    return f"{epochs:g} epoch" + ("" if epochs == 1 else "s")


def _label(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _importance(x: Importance | Study) -> Importance:
    return x if isinstance(x, Importance) else study_importance(x)


def plot_history(study: Study) -> Figure:
    """Each finished trial's value by trial number, coloured by budget when there are several,
    the best so far at the largest budget as a step line, failures as crosses on the axis."""
    check_study(study, "plot_history")
    fig = _figure()
    ax = fig.add_subplot()
    trials = study.trials
    done = valued(trials)
    budgets = sorted({t.epochs for t in done})
    for b in budgets:
        xs = [t.number for t in done if t.epochs == b]
        ys = [float(t.value or 0.0) for t in done if t.epochs == b]
        label = None if len(budgets) == 1 else _budget_label(b)
        ax.scatter(xs, ys, s=14, alpha=0.7, label=label)
    top = [t for t in done if budgets and t.epochs == budgets[-1]]
    if top:
        better = max if study.direction == "maximize" else min
        steps: list[int] = []
        best: list[float] = []
        for t in top:
            steps.append(t.number)
            v = float(t.value or 0.0)
            best.append(better(best[-1], v) if best else v)
        steps.append(max(t.number for t in trials))
        best.append(best[-1])
        ax.step(steps, best, where="post", color="black", lw=1.2, label="best so far")
    failed = [t.number for t in trials if t.state == TrialState.FAILED]
    if failed:
        ax.plot(
            failed,
            [0] * len(failed),
            "x",
            color="red",
            transform=ax.get_xaxis_transform(),
            clip_on=False,
            label=f"failed ({len(failed)})",
        )
    ax.set_xlabel("trial")
    ax.set_ylabel(study.objective or "value")
    ax.set_title(f"{study.name}: {len(done)} finished trials")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    return fig


def plot_importance(importance: Importance | Study, top: int = 12) -> Figure:
    """The ``top`` decisions' shares of the objective's variance, with their spread over the
    forest's trees, and what only interactions explain (of a study: its
    :func:`~metanas.analysis.study_importance`)."""
    importance = _importance(importance)
    decisions = importance.decisions[:top]
    fig = _figure(6.4, 0.8 + 0.35 * (len(decisions) + 1))
    ax = fig.add_subplot()
    names = [d.name for d in decisions] + ["(interactions)"]
    shares = [d.share for d in decisions] + [importance.interactions]
    errors = [d.std for d in decisions] + [0.0]
    ys = range(len(names))[::-1]  # the most important at the top
    colours = ["tab:blue"] * len(decisions) + ["tab:gray"]
    ax.barh(list(ys), shares, xerr=errors, color=colours, capsize=2)
    ax.set_yticks(list(ys), names)
    ax.set_xlabel("share of the objective's variance (fANOVA main effect)")
    ax.set_xlim(0, max(1.0, max(s + e for s, e in zip(shares, errors))))
    ax.set_title(f"what mattered ({importance.n_trials} trials)")
    return fig


def plot_effects(importance: Importance | Study, top: int = 4) -> Figure:
    """One panel per decision of the ``top``: the objective predicted with the decision fixed to
    each value (its main effect), with how many trials used that value (of a study: its
    :func:`~metanas.analysis.study_importance`)."""
    importance = _importance(importance)
    decisions = importance.decisions[:top]
    if not decisions:
        raise UserInputError("the study has no decision with an effect to plot.")
    cols = min(2, len(decisions))
    rows = math.ceil(len(decisions) / cols)
    fig = _figure(4.0 * cols, 3.0 * rows)
    for i, d in enumerate(decisions):
        ax = fig.add_subplot(rows, cols, i + 1)
        xs = range(len(d.values))
        bars = ax.bar(
            list(xs),
            d.effects,
            color=["tab:green" if v == d.best else "tab:blue" for v in d.values],
        )
        ax.bar_label(bars, [f"n={c}" for c in d.counts], fontsize="x-small")
        ax.set_xticks(
            list(xs), [_label(v) for v in d.values], rotation=30, ha="right", fontsize="small"
        )
        low, high = min(d.effects), max(d.effects)
        pad = 0.15 * (high - low) or 0.01 * max(1.0, abs(high))
        ax.set_ylim(low - pad, high + 2 * pad)  # differences, not the distance from zero
        ax.set_title(f"{d.name} ({d.share:.0%})", fontsize="medium")
    fig.suptitle("main effect of each value (the best in green)")
    return fig


def plot_fidelity(agreement: FidelityAgreement | Study, keep: float = 1 / 3) -> Figure:
    """Each smaller budget's rank correlation with the largest (with its 90% interval where
    there are enough architectures) and the share of the largest budget's best third it kept
    (of a study: its :func:`~metanas.analysis.study_fidelity`)."""
    if not isinstance(agreement, FidelityAgreement):
        agreement = study_fidelity(agreement, keep=keep)
    what = agreement.unit
    rows = agreement.budgets
    fig = _figure(8.0, 3.4)
    rho_ax, kept_ax = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    xs = list(range(len(rows)))
    labels = [f"{b.budget:g}" for b in rows]
    rho = [b.rho for b in rows]
    # matplotlib wants distances below and above; NaN (too few architectures) draws no bar
    below = [b.rho - b.low if math.isfinite(b.low) else 0.0 for b in rows]
    above = [b.high - b.rho if math.isfinite(b.high) else 0.0 for b in rows]
    rho_ax.errorbar(xs, rho, yerr=[below, above], fmt="o", capsize=3)
    for x, b in zip(xs, rows):  # how many architectures each correlation rests on
        rho_ax.annotate(
            f"n={b.n}", (x, b.rho), xytext=(6, -3), textcoords="offset points", fontsize="x-small"
        )
    rho_ax.axhline(0.0, color="gray", lw=0.8)
    rho_ax.set_ylim(-1.05, 1.05)
    rho_ax.set_ylabel("rank correlation (90% interval)")
    kept_ax.bar(xs, [b.kept for b in rows], color="tab:green")
    kept_ax.axhline(keep, color="gray", ls="--", lw=1, label="a random cut")
    kept_ax.set_ylim(0, 1.05)
    kept_ax.set_ylabel("of the final best third, kept")
    kept_ax.legend(fontsize="small")
    for ax in (rho_ax, kept_ax):
        ax.set_xticks(xs, labels)
        ax.set_xlabel(what)
    fig.suptitle(f"how well each {what} ranks the results at {agreement.top:g}")
    return fig


def plot_pareto(study: Study, metric: str, *, maximize_metric: bool = False) -> Figure:
    """Every finished trial (at the largest budget) on ``metric`` and the objective, its Pareto
    front as a step line."""
    check_study(study, "plot_pareto")
    front = study_pareto(study, metric, maximize_metric=maximize_metric)
    done = [t for t in at_top_budget(study.trials) if metric in t.metrics]
    fig = _figure()
    ax = fig.add_subplot()
    xs = [float(t.metrics[metric]) for t in done]
    ax.scatter(xs, [float(t.value or 0.0) for t in done], s=12, alpha=0.5, label="trials")
    pts = sorted((float(t.metrics[metric]), float(t.value or 0.0)) for t in front)
    fx, fy = [x for x, _ in pts], [y for _, y in pts]
    # the best objective reachable at a metric this good: a staircase toward the better metric
    ax.step(fx, fy, where="pre" if maximize_metric else "post", color="tab:red")
    ax.scatter(fx, fy, s=24, color="tab:red", label=f"front ({len(front)})")
    ax.set_xlabel(metric)
    ax.set_ylabel(study.objective or "value")
    ax.set_title(f"{study.name}: {study.objective or 'value'} vs {metric}")
    ax.legend(fontsize="small")
    return fig


#: every figure save_study_plots may draw
_FIGURES = ("history", "pareto", "importance", "effects", "fidelity")


def save_study_plots(
    study: Study,
    out_dir: str | Path,
    *,
    importance: Importance | None = None,
    fidelity: FidelityAgreement | None = None,
    pareto: str | None = None,
    maximize_metric: bool = False,
    fmt: str = "png",
) -> list[Path]:
    """Write figures of ``study`` into ``out_dir`` as ``fmt`` files and return the files written.

    Always ``history``; ``importance`` and ``effects`` when :data:`MIN_TRIALS` trials finished
    at the largest budget; ``fidelity`` when the trials ran at several budgets or recorded
    learning curves; and, with ``pareto``, the front of the objective and that metric.
    ``importance`` and ``fidelity`` are computed when not given.
    """
    check_can_plot(fmt)
    figures: list[tuple[str, Figure]] = [("history", plot_history(study))]
    if pareto is not None:
        figures.append(("pareto", plot_pareto(study, pareto, maximize_metric=maximize_metric)))
    # importance reads the largest budget's trials only (a multi-fidelity study has few there)
    if importance is None and len(at_top_budget(study.trials)) >= MIN_TRIALS:
        importance = study_importance(study)
    if importance is not None:
        figures += [("importance", plot_importance(importance))]
        if importance.decisions:
            figures += [("effects", plot_effects(importance))]
    if fidelity is None:
        # one budget and no learning curves: nothing to compare
        with contextlib.suppress(UserInputError):
            fidelity = study_fidelity(study)
    if fidelity is not None:
        figures.append(("fidelity", plot_fidelity(fidelity)))
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserInputError(
            f"cannot create the plot folder {out}: {e.strerror}; pick another."
        ) from None
    paths = []
    for name, fig in figures:
        path = out / f"{name}.{fmt}"
        fig.savefig(path, dpi=120)
        paths.append(path)
    # a figure an earlier run drew into this folder (of another study, or before the study had
    # enough trials) would pass for this study's
    for name in set(_FIGURES) - {name for name, _ in figures}:
        stale = out / f"{name}.{fmt}"
        if stale.is_file():
            stale.unlink()
    return paths


__all__ = [
    "check_can_plot",
    "plot_effects",
    "plot_fidelity",
    "plot_history",
    "plot_importance",
    "plot_pareto",
    "save_study_plots",
]
