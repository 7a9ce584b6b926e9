"""Derivatives of the lasso family's solutions (``lasso``, ``elastic_net``, ``group_lasso``,
``lasso_path``, ``lasso_batch``): traced calls go to the GLM engine, whose implicit
derivative is checked against the lasso's closed forms on the support, central finite
differences and loops of single solves.

Each test compiles the engine under a new transformation; the closed forms and the
conventions run in ``make test``, the rest in ``make test-slow``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradopt

from _fd import central_difference

RNG = np.random.RandomState(0)
N, P = 30, 8
X = jnp.asarray(RNG.randn(N, P))
Y = jnp.asarray(X[:, 0] - X[:, 1] + 0.5 * RNG.randn(N))
ALPHA_MAX = float(jnp.abs(X.T @ Y).max()) / N
ALPHA = 0.3 * ALPHA_MAX  # a strict support
GROUPS = [np.array([0, 1]), np.array([2, 3, 4]), np.array([5]), np.array([6, 7])]
TIGHT = dict(tol=1e-14)


def lasso_coef(X, y, a, **kw):
    return gradopt.lasso(X, y, a, **TIGHT, **kw).coef


def _support_system(X, y, a):
    w = np.asarray(gradopt.lasso(np.asarray(X), np.asarray(y), a, **TIGHT).coef)
    S = np.flatnonzero(np.abs(w) > 1e-10)
    assert 0 < S.size < X.shape[1]
    XS = np.asarray(X)[:, S]
    return w, S, XS, XS.T @ XS


def _closed_forms():
    w, S, XS, G = _support_system(X, Y, ALPHA)
    d_alpha = np.zeros(P)
    d_alpha[S] = -N * np.linalg.solve(G, np.sign(w[S]))  # -n (X_S'X_S)^-1 sign(w_S)
    d_y = np.zeros((P, N))
    d_y[S] = np.linalg.solve(G, XS.T)  # (X_S'X_S)^-1 X_S', 0 off the support
    return d_alpha, d_y


@pytest.mark.parametrize("jac_alpha, jac_y", [
    (jax.jacfwd, jax.jacrev),
    pytest.param(jax.jacrev, jax.jacfwd, marks=pytest.mark.slow),
])
def test_lasso_support_closed_forms(jac_alpha, jac_y):
    d_alpha, d_y = _closed_forms()
    np.testing.assert_allclose(jac_alpha(lambda a: lasso_coef(X, Y, a))(ALPHA), d_alpha,
                               atol=1e-10)
    np.testing.assert_allclose(jac_y(lambda y: lasso_coef(X, y, ALPHA))(Y), d_y, atol=1e-10)


def test_traced_calls_keep_the_objective_and_result_conventions():
    # traced (engine) and concrete (specialized solver) calls solve the same problem as
    # scikit-learn's ElasticNet and fill the result the same way
    from sklearn.linear_model import ElasticNet

    a, r = 0.1, 0.7
    Xn, yn = np.asarray(X), np.asarray(Y) + 3.0
    concrete = gradopt.elastic_net(Xn, yn, a, r, fit_intercept=True, tol=1e-12)
    traced = jax.jit(lambda a: gradopt.elastic_net(Xn, yn, a, r, fit_intercept=True,
                                                   tol=1e-12))(a)
    sk = ElasticNet(alpha=a, l1_ratio=r, tol=1e-14, max_iter=100_000).fit(Xn, yn)
    w = np.asarray(traced.coef)
    np.testing.assert_allclose(w, sk.coef_, atol=1e-6)
    np.testing.assert_allclose(traced.intercept, sk.intercept_, atol=1e-6)
    np.testing.assert_allclose(traced.coef, concrete.coef, atol=1e-6)
    np.testing.assert_allclose(traced.intercept, concrete.intercept, atol=1e-6)
    resid = yn - Xn @ w - float(traced.intercept)
    primal = resid @ resid / (2 * N) + a * (r * np.abs(w).sum() + (1 - r) / 2 * w @ w)
    np.testing.assert_allclose(traced.objective, primal, rtol=1e-12)
    np.testing.assert_allclose(traced.objective, concrete.objective, rtol=1e-10)
    p0 = 0.5 * np.var(yn)  # converged: duality_gap <= tol * P(0), P(0) of the null model
    assert bool(traced.converged) and 0 <= float(traced.duality_gap) <= 1e-12 * p0
    assert int(traced.status) == gradopt.Status.CONVERGED
    assert traced.n_iter.dtype == jnp.int32 and 0 < int(traced.n_iter) < 10_000  # epochs


def test_init_gets_zero_derivative():
    w0 = lasso_coef(X, Y, ALPHA)
    d_init = jax.jacfwd(lambda w0: lasso_coef(X, Y, ALPHA, init=w0))(w0)
    np.testing.assert_array_equal(d_init, np.zeros((P, P)))
    np.testing.assert_allclose(lasso_coef(X, Y, ALPHA, init=w0), w0, atol=1e-10)


@pytest.mark.slow
def test_elastic_net_alpha_and_l1_ratio_match_finite_differences():
    def sol(theta):
        res = gradopt.elastic_net(X, Y, theta[0], theta[1], fit_intercept=True, **TIGHT)
        return jnp.concatenate([res.coef, res.intercept[None], res.objective[None]])

    theta = jnp.array([0.2 * ALPHA_MAX, 0.6])
    J = jax.jacfwd(sol)(theta)
    np.testing.assert_allclose(jax.jacrev(sol)(theta), J, atol=1e-10)
    for k in range(2):
        fd = central_difference(sol, theta, jnp.eye(2)[k])
        np.testing.assert_allclose(J[:, k], fd, rtol=1e-5, atol=1e-8)


@pytest.mark.slow
def test_group_lasso_alpha_X_and_weights_match_finite_differences():
    # the references are solved to the gap's rounding floor (tol=0): with the group norm's
    # curvature a 1e-14 relative gap leaves errors in w that vary with the data at ~1e-6
    # per unit step, and a larger step (1e-4) keeps the rounding of w out of the quotient
    weights = jnp.array([1.0, 1.5, 0.8, 1.2])
    a = 0.1

    def sol(a, X, weights, **kw):
        res = gradopt.group_lasso(X, Y, a, GROUPS, weights=weights, fit_intercept=True,
                                  **(kw or TIGHT))
        return jnp.concatenate([res.coef, res.intercept[None]])

    def fd(f, x, dx):
        return central_difference(lambda x: f(x, tol=0.0, max_iter=3000), x, dx, eps=1e-4)

    w = np.asarray(sol(a, X, weights))
    assert np.any(w[:-1] == 0) and np.any(w[:-1] != 0)  # some groups in, some out
    fd_a = fd(lambda a, **kw: sol(a, X, weights, **kw), a, 1.0)
    np.testing.assert_allclose(jax.jacfwd(sol)(a, X, weights), fd_a, rtol=1e-5, atol=1e-8)
    dX = jnp.asarray(RNG.randn(N, P))
    _, jvp_X = jax.jvp(lambda X: sol(a, X, weights), (X,), (dX,))
    fd_X = fd(lambda X, **kw: sol(a, X, weights, **kw), X, dX)
    np.testing.assert_allclose(jvp_X, fd_X, rtol=5e-5, atol=1e-8)  # the reference's floor
    J_w = jax.jacrev(lambda wt: sol(a, X, wt))(weights)
    for k in range(len(GROUPS)):
        fd_w = fd(lambda wt, **kw: sol(a, X, wt, **kw), weights, jnp.eye(len(GROUPS))[k])
        np.testing.assert_allclose(J_w[:, k], fd_w, rtol=1e-5, atol=1e-8)


@pytest.mark.slow
def test_lasso_path_jacobian_equals_single_solves():
    alphas = ALPHA_MAX * np.array([0.3, 0.6, 0.1])  # sorted decreasing by lasso_path
    J = jax.jacrev(lambda y: gradopt.lasso_path(X, y, alphas, **TIGHT).coefs)(Y)
    assert J.shape == (3, P, N)
    for k, a in enumerate(np.sort(alphas)[::-1]):
        _, S, XS, G = _support_system(X, Y, a)
        ref = np.zeros((P, N))
        ref[S] = np.linalg.solve(G, XS.T)
        np.testing.assert_allclose(J[k], ref, atol=1e-9)
    # the path's values are those of the concrete path
    traced = jax.jit(lambda y: gradopt.lasso_path(X, y, alphas, **TIGHT))(Y)
    concrete = gradopt.lasso_path(np.asarray(X), np.asarray(Y), alphas, **TIGHT)
    np.testing.assert_allclose(traced.coefs, concrete.coefs, atol=1e-8)
    np.testing.assert_allclose(traced.alphas, concrete.alphas, rtol=1e-15)
    assert np.asarray(traced.converged).all()


@pytest.mark.slow
def test_lasso_batch_gradient_under_vmap_equals_a_loop():
    alphas = ALPHA_MAX * jnp.array([0.2, 0.4, 0.6])
    loss = lambda a: jnp.sum(gradopt.lasso_batch(X, Y, a, **TIGHT).coef ** 2)  # noqa: E731
    grad = jax.grad(loss)(alphas)
    one = lambda a: jnp.sum(lasso_coef(X, Y, a) ** 2)  # noqa: E731
    np.testing.assert_allclose(grad, [jax.grad(one)(a) for a in alphas], rtol=1e-8)
    # the solutions are the concrete batch's
    np.testing.assert_allclose(jax.jit(lambda a: gradopt.lasso_batch(X, Y, a, **TIGHT).coef)(
        alphas), gradopt.lasso_batch(X, Y, alphas, **TIGHT).coef, atol=1e-8)


@pytest.mark.slow
def test_float32_runs_and_agrees_loosely():
    X32, Y32 = X.astype(jnp.float32), Y.astype(jnp.float32)
    d32 = jax.jacfwd(lambda a: gradopt.lasso(X32, Y32, a, tol=1e-6).coef)(jnp.float32(ALPHA))
    assert d32.dtype == jnp.float32
    np.testing.assert_allclose(d32, jax.jacfwd(lambda a: lasso_coef(X, Y, a))(ALPHA),
                               rtol=1e-3, atol=1e-3)
