"""gradopt.group_lasso against CVXPY and scikit-learn, certificates, input handling."""

import warnings

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import Lasso as SkLasso

import gradopt
from gradopt import group_lasso, group_lasso_alpha_max


pytestmark = pytest.mark.filterwarnings("ignore:Solution may be inaccurate")


def _data(n, p, seed=0, offset=3.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    w = np.zeros(p)
    w[: min(4, p)] = [1.5, -2.0, 0.5, 1.0][: min(4, p)]
    y = X @ w + 0.1 * rng.standard_normal(n) + offset
    return X, y


def _cvxpy_group_lasso(X, y, alpha, groups, omega, fit_intercept):
    n, p = X.shape
    w = cp.Variable(p)
    b = cp.Variable()
    pen = sum(o * cp.norm(w[np.asarray(g)], 2) for o, g in zip(omega, groups))
    resid = y - X @ w - (b if fit_intercept else 0.0)
    # n * P(w, b): better scaled for the interior-point solver
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(resid) + n * alpha * pen))
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    assert prob.status in ("optimal", "optimal_inaccurate")  # accuracy is asserted by the callers
    return w.value, (float(b.value) if fit_intercept else 0.0), prob.value / n


def _objective(X, y, w, b, alpha, groups, omega):
    n = X.shape[0]
    r = y - X @ w - b
    return r @ r / (2 * n) + alpha * sum(o * np.linalg.norm(w[g]) for o, g in zip(omega, groups))


def _groupings(p, seed):
    rng = np.random.default_rng(seed)
    contiguous = [np.arange(i, min(i + 3, p)) for i in range(0, p, 3)]
    perm = rng.permutation(p)
    cuts = np.sort(rng.choice(np.arange(1, p), size=3, replace=False))
    uneven = np.split(perm, cuts)  # random, unequal, non-contiguous groups
    labels = rng.integers(0, 4, size=p)  # one label per feature
    labels[:4] = np.arange(4)  # every label used
    label_groups = [np.flatnonzero(labels == u) for u in np.unique(labels)]
    return [("contiguous", contiguous, contiguous), ("uneven", uneven, uneven), ("labels", labels, label_groups)]


