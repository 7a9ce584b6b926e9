"""``prox.group_l2(alpha, groups=...)``: index groups of features, a penalty of its own
(value, prox, subdifferential distance) and, in ``gradopt.glm``, the engine's blocks for
any datafit.

References: NumPy closed forms of the value and the prox (block soft thresholding);
``gradopt.group_lasso`` (itself tested against scikit-learn and CVXPY) for the quadratic
datafit; CVXPY for the logistic datafit; single solves for ``glm_path``.
"""

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradopt
from gradopt import datafits, prox

GROUPS = [np.arange(0, 3), np.arange(3, 7), np.arange(7, 12)]
LABELS = np.repeat([0, 1, 2, 3], 3)


def _data(n=80, p=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    return X, X[:, :3] @ np.array([1.0, -2.0, 0.5]) + 0.3 * rng.standard_normal(n), rng


def test_value_prox_and_distance_closed_forms():
    rng = np.random.default_rng(1)
    v = rng.standard_normal(12)
    w = np.array([1.0, 2.0, 0.5])
    pen = prox.group_l2(0.3, groups=GROUPS, weights=w)
    norms = np.array([np.linalg.norm(v[g]) for g in GROUPS])
    assert float(pen.value(jnp.asarray(v))) == pytest.approx(0.3 * w @ norms, rel=1e-12)
    out = np.asarray(pen.prox(jnp.asarray(v), 2.0))
    for g, t, nrm in zip(GROUPS, 0.6 * w, norms):
        np.testing.assert_allclose(out[g], max(0.0, 1 - t / nrm) * v[g], atol=1e-12)
    # -grad in the subdifferential at the prox point: distance 0 (prox optimality)
    grad = (out - v) / 2.0
    assert float(pen.subdiff_distance(jnp.asarray(out), jnp.asarray(grad))) < 1e-12
    # labels and index arrays give the same penalty; rows of a (p, k) matrix are grouped too
    same = prox.group_l2(0.3, groups=LABELS)
    assert float(same.value(jnp.asarray(v))) == pytest.approx(
        0.3 * sum(np.linalg.norm(v[3 * k:3 * k + 3]) for k in range(4)), rel=1e-12)
    M = rng.standard_normal((12, 2))
    assert float(same.value(jnp.asarray(M))) == pytest.approx(
        0.3 * sum(np.linalg.norm(M[3 * k:3 * k + 3]) for k in range(4)), rel=1e-12)


def test_quadratic_equals_group_lasso():
    X, y, _ = _data()
    w = np.sqrt([len(g) for g in GROUPS])  # group_lasso's default weights
    res = gradopt.glm(X, y, datafits.quadratic(), prox.group_l2(0.1, groups=GROUPS, weights=w),
                      fit_intercept=True, tol=1e-10)
    ref = gradopt.group_lasso(X, y, 0.1, GROUPS, fit_intercept=True, tol=1e-10)
    assert bool(res.converged) and float(res.duality_gap) < 1e-9
    np.testing.assert_allclose(res.coef, ref.coef, atol=1e-8)
    assert float(res.objective) == pytest.approx(float(ref.objective), rel=1e-10)


def test_logistic_matches_cvxpy_and_path_matches_solves():
    X, _, rng = _data(seed=2)
    n, p = X.shape
    labels = (X[:, 0] - X[:, 4] + 0.5 * rng.standard_normal(n) > 0).astype(float)
    res = gradopt.glm(X, labels, datafits.logistic(), prox.group_l2(0.05, groups=LABELS),
                      fit_intercept=True, tol=1e-10)
    w, b, s = cp.Variable(p), cp.Variable(), 2 * labels - 1
    objective = cp.sum(cp.logistic(-cp.multiply(s, X @ w + b))) / n + 0.05 * sum(
        cp.norm(w[3 * k:3 * k + 3]) for k in range(4))
    problem = cp.Problem(cp.Minimize(objective))
    problem.solve(solver=cp.CLARABEL)
    assert bool(res.converged) and np.isfinite(float(res.duality_gap))
    assert float(res.objective) == pytest.approx(problem.value, rel=1e-8)
    coef = np.asarray(res.coef)
    zero = [bool(np.all(coef[3 * k:3 * k + 3] == 0)) for k in range(4)]
    assert any(zero) and not all(zero)  # whole groups leave or stay
    assert all(z or np.all(coef[3 * k:3 * k + 3] != 0) for k, z in enumerate(zero))
    alphas = np.array([0.1, 0.05])
    path = gradopt.glm_path(X, labels, datafits.logistic(),
                            lambda a: prox.group_l2(a, groups=LABELS), alphas,
                            fit_intercept=True, tol=1e-10)
    np.testing.assert_allclose(path.coefs[1], res.coef, atol=1e-7)
    assert bool(np.all(path.converged))


def test_traced_strength_and_errors():
    X, y, _ = _data(seed=3)
    f = lambda a: gradopt.glm(X, y, datafits.quadratic(), prox.group_l2(a, groups=LABELS),
                              tol=1e-12).objective
    np.testing.assert_allclose(jax.jit(f)(0.1), f(0.1), rtol=1e-12)
    h = 1e-6  # dP*/dalpha = sum_g ||w_g|| (envelope theorem)
    assert float(jax.grad(f)(0.1)) == pytest.approx((float(f(0.1 + h)) - float(f(0.1 - h)))
                                                    / (2 * h), rel=1e-5)
    with pytest.raises(ValueError, match="partition"):
        prox.group_l2(0.1, groups=[np.arange(3), np.arange(4, 6)])
    with pytest.raises(ValueError, match="overlap"):
        prox.group_l2(0.1, groups=[np.arange(3), np.arange(2, 6)])
    with pytest.raises(ValueError, match="excludes axis"):
        prox.group_l2(0.1, groups=LABELS, axis=1)
    with pytest.raises(ValueError, match="one per group"):
        prox.group_l2(0.1, groups=LABELS, weights=np.ones(3))
    with pytest.raises(ValueError, match="X has 12"):
        gradopt.glm(X, y, datafits.quadratic(), prox.group_l2(0.1, groups=np.arange(10)))
