"""Small predictors for model-based strategies: a numpy MLP ensemble and sklearn wrappers.

Every predictor answers ``fit(X, y)`` and ``predict(X) -> (mean, std)``; ``std`` is the spread of
an ensemble (or a GP posterior) and drives the acquisition. Pure numpy + scikit-learn, no torch.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from metanas.types import UserInputError


class Predictor(Protocol):
    def fit(self, X: np.ndarray, y: np.ndarray) -> None: ...
    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class MLPEnsemble:
    """``n_models`` two-layer ReLU nets trained by full-batch Adam on mean absolute error.

    MAE (as in BANANAS) keeps the few very bad architectures from dominating the fit. Members differ
    by initialisation and by a bootstrap resample of the data.
    """

    def __init__(
        self,
        seed: int,
        n_models: int = 5,
        hidden: int = 32,
        epochs: int = 150,
        lr: float = 0.01,
        weight_decay: float = 1e-4,
    ) -> None:
        self.rng = np.random.default_rng(seed)
        self.n_models, self.hidden, self.epochs = n_models, hidden, epochs
        self.lr, self.wd = lr, weight_decay
        self.params: list[np.ndarray] = []

    def fit(self, X: np.ndarray, y: np.ndarray) -> None:
        # all members train at once as stacked matrices: one numpy call per layer, not per net
        M, d, h, rng = self.n_models, X.shape[1], self.hidden, self.rng
        params = [
            rng.normal(0, np.sqrt(2 / d), (M, d, h)),
            np.zeros((M, 1, h)),
            rng.normal(0, np.sqrt(2 / h), (M, h, h)),
            np.zeros((M, 1, h)),
            rng.normal(0, np.sqrt(1 / h), (M, h, 1)),
            np.zeros((M, 1, 1)),
        ]
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        idx = rng.integers(len(X), size=(M, len(X)))  # a bootstrap resample per member
        Xb, yb = X[idx], y[idx][:, :, None]  # (M, N, d), (M, N, 1)
        XbT = Xb.transpose(0, 2, 1)
        n = Xb.shape[1]
        for t in range(1, self.epochs + 1):
            W1, b1, W2, b2, W3, b3 = params
            z1 = Xb @ W1 + b1  # (M, N, h)
            a1 = np.maximum(z1, 0)
            z2 = a1 @ W2 + b2
            a2 = np.maximum(z2, 0)
            out = a2 @ W3 + b3  # (M, N, 1)
            g = np.sign(out - yb) / n
            g2 = (g @ W3.transpose(0, 2, 1)) * (z2 > 0)
            g1 = (g2 @ W2.transpose(0, 2, 1)) * (z1 > 0)
            grads = [
                XbT @ g1 + self.wd * W1,
                g1.sum(1, keepdims=True),
                a1.transpose(0, 2, 1) @ g2 + self.wd * W2,
                g2.sum(1, keepdims=True),
                a2.transpose(0, 2, 1) @ g + self.wd * W3,
                g.sum(1, keepdims=True),
            ]
            c1, c2 = 1 - 0.9**t, 1 - 0.999**t
            for i, (p, gr) in enumerate(zip(params, grads)):
                m[i] = 0.9 * m[i] + 0.1 * gr
                v[i] = 0.999 * v[i] + 0.001 * gr * gr
                p -= self.lr * (m[i] / c1) / (np.sqrt(v[i] / c2) + 1e-8)
        self.params = params

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        W1, b1, W2, b2, W3, b3 = self.params
        a = np.maximum(X[None] @ W1 + b1, 0)
        a = np.maximum(a @ W2 + b2, 0)
        P = (a @ W3 + b3)[:, :, 0]  # (M, N)
        return P.mean(0), P.std(0)


class SklearnEnsemble:
    """Random forest / gradient boosting (ensemble of seeds) / GP behind the same interface."""

    def __init__(self, kind: str, seed: int, n_models: int = 5) -> None:
        self.kind, self.seed, self.n_models = kind, seed, n_models
        self.models: list = []

    def fit(self, X: np.ndarray, y: np.ndarray) -> None:
        # imported here: sklearn is heavy and only these predictors need it
        if self.kind == "rf":
            from sklearn.ensemble import RandomForestRegressor

            self.models = [
                RandomForestRegressor(
                    n_estimators=100, min_samples_leaf=1, max_features=0.5, random_state=self.seed
                ).fit(X, y)
            ]
        elif self.kind == "gb":
            from sklearn.ensemble import GradientBoostingRegressor

            self.models = [
                GradientBoostingRegressor(
                    n_estimators=100,
                    max_depth=3,
                    subsample=0.8,
                    learning_rate=0.1,
                    random_state=self.seed + i,
                ).fit(X, y)
                for i in range(self.n_models)
            ]
        elif self.kind == "gp":
            from sklearn.gaussian_process import GaussianProcessRegressor
            from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

            k = ConstantKernel(1.0) * RBF(length_scale=3.0) + WhiteKernel(0.05, (1e-8, 1.0))
            self.models = [
                GaussianProcessRegressor(k, normalize_y=True, random_state=self.seed).fit(X, y)
            ]
        else:  # pragma: no cover - guarded by make_predictor
            raise AssertionError(self.kind)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == "rf":
            rf = self.models[0]
            P = np.stack([t.predict(X) for t in rf.estimators_])
            return P.mean(0), P.std(0)
        if self.kind == "gp":
            mu, sd = self.models[0].predict(X, return_std=True)
            return mu, sd
        P = np.stack([m.predict(X) for m in self.models])
        return P.mean(0), P.std(0)


PREDICTORS = ("mlp", "rf", "gb", "gp")


def make_predictor(name: str, seed: int, n_models: int = 5, epochs: int = 100) -> Predictor:
    if name == "mlp":
        return MLPEnsemble(seed, n_models=n_models, epochs=epochs)
    if name in ("rf", "gb", "gp"):
        return SklearnEnsemble(name, seed, n_models=n_models)
    raise UserInputError(f"unknown predictor {name!r}; use one of {', '.join(PREDICTORS)}.")