@pytest.mark.parametrize("shape", [(60, 12), (25, 40)])  # Gram path (n >= p) and residual path
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_matches_cvxpy(shape, fit_intercept):
    X, y = _data(*shape, seed=shape[1])
    for name, groups, as_lists in _groupings(shape[1], seed=1):
        omega = [np.sqrt(len(g)) for g in as_lists]
        amax = float(group_lasso_alpha_max(X, y, groups, fit_intercept=fit_intercept))
        alpha = 0.1 * amax
        res = group_lasso(X, y, alpha, groups, fit_intercept=fit_intercept, tol=1e-10)
        w_ref, b_ref, p_ref = _cvxpy_group_lasso(X, y, alpha, as_lists, omega, fit_intercept)
        assert bool(res.converged), name
        np.testing.assert_allclose(res.coef, w_ref, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(float(res.intercept), b_ref, atol=1e-5, err_msg=name)
        # the reported objective is P at the returned point, and is optimal
        p_here = _objective(X, y, np.asarray(res.coef), float(res.intercept), alpha, as_lists, omega)
        np.testing.assert_allclose(float(res.objective), p_here, rtol=1e-10, err_msg=name)
        assert p_here - p_ref <= 1e-9 * max(1.0, abs(p_ref))
        # the certificate bounds the suboptimality (CVXPY's optimum is a lower bound up to its accuracy)
        assert p_here - p_ref <= float(res.duality_gap) + 1e-9


def test_custom_weights_match_cvxpy():
    X, y = _data(50, 9, seed=3)
    groups = [[0, 1, 2], [3, 4], [5, 6, 7, 8]]
    omega = [0.5, 2.0, 1.0]
    res = group_lasso(X, y, 0.05, groups, weights=omega, fit_intercept=True, tol=1e-10)
    w_ref, b_ref, _ = _cvxpy_group_lasso(X, y, 0.05, groups, omega, True)
    np.testing.assert_allclose(res.coef, w_ref, atol=1e-5)
    np.testing.assert_allclose(float(res.intercept), b_ref, atol=1e-5)


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_singleton_groups_equal_sklearn_lasso(fit_intercept):
    X, y = _data(40, 15, seed=4)
    alpha = 0.05
    res = group_lasso(X, y, alpha, np.arange(15), fit_intercept=fit_intercept, tol=1e-12)
    sk = SkLasso(alpha=alpha, fit_intercept=fit_intercept, tol=1e-12, max_iter=100000).fit(X, y)
    np.testing.assert_allclose(res.coef, sk.coef_, atol=1e-7)
    np.testing.assert_allclose(float(res.intercept), sk.intercept_, atol=1e-7)


def test_gap_bounds_suboptimality_before_convergence():
    X, y = _data(30, 20, seed=5)
    groups = [np.arange(i, i + 4) for i in range(0, 20, 4)]
    omega = [2.0] * 5
    alpha = 0.02
    _, _, p_star = _cvxpy_group_lasso(X, y, alpha, groups, omega, True)
    seen = []
    for it in [0, 1, 5, 10]:
        res = group_lasso(X, y, alpha, groups, fit_intercept=True, max_iter=it, tol=0.0)
        assert int(res.n_iter) <= 100 * it  # at most 100 working-set iterations of `it` epochs
        sub = float(res.objective) - p_star
        assert sub >= -1e-9
        assert sub <= float(res.duality_gap) + 1e-9
        seen.append(float(res.duality_gap))
    assert seen[-1] < seen[0]


def test_alpha_max_gives_zero_with_warning():
    X, y = _data(30, 8, seed=6)
    groups = [[0, 1], [2, 3, 4], [5, 6, 7]]
    amax = float(group_lasso_alpha_max(X, y, groups, fit_intercept=True))
    # closed form: max_g ||X_g^T y_c|| / (n sqrt|g|)
    Xc, yc = X - X.mean(0), y - y.mean()
    ref = max(np.linalg.norm(Xc[:, g].T @ yc) / (30 * np.sqrt(len(g))) for g in groups)
    np.testing.assert_allclose(amax, ref, rtol=1e-12)
    with pytest.warns(UserWarning, match="solution is w = 0"):
        res = group_lasso(X, y, amax * 1.0001, groups, fit_intercept=True)
    np.testing.assert_array_equal(res.coef, 0.0)
    np.testing.assert_allclose(float(res.intercept), y.mean(), rtol=1e-12)
    assert bool(res.converged) and int(res.n_iter) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = group_lasso(X, y, amax * 0.99, groups, fit_intercept=True)
    assert np.any(np.asarray(res.coef) != 0)


def test_zero_and_constant_columns_and_constant_y():
    X, y = _data(30, 6, seed=7)
    X[:, 2] = 0.0
    X[:, 4] = 5.0
    groups = [[0, 1], [2, 3], [4, 5]]
    omega = [np.sqrt(2)] * 3
    res = group_lasso(X, y, 0.05, groups, fit_intercept=True, tol=1e-10)
    w_ref, b_ref, _ = _cvxpy_group_lasso(X, y, 0.05, groups, omega, True)
    assert float(res.coef[2]) == 0.0 and float(res.coef[4]) == 0.0
    np.testing.assert_allclose(res.coef, w_ref, atol=1e-5)
    np.testing.assert_allclose(float(res.intercept), b_ref, atol=1e-5)
    with pytest.warns(UserWarning, match="w = 0"):
        res = group_lasso(X, np.full(30, 2.5), 0.05, groups, fit_intercept=True)
    np.testing.assert_array_equal(res.coef, 0.0)
    assert float(res.intercept) == pytest.approx(2.5) and bool(res.converged)


def test_warm_start_and_jax_input():
    X, y = _data(50, 12, seed=8)
    groups = np.arange(12) // 3
    cold = group_lasso(X, y, 0.03, groups, tol=1e-10)
    warm = group_lasso(jnp.asarray(X), jnp.asarray(y), 0.03, groups, tol=1e-10, init=cold.coef)
    np.testing.assert_allclose(warm.coef, cold.coef, atol=1e-8)
    assert int(warm.n_iter) < int(cold.n_iter)


def test_jit_and_vmap_over_alpha_equal_one_by_one():
    X, y = _data(40, 10, seed=9)
    groups = [np.arange(0, 5), np.arange(5, 10)]
    alphas = jnp.array([0.3, 0.1, 0.03])
    batched = jax.vmap(lambda a: group_lasso(X, y, a, groups, tol=1e-10))(alphas)
    for k, a in enumerate(alphas):
        # two programs, two roundings: each stops once its own gap is below tol * P(0)
        # (6e-10 here), at points that differed by 8e-9 at LLVM's level 0
        single = group_lasso(X, y, float(a), groups, tol=1e-10)
        np.testing.assert_allclose(batched.coef[k], single.coef, atol=1e-7)
        assert abs(float(batched.objective[k]) - float(single.objective)) <= max(
            float(batched.duality_gap[k]), float(single.duality_gap)) + 1e-15
    # a stack of targets, under jit
    ys = jnp.stack([y, 2 * y, -y])
    stacked = jax.jit(jax.vmap(lambda t: group_lasso(X, t, 0.1, groups, tol=1e-10)))(ys)
    for k in range(3):
        np.testing.assert_allclose(
            stacked.coef[k], group_lasso(X, ys[k], 0.1, groups, tol=1e-10).coef, atol=1e-9
        )


def test_float32_keeps_dtype_and_is_close():
    X, y = _data(60, 10, seed=10)
    groups = np.arange(10) // 2
    r64 = group_lasso(X, y, 0.05, groups, fit_intercept=True, tol=1e-10)
    r32 = group_lasso(X.astype(np.float32), y.astype(np.float32), 0.05, groups, fit_intercept=True, tol=1e-5)
    assert r32.coef.dtype == jnp.float32 and r32.objective.dtype == jnp.float32
    assert bool(r32.converged)
    np.testing.assert_allclose(r32.coef, r64.coef, atol=2e-3)


def test_top_level_names():
    assert gradopt.group_lasso is group_lasso
    assert gradopt.problems.group_lasso is group_lasso


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (dict(groups=[]), ValueError, "groups is empty"),
        (dict(groups=[[0, 1], [1, 2, 3, 4, 5]]), ValueError, "overlap"),
        (dict(groups=[[0, 1], [2, 3]]), ValueError, r"partition the 6 features; features \[4, 5\]"),
        (dict(groups=[[0, 1, 2], [3, 4, 9]]), ValueError, "outside"),
        (dict(groups=[[0, 1, 2], []]), ValueError, r"groups\[1\] is empty"),
        (dict(groups=[[0.0, 1.0], [2, 3, 4, 5]]), TypeError, "integer"),
        (dict(groups=np.zeros(5)), ValueError, "one label per feature"),
        (dict(groups=3), TypeError, "groups"),
        (dict(alpha=-1.0), ValueError, "alpha"),
        (dict(alpha=0.0), ValueError, "alpha"),
        (dict(alpha=float("nan")), ValueError, "alpha"),
        (dict(tol=-1.0), ValueError, "tol"),
        (dict(max_iter=2.5), TypeError, "max_iter"),
        (dict(weights=[1.0, 1.0]), ValueError, "weights"),
        (dict(weights=[1.0, -1.0, 1.0]), ValueError, "weights"),
        (dict(init=np.zeros(5)), ValueError, "init"),
    ],
)
def test_bad_arguments(kwargs, err, match):
    X, y = _data(10, 6, seed=11)
    args = dict(alpha=0.1, groups=[[0, 1], [2, 3], [4, 5]])
    args.update(kwargs)
    with pytest.raises(err, match=match):
        group_lasso(X, y, args.pop("alpha"), args.pop("groups"), **args)


def test_bad_data():
    X, y = _data(10, 6, seed=12)
    g = [[0, 1], [2, 3], [4, 5]]
    Xn = X.copy()
    Xn[3, 2] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        group_lasso(Xn, y, 0.1, g)
    yi = y.copy()
    yi[0] = np.inf
    with pytest.raises(ValueError, match="y contains NaN or inf"):
        group_lasso(X, yi, 0.1, g)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        group_lasso(X, y[:-1], 0.1, g)
    with pytest.raises(ValueError, match="2-D"):
        group_lasso(X[:, 0], y, 0.1, [[0]])
    with pytest.raises(ValueError, match="1-D"):
        group_lasso(X, y[:, None], 0.1, g)
    with pytest.warns(UserWarning, match="scipy.sparse"):
        res_sp = group_lasso(sp.csr_matrix(X), y, 0.1, g, tol=1e-10)
    res = group_lasso(X, y, 0.1, g, tol=1e-10)
    np.testing.assert_allclose(np.asarray(res_sp.coef), np.asarray(res.coef), atol=1e-12)
