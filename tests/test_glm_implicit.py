"""Derivatives of glm's solutions (implicit differentiation), against closed forms and
finite differences.

Every test compiles the engine again under a new transformation (jvp, vjp, vmap, scan):
the lasso's closed forms run in ``make test``, the rest in ``make test-slow`` (CI runs both).
"""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradopt
from gradopt import datafits, prox

from _fd import central_difference

implicit = importlib.import_module("gradopt.solve.implicit")

RNG = np.random.RandomState(0)
N, P = 30, 8
X = jnp.asarray(RNG.randn(N, P))
Y = jnp.asarray(RNG.randn(N))
ALPHA = 0.3 * float(jnp.abs(X.T @ Y).max()) / N  # 0.3 alpha_max: a strict support


def lasso(X, y, a, **kw):
    return gradopt.glm(X, y, datafits.quadratic(), prox.l1(a), tol=1e-14, **kw).coef


def _support_system():
    w = np.asarray(lasso(X, Y, ALPHA))
    S = np.flatnonzero(np.abs(w) > 1e-10)
    assert 0 < S.size < P
    XS = np.asarray(X)[:, S]
    return w, S, XS, XS.T @ XS


def test_lasso_support_closed_forms_forward_and_reverse():
    w, S, XS, G = _support_system()
    ref_a = np.zeros(P)
    ref_a[S] = -N * np.linalg.solve(G, np.sign(w[S]))  # dw_S/dalpha = -n (X_S'X_S)^-1 sign(w_S)
    ref_y = np.zeros((P, N))
    ref_y[S] = np.linalg.solve(G, XS.T)  # dw_S/dy = (X_S'X_S)^-1 X_S', 0 off the support
    np.testing.assert_allclose(jax.jacfwd(lambda a: lasso(X, Y, a))(ALPHA), ref_a, atol=1e-10)
    np.testing.assert_allclose(jax.jacrev(lambda y: lasso(X, y, ALPHA))(Y), ref_y, atol=1e-10)
    # the optimal value's derivative is the envelope theorem's: dP*/dalpha = ||w*||_1
    obj = lambda a: gradopt.glm(X, Y, datafits.quadratic(), prox.l1(a), tol=1e-14).objective
    np.testing.assert_allclose(jax.grad(obj)(ALPHA), np.abs(w).sum(), rtol=1e-9)


@pytest.mark.slow
def test_gmres_adjoint_for_large_systems(monkeypatch):
    # above DIRECT_MAX unknowns the reverse-mode system is solved by GMRES
    _, S, XS, G = _support_system()
    monkeypatch.setattr(implicit, "DIRECT_MAX", 4)
    ref_y = np.zeros((P, N))
    ref_y[S] = np.linalg.solve(G, XS.T)
    np.testing.assert_allclose(jax.jacrev(lambda y: lasso(X, y, ALPHA))(Y), ref_y, atol=1e-7)


@pytest.mark.slow
def test_logistic_with_intercept_matches_finite_differences():
    t = jnp.asarray((RNG.rand(N) < 0.5).astype(float))
    amax = float(gradopt.sparse_logistic_alpha_max(X, t))

    def sol(a, X):
        r = gradopt.glm(X, t, datafits.logistic(), prox.l1(a), fit_intercept=True, tol=1e-14)
        return jnp.concatenate([r.coef, r.intercept[None]])

    a = 0.2 * amax
    fd = central_difference(lambda a: sol(a, X), a, 1.0)
    np.testing.assert_allclose(jax.jacfwd(sol)(a, X), fd, rtol=1e-5, atol=1e-8)
    dX = jnp.asarray(RNG.randn(N, P))
    fd_X = central_difference(lambda X: sol(a, X), X, dX)
    _, jvp = jax.jvp(lambda X: sol(a, X), (X,), (dX,))
    np.testing.assert_allclose(jvp, fd_X, rtol=1e-5, atol=1e-8)
    # reverse mode agrees with forward mode (<u, J dX>)
    u = jnp.asarray(RNG.randn(P + 1))
    _, vjp = jax.vjp(lambda X: sol(a, X), X)
    np.testing.assert_allclose(jnp.sum(vjp(u)[0] * dX), u @ jvp, rtol=1e-9)


