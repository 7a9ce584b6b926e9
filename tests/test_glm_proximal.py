"""``gradopt.glm`` with penalties that have no coordinate structure: accelerated proximal
gradient (FISTA with backtracking and function restarts) on the whole coefficients.

References: CVXPY (Clarabel) on the same objectives; eager against ``jax.jit`` and
``jax.vmap``; the implicit derivative against central finite differences.
"""

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradopt
from gradopt import datafits, prox


def _data(n=50, p=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    return X, X[:, :3] @ np.array([1.0, -2.0, 0.5]) + 0.3 * rng.standard_normal(n), rng


def _solve(problem):
    problem.solve(solver=cp.CLARABEL)
    return problem.value


def _close(res, ref, rel=1e-8):
    assert bool(res.converged) and int(res.status) == int(gradopt.Status.CONVERGED)
    assert float(res.objective) == pytest.approx(ref, rel=rel)
    assert float(res.duality_gap) == np.inf  # no certificate on this path


def test_linf_with_intercept_matches_cvxpy():
    X, y, _ = _data()
    n, p = X.shape
    res = gradopt.glm(X, y, datafits.quadratic(), prox.linf(0.2), fit_intercept=True, tol=1e-9)
    w, b = cp.Variable(p), cp.Variable()
    ref = _solve(cp.Problem(cp.Minimize(cp.sum_squares(y - X @ w - b) / (2 * n)
                                        + 0.2 * cp.norm(w, "inf"))))
    _close(res, ref)
    assert res.coef.shape == (p,) and res.intercept.shape == ()
    assert float(res.intercept) == pytest.approx(float(b.value), abs=1e-5)


def test_nuclear_multitask_matches_cvxpy():
    X, _, rng = _data(seed=1)
    n, p = X.shape
    Y = X[:, :4] @ rng.standard_normal((4, 3)) + 0.3 * rng.standard_normal((n, 3))
    res = gradopt.glm(X, Y, datafits.quadratic(), prox.nuclear(0.3), tol=1e-9)
    W = cp.Variable((p, 3))
    ref = _solve(cp.Problem(cp.Minimize(cp.sum_squares(Y - X @ W) / (2 * n)
                                        + 0.3 * cp.normNuc(W))))
    _close(res, ref)
    assert res.coef.shape == (p, 3)
    np.testing.assert_allclose(res.coef, W.value, atol=1e-4)


def test_logistic_on_the_simplex_matches_cvxpy():
    X, _, rng = _data(seed=2)
    n, p = X.shape
    labels = (X[:, 0] + 0.5 * rng.standard_normal(n) > 0).astype(float)  # {0, 1} accepted
    res = gradopt.glm(X, labels, datafits.logistic(), prox.simplex(), tol=1e-9)
    w, s = cp.Variable(p), 2 * labels - 1
    ref = _solve(cp.Problem(cp.Minimize(cp.sum(cp.logistic(-cp.multiply(s, X @ w))) / n),
                            [w >= 0, cp.sum(w) == 1]))
    _close(res, ref)
    assert float(jnp.sum(res.coef)) == pytest.approx(1.0, abs=1e-12)
    assert float(jnp.min(res.coef)) >= 0.0


def test_poisson_in_a_box_matches_cvxpy():
    X, _, rng = _data(seed=3)
    n, p = X.shape
    counts = rng.poisson(np.exp(0.3 * X[:, 0])).astype(float)
    res = gradopt.glm(X, counts, datafits.poisson(), prox.box(-0.1, 0.1), fit_intercept=True,
                      tol=1e-7)
    w, b = cp.Variable(p), cp.Variable()
    z = X @ w + b
    ref = _solve(cp.Problem(cp.Minimize(cp.sum(cp.exp(z) - cp.multiply(counts, z)) / n),
                            [w >= -0.1, w <= 0.1]))
    _close(res, ref)


def test_jit_vmap_and_derivative_agree():
    X, y, _ = _data(seed=4)
    solve = lambda y, a=0.2: gradopt.glm(X, y, datafits.quadratic(), prox.linf(a), tol=1e-12).coef
    eager = solve(y)
    np.testing.assert_allclose(jax.jit(solve)(y), eager, atol=1e-12)
    ys = jnp.stack([y, 2 * y, -y])
    np.testing.assert_allclose(jax.vmap(solve)(ys), jnp.stack([solve(u) for u in ys]), atol=1e-8)
    f = lambda a: jnp.sum(solve(y, a) ** 2)
    h = 1e-5
    fd = (float(f(0.2 + h)) - float(f(0.2 - h))) / (2 * h)
    assert float(jax.grad(f)(0.2)) == pytest.approx(fd, rel=1e-5)


def test_steps_budget_float32_and_errors():
    X, y, _ = _data(seed=5)
    res = gradopt.glm(X, y, datafits.quadratic(), prox.linf(0.2), max_iter=1, max_epochs=3)
    assert int(res.status) == int(gradopt.Status.MAX_STEPS) and int(res.n_iter) == 3
    assert not bool(res.converged)
    res32 = gradopt.glm(X.astype(np.float32), y.astype(np.float32), datafits.quadratic(),
                        prox.linf(0.2), tol=1e-4)
    ref = gradopt.glm(X, y, datafits.quadratic(), prox.linf(0.2), tol=1e-9)
    assert res32.coef.dtype == jnp.float32 and res32.objective.dtype == jnp.float32
    assert bool(res32.converged)
    assert float(res32.objective) == pytest.approx(float(ref.objective), rel=1e-4)
    with pytest.raises(ValueError, match="init"):
        gradopt.glm(X, y, datafits.quadratic(), prox.linf(0.2), init=np.zeros(3))
    with pytest.raises(TypeError, match="datafit"):
        gradopt.glm(X, y, "quadratic", prox.linf(0.2))
    with pytest.raises(TypeError, match="coordinate structure"):  # paths need the engine
        gradopt.glm_path(X, y, datafits.quadratic(), prox.linf, np.array([0.2, 0.1]))


def test_estimator_takes_a_penalty_without_blocks():
    from gradopt.estimators import GeneralizedLinearEstimator
    X, y, _ = _data(seed=6)
    est = GeneralizedLinearEstimator(penalty=prox.box(-0.5, 0.5), tol=1e-8).fit(X, y)
    res = gradopt.glm(X, y, datafits.quadratic(), prox.box(-0.5, 0.5), fit_intercept=True,
                      tol=1e-8)
    np.testing.assert_allclose(est.coef_, res.coef, atol=1e-10)
    assert np.abs(est.coef_).max() == pytest.approx(0.5)  # the box is active
    assert est.converged_ and est.duality_gap_ == np.inf


def test_group_l2_not_by_rows_takes_the_fallback():
    # one group for the whole vector (axis=None): no block structure for the engine
    X, y, _ = _data(seed=4)
    n, p = X.shape
    t = np.where(y > 0, 1.0, -1.0)
    res = gradopt.glm(X, (y > 0).astype(float), datafits.logistic(), prox.group_l2(0.05),
                      fit_intercept=True, tol=1e-9)
    w, b = cp.Variable(p), cp.Variable()
    ref = _solve(cp.Problem(cp.Minimize(cp.sum(cp.logistic(-cp.multiply(t, X @ w + b))) / n
                                        + 0.05 * cp.norm(w, 2))))
    _close(res, ref)
    # column groups of a multitask W (one group per task)
    X, _, rng = _data(seed=5)
    Y = X[:, :2] @ rng.standard_normal((2, 3)) + 0.3 * rng.standard_normal((n, 3))
    res = gradopt.glm(X, Y, datafits.quadratic(), prox.group_l2(0.2, axis=0), tol=1e-9)
    W = cp.Variable((p, 3))
    ref = _solve(cp.Problem(cp.Minimize(
        cp.sum_squares(Y - X @ W) / (2 * n) + 0.2 * sum(cp.norm(W[:, j], 2) for j in range(3)))))
    _close(res, ref)
    # axis=(1,) is the rows too: the engine solves it, as axis=1 (scikit-learn-tested)
    rows = gradopt.glm(X, Y, datafits.quadratic(), prox.group_l2(0.2, axis=(1,)), tol=1e-10)
    ref_rows = gradopt.multitask_lasso(X, Y, 0.2, tol=1e-10)
    assert float(rows.duality_gap) < np.inf
    np.testing.assert_allclose(rows.coef, ref_rows.coef, atol=1e-8)
    with pytest.raises(TypeError, match="lacks row groups"):
        gradopt.glm_path(X, Y, datafits.quadratic(), lambda a: prox.group_l2(a, axis=0), [0.2])
