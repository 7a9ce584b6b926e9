"""The GLM engine: every datafit x penalty against an independent reference,
certificates, padding to size buckets, compilation reuse, warm starts, hard designs.

Shapes are kept inside a few size buckets (n <= 40, p in 17..24 or 80) and
penalty kinds are shared, so the file compiles a small number of programs."""

import importlib

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from sklearn.linear_model import ElasticNet, Lasso, MultiTaskLasso, PoissonRegressor

import gradopt
from gradopt import datafits, prox
from gradopt.problems import engine

glm_module = importlib.import_module("gradopt.problems.glm")

pytestmark = pytest.mark.filterwarnings("ignore:Solution may be inaccurate")


def _data(n, p, seed=0, rho=0.0):
    rng = np.random.default_rng(seed)
    if rho:
        cov = rho ** np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
        X = rng.multivariate_normal(np.zeros(p), cov, size=n)
    else:
        X = rng.standard_normal((n, p))
    w = np.zeros(p)
    w[: min(5, p)] = [1.0, -2.0, 0.5, 1.5, -1.0][: min(5, p)]
    y = X @ w + 0.3 * rng.standard_normal(n) + 0.7
    return X, y


def _cvx(X, y, loss, pen, fit_intercept):
    """CVXPY reference: loss(z) with z = Xw + b (a cvxpy expression) + pen(w)."""
    n, p = X.shape
    w, b = cp.Variable(p), cp.Variable()
    z = X @ w + (b if fit_intercept else 0.0)
    prob = cp.Problem(cp.Minimize(loss(z) + pen(w)))
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11)
    return w.value, (float(b.value) if fit_intercept else 0.0), prob.value


def _objective(datafit, penalty, X, y, coef, b):
    z = jnp.asarray(X) @ jnp.asarray(coef) + b
    return float(datafit.value(jnp.asarray(y), z) + penalty.value(jnp.asarray(coef)))


# --------------------------------------------------------------------------- #
# objectives against references
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_quadratic_l1_matches_sklearn(fit_intercept):
    X, y = _data(40, 20, seed=1)
    a = 0.05
    res = gradopt.glm(X, y, datafits.quadratic(), prox.l1(a), fit_intercept=fit_intercept, tol=1e-12)
    sk = Lasso(alpha=a, fit_intercept=fit_intercept, tol=1e-14, max_iter=10**6).fit(X, y)
    assert bool(res.converged) and int(res.status) == gradopt.Status.CONVERGED
    np.testing.assert_allclose(res.coef, sk.coef_, atol=1e-7)
    np.testing.assert_allclose(float(res.intercept), sk.intercept_, atol=1e-7)


def test_quadratic_positive_and_enet_match_sklearn():
    X, y = _data(40, 20, seed=2)
    res = gradopt.glm(X, y, datafits.quadratic(), prox.l1(0.02, positive=True), tol=1e-12)
    sk = Lasso(alpha=0.02, fit_intercept=False, positive=True, tol=1e-14, max_iter=10**6).fit(X, y)
    np.testing.assert_allclose(res.coef, sk.coef_, atol=1e-7)
    assert np.all(np.asarray(res.coef) >= 0)
    res = gradopt.glm(X, y, datafits.quadratic(), prox.elastic_net(0.05, 0.3), fit_intercept=True,
                      tol=1e-13)
    sk = ElasticNet(alpha=0.05, l1_ratio=0.3, tol=1e-15, max_iter=10**6).fit(X, y)
    np.testing.assert_allclose(res.coef, sk.coef_, atol=1e-6)


