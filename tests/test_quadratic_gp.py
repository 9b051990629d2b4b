"""The quadratic-kernel Gaussian process behind ``bananas(predictor="quadratic")``."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from metanas.strategies._surrogates import QuadraticGP


def one_hot(codes: np.ndarray, k: int) -> np.ndarray:
    return np.eye(k)[codes].reshape(len(codes), -1)


def test_kernel_is_the_inner_product_of_features_and_their_pairwise_products():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(4, 5)), rng.normal(size=(3, 5))
    i, j = np.triu_indices(5, 1)

    def phi(X: np.ndarray, w1: float, w2: float) -> np.ndarray:
        return np.hstack([np.sqrt(w1) * X, np.sqrt(w2) * X[:, i] * X[:, j], np.ones((len(X), 1))])

    assert np.allclose(QuadraticGP._k(A, B, 0.3, 0.1), phi(A, 0.3, 0.1) @ phi(B, 0.3, 0.1).T)


def test_learns_choice_effects_and_their_interactions_from_few_results():
    # six decisions of five choices, a value with per-choice effects and pairwise interactions:
    # the model's form, which an additive fit alone cannot capture
    rng = np.random.default_rng(1)
    codes = rng.integers(5, size=(400, 6))
    X = one_hot(codes, 5)
    main = rng.normal(size=30)
    inter = rng.normal(size=(30, 30))
    y = X @ main + np.einsum("ni,ij,nj->n", X, np.triu(inter, 1), X)
    y = (y - y.mean()) / y.std()
    gp = QuadraticGP()
    gp.fit(X[:120], y[:120])
    mu, sd = gp.predict(X[120:])
    assert spearmanr(mu, y[120:])[0] > 0.7
    # an additive fit on the same results (a ridge on the one-hot columns) does worse
    lin = np.linalg.solve(X[:120].T @ X[:120] + np.eye(30), X[:120].T @ y[:120])
    assert spearmanr(mu, y[120:])[0] > spearmanr(X[120:] @ lin, y[120:])[0] + 0.1
    # uncertain away from the data, sure at it
    _, sd_seen = gp.predict(X[:120])
    assert sd_seen.mean() < sd.mean()
    assert gp.predict(X[:1])[0].shape == (1,) and np.all(sd >= 0)
