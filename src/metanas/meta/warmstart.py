"""Warm start: a strategy that begins where similar past tasks left off, and lets go if wrong.

:class:`WarmStart` wraps a cold strategy (any registered one). It first proposes the best
architectures of the past tasks, then climbs from the best new results through neighbours
ordered by the past tasks' scores (a prior-guided local search). After every result it measures
how well the past predicts the present: the Spearman correlation between the prior score and the
new values of everything evaluated so far. Among the first ``n_check`` proposals, ``n_range``
are random samples: a correlation measured on the past's favourites alone is low even for a
closely related task (restricted range), and random samples give it the spread it needs (for the
cold strategy they are the random start it would draw anyway). Each past task is re-weighted by
its own correlation; when the combined correlation falls below the bar (after ``n_check``
results), control passes to the cold strategy. The bar is ``min_corr`` or ``z_trust`` chance
standard errors (``1 / sqrt(n - 1)`` for ``n`` results), whichever is higher: six results of an
unrelated task often correlate 0.3 by chance.

When the climb stops improving for ``patience`` results (or has nothing left), a trusted past
gets a second phase: a :class:`~metanas.meta.predictor.TransferPredictor` pretrained on the past
tasks (trust-adjusted weights) and fine-tuned on every new result ranks mutations of the best new
results plus random samples. It is gated the same way: after ``n_check`` of its proposals, the
rank correlation of its predictions with the outcomes must stay above the bar; otherwise, or
after ``patience`` results without a new best, control passes to the cold strategy.
``patience=None`` (default) scales with the evidence: ``round(30 * trust)`` between 5 and 30,
and at most a tenth of ``budget`` when the number of queries is known.

The cold strategy's first random samples are the architectures already evaluated, best first;
they are repeats, answered from the store without cost, so the warm phase is never wasted work
for it. A ``reinforce`` cold strategy instead starts from a policy fitted to the trusted past
tasks' best architectures (:func:`~metanas.meta.policy.initial_policy`).

Example:
    >>> from metanas.space import Space, IntRange
    >>> from metanas.types import Result
    >>> space = Space([IntRange("w", 1, 50)])
    >>> past = Prior("old", [{"w": i} for i in range(1, 51)], [-abs(i - 30) for i in range(1, 51)])
    >>> s = WarmStart(space, seed=0, priors=[past])
    >>> s.ask().arch
    {'w': 30}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from metanas.meta.policy import initial_policy
from metanas.meta.predictor import TransferPredictor
from metanas.meta.prior import Prior, PriorModel, as_prior
from metanas.meta.similarity import spearman
from metanas.space.base import Space
from metanas.space.wrapper import SeededSpace
from metanas.strategies.base import Strategy, get_strategy, register_strategy
from metanas.types import Budget, Candidate, Result, UserInputError

WARM = "warm"
PREDICT = "predict"
COLD = "cold"


@register_strategy("warm_start")
class WarmStart(Strategy):
    """Prior-guided search that falls back to ``inner`` when the past stops predicting the present.

    Args:
        inner: the cold strategy's registered name; ``inner_kwargs`` its options.
        priors: past tasks (:class:`Prior` or their ``to_dict()``), e.g. from
            :func:`metanas.meta.load_priors`. Without priors this is the cold strategy.
        n_seed: best past architectures always in the candidate pool.
        n_parents: the pool also holds the unseen neighbours of this many best new results.
        n_check: results needed before trust is judged.
        n_range: random samples among the first ``n_check`` proposals (the trust check's spread).
        min_corr: trust threshold on the Spearman correlation of prior score and new values.
        z_trust: the threshold is also at least this many chance standard errors.
        patience: results without a new best before a phase ends; ``None``: from the evidence.
        budget: the search's number of queries, when known (caps the automatic patience).
        predictor: run the pretrained-predictor phase after the climb (trusted pasts only).
        n_pool: random samples scored by the predictor per proposal (besides the neighbours and
            mutations of the best new results).
        warm_policy: start a ``reinforce`` cold strategy from the trusted past's policy.
        policy_bar: the past's policy is used when its rank correlation passes the trust check's
            bar (``"trust"``), or only ``min_corr`` (``"min_corr"``, the rule before 0.2.7: a
            past the trust check had rejected still gave the policy).
    """

    draws_samples = False  # the past picks the first proposals

    def __init__(
        self,
        space: Space,
        seed: int | None = 0,
        inner: str = "local_search",
        inner_kwargs: Mapping[str, Any] | None = None,
        priors: Sequence[Prior | Mapping[str, Any]] = (),
        n_seed: int = 5,
        n_parents: int = 1,
        n_check: int = 6,
        n_range: int = 2,
        min_corr: float = 0.1,
        z_trust: float = 1.0,
        patience: int | None = None,
        budget: int | None = None,
        predictor: bool = True,
        n_pool: int = 100,
        warm_policy: bool = True,
        policy_bar: str = "trust",
    ) -> None:
        super().__init__(space, seed)
        if inner == "warm_start":
            raise UserInputError("warm_start cannot wrap itself; give a cold strategy as inner.")
        for name, v in (
            ("n_seed", n_seed),
            ("n_parents", n_parents),
            ("n_check", n_check),
            ("patience", 1 if patience is None else patience),
            ("budget", 1 if budget is None else budget),
        ):
            if not isinstance(v, int) or v < 1:
                raise UserInputError(f"warm_start {name} must be a positive integer, got {v!r}.")
        if not isinstance(n_pool, int) or n_pool < 0:
            raise UserInputError(f"warm_start n_pool must be an integer >= 0, got {n_pool!r}.")
        if not isinstance(n_range, int) or not 0 <= 2 * n_range <= n_check:
            # the random proposals alternate with the past's after its first, all within the
            # n_check proposals the trust check judges
            raise UserInputError(
                f"warm_start n_range must be an integer in [0, n_check / 2], got {n_range!r} "
                f"with n_check {n_check}."
            )
        for name, x in (("min_corr", min_corr), ("z_trust", z_trust)):
            if isinstance(x, bool) or not isinstance(x, (int, float)) or x != x:
                raise UserInputError(f"warm_start {name} must be a number, got {x!r}.")
        if policy_bar not in ("trust", "min_corr"):
            raise UserInputError(
                f"warm_start policy_bar must be 'trust' or 'min_corr', got {policy_bar!r}."
            )
        self.inner = inner
        self.inner_kwargs = dict(inner_kwargs or {})
        # stored as plain dicts: the study keeps them in its config, so a resume rebuilds the same
        self.priors = [as_prior(p).to_dict() for p in priors]
        self.n_seed = n_seed
        self.n_parents = n_parents
        self.n_check = n_check
        self.n_range = n_range
        self.min_corr = float(min_corr)
        self.z_trust = float(z_trust)
        self.patience = patience
        self.budget = budget
        self.predictor = bool(predictor)
        self.n_pool = n_pool
        self.warm_policy = bool(warm_policy)
        self.policy_bar = policy_bar
        self.mode = WARM if self.priors else COLD
        #: why the warm phase ended (None while it runs)
        self.handover: str | None = None if self.priors else "no priors"
        self.trust: float = float("nan")
        #: distinct architectures evaluated when the warm phase ended
        self.handover_at: int | None = None if self.priors else 0
        self._model: PriorModel | None = None
        self._cold: Strategy | None = None
        self._of_inner: dict[int, Candidate] = {}  # our candidate id -> the inner's candidate
        self._evals: dict[str, tuple[Mapping[str, Any], float]] = {}  # key -> (arch, new value)
        self._scores: dict[str, np.ndarray] = {}  # key -> per-task prior scores
        self._n_warm = 0
        self._since_best = 0
        self._best = -np.inf
        #: distinct architectures evaluated when the predictor phase began (None: never)
        self.predict_at: int | None = None
        self.predict_trust: float = float("nan")
        self.warm_end: str | None = None  # why the climb ended (it may hand to the predictor)
        self._tp: TransferPredictor | None = None
        self._tp_fitted = -1  # number of results the predictor was last fine-tuned on
        self._pred: dict[int, float] = {}  # candidate id -> prediction at proposal time
        self._pred_out: list[tuple[float, float]] = []  # (prediction, outcome) of phase results

    # ----------------------------------------------------------------- setup
    def _get_model(self) -> PriorModel:
        if self._model is None:
            self._model = PriorModel(self.space, [Prior.from_dict(p) for p in self.priors])
            self.weights = self._model.weights.copy()
            self._ranked = self._model.ranked()
        return self._model

    def _task_scores(self, key: str, arch: Mapping[str, Any]) -> np.ndarray:
        s = self._scores.get(key)
        if s is None:
            s = self._get_model().task_scores(arch, key)
            self._scores[key] = s
        return s

    def _score(self, key: str, arch: Mapping[str, Any]) -> float:
        w = self.weights
        return float(self._task_scores(key, arch) @ w / w.sum()) if w.sum() > 0 else 0.5

    # ----------------------------------------------------------------- ask
    def _ask(self) -> Any:
        if self.mode == WARM:
            arch = self._warm_proposal()
            if arch is not None:
                self._n_warm += 1
                return arch
            self._end_warm("the prior has nothing unseen left to propose")
        if self.mode == PREDICT:
            arch = self._predicted_proposal()
            if arch is not None:
                return arch
            self._switch("the predictor has nothing unseen left to propose")
        return self._ask_cold()

    def _range_turn(self) -> bool:
        """Whether this warm proposal is a random one: every other one after the first seeds,
        until ``n_range`` of them are in (they end before the ``n_check``-th proposal)."""
        first = self.n_check - 2 * self.n_range
        i = self._n_warm - max(first, 1)
        return i >= 0 and i % 2 == 0 and i // 2 < self.n_range

    def _warm_proposal(self) -> dict[str, Any] | None:
        self._get_model()
        if self._range_turn():
            return self.sample_unseen()
        key, seen = self.space.key, self.seen
        pool: dict[str, Mapping[str, Any]] = {}
        for a in self._ranked:  # the best past architectures not yet proposed
            if len(pool) >= self.n_seed:
                break
            k = key(a)
            if k not in seen:
                pool[k] = a
        parents = sorted(self._evals.values(), key=lambda e: -e[1])[: self.n_parents]
        for arch, _ in parents:
            for nb in self.space.neighbours(arch):
                k = key(nb)
                if k not in seen:
                    pool.setdefault(k, nb)
        if not pool:
            return None
        best = max(pool.items(), key=lambda kv: self._score(*kv))
        return dict(best[1])

    def _predicted_proposal(self) -> dict[str, Any] | None:
        """The unseen candidate the fine-tuned predictor ranks best (mean + half its spread)."""
        tp = self._get_predictor()
        if self._tp_fitted != len(self._evals):
            done = list(self._evals.values())
            tp.finetune([a for a, _ in done], [v for _, v in done])
            self._tp_fitted = len(self._evals)
        key, seen = self.space.key, self.seen
        pool: dict[str, Mapping[str, Any]] = {}
        for arch, _ in sorted(self._evals.values(), key=lambda e: -e[1])[:3]:
            for nb in self.space.neighbours(arch):
                pool.setdefault(key(nb), nb)
            for _ in range(10):  # two-step mutations reach past the neighbours
                m = self.space.mutate(self.space.mutate(arch, self.rng), self.rng)
                pool.setdefault(key(m), m)
        for _ in range(self.n_pool):
            a = self.space.sample(self.rng)
            pool.setdefault(key(a), a)
        cands = [(k, a) for k, a in pool.items() if k not in seen]
        if not cands:
            return None
        mu, sd = tp.predict([a for _, a in cands])
        i = int(np.argmax(mu + 0.5 * sd))
        self._pred[self.n_asked] = float(mu[i])
        return dict(cands[i][1])

    def _get_predictor(self) -> TransferPredictor:
        if self._tp is None:
            model = self._get_model()
            self._tp = TransferPredictor(self.space, model.priors, seed=self.seed)
            self._tp.pretrain(self.weights)
        return self._tp

    def _ask_cold(self) -> tuple[dict[str, Any], Budget | None, Mapping[str, Any]]:
        if self._cold is None:
            # the cold strategy's first samples are our results so far, best first (free repeats)
            done = sorted(self._evals.values(), key=lambda e: -e[1])
            seeded = SeededSpace(self.space, [a for a, _ in done])
            kwargs = dict(self.inner_kwargs)
            if self.inner == "reinforce" and self.warm_policy and "init_policy" not in kwargs:
                pol = self._policy()
                if pol is not None:
                    kwargs["init_policy"] = pol
            self._cold = get_strategy(self.inner, seeded, seed=self.seed, **kwargs)
        cand = self._cold.ask()
        self._of_inner[self.n_asked] = cand
        return dict(cand.arch), cand.budget, cand.info

    # ----------------------------------------------------------------- tell
    def _tell(self, candidate: Candidate, result: Result) -> None:
        inner_cand = self._of_inner.pop(candidate.id, None)
        if inner_cand is not None and self._cold is not None:
            self._cold.tell(inner_cand, result)
        if result.value is None:
            return
        v = float(result.value)
        old = self._evals.get(candidate.key)
        if old is None or v > old[1]:
            self._evals[candidate.key] = (dict(candidate.arch), v)
        if self.mode in (WARM, PREDICT):
            if v > self._best:
                self._best, self._since_best = v, 0
            else:
                self._since_best += 1
        if self.mode == WARM:
            self._judge()
        elif self.mode == PREDICT:
            p = self._pred.pop(candidate.id, None)
            if p is not None:
                self._pred_out.append((p, v))
            self._judge_predictor()

    def _judge(self) -> None:
        """Re-weight the past tasks by how well each predicts the new values; maybe let go."""
        if len(self._evals) < self.n_check:
            return
        keys = list(self._evals)
        y = np.array([self._evals[k][1] for k in keys])
        s = np.array([self._task_scores(k, self._evals[k][0]) for k in keys])  # (n, tasks)
        model = self._get_model()
        corr = np.array([spearman(s[:, t], y) for t in range(s.shape[1])])
        self.task_corr = corr
        self.weights = model.weights * np.clip(np.nan_to_num(corr, nan=0.0), 0.0, None)
        self.trust = spearman(s @ self.weights, y) if self.weights.sum() > 0 else float("nan")
        if not self.trust >= self._bar(len(keys)):  # nan (no usable task) counts as no trust
            self._switch(f"the past predicts the new values poorly (rank corr {self.trust:.2f})")
        elif self._since_best >= self.current_patience():
            self._end_warm(f"no improvement in {self.current_patience()} warm results")

    def _bar(self, n: int) -> float:
        """The correlation ``n`` results must show: ``min_corr``, or ``z_trust`` standard errors
        of a chance Spearman (``1 / sqrt(n - 1)``) where that is higher: six points of an
        unrelated task easily correlate 0.3 by chance, forty do not."""
        return max(self.min_corr, self.z_trust / np.sqrt(max(n - 1, 1)))

    def current_patience(self) -> int:
        """``patience``, or from the evidence: ``round(30 * trust)`` in [5, 30], at most a tenth
        of ``budget``: a strongly predictive past earns a longer climb, a short run a shorter."""
        if self.patience is not None:
            return self.patience
        t = self.trust if self.trust == self.trust else 0.0
        p = int(min(30, max(5, round(30 * t))))
        return p if self.budget is None else max(3, min(p, self.budget // 10))

    def _end_warm(self, reason: str) -> None:
        """The climb is over: on to the predictor if the past is trusted, else to the cold."""
        trusted = len(self._evals) >= self.n_check and self.trust >= self._bar(len(self._evals))
        if self.predictor and trusted and self.mode == WARM:
            self._cross_check()  # the predictor must rank the new results too, out of fold
            trusted = self.predict_trust >= self._bar(len(self._evals))
        else:
            trusted = False
        if trusted:
            self.mode = PREDICT
            self.predict_at = len(self._evals)
            self._since_best = 0
            self.handover = None
            self.warm_end = reason
            return
        self._switch(reason)

    def _cross_check(self) -> None:
        """``predict_trust``: rank correlation of the predictor's out-of-fold predictions with
        all new values (its own picks alone would have too narrow a range to judge it by)."""
        done = list(self._evals.values())
        oof = self._get_predictor().cross_predict([a for a, _ in done], [v for _, v in done])
        self.predict_trust = spearman(oof, [v for _, v in done])

    def _judge_predictor(self) -> None:
        """The predictor keeps control while it ranks the new task's results out of fold."""
        self._cross_check()
        if not self.predict_trust >= self._bar(len(self._evals)):
            self._switch(
                f"the predictor ranks the new values poorly (rank corr {self.predict_trust:.2f})"
            )
            return
        patience = max(3, self.current_patience() // 2)  # the climb has already stalled once
        if self._since_best >= patience:
            self._switch(f"no improvement in {patience} predicted results")

    def _policy(self) -> list[list[float]] | None:
        """A reinforce starting policy from the past tasks, only while they are trusted."""
        bar = self.min_corr if self.policy_bar == "min_corr" else self._bar(len(self._evals))
        if not self.trust >= bar:
            return None
        binning = {k: v for k, v in self.inner_kwargs.items() if k in ("n_bins", "bin_conditions")}
        return initial_policy(self.space, self._get_model().priors, self.weights, **binning)

    def _switch(self, reason: str) -> None:
        self.mode = COLD
        self.handover_at = len(self._evals)
        self.handover = reason


__all__ = ["SeededSpace", "WarmStart"]