def test_quadratic_weighted_l1_array_l1_ratio_and_ridge_match_references():
    X, y = _data(40, 20, seed=3)
    n = X.shape[0]
    wts = np.linspace(0.0, 0.1, 20)  # a zero weight: an unpenalized feature
    res = gradopt.glm(X, y, datafits.quadratic(), prox.l1(wts), tol=1e-12, fit_intercept=True)
    w_ref, b_ref, p_ref = _cvx(X, y, lambda z: cp.sum_squares(y - z) / (2 * n),
                               lambda w: cp.sum(cp.multiply(wts, cp.abs(w))), True)
    np.testing.assert_allclose(res.coef, w_ref, atol=1e-5)
    assert float(res.objective) <= p_ref + 1e-9
    ratios = np.linspace(0.2, 1.0, 20)
    res = gradopt.glm(X, y, datafits.quadratic(), prox.elastic_net(0.1, ratios), tol=1e-12)
    w_ref, _, p_ref = _cvx(X, y, lambda z: cp.sum_squares(y - z) / (2 * n),
                           lambda w: 0.1 * (cp.sum(cp.multiply(ratios, cp.abs(w)))
                                            + cp.sum(cp.multiply((1 - ratios) / 2, cp.square(w)))),
                           False)
    np.testing.assert_allclose(res.coef, w_ref, atol=1e-5)
    lam = 0.3  # ridge: closed form (X^T X / n + lam I) w = X^T y / n
    res = gradopt.glm(X, y, datafits.quadratic(), prox.l2_squared(lam), tol=1e-13)
    w_ridge = np.linalg.solve(X.T @ X / n + lam * np.eye(20), X.T @ y / n)
    # lam-strong convexity: ||w - w*||^2 <= 2 gap / lam
    err = np.linalg.norm(np.asarray(res.coef) - w_ridge)
    assert err <= np.sqrt(2 * float(res.duality_gap) / lam) + 1e-12 and err <= 1e-5


def test_multitask_matches_sklearn():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((40, 20))
    W = np.zeros((20, 3))
    W[:4] = rng.standard_normal((4, 3))
    Y = X @ W + 0.2 * rng.standard_normal((40, 3)) + np.array([1.0, -1.0, 0.5])
    res = gradopt.multitask_lasso(X, Y, 0.05, fit_intercept=True, tol=1e-12)
    sk = MultiTaskLasso(alpha=0.05, tol=1e-14, max_iter=10**6).fit(X, Y)
    assert res.coef.shape == (20, 3) and res.intercept.shape == (3,)
    np.testing.assert_allclose(res.coef, sk.coef_.T, atol=1e-7)
    np.testing.assert_allclose(res.intercept, sk.intercept_, atol=1e-7)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_huber_l1_matches_cvxpy(fit_intercept):
    X, y = _data(40, 20, seed=5)
    y[:4] += 30.0
    n, lam, delta = X.shape[0], 0.02, 1.0
    res = gradopt.huber_regression(X, y, lam, delta=delta, fit_intercept=fit_intercept, tol=1e-10)
    w_ref, b_ref, p_ref = _cvx(X, y, lambda z: 0.5 * cp.sum(cp.huber(y - z, delta)) / n,
                               lambda w: lam * cp.norm1(w), fit_intercept)
    assert bool(res.converged)
    assert abs(float(res.objective) - p_ref) <= 1e-7 * max(1.0, abs(p_ref))
    np.testing.assert_allclose(res.coef, w_ref, atol=1e-4)


