"""Small predictors for model-based strategies: a numpy MLP ensemble, a quadratic-kernel Gaussian
process (and its multi-fidelity form, :class:`RungGP`) and sklearn wrappers.

Every predictor answers ``fit(X, y)`` and ``predict(X) -> (mean, std)``; ``std`` is the spread of
an ensemble (or a GP posterior) and drives the acquisition. Pure numpy + scikit-learn, no torch.
"""

from __future__ import annotations

import contextlib
import functools
import weakref
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np
from scipy.linalg import solve_triangular

from metanas.types import UserInputError


class Predictor(Protocol):
    def fit(self, X: np.ndarray, y: np.ndarray) -> None: ...
    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@functools.cache
def _controller() -> Any:
    from threadpoolctl import ThreadpoolController  # ships with scikit-learn

    return ThreadpoolController()


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block's BLAS calls on one thread.

    The predictors' matrices are small: on a busy machine, multi-threaded BLAS spends ~20x more
    CPU spinning than computing (measured: an ensemble fit on 1,000 points, 0.6 s CPU on one
    thread against 15 s on two).
    """
    with _controller().limit(limits=1, user_api="blas"):
        yield


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
        with one_blas_thread():
            self._fit(X, y)

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        # all members train at once as stacked matrices: one numpy call per layer, not per net
        # float32: half the memory traffic of float64, and the fit needs no more precision
        X, y = np.asarray(X, np.float32), np.asarray(y, np.float32)
        M, d, h, rng = self.n_models, X.shape[1], self.hidden, self.rng
        f32 = np.float32
        params = [
            rng.normal(0, np.sqrt(2 / d), (M, d, h)).astype(f32),
            np.zeros((M, 1, h), f32),
            rng.normal(0, np.sqrt(2 / h), (M, h, h)).astype(f32),
            np.zeros((M, 1, h), f32),
            rng.normal(0, np.sqrt(1 / h), (M, h, 1)).astype(f32),
            np.zeros((M, 1, 1), f32),
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
            g = np.sign(out - yb) * f32(1 / n)
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
            step, sc2 = f32(self.lr / c1), f32(1 / c2)
            for i, (p, gr) in enumerate(zip(params, grads)):
                m[i] *= f32(0.9)
                m[i] += f32(0.1) * gr
                v[i] *= f32(0.999)
                v[i] += f32(0.001) * gr * gr
                p -= step * m[i] / (np.sqrt(v[i] * sc2) + f32(1e-8))
        self.params = params

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with one_blas_thread():
            return self._predict(X)

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        P = self._members(X)
        return P.mean(0), P.std(0)

    def predict_members(self, X: np.ndarray) -> np.ndarray:
        """Every member's prediction, shape ``(n_models, len(X))`` (for ensemble Thompson sampling)."""
        with one_blas_thread():
            return self._members(X)

    def _members(self, X: np.ndarray) -> np.ndarray:
        W1, b1, W2, b2, W3, b3 = self.params
        M, d, h = W1.shape
        # one 2-D product for the first layer of all members (the widest matrix by far)
        z = np.asarray(X, np.float32) @ W1.transpose(1, 0, 2).reshape(d, M * h)
        a = np.maximum(z.reshape(len(X), M, h).transpose(1, 0, 2) + b1, 0)
        a = np.maximum(a @ W2 + b2, 0)
        return (a @ W3 + b3)[:, :, 0]  # (M, N)


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


_LAST_SQUARED: tuple[Any, np.ndarray] | None = None  # (weak reference to X, its squares)
_LAST_LIN: tuple[Any, dict[bytes, np.ndarray]] | None = None  # (weak ref to a pool, its columns)


def _squared(X: np.ndarray) -> np.ndarray:
    """``X * X``, or ``X`` itself when every entry is 0 or 1 (one-hot decisions and path
    indicators: the squares change nothing, and a product with them repeats one already made).
    The answer for the last large read-only array is kept: a search predicts the same pool
    after every refit (read-only, so it cannot have changed since)."""
    global _LAST_SQUARED
    if _LAST_SQUARED is not None and _LAST_SQUARED[0]() is X:
        return _LAST_SQUARED[1]
    out = X if bool(np.all((X == 0) | (X == 1))) else X * X
    if X.size >= 100_000 and not X.flags.writeable:
        _LAST_SQUARED = (weakref.ref(X), out)
    return out