@pytest.mark.slow
def test_weighted_l1_weights_and_elastic_net_ratio():
    weights = jnp.asarray(RNG.uniform(0.5, 1.5, P))

    def adaptive(v):  # alpha sum_j v_j |w_j|: per-feature strengths are penalty fields
        return gradopt.glm(X, Y, datafits.quadratic(), prox.l1(ALPHA * v), tol=1e-14).coef

    d = jnp.asarray(RNG.randn(P))
    fd = central_difference(adaptive, weights, d)
    np.testing.assert_allclose(jax.jvp(adaptive, (weights,), (d,))[1], fd, rtol=1e-6, atol=1e-9)
    g = jax.grad(lambda v: jnp.sum(adaptive(v) ** 2))(weights)
    np.testing.assert_allclose(g @ d, jnp.sum(2 * adaptive(weights) * fd), rtol=1e-5)

    enet = lambda r: gradopt.glm(X, Y, datafits.quadratic(), prox.elastic_net(ALPHA, r),
                                 tol=1e-14).coef
    fd = central_difference(enet, 0.5, 1.0)
    np.testing.assert_allclose(jax.jacfwd(enet)(0.5), fd, rtol=1e-6, atol=1e-9)


@pytest.mark.slow
def test_multitask_matches_finite_differences():
    Yk = jnp.asarray(RNG.randn(N, 3))
    sol = lambda Yk: gradopt.multitask_lasso(X, Yk, 0.1, tol=1e-14).coef
    dY = jnp.asarray(RNG.randn(N, 3))
    fd = central_difference(sol, Yk, dY)
    np.testing.assert_allclose(jax.jvp(sol, (Yk,), (dY,))[1], fd, rtol=1e-6, atol=1e-9)


@pytest.mark.slow
def test_vmap_of_grad_init_and_path():
    g = jax.grad(lambda a: jnp.sum(lasso(X, Y, a) ** 2))
    alphas = jnp.asarray([0.2, 0.5]) * ALPHA / 0.3
    np.testing.assert_allclose(jax.vmap(g)(alphas), [g(a) for a in alphas], rtol=1e-9)
    # the warm start gets a zero derivative
    J = jax.jacfwd(lambda w0: lasso(X, Y, ALPHA, init=w0))(jnp.ones(P))
    np.testing.assert_array_equal(J, 0.0)
    # a path: each solution's derivative is that of a solve on its own
    path = lambda a: gradopt.glm_path(X, Y, datafits.quadratic(), prox.l1, jnp.stack([2 * a, a]),
                                      tol=1e-14).coefs
    np.testing.assert_allclose(jax.jacfwd(path)(ALPHA)[1],
                               jax.jacfwd(lambda a: lasso(X, Y, a))(ALPHA), atol=1e-10)


@pytest.mark.slow
def test_float32():
    X32, Y32 = X.astype(jnp.float32), Y.astype(jnp.float32)
    f = lambda a: gradopt.glm(X32, Y32, datafits.quadratic(), prox.l1(a), tol=1e-6).coef
    J = jax.jacfwd(f)(jnp.float32(ALPHA))
    assert J.dtype == jnp.float32
    w, S, _, G = _support_system()
    ref = np.zeros(P)
    ref[S] = -N * np.linalg.solve(G, np.sign(w[S]))
    np.testing.assert_allclose(J, ref, rtol=1e-3, atol=1e-3 * np.abs(ref).max())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["huber", "poisson"])
def test_other_datafits_match_finite_differences(name):
    if name == "poisson":
        df, t = datafits.poisson(), jnp.asarray(RNG.poisson(np.exp(0.3 * np.asarray(X[:, 0]))))
    else:
        df, t = datafits.huber(1.0), Y
    a = 0.2 * float(gradopt.glm_alpha_max(X, t, df))
    sol = lambda a: gradopt.glm(X, t, df, prox.l1(a), tol=1e-13).coef
    fd = central_difference(sol, a, 1.0)
    np.testing.assert_allclose(jax.jacfwd(sol)(a), fd, rtol=1e-5, atol=1e-8)