def test_huber_ridge_part_with_intercept_is_not_certified_by_an_infinite_gap():
    # regression: the centered dual point leaves Huber's conjugate domain (gap = inf),
    # and inf passed the gap test's rounding floor: w = 0 at n_iter = 0, "converged"
    X, y = _data(40, 20, seed=5)
    n = X.shape[0]
    res = gradopt.glm(X, y, datafits.huber(1.0), prox.elastic_net(0.05, 0.5), fit_intercept=True,
                      tol=1e-10)
    w_ref, b_ref, p_ref = _cvx(X, y, lambda z: 0.5 * cp.sum(cp.huber(y - z, 1.0)) / n,
                               lambda w: 0.05 * (0.5 * cp.norm1(w) + 0.25 * cp.sum_squares(w)), True)
    assert bool(res.converged) and int(res.n_iter) > 0
    assert abs(float(res.objective) - p_ref) <= 1e-7 * max(1.0, abs(p_ref))
    np.testing.assert_allclose(res.coef, w_ref, atol=1e-4)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_poisson_l1_matches_cvxpy(fit_intercept):
    rng = np.random.default_rng(6)
    X = rng.standard_normal((40, 20))
    y = rng.poisson(np.exp(0.4 * X[:, 0] - 0.3 * X[:, 1] + 0.5)).astype(float)
    n, lam = X.shape[0], 0.02
    res = gradopt.poisson_regression(X, y, lam, fit_intercept=fit_intercept, tol=1e-10)
    w_ref, b_ref, p_ref = _cvx(X, y, lambda z: cp.sum(cp.exp(z) - cp.multiply(y, z)) / n,
                               lambda w: lam * cp.norm1(w), fit_intercept)
    assert bool(res.converged)
    assert abs(float(res.objective) - p_ref) <= 1e-7 * max(1.0, abs(p_ref))
    np.testing.assert_allclose(res.coef, w_ref, atol=1e-4)


def test_poisson_ridge_matches_sklearn_poisson_regressor():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((40, 20))
    y = rng.poisson(np.exp(0.3 * X[:, 0] + 0.2)).astype(float)
    sk = PoissonRegressor(alpha=0.1, tol=1e-12, max_iter=10**4).fit(X, y)
    # sklearn: half deviance + alpha/2 ||w||^2  ==  our datafit + (2 alpha)/2 ... / 2: same minimizer
    res = gradopt.poisson_regression(X, y, 0.1, l1_ratio=0.0, fit_intercept=True, tol=1e-12)
    np.testing.assert_allclose(res.coef, sk.coef_, atol=1e-6)
    np.testing.assert_allclose(float(res.intercept), sk.intercept_, atol=1e-6)


def test_logistic_elastic_net_matches_cvxpy():
    rng = np.random.default_rng(8)
    X = rng.standard_normal((40, 20))
    y = (X[:, 0] - X[:, 1] + 0.5 * rng.standard_normal(40) > 0).astype(float)
    n = X.shape[0]
    ys = 2 * y - 1
    res = gradopt.glm(X, y, datafits.logistic(), prox.elastic_net(0.02, 0.5), fit_intercept=True,
                      tol=1e-12)
    w_ref, _, p_ref = _cvx(X, y, lambda z: cp.sum(cp.logistic(-cp.multiply(ys, z))) / n,
                           lambda w: 0.02 * (0.5 * cp.norm1(w) + 0.25 * cp.sum_squares(w)), True)
    np.testing.assert_allclose(res.coef, w_ref, atol=1e-5)
    assert float(res.objective) <= p_ref + 1e-9


# --------------------------------------------------------------------------- #
# certificates and statuses
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("datafit", ["quadratic", "logistic"])
def test_gap_bounds_suboptimality_at_early_stops(datafit):
    X, y = _data(40, 20, seed=9, rho=0.5)
    if datafit == "logistic":
        y = (y > np.median(y)).astype(float)
    df, pen = getattr(datafits, datafit)(), prox.l1(0.02)
    best = gradopt.glm(X, y, df, pen, fit_intercept=True, tol=1e-13)
    p_star = float(best.objective) - float(best.duality_gap)
    for it in range(4):
        r = gradopt.glm(X, y, df, pen, fit_intercept=True, tol=0.0, max_iter=it)
        assert int(r.n_iter) == it and int(r.status) == gradopt.Status.MAX_STEPS
        sub = _objective(df, pen, X, df.labels(y), r.coef, r.intercept) - p_star
        assert -1e-10 <= sub <= float(r.duality_gap) + 1e-10


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_and_float64(dtype):
    X, y = _data(40, 20, seed=10)
    ref = Lasso(alpha=0.05, tol=1e-14, max_iter=10**6).fit(X, y)
    res = gradopt.glm(X.astype(dtype), y.astype(dtype), datafits.quadratic(), prox.l1(0.05),
                      fit_intercept=True, tol=1e-5 if dtype == np.float32 else 1e-12)
    assert res.coef.dtype == dtype and bool(res.converged)
    np.testing.assert_allclose(res.coef, ref.coef_, atol=1e-3 if dtype == np.float32 else 1e-8)


