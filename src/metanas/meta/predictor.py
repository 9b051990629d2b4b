"""A performance predictor pretrained across past tasks and fine-tuned on the new one.

:class:`TransferPredictor` is a small numpy MLP ensemble on ``space.features``. Pretraining sees
every past task's (architecture, value) pairs with values standardised per task (tasks measure
on different scales) and each task weighted by its similarity weight. Fine-tuning starts from
the pretrained weights and trains on the new task's results (standardised on their own), with an
L2 pull towards the pretrained weights so that a handful of new points adjusts the past's
picture rather than replacing it. Members differ by initialisation and bootstrap resamples; the
spread of their predictions is the uncertainty.

Example:
    >>> from metanas.space import Space, IntRange
    >>> from metanas.meta.prior import Prior
    >>> space = Space([IntRange("w", 1, 40)])
    >>> past = Prior("old", [{"w": i} for i in range(1, 41)], [-abs(i - 30) for i in range(1, 41)])
    >>> tp = TransferPredictor(space, [past], seed=0)
    >>> mu, _ = tp.predict([{"w": 30}, {"w": 2}])
    >>> bool(mu[0] > mu[1])
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from metanas.meta.prior import Prior, as_prior
from metanas.space.base import Space
from metanas.strategies._surrogates import one_blas_thread
from metanas.types import UserInputError

Params = list[np.ndarray]


def _standardise(v: np.ndarray) -> np.ndarray:
    sd = v.std()
    return (v - v.mean()) / (sd if sd > 0 else 1.0)


class _Ensemble:
    """``M`` two-layer tanh nets trained at once (stacked matrices) by full-batch Adam on a
    weighted squared error, optionally from given weights and pulled towards ``anchor``."""

    def __init__(self, n_models: int, hidden: int, rng: np.random.Generator) -> None:
        self.M, self.h, self.rng = n_models, hidden, rng

    def init(self, d: int) -> Params:
        M, h, rng = self.M, self.h, self.rng
        return [
            rng.normal(0, np.sqrt(1 / d), (M, d, h)),
            np.zeros((M, 1, h)),
            rng.normal(0, np.sqrt(1 / h), (M, h, 1)),
            np.zeros((M, 1, 1)),
        ]

    def train(
        self,
        params: Params,
        X: np.ndarray,
        y: np.ndarray,
        w: np.ndarray,
        epochs: int,
        lr: float,
        anchor: Params | None = None,
        pull: float = 0.0,
        wd: float = 1e-4,
    ) -> Params:
        params = [p.copy() for p in params]
        idx = self.rng.integers(len(X), size=(self.M, len(X)))  # a bootstrap per member
        Xb, yb = X[idx], y[idx][:, :, None]
        wb = w[idx][:, :, None]
        wb = wb / wb.sum(axis=1, keepdims=True)
        XbT = Xb.transpose(0, 2, 1)
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        for t in range(1, epochs + 1):
            W1, b1, W2, b2 = params
            a1 = np.tanh(Xb @ W1 + b1)
            out = a1 @ W2 + b2
            g = 2 * wb * (out - yb)
            g1 = (g @ W2.transpose(0, 2, 1)) * (1 - a1 * a1)
            grads = [XbT @ g1 + wd * W1, g1.sum(1, keepdims=True)]
            grads += [a1.transpose(0, 2, 1) @ g + wd * W2, g.sum(1, keepdims=True)]
            if anchor is not None and pull > 0:
                grads = [gr + pull * (p - a) for gr, p, a in zip(grads, params, anchor)]
            c1, c2 = 1 - 0.9**t, 1 - 0.999**t
            for i, (p, gr) in enumerate(zip(params, grads)):
                m[i] = 0.9 * m[i] + 0.1 * gr
                v[i] = 0.999 * v[i] + 0.001 * gr * gr
                p -= lr * (m[i] / c1) / (np.sqrt(v[i] / c2) + 1e-8)
        return params

    @staticmethod
    def predict(params: Params, X: np.ndarray) -> np.ndarray:
        W1, b1, W2, b2 = params
        return (np.tanh(X[None] @ W1 + b1) @ W2 + b2)[:, :, 0]  # (M, N)


class TransferPredictor:
    """Predicts a new task's standardised values from past tasks, then from its own results.

    Args:
        priors: past tasks (their weights weigh them in pretraining; empty or zero-weight ones
            are left out). Without any, the predictor learns from the new results alone.
        pre_epochs / ft_epochs: full-batch Adam steps of pretraining / of each fine-tuning.
        pull: strength of the L2 pull towards the pretrained weights while fine-tuning.
    """

    def __init__(
        self,
        space: Space,
        priors: Sequence[Prior | Mapping[str, Any]],
        seed: int | None = 0,
        n_models: int = 5,
        hidden: int = 32,
        pre_epochs: int = 300,
        ft_epochs: int = 60,
        lr: float = 0.02,
        pull: float = 0.05,
    ) -> None:
        if n_models < 1 or hidden < 1 or pre_epochs < 0 or ft_epochs < 0:
            raise UserInputError("TransferPredictor needs positive sizes and epochs >= 0.")
        self.space, self.seed = space, seed
        self.priors = [as_prior(p) for p in priors]
        self.pre_epochs, self.ft_epochs, self.lr, self.pull = pre_epochs, ft_epochs, lr, pull
        self._net = _Ensemble(n_models, hidden, np.random.default_rng(seed))
        self._pre: Params | None = None
        self._params: Params | None = None
        self.n_past = 0
        self.n_new = 0
        self._done = False  # pretrained yet (lazily, with the priors' own weights)

    def _x(self, archs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return np.array([self.space.features(a) for a in archs], dtype=float).reshape(
            len(archs), self.space.n_features
        )

    def pretrain(self, weights: Sequence[float] | np.ndarray | None = None) -> TransferPredictor:
        """Fit on the past tasks (``weights`` overrides the priors' own, e.g. trust-adjusted)."""
        ws = [p.weight for p in self.priors] if weights is None else list(weights)
        xs, ys, wts = [], [], []
        for p, wt in zip(self.priors, ws):
            ok = [(a, v) for a, v in zip(p.archs, p.values) if _fits(self.space, a)]
            if not (wt > 0) or len(ok) < 2:
                continue
            xs.append(self._x([self.space.validate(a) for a, _ in ok]))
            ys.append(_standardise(np.array([v for _, v in ok], dtype=float)))
            wts.append(
                np.full(len(ok), wt / len(ok))
            )  # a task weighs its weight, whatever its size
        self._pre, self.n_past = None, 0
        if xs and self.pre_epochs > 0:
            X, y, w = np.concatenate(xs), np.concatenate(ys), np.concatenate(wts)
            with one_blas_thread():
                init = self._net.init(X.shape[1])
                self._pre = self._net.train(init, X, y, w, self.pre_epochs, self.lr)
            self.n_past = len(y)
        self._params = self._pre
        self._done = True
        return self

    @property
    def pretrained(self) -> bool:
        """Whether any past task contributed (after pretraining)."""
        return self._pre is not None

    def finetune(self, archs: Sequence[Mapping[str, Any]], values: Sequence[float]) -> None:
        """Re-fit from the pretrained weights on the new task's results so far."""
        if not self._done:
            self.pretrain()
        if len(archs) < 2:
            return
        X = self._x(archs)
        y = _standardise(np.asarray(values, dtype=float))
        start = self._pre if self._pre is not None else self._net.init(X.shape[1])
        epochs = self.ft_epochs if self._pre is not None else max(self.ft_epochs, self.pre_epochs)
        with one_blas_thread():
            self._params = self._net.train(
                start, X, y, np.ones(len(y)), epochs, self.lr, anchor=self._pre, pull=self.pull
            )
        self.n_new = len(y)

    def cross_predict(
        self, archs: Sequence[Mapping[str, Any]], values: Sequence[float], k: int = 5
    ) -> np.ndarray:
        """Out-of-fold predictions: each result predicted by a fine-tuning that did not see it
        (``k`` folds by position). How well they rank ``values`` is the predictor's trust on the
        new task, measured on everything evaluated, not only on what it chose."""
        if not self._done:
            self.pretrain()
        n = len(archs)
        out = np.zeros(n)
        saved = self._params
        for f in range(min(k, n)):
            test = list(range(f, n, k))
            train = [i for i in range(n) if i % k != f]
            self.finetune([archs[i] for i in train], [values[i] for i in train])
            out[test] = self.predict([archs[i] for i in test])[0]
        self._params = saved
        return out

    def predict(self, archs: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """Mean and spread of the members' predictions (standardised units); zeros untrained."""
        if not self._done:
            self.pretrain()
        if self._params is None or not len(archs):
            return np.zeros(len(archs)), np.zeros(len(archs))
        with one_blas_thread():
            P = _Ensemble.predict(self._params, self._x(archs))
        return P.mean(0), P.std(0)


def _fits(space: Space, arch: Mapping[str, Any]) -> bool:
    try:
        space.validate(arch)
        return True
    except (UserInputError, KeyError, TypeError, ValueError):
        return False


__all__ = ["TransferPredictor"]
