"""gradopt.sparse_logistic against scikit-learn (saga) and CVXPY, certificates, inputs."""

import warnings

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import l1_min_c

import gradopt
from gradopt import sparse_logistic, sparse_logistic_alpha_max

pytestmark = pytest.mark.filterwarnings("ignore:Solution may be inaccurate")


def _data(n, p, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    z = X[:, :3] @ np.array([1.0, -2.0, 0.5]) + 0.8 * rng.standard_normal(n) + 0.4
    return X, (z > 0).astype(int)


def _cvxpy_logistic(X, y01, alpha, fit_intercept):
    n, p = X.shape
    ys = np.where(y01 > 0, 1.0, -1.0)
    w = cp.Variable(p)
    b = cp.Variable()
    z = X @ w + (b if fit_intercept else 0.0)
    prob = cp.Problem(cp.Minimize(cp.sum(cp.logistic(-cp.multiply(ys, z))) + n * alpha * cp.norm1(w)))
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    assert prob.status in ("optimal", "optimal_inaccurate")  # accuracy asserted by the callers
    return w.value, (float(b.value) if fit_intercept else 0.0), prob.value / n


def _objective(X, y01, w, b, alpha):
    ys = np.where(y01 > 0, 1.0, -1.0)
    return np.mean(np.logaddexp(0.0, -ys * (X @ w + b))) + alpha * np.abs(w).sum()


def _saga(X, y, C, fit_intercept=True):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LogisticRegression(
            l1_ratio=1.0, C=C, solver="saga", tol=1e-12, max_iter=200000, fit_intercept=fit_intercept
        ).fit(X, y)


@pytest.mark.parametrize("shape, C", [((80, 10), 0.5), ((40, 60), 1.0), ((150, 30), 0.1)])
def test_matches_sklearn_saga(shape, C):
    X, y = _data(*shape, seed=shape[1])
    n = shape[0]
    res = sparse_logistic(X, y, 1.0 / (C * n), tol=1e-12)
    sk = _saga(X, y, C)
    assert bool(res.converged)
    np.testing.assert_allclose(res.coef, sk.coef_[0], atol=1e-6)
    np.testing.assert_allclose(float(res.intercept), sk.intercept_[0], atol=1e-6)


def test_matches_sklearn_saga_breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    X, y = X[::2], y[::2]
    C = 0.05
    res = sparse_logistic(X, y, 1.0 / (C * X.shape[0]), tol=1e-12)
    sk = _saga(X, y, C)
    np.testing.assert_allclose(res.coef, sk.coef_[0], atol=1e-5)
    np.testing.assert_allclose(float(res.intercept), sk.intercept_[0], atol=1e-5)
    # the support is the same
    np.testing.assert_array_equal(np.asarray(res.coef) != 0, np.abs(sk.coef_[0]) > 1e-8)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_matches_cvxpy_and_gap_is_certificate(fit_intercept):
    X, y = _data(60, 20, seed=3)
    alpha = 0.02
    w_ref, b_ref, p_ref = _cvxpy_logistic(X, y, alpha, fit_intercept)
    res = sparse_logistic(X, y, alpha, fit_intercept=fit_intercept, tol=1e-12)
    np.testing.assert_allclose(res.coef, w_ref, atol=1e-5)
    np.testing.assert_allclose(float(res.intercept), b_ref, atol=1e-5)
    p_here = _objective(X, y, np.asarray(res.coef), float(res.intercept), alpha)
    np.testing.assert_allclose(float(res.objective), p_here, rtol=1e-10)
    assert p_here <= p_ref + 1e-9
    # early stopped iterates: the gap bounds the true suboptimality
    for it in [0, 1, 2, 3]:
        r = sparse_logistic(X, y, alpha, fit_intercept=fit_intercept, tol=0.0, max_iter=it)
        assert int(r.n_iter) == it
        sub = _objective(X, y, np.asarray(r.coef), float(r.intercept), alpha) - p_ref
        assert -1e-9 <= sub <= float(r.duality_gap) + 1e-9


def test_features_with_a_large_offset():
    # columns of mean 100 are nearly collinear with the intercept: the Newton
    # subproblem eliminates the intercept step exactly, so this is still fast
    rng = np.random.RandomState(0)
    X = rng.normal(loc=100, size=(100, 2))
    y = rng.randint(0, 2, size=100)
    res = sparse_logistic(X, y, 0.01, tol=1e-10)
    assert bool(res.converged) and int(res.n_iter) <= 10
    w_ref, b_ref, p_ref = _cvxpy_logistic(X, y, 0.01, True)
    p_here = _objective(X, y, np.asarray(res.coef), float(res.intercept), 0.01)
    assert p_here <= p_ref + 1e-9
    np.testing.assert_allclose(res.coef, w_ref, atol=1e-5)
    np.testing.assert_allclose(float(res.intercept), b_ref, atol=1e-3)  # b ~ -26: CVXPY's accuracy


def test_labels_pm1_equal_01_and_jax_input():
    X, y = _data(50, 8, seed=4)
    a = sparse_logistic(X, y, 0.01, tol=1e-10)
    b = sparse_logistic(jnp.asarray(X), jnp.asarray(2 * y - 1), 0.01, tol=1e-10)
    np.testing.assert_allclose(a.coef, b.coef, atol=1e-10)
    np.testing.assert_allclose(a.intercept, b.intercept, atol=1e-10)


def test_alpha_max_zero_solution_and_l1_min_c():
    X, y = _data(50, 8, seed=5)
    n = X.shape[0]
    # without intercept, C_min = 1/(n alpha_max) is scikit-learn's l1_min_c
    amax0 = float(sparse_logistic_alpha_max(X, y, fit_intercept=False))
    np.testing.assert_allclose(1.0 / (n * amax0), l1_min_c(X, y, loss="log", fit_intercept=False), rtol=1e-12)
    amax = float(sparse_logistic_alpha_max(X, y))
    with pytest.warns(UserWarning, match="solution is w = 0"):
        res = sparse_logistic(X, y, amax * 1.0001)
    np.testing.assert_array_equal(res.coef, 0.0)
    # the null model: intercept = log(n+/n-)
    np.testing.assert_allclose(float(res.intercept), np.log(y.mean() / (1 - y.mean())), rtol=1e-10)
    assert bool(res.converged) and int(res.n_iter) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = sparse_logistic(X, y, amax * 0.98, tol=1e-10)
    assert np.sum(np.asarray(res.coef) != 0) >= 1


def test_separable_data_and_zero_column():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((40, 5))
    y = (X[:, 0] > 0).astype(int)  # perfectly separable: only the l1 term bounds w
    X[:, 3] = 0.0
    X[:, 4] = 2.0  # constant column (collinear with the intercept)
    alpha = 0.005
    res = sparse_logistic(X, y, alpha, tol=1e-12)
    assert bool(res.converged) and np.all(np.isfinite(np.asarray(res.coef)))
    assert float(res.coef[3]) == 0.0
    w_ref, b_ref, p_ref = _cvxpy_logistic(X, y, alpha, True)
    p_here = _objective(X, y, np.asarray(res.coef), float(res.intercept), alpha)
    assert abs(p_here - p_ref) <= 1e-7
    np.testing.assert_allclose(res.coef[:3], w_ref[:3], atol=1e-4)


def test_vmap_over_alpha_equals_one_by_one():
    X, y = _data(60, 10, seed=7)
    alphas = jnp.array([0.05, 0.02, 0.005])
    batched = jax.jit(jax.vmap(lambda a: sparse_logistic(X, y, a, tol=1e-10)))(alphas)
    for k, a in enumerate(alphas):
        single = sparse_logistic(X, y, float(a), tol=1e-10)
        np.testing.assert_allclose(batched.coef[k], single.coef, atol=1e-8)
        np.testing.assert_allclose(batched.intercept[k], single.intercept, atol=1e-8)


def test_float32():
    X, y = _data(80, 10, seed=8)
    r64 = sparse_logistic(X, y, 0.01, tol=1e-10)
    r32 = sparse_logistic(X.astype(np.float32), y, 0.01, tol=1e-5)
    assert r32.coef.dtype == jnp.float32 and bool(r32.converged)
    np.testing.assert_allclose(r32.coef, r64.coef, atol=1e-3)


def test_top_level_names():
    assert gradopt.sparse_logistic is sparse_logistic


def test_bad_inputs():
    X, y = _data(20, 4, seed=9)
    with pytest.raises(ValueError, match=r"labels in \{0, 1\} or \{-1, 1\}"):
        sparse_logistic(X, y + 1, 0.1)
    with pytest.raises(ValueError, match="one class"):
        sparse_logistic(X, np.ones(20), 0.1)
    with pytest.raises(ValueError, match="alpha"):
        sparse_logistic(X, y, -0.1)
    with pytest.raises(ValueError, match="alpha"):
        sparse_logistic(X, y, 0.0)
    Xn = X.copy()
    Xn[0, 0] = np.inf
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        sparse_logistic(Xn, y, 0.1)
    with pytest.raises(ValueError, match="y contains NaN or inf"):
        sparse_logistic(X, np.where(y > 0, np.nan, 0.0), 0.1)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        sparse_logistic(X[:-2], y, 0.1)
    with pytest.warns(UserWarning, match="scipy.sparse"):
        res_sp = sparse_logistic(sp.csr_matrix(X), y, 0.02, tol=1e-10)
    res = sparse_logistic(X, y, 0.02, tol=1e-10)
    np.testing.assert_allclose(np.asarray(res_sp.coef), np.asarray(res.coef), atol=1e-12)
    with pytest.raises(ValueError, match="max_inner"):
        sparse_logistic(X, y, 0.1, max_inner=0)
    with pytest.raises(ValueError, match="init"):
        sparse_logistic(X, y, 0.1, init=np.zeros(3))


def test_boolean_labels_through_glm_are_two_classes():
    # regression: glm's logistic datafit cast {-1, +1} labels back to the input's bool dtype,
    # so a boolean y (say y > median) became a one-class problem that never converged
    rng = np.random.RandomState(3)
    X = rng.randn(60, 8)
    t = X[:, 0] - X[:, 1] + 0.5 * rng.randn(60)
    labels = t > np.median(t)
    df, pen = gradopt.datafits.logistic(), gradopt.prox.l1(0.02)
    a = gradopt.glm(X, labels, df, pen, tol=1e-10)
    b = gradopt.glm(X, labels.astype(float), df, pen, tol=1e-10)
    assert bool(a.converged)
    np.testing.assert_allclose(a.coef, b.coef, atol=1e-10)
    assert np.abs(np.asarray(a.coef)).max() > 0.1