def test_float32_certificate_is_scale_aware():
    X, y = _data(40, 20, seed=11)
    X = (X * 1e6).astype(np.float32)
    a = 0.05 * float(gradopt.glm_alpha_max(X, y.astype(np.float32), datafits.quadratic()))
    res = gradopt.glm(X, y.astype(np.float32), datafits.quadratic(), prox.l1(a), tol=1e-4,
                      fit_intercept=True)
    assert bool(res.converged)


# --------------------------------------------------------------------------- #
# pure JAX: jit, vmap, padding, compilation reuse
# --------------------------------------------------------------------------- #


def test_jit_and_vmap_equal_eager():
    X, y = _data(40, 20, seed=12)
    eager = gradopt.glm(X, y, datafits.huber(1.0), prox.l1(0.03), tol=1e-10)
    jitted = jax.jit(lambda X, y, a: gradopt.glm(X, y, datafits.huber(1.0), prox.l1(a), tol=1e-10))(
        jnp.asarray(X), jnp.asarray(y), 0.03)
    np.testing.assert_allclose(jitted.coef, eager.coef, atol=1e-12)
    alphas = jnp.array([0.1, 0.03, 0.01])
    batched = jax.vmap(lambda a: gradopt.glm(X, y, datafits.huber(1.0), prox.l1(a), tol=1e-10))(alphas)
    for k, a in enumerate(alphas):
        single = gradopt.glm(X, y, datafits.huber(1.0), prox.l1(float(a)), tol=1e-10)
        np.testing.assert_allclose(batched.coef[k], single.coef, atol=1e-9)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(33, 40), p=st.integers(17, 21), seed=st.integers(0, 10**6),
       fit_intercept=st.booleans())
def test_padding_to_a_bucket_does_not_change_the_solution(n, p, seed, fit_intercept):
    # every shape here pads to the same (40, 24) bucket, with 0 to 7 padding rows
    # and 3 to 7 padding columns; appending zero columns by hand changes nothing either
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    y = X @ rng.standard_normal(p) + rng.standard_normal(n)
    df, pen = datafits.quadratic(), prox.l1(0.1)
    padded = gradopt.glm(X, y, df, pen, fit_intercept=fit_intercept, tol=1e-12)
    wider = gradopt.glm(np.column_stack([X, np.zeros((n, 3))]), y, df, pen,
                        fit_intercept=fit_intercept, tol=1e-12)
    sk = Lasso(alpha=0.1, fit_intercept=fit_intercept, tol=1e-15, max_iter=10**6).fit(X, y)
    np.testing.assert_allclose(padded.coef, sk.coef_, atol=1e-7)
    np.testing.assert_allclose(wider.coef[:p], padded.coef, atol=1e-9)
    np.testing.assert_array_equal(wider.coef[p:], 0.0)


def test_a_nearby_shape_does_not_recompile():
    X, y = _data(40, 20, seed=13)
    assert glm_module.bucket(40) == glm_module.bucket(34) and glm_module.bucket(20) == glm_module.bucket(18)
    gradopt.glm(X, y, datafits.quadratic(), prox.l1(0.1))
    before = engine.solve._cache_size()
    res = gradopt.glm(X[:34, :18], y[:34], datafits.quadratic(), prox.l1(np.full(18, 0.2)))
    assert engine.solve._cache_size() == before and bool(res.converged)


def test_bucket_grid():
    sizes = [glm_module.bucket(m) for m in range(1, 3000)]
    assert all(s >= m for s, m in zip(sizes, range(1, 3000)))
    assert max(s / m for s, m in zip(sizes, range(17, 3000)) if m >= 17) <= 1.25 + 1e-9
    assert len(set(sizes)) <= 40