class QuadraticGP:
    """Bayesian regression on the features and all their pairwise products, in kernel form.

    The model of BOCS (Baptista and Poloczek 2018): a value is a sum of per-feature effects and
    of pairwise interactions, each with a Gaussian prior. On one-hot decisions that is "each
    choice adds something, and two choices together add something more", which few results can
    pin down. The kernel ``w1 x.x' + w2 sum_{i<j} x_i x_j x'_i x'_j + 1`` makes it a Gaussian
    process, so its cost grows with the results, not with the ~d^2 / 2 products. The weights and
    the noise are chosen by marginal likelihood over a small grid (targets are standardised).

    Its cost grows with the cube of the results, so past ``max_fit`` results it conditions on a
    subset: the best half of ``max_fit`` (the region an acquisition looks for) and a random draw
    of the rest (the landscape's shape); the grid is searched on ``max_select`` of those, picked
    alike. A 1,000-result refit then costs what a 400-result one does.
    """

    W1 = (0.03, 0.1, 0.3, 1.0)
    W2 = (0.0, 0.01, 0.03, 0.1, 0.3)
    NOISE = (0.01, 0.1, 0.3, 1.0)

    def __init__(self, seed: int = 0, max_fit: int = 400, max_select: int = 200) -> None:
        if not 2 <= max_select <= max_fit:
            raise UserInputError(
                f"the quadratic predictor needs 2 <= max_select <= max_fit, got {max_select} and "
                f"{max_fit}; raise max_fit or lower max_select."
            )
        self.rng = np.random.default_rng(seed)
        self.max_fit, self.max_select = max_fit, max_select

    def _subset(self, y: np.ndarray, k: int) -> np.ndarray:
        """Indices of at most ``k`` results: the best ``k // 2`` and a random draw of the rest."""
        if len(y) <= k:
            return np.arange(len(y))
        order = np.argsort(-y, kind="stable")
        rest = self.rng.choice(order[k // 2 :], size=k - k // 2, replace=False)
        return np.concatenate([order[: k // 2], np.sort(rest)])

    @staticmethod
    def _pairs(A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``x.x'`` and the sum over pairs i < j of ``x_i x_j x'_i x'_j``, without forming the
        products: what the kernel needs of two sets of inputs, whatever its weights."""
        lin = A @ B.T
        A2, B2 = _squared(A), _squared(B)
        quad = lin if A2 is A and B2 is B else A2 @ B2.T
        return lin, (lin**2 - quad) / 2

    @staticmethod
    def _k(A: np.ndarray, B: np.ndarray, w1: float, w2: float) -> np.ndarray:
        lin, pairs = QuadraticGP._pairs(A, B)
        return w1 * lin + w2 * pairs + 1.0

    def fit(self, X: np.ndarray, y: np.ndarray) -> None:
        with one_blas_thread():
            self._fit(X, y)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with one_blas_thread():
            return self._predict(X)

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        keep = self._subset(y, self.max_fit)
        X, y = X[keep], y[keep]
        sel = self._subset(y, self.max_select)
        self.params, self.s2 = self._select(X[sel], y[sel])
        self.w1, self.w2 = self.params[:2]
        self.X = X
        noise = self.s2 * self._noise_scale(X, self.params)
        L = np.linalg.cholesky(self._kern(X, X, self.params) + np.diag(noise))
        # the inverse factor once, so a prediction over a whole pool is two matrix products
        self.L_inv = solve_triangular(L, np.eye(len(y)), lower=True)
        self.alpha = self.L_inv.T @ (self.L_inv @ y)

    def _select(self, Xs: np.ndarray, ys: np.ndarray) -> tuple[tuple[float, ...], float]:
        """The kernel parameters and noise of highest marginal likelihood on the grid."""
        _, p, s2 = self._best(Xs, ys, [(w1, w2) for w1 in self.W1 for w2 in self.W2])
        return p, s2

    def _best(
        self, Xs: np.ndarray, ys: np.ndarray, grid: Sequence[tuple[float, ...]]
    ) -> tuple[float, tuple[float, ...], float]:
        """(log marginal likelihood, kernel parameters, noise) of the best on ``grid``."""
        best = (-np.inf, grid[0], self.NOISE[0])
        products = self._products(Xs, Xs)  # the same at every point of the grid
        noise = np.array(self.NOISE)[:, None]
        for p in grid:
            # with the noise s2 * d (d per result), K + s2 D = D^1/2 (D^-1/2 K D^-1/2 + s2) D^1/2:
            # one eigendecomposition serves every noise level
            d = self._noise_scale(Xs, p)
            w = 1 / np.sqrt(d)
            lam, Q = np.linalg.eigh(self._combine(products, p) * np.outer(w, w))
            r2 = (Q.T @ (ys * w)) ** 2
            ev = np.maximum(lam, 0.0) + noise  # one row per noise level
            lls = -0.5 * (r2 / ev).sum(1) - 0.5 * np.log(ev).sum(1) - 0.5 * np.log(d).sum()
            for s2, ll in zip(self.NOISE, lls):
                if ll > best[0]:
                    best = (float(ll), p, s2)
        return best

    def _noise_scale(self, X: np.ndarray, p: tuple[float, ...]) -> np.ndarray:
        """Each result's noise variance relative to ``s2`` (here the same for all)."""
        return np.ones(len(X))

    def _kern(self, A: np.ndarray, B: np.ndarray, p: tuple[float, ...]) -> np.ndarray:
        return self._combine(self._products(A, B), p)

    def _products(self, A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, ...]:
        """The kernel's matrices that do not depend on its parameters."""
        return self._feature_products(A, B, A)

    def _feature_products(
        self, A: np.ndarray, B: np.ndarray, owner: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_pairs` of ``A`` and ``B``, from cached columns when ``A`` is (a slice of) a
        large read-only pool ``owner``."""
        if (
            owner.size >= 100_000
            and not owner.flags.writeable
            and _squared(A) is A
            and _squared(B) is B
        ):
            lin = self._pool_lin(A, B, owner)
            return lin, (lin**2 - lin) / 2
        return self._pairs(A, B)

    @staticmethod
    def _pool_lin(A: np.ndarray, B: np.ndarray, owner: np.ndarray) -> np.ndarray:
        """``A @ B.T`` for a large read-only pool ``A`` of 0/1 features, one cached column per
        row of ``B``. A search predicts the same pool after every refit (each a new model), on
        mostly the last fit's results; with 0/1 features each entry is an exact count, so a
        cached column equals a fresh one bit for bit."""
        global _LAST_LIN
        old = _LAST_LIN[1] if _LAST_LIN is not None and _LAST_LIN[0]() is owner else {}
        rows = [b.tobytes() for b in B]
        lin = np.empty((len(A), len(B)))
        todo = [j for j, r in enumerate(rows) if r not in old]
        if todo:
            lin[:, todo] = A @ B[todo].T
        for j, r in enumerate(rows):
            if r in old:
                lin[:, j] = old[r]
        lin.flags.writeable = False
        _LAST_LIN = (weakref.ref(owner), {r: lin[:, j] for j, r in enumerate(rows)})
        return lin

    def _combine(self, products: tuple[np.ndarray, ...], p: tuple[float, ...]) -> np.ndarray:
        lin, pairs = products[:2]
        return p[0] * lin + p[1] * pairs + 1.0

    def _prior(self, X: np.ndarray, p: tuple[float, ...]) -> np.ndarray:
        """The kernel's diagonal ``k(x, x)``, without forming the matrix."""
        X2 = _squared(X)  # squared, not X ** 4: float powers are ~10x slower on a large pool
        sq = X2.sum(1)
        return p[0] * sq + p[1] * (sq**2 - (sq if X2 is X else (X2 * X2).sum(1))) / 2 + 1.0

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Ks = self._kern(X, self.X, self.params)
        v = Ks @ self.L_inv.T
        var = self._prior(X, self.params) - (v * v).sum(1)
        return Ks @ self.alpha, np.sqrt(np.maximum(var, 0.0))

    def posterior(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The posterior mean and full covariance (noise-free) of a few points."""
        with one_blas_thread():
            Ks = self._kern(X, self.X, self.params)
            V = Ks @ self.L_inv.T
            return Ks @ self.alpha, self._kern(X, X, self.params) - V @ V.T


class RungGP(QuadraticGP):
    """The quadratic process over (architecture, rung) of a multi-fidelity search.

    The inputs' last column is the rung's index; the kernel multiplies the quadratic kernel of
    the features by ``rho ** |r - r'|``: every rung sees the same kind of function, and results
    ``k`` rungs apart correlate by ``rho ** k`` (an intrinsic coregionalisation model with one
    parameter). Each rung below the highest one in the data multiplies the noise by ``kappa``:
    a short training run may be a noisier measurement. Both are chosen by marginal likelihood
    like the other weights, so the model learns how far a cheap rung's ranking carries to the
    top one (on NAS-Bench-101's 4 / 12 / 36 / 108 epochs the rank correlations with 108 are
    0.45 / 0.62 / 0.88). The weights are searched at ``rho`` 0.8 and ``kappa`` 1 (or the last
    fit's, when one model is refitted), then those two at the weights found.
    """

    RHO = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0)
    KAPPA = (1.0, 2.0, 4.0)

    def __init__(self, seed: int = 0, max_fit: int = 400, max_select: int = 200) -> None:
        super().__init__(seed, max_fit, max_select)
        self.rho, self.kappa, self.top_rung = 0.8, 1.0, 0

    def _products(self, A: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, ...]:
        lag = np.abs(A[:, -1:] - B[:, -1][None, :])
        return (*self._feature_products(A[:, :-1], B[:, :-1], A), lag)

    def _combine(self, products: tuple[np.ndarray, ...], p: tuple[float, ...]) -> np.ndarray:
        return super()._combine(products, p) * p[2] ** products[2]

    def _prior(self, X: np.ndarray, p: tuple[float, ...]) -> np.ndarray:
        return super()._prior(X[:, :-1], p)

    def _noise_scale(self, X: np.ndarray, p: tuple[float, ...]) -> np.ndarray:
        return np.asarray(p[3] ** (self.top_rung - X[:, -1]), dtype=np.float64)

    def noise(self, rung: int) -> float:
        """The fitted noise variance of a result at ``rung`` (above the data's highest rung:
        that rung's)."""
        return float(self.s2 * self.kappa ** max(self.top_rung - rung, 0))

    def _fit(self, X: np.ndarray, y: np.ndarray) -> None:
        self.top_rung = int(X[:, -1].max())
        super()._fit(X, y)

    def _select(self, Xs: np.ndarray, ys: np.ndarray) -> tuple[tuple[float, ...], float]:
        grid = [(w1, w2, self.rho, self.kappa) for w1 in self.W1 for w2 in self.W2]
        _, (w1, w2, _, _), _ = self._best(Xs, ys, grid)
        grid = [(w1, w2, rho, kappa) for rho in self.RHO for kappa in self.KAPPA]
        _, p, s2 = self._best(Xs, ys, grid)
        self.rho, self.kappa = p[2], p[3]
        return p, s2


PREDICTORS = ("mlp", "quadratic", "rf", "gb", "gp")


def make_predictor(
    name: str, seed: int, n_models: int = 5, epochs: int = 100, hidden: int = 32
) -> Predictor:
    if name == "mlp":
        return MLPEnsemble(seed, n_models=n_models, epochs=epochs, hidden=hidden)
    if name == "quadratic":
        return QuadraticGP(seed)
    if name in ("rf", "gb", "gp"):
        return SklearnEnsemble(name, seed, n_models=n_models)
    raise UserInputError(f"unknown predictor {name!r}; use one of {', '.join(PREDICTORS)}.")
