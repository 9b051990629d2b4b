"""The quadratic-kernel Gaussian process behind ``bananas(predictor="quadratic")``."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from metanas.strategies import _surrogates
from metanas.strategies._surrogates import QuadraticGP
from metanas.types import UserInputError


def one_hot(codes: np.ndarray, k: int) -> np.ndarray:
    return np.eye(k)[codes].reshape(len(codes), -1)


def test_kernel_is_the_inner_product_of_features_and_their_pairwise_products():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(4, 5)), rng.normal(size=(3, 5))
    i, j = np.triu_indices(5, 1)

    def phi(X: np.ndarray, w1: float, w2: float) -> np.ndarray:
        return np.hstack([np.sqrt(w1) * X, np.sqrt(w2) * X[:, i] * X[:, j], np.ones((len(X), 1))])

    assert np.allclose(QuadraticGP._k(A, B, 0.3, 0.1), phi(A, 0.3, 0.1) @ phi(B, 0.3, 0.1).T)
    # 0/1 features take a shorter path (their squares are themselves); a large read-only pool's
    # answer is kept, a writable one is checked afresh after every change
    for n, d in ((4, 5), (500, 30)):
        i, j = np.triu_indices(d, 1)
        X, Y = rng.integers(2, size=(n, d)) * 1.0, rng.integers(2, size=(3, d)) * 1.0
        for B in (Y, rng.normal(size=(3, d))):
            assert np.allclose(
                QuadraticGP._k(X, B, 0.3, 0.1), phi(X, 0.3, 0.1) @ phi(B, 0.3, 0.1).T
            )
        X.flags.writeable = False
        gp = QuadraticGP()
        assert np.allclose(gp._prior(X, (0.3, 0.1)), np.diag(QuadraticGP._k(X, X, 0.3, 0.1)))
    pool = rng.integers(2, size=(4000, 30)) * 1.0
    QuadraticGP._k(pool, Y, 0.3, 0.1)
    pool[0, 0] = 0.5  # writable: no stale answer
    assert np.allclose(QuadraticGP._k(pool, Y, 0.3, 0.1), phi(pool, 0.3, 0.1) @ phi(Y, 0.3, 0.1).T)
    frozen = rng.integers(2, size=(4000, 30)) * 1.0
    frozen.flags.writeable = False
    assert np.allclose(
        QuadraticGP._k(frozen, Y, 0.3, 0.1), phi(frozen, 0.3, 0.1) @ phi(Y, 0.3, 0.1).T
    )
    assert np.allclose(
        QuadraticGP._k(frozen, Y, 0.3, 0.1), phi(frozen, 0.3, 0.1) @ phi(Y, 0.3, 0.1).T
    )


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


def test_posterior_matches_the_direct_formula():
    rng = np.random.default_rng(2)
    X, y, P = rng.normal(size=(30, 4)), rng.normal(size=30), rng.normal(size=(7, 4))
    gp = QuadraticGP()
    gp.fit(X, y)
    K = QuadraticGP._k(X, X, gp.w1, gp.w2)
    s2 = gp.s2
    Ks = QuadraticGP._k(P, X, gp.w1, gp.w2)
    inv = np.linalg.inv(K + s2 * np.eye(30))
    mu, sd = gp.predict(P)
    assert np.allclose(mu, Ks @ inv @ y)
    prior = np.diag(QuadraticGP._k(P, P, gp.w1, gp.w2))
    assert np.allclose(sd**2, prior - np.einsum("ij,jk,ik->i", Ks, inv, Ks))


def test_many_results_fit_a_capped_subset_that_keeps_the_best():
    rng = np.random.default_rng(3)
    X = (rng.random((1000, 12)) < 0.3).astype(float)
    y = X @ rng.normal(size=12) + 0.1 * rng.normal(size=1000)
    gp = QuadraticGP(seed=0, max_fit=100, max_select=40)
    gp.fit(X, y)
    assert len(gp.X) == 100
    # the 50 best results are all kept; the other 50 are a draw of the rest
    best = X[np.argsort(-y)[:50]]
    assert all((row == gp.X).all(1).any() for row in best)
    # still a model of the whole landscape, not only of its top
    assert spearmanr(gp.predict(X)[0], y)[0] > 0.9


def test_rejects_a_cap_smaller_than_the_selection():
    with pytest.raises(UserInputError, match="max_select <= max_fit"):
        QuadraticGP(max_fit=50, max_select=100)


def _two_rungs(noise_share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """60 one-hot architectures at a cheap rung (0) and at the top rung (1); the cheap rung's
    value is the top one's mixed with ``noise_share`` of independent noise."""
    rng = np.random.default_rng(seed)
    X = one_hot(rng.integers(4, size=(60, 5)), 4)
    top = X @ rng.normal(size=20)
    cheap = (1 - noise_share) * top + noise_share * rng.normal(size=60) * top.std()
    z = [(v - v.mean()) / v.std() for v in (cheap, top)]
    rows = np.vstack([np.hstack([X, np.full((60, 1), r)]) for r in (0, 1)])
    return rows, np.concatenate(z)


def test_rung_process_learns_how_far_a_cheap_rung_carries():
    from metanas.strategies._surrogates import RungGP

    informative, useless = [], []
    for seed in range(5):
        for share, out in ((0.0, informative), (1.0, useless)):
            gp = RungGP(seed)
            gp.fit(*_two_rungs(share, seed))
            out.append(gp.rho)
    # a copy of the top rung correlates fully; pure noise is the lowest correlation offered
    assert min(informative) >= 0.9 and max(useless) <= 0.5, (informative, useless)
    # the kernel is the quadratic one times rho ** (rung distance); the prior ignores the rung
    A = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 2.0]])
    p = (0.3, 0.1, 0.5)
    assert np.allclose(
        RungGP()._kern(A, A, p),
        QuadraticGP._k(A[:, :2], A[:, :2], 0.3, 0.1) * [[1, 0.25], [0.25, 1]],
    )
    assert np.allclose(RungGP()._prior(A, p), np.diag(RungGP()._kern(A, A, p)))


def test_a_read_only_pool_is_predicted_from_cached_columns_exactly_as_afresh():
    """Refits predict the same large read-only pool; its products with the results are kept
    per result, and the predictions equal those of a writeable copy (computed anew) bit for bit."""
    rng = np.random.default_rng(0)
    pool = (rng.random((2000, 60)) < 0.2).astype(float)
    pool.flags.writeable = False
    fresh = pool.copy()
    X = pool[rng.choice(len(pool), 40, replace=False)]
    y = X[:, :5].sum(1) + rng.normal(0, 0.1, len(X))
    for n in (20, 30, 40):  # each fit holds the last one's results and more
        gp = QuadraticGP(seed=0)
        gp.fit(X[:n], y[:n])
        cached, again = gp.predict(pool), gp.predict(fresh)
        assert np.array_equal(cached[0], again[0]) and np.array_equal(cached[1], again[1])
    assert _surrogates._LAST_LIN is not None and _surrogates._LAST_LIN[0]() is pool