# --------------------------------------------------------------------------- #
# robustness
# --------------------------------------------------------------------------- #


def test_warm_starts_from_far_away():
    X, y = _data(40, 20, seed=14)
    far = gradopt.glm(X, y, datafits.quadratic(), prox.l1(0.05), init=np.full(20, 1e200), tol=1e-10)
    ref = gradopt.glm(X, y, datafits.quadratic(), prox.l1(0.05), tol=1e-10)
    assert bool(far.converged)
    np.testing.assert_allclose(far.coef, ref.coef, atol=1e-8)
    yl = (y > np.median(y)).astype(int)
    res = gradopt.sparse_logistic(X, yl, 0.02, init=np.full(20, 1000.0), tol=1e-8)
    ref = gradopt.sparse_logistic(X, yl, 0.02, tol=1e-8)
    assert bool(res.converged) and float(res.objective) <= float(ref.objective) + 1e-7
    # losses that grow linearly never overflow: far starts stalled (MAX_STEPS) until starts
    # worse than the null model were replaced by it
    for scale in (1e4, 1e10, -1e200):
        res = gradopt.sparse_logistic(X, yl, 0.02, init=np.full(20, scale), tol=1e-8)
        assert bool(res.converged) and float(res.objective) <= float(ref.objective) + 1e-7
    huber = gradopt.huber_regression(X, y, 0.05, tol=1e-8)
    for scale in (1e5, -1e12):
        res = gradopt.huber_regression(X, y, 0.05, init=np.full(20, scale), tol=1e-8)
        assert bool(res.converged) and float(res.objective) <= float(huber.objective) + 1e-7


def test_line_search_never_increases_the_objective():
    X, y = _data(40, 20, seed=15)
    yl = (y > np.median(y)).astype(int)
    start = _objective(datafits.logistic(), prox.l1(0.02), X, 2 * yl - 1, np.full(20, 1000.0), 0.0)
    prev = start
    for it in range(1, 6):
        r = gradopt.sparse_logistic(X, yl, 0.02, init=np.full(20, 1000.0), fit_intercept=False,
                                    max_iter=it, tol=0.0)
        assert float(r.objective) <= prev + 1e-12
        prev = float(r.objective)
    assert prev < start


@pytest.mark.parametrize("rho", [0.9, 0.99])
def test_highly_correlated_designs_converge(rho):
    X, y = _data(40, 80, seed=16, rho=rho)
    amax = float(gradopt.glm_alpha_max(X, y, datafits.quadratic()))
    res = gradopt.glm(X, y, datafits.quadratic(), prox.l1(1e-2 * amax), tol=1e-6, max_iter=200)
    assert bool(res.converged)
    assert float(res.duality_gap) <= 1e-6 * float(0.5 * np.mean(y**2))


@pytest.mark.parametrize("seed", [5, 6])
def test_elastic_net_on_a_nearly_singular_toeplitz_design_converges(seed):
    # rho = 0.99: every epoch's largest step passed the inner tolerance, so each outer
    # iteration ran one epoch, never extrapolated, and stopped at max_iter (MAX_STEPS)
    n, p = 40, 80
    cov = 0.99 ** np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
    X = np.random.default_rng(seed).standard_normal((n, p)) @ np.linalg.cholesky(cov).T
    w = np.zeros(p)
    w[::20] = 1.0
    y = X @ w + 0.1 * np.random.default_rng(seed + 1).standard_normal(n)
    alpha = 0.1 * np.max(np.abs(X.T @ y)) / (n * 0.5)
    ref = ElasticNet(alpha=alpha, l1_ratio=0.5, fit_intercept=False, tol=1e-14,
                     max_iter=10**6).fit(X, y)
    P_ref = _objective(datafits.quadratic(), prox.elastic_net(alpha, 0.5), X, y, ref.coef_, 0.0)
    for res in (gradopt.elastic_net(X, y, alpha, 0.5),
                gradopt.glm(X, y, datafits.quadratic(), prox.elastic_net(alpha, 0.5))):
        assert int(res.status) == int(gradopt.Status.CONVERGED)
        # certified and no better than scikit-learn's optimum (up to its own accuracy)
        assert float(res.objective) - P_ref <= float(res.duality_gap) + 1e-12
        assert float(res.objective) >= P_ref - 1e-10


def test_constant_zero_and_duplicated_columns():
    X, y = _data(40, 16, seed=17)
    X = np.column_stack([X, np.zeros(40), np.full(40, 3.0), X[:, 0], X[:, 0]])
    for df, yy in [(datafits.quadratic(), y), (datafits.logistic(), (y > np.median(y)).astype(int))]:
        res = gradopt.glm(X, yy, df, prox.l1(0.02), fit_intercept=True, tol=1e-10)
        assert bool(res.converged)
        assert float(res.coef[16]) == 0.0 and float(res.coef[17]) == 0.0  # zero and constant


# --------------------------------------------------------------------------- #
# paths and errors
# --------------------------------------------------------------------------- #


def test_glm_path_equals_independent_solves():
    X, y = _data(40, 20, seed=18)
    alphas = np.array([0.3, 0.1, 0.03])
    path = gradopt.glm_path(X, y, datafits.huber(1.0), prox.l1, alphas, tol=1e-10)
    assert path.coefs.shape == (3, 20)
    for k, a in enumerate(alphas):
        one = gradopt.glm(X, y, datafits.huber(1.0), prox.l1(a), tol=1e-10)
        np.testing.assert_allclose(path.coefs[k], one.coef, atol=1e-7)
    assert bool(np.all(path.converged))


def test_errors_name_the_argument():
    X, y = _data(20, 4, seed=19)
    q = datafits.quadratic()
    with pytest.raises(TypeError, match="datafit"):
        gradopt.glm(X, y, "quadratic", prox.l1(0.1))
    with pytest.raises(TypeError, match="coordinate structure"):
        gradopt.glm(X, y, q, "l1")
    with pytest.raises(ValueError, match="n_features"):
        gradopt.glm(X, y, q, prox.l1(np.ones(3)))
    with pytest.raises(ValueError, match="init"):
        gradopt.glm(X, y, q, prox.l1(0.1), init=np.zeros(5))
    with pytest.raises(ValueError, match="max_iter"):
        gradopt.glm(X, y, q, prox.l1(0.1), max_iter=2**40)
    with pytest.raises(TypeError, match="max_iter"):
        gradopt.glm(X, y, q, prox.l1(0.1), max_iter=None)
    with pytest.raises(TypeError, match="fit_intercept"):
        gradopt.glm(X, y, q, prox.l1(0.1), fit_intercept="yes")
    with pytest.raises(TypeError, match="masked"):
        gradopt.glm(np.ma.masked_array(X), y, q, prox.l1(0.1))
    with pytest.raises(TypeError, match="real numbers"):
        gradopt.glm(X, np.array(["a"] * 20), q, prox.l1(0.1))
    with pytest.raises(ValueError, match="NaN"):
        gradopt.glm(X, np.where(y > 0, np.nan, y), q, prox.l1(0.1))
    with pytest.raises(ValueError, match=">= 0"):
        gradopt.poisson_regression(X, y - 100, 0.1)
    with pytest.raises(ValueError, match="Y must have shape"):
        gradopt.multitask_lasso(X, y, 0.1)
    with pytest.warns(UserWarning, match="solution is w = 0"):
        gradopt.multitask_lasso(X, np.column_stack([y, y, y]), 1e6, fit_intercept=True)


@pytest.mark.slow  # about 10 s: tens of thousands of epochs
def test_huber_wide_small_alpha_converges_with_default_epochs():
    # p > n at alpha ~ 0.002 alpha_max: the solution has about n features, all samples
    # inliers (a singular least-squares part), and coordinate descent crawls. With 1000
    # epochs per outer iteration the solve stopped at max_iter (found by a randomized
    # comparison with skglm); with the default 10 000 it converges. Whether 1000 epochs
    # fall short depends on the host's rounding (CI's host converged in 48 outer
    # iterations, this one stops at 100), so only the default solve is checked, against
    # CVXPY: cvxpy.huber(r, M) is twice gradopt's h(r).
    rng = np.random.default_rng(6)
    n, p = 30, 100
    X = rng.standard_normal((n, p))
    y = X[:, :3] @ rng.standard_normal(3) / np.sqrt(3) + 0.3 * rng.standard_normal(n)
    y[: n // 10] += 20
    alpha = 0.002 * float(gradopt.glm_alpha_max(X, y, datafits.huber(1.0)))
    res = gradopt.glm(X, y, datafits.huber(1.0), prox.l1(alpha))
    assert bool(res.converged)
    w = cp.Variable(p)
    objective = cp.sum(cp.huber(y - X @ w, 1.0)) / (2 * n) + alpha * cp.norm1(w)
    problem = cp.Problem(cp.Minimize(objective))
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    np.testing.assert_allclose(float(res.objective), problem.value, rtol=1e-8)
    assert float(res.objective) - problem.value <= float(res.duality_gap) + 1e-10 * problem.value


# --------------------------------------------------------------------------- #
# blocks without strength, designs without columns (found by a randomized check)
# --------------------------------------------------------------------------- #


def test_alpha_zero_and_unpenalized_groups_stop_on_the_kkt_measure():
    # a block without strength has the conjugate {0}'s indicator: no rescaling of the dual
    # point reaches it, the gap stays at about P, and these solves ran to max_iter with
    # the right answer; they now stop on the KKT measure
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 8))
    y = X @ rng.standard_normal(8) + 0.5 * rng.standard_normal(30)
    ls = np.linalg.lstsq(X, y, rcond=None)[0]
    for res in (gradopt.lasso(X, y, 0.0, tol=1e-10), gradopt.elastic_net(X, y, 0.0, 0.5)):
        assert bool(res.converged)
        np.testing.assert_allclose(np.asarray(res.coef), ls, atol=1e-6)
    res = gradopt.multitask_lasso(X, np.column_stack([y, -y]), 0.0, tol=1e-10)
    assert bool(res.converged)
    np.testing.assert_allclose(np.asarray(res.coef), np.column_stack([ls, -ls]), atol=1e-6)
    # an unpenalized group, against CVXPY
    groups, weights, a = [[0, 1], [2, 3], [4, 5, 6, 7]], np.array([0.0, 1.0, 1.0]), 0.1
    res = gradopt.glm(X, y, datafits.quadratic(), prox.group_l2(a, groups=groups,
                                                                  weights=weights), tol=1e-10)
    assert bool(res.converged)
    w = cp.Variable(8)
    problem = cp.Problem(cp.Minimize(cp.sum_squares(y - X @ w) / 60 + a * sum(
        cp.norm(w[g], 2) for g in groups[1:])))
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    np.testing.assert_allclose(float(res.objective), problem.value, rtol=1e-8)


@pytest.mark.parametrize("datafit", ["huber", "poisson"])
def test_an_all_zero_design_with_an_intercept_converges(datafit):
    # only the intercept is free: the KKT measure's rounding floor counts its column of
    # ones (a floor of 0 kept the intercept's rounding above it until max_iter)
    jax.config.update("jax_enable_x64", True)
    y = np.random.default_rng(0).poisson(2.0, size=30).astype(float)
    res = getattr(gradopt, datafit + "_regression")(np.zeros((30, 3)), y, 0.01,
                                                    fit_intercept=True)
    assert bool(res.converged) and not np.any(np.asarray(res.coef))
    if datafit == "poisson":  # closed form
        b = np.log(y.mean())
    else:  # the mean Huber loss minimized over b by SciPy
        from scipy.optimize import minimize_scalar
        h = lambda r: np.where(np.abs(r) < 1.35, 0.5 * r * r, 1.35 * np.abs(r) - 0.5 * 1.35 ** 2)
        b = minimize_scalar(lambda b: np.mean(h(y - b)), bounds=(0, 10), method="bounded",
                            options=dict(xatol=1e-12)).x
    assert float(res.intercept) == pytest.approx(b, abs=1e-6)


def _ridge_reference(X, y, a2, fit_intercept):
    """``argmin 1/(2n) ||y - X w - b||^2 + sum_j a2_j w_j^2 / 2`` by NumPy's solver."""
    n = X.shape[0]
    xm, ym = (X.mean(0), y.mean(0)) if fit_intercept else (0.0, 0.0)
    Xc, yc = X - xm, y - ym
    w = np.linalg.solve(Xc.T @ Xc + n * np.diag(np.broadcast_to(a2, X.shape[1])), Xc.T @ yc)
    return w, ym - xm @ w if fit_intercept else 0.0


@pytest.mark.parametrize("n,p,rho", [(20, 300, 0.0), (60, 50, 0.99)])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_a_ridge_converges_from_its_direct_solution(n, p, rho, fit_intercept):
    """A least-squares ridge (l2_squared, elastic_net with l1_ratio=0; scalar and
    per-feature strengths; one task and three) starts from its solution by one linear
    system: coordinate descent alone ran out of its 100 outer iterations on these at
    default settings (p > n, or correlated columns, with a small strength)."""
    rng = np.random.default_rng(n + p)
    X = rng.standard_normal((n, p))
    X = X + rho / (1 - rho) * X[:, :1] if rho else X  # columns correlated about rho
    Y = X[:, :3] @ rng.standard_normal((3, 3)) + 0.1 * rng.standard_normal((n, 3))
    weights = rng.uniform(0.5, 2.0, p)
    for penalty, a2, y in [(prox.l2_squared(1e-4), 1e-4, Y[:, 0]),
                           (prox.elastic_net(1e-3 * weights, l1_ratio=0.0), 1e-3 * weights, Y)]:
        res = gradopt.glm(X, y, datafits.quadratic(), penalty, fit_intercept=fit_intercept)
        w, b = _ridge_reference(X, y, a2, fit_intercept)
        assert bool(res.converged) and int(res.n_iter) <= 1, (penalty, y.shape)
        scale = np.abs(w).max()
        np.testing.assert_allclose(np.asarray(res.coef), w, atol=1e-8 * scale)
        np.testing.assert_allclose(np.asarray(res.intercept), b, atol=1e-8 * max(scale, 1))


def test_ridge_estimator_and_float32_against_scikit_learn():
    """``ElasticNet(l1_ratio=0)`` on a wide design equals scikit-learn's ``Ridge`` with
    ``alpha * n`` (its objective is ``||y - Xw||^2 + alpha ||w||^2``); a float32 ridge
    converges to the float64 solution within float32's precision."""
    from sklearn.linear_model import Ridge

    from gradopt.estimators import ElasticNet as GradoptElasticNet

    rng = np.random.default_rng(3)
    n, p, alpha = 40, 400, 1e-3
    X = rng.standard_normal((n, p))
    y = X[:, :4] @ np.ones(4) + 0.1 * rng.standard_normal(n)
    ref = Ridge(alpha=alpha * n, solver="cholesky").fit(X, y)
    est = GradoptElasticNet(alpha=alpha, l1_ratio=0.0).fit(X, y)
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(est.coef_, ref.coef_, atol=1e-7 * scale)
    np.testing.assert_allclose(est.intercept_, ref.intercept_, atol=1e-7 * scale)
    res = gradopt.glm(X.astype(np.float32), y.astype(np.float32), datafits.quadratic(),
                      prox.l2_squared(alpha), fit_intercept=True, tol=1e-5)
    assert res.coef.dtype == jnp.float32 and bool(res.converged)
    np.testing.assert_allclose(np.asarray(res.coef), ref.coef_, atol=1e-3 * scale)
