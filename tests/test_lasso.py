"""gradopt.lasso / elastic_net / lasso_batch / duality gaps against scikit-learn.

References: scikit-learn's ``Lasso`` / ``ElasticNet`` run to ``tol=1e-12`` (same
objective scaling), the optimality of the returned point (P(w) - P* is bounded
by the certificate), closed forms (alpha >= alpha_max gives 0), and the
one-by-one solves for the batched ones.
"""

import importlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import ElasticNet, Lasso

import gradopt

# the module (gradopt.problems exports the function under the same name)
lasso_mod = importlib.import_module("gradopt.problems.lasso")


def _toeplitz(n, p, rho, seed):
    rng = np.random.default_rng(seed)
    X = np.empty((n, p))
    u = rng.standard_normal(n)
    X[:, 0] = u
    for j in range(1, p):
        u = rho * u + np.sqrt(1 - rho**2) * rng.standard_normal(n)
        X[:, j] = u
    w = np.zeros(p)
    support = rng.choice(p, max(p // 5, 1), replace=False)
    w[support] = rng.standard_normal(support.size)
    y = X @ w + 0.3 * rng.standard_normal(n)
    return X, y


_DIABETES = load_diabetes(return_X_y=True)
DATASETS = {
    "toeplitz": _toeplitz(80, 30, 0.6, 0),
    "diabetes": _DIABETES,
    "wide": _toeplitz(40, 300, 0.5, 1),  # p >> n: working sets
}


def _alpha_max(X, y, fit_intercept):
    if fit_intercept:
        X = X - X.mean(0)
        y = y - y.mean()
    return np.abs(X.T @ y).max() / len(y)


def _objective(X, y, w, b, alpha, l1_ratio=1.0):
    r = y - X @ w - b
    return (r @ r) / (2 * len(y)) + alpha * l1_ratio * np.abs(w).sum() + 0.5 * alpha * (
        1 - l1_ratio
    ) * (w @ w)


def _p0(y, fit_intercept):
    yc = y - y.mean() if fit_intercept else y
    return (yc @ yc) / (2 * len(y))


@pytest.mark.parametrize("name", list(DATASETS))
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("reg", [0.5, 0.05])
def test_lasso_matches_sklearn(name, fit_intercept, reg):
    X, y = DATASETS[name]
    alpha = reg * _alpha_max(X, y, fit_intercept)
    res = gradopt.lasso(X, y, alpha, fit_intercept=fit_intercept, tol=1e-10)
    ref = Lasso(alpha=alpha, fit_intercept=fit_intercept, tol=1e-12, max_iter=200_000).fit(X, y)
    w, b = np.asarray(res.coef), float(res.intercept)
    p0 = _p0(y, fit_intercept)
    P = _objective(X, y, w, b, alpha)
    P_ref = _objective(X, y, ref.coef_, ref.intercept_, alpha)
    assert bool(res.converged)
    assert float(res.duality_gap) <= 1e-10 * p0
    np.testing.assert_allclose(float(res.objective), P, rtol=1e-9)
    assert P <= P_ref + 1e-9 * p0  # at least as good as the reference
    assert P_ref - P <= 1e-8 * p0
    scale = np.abs(ref.coef_).max()
    np.testing.assert_allclose(w, ref.coef_, atol=1e-4 * scale)
    np.testing.assert_array_equal(w == 0, np.abs(ref.coef_) < 1e-9 * scale)
    np.testing.assert_allclose(b, ref.intercept_, atol=1e-4 * max(1.0, abs(ref.intercept_)))


@pytest.mark.parametrize("name", ["toeplitz", "diabetes", "wide"])
@pytest.mark.parametrize("l1_ratio", [0.3, 0.8])
def test_elastic_net_matches_sklearn(name, l1_ratio):
    X, y = DATASETS[name]
    alpha = 0.05 * _alpha_max(X, y, True) / l1_ratio
    res = gradopt.elastic_net(X, y, alpha, l1_ratio, fit_intercept=True, tol=1e-10)
    ref = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, tol=1e-12, max_iter=200_000).fit(X, y)
    p0 = _p0(y, True)
    P = _objective(X, y, np.asarray(res.coef), float(res.intercept), alpha, l1_ratio)
    P_ref = _objective(X, y, ref.coef_, ref.intercept_, alpha, l1_ratio)
    assert bool(res.converged)
    assert abs(P - P_ref) <= 1e-8 * p0
    np.testing.assert_allclose(np.asarray(res.coef), ref.coef_, atol=1e-4 * np.abs(ref.coef_).max())


@pytest.mark.parametrize("name", ["toeplitz", "wide"])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_gap_bounds_suboptimality_along_the_way(name, l1_ratio):
    """P(w) - P* <= gap at unconverged iterates (few epochs), and gap >= 0."""
    X, y = DATASETS[name]
    alpha = 0.05 * _alpha_max(X, y, False) / l1_ratio
    ref = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, fit_intercept=False, tol=1e-13,
                     max_iter=500_000).fit(X, y)
    P_star = _objective(X, y, ref.coef_, 0.0, alpha, l1_ratio)
    seen_positive = False
    for max_iter in (1, 5, 10, 20):
        res = gradopt.elastic_net(X, y, alpha, l1_ratio, tol=1e-14, max_iter=max_iter,
                                  max_outer=1)
        P, D, gap = gradopt.elastic_net_duality_gap(X, y, np.asarray(res.coef), alpha, l1_ratio)
        assert float(gap) >= 0
        assert float(D) <= P_star + 1e-12 * abs(P_star)  # weak duality
        assert float(P) - P_star <= float(gap) + 1e-12 * abs(P_star)
        if l1_ratio == 1.0:  # the same rescaled-residual dual point
            np.testing.assert_allclose(float(res.duality_gap), float(gap), rtol=1e-6, atol=1e-12)
        else:  # the engine's own elastic-net dual point: another, also valid, certificate
            assert float(P) - P_star <= float(res.duality_gap) + 1e-12 * abs(P_star)
        seen_positive |= float(gap) > 1e-8
    assert seen_positive  # the check ran on genuinely unconverged points


def test_gap_of_random_points_is_an_upper_bound():
    X, y = DATASETS["toeplitz"]
    alpha = 0.1 * _alpha_max(X, y, True)
    ref = Lasso(alpha=alpha, tol=1e-13, max_iter=500_000).fit(X, y)
    P_star = _objective(X, y, ref.coef_, ref.intercept_, alpha)
    rng = np.random.default_rng(3)
    for _ in range(20):
        w = ref.coef_ + 0.05 * rng.standard_normal(X.shape[1]) * (rng.random(X.shape[1]) < 0.5)
        b = ref.intercept_ + 0.1 * rng.standard_normal()
        P, D, gap = gradopt.lasso_duality_gap(X, y, w, alpha, b, fit_intercept=True)
        np.testing.assert_allclose(float(P), _objective(X, y, w, b, alpha), rtol=1e-12)
        assert float(D) <= P_star * (1 + 1e-12)
        assert float(P) - P_star <= float(gap) * (1 + 1e-9)


def test_gap_closed_form():
    X = np.eye(2)
    y = np.array([1.0, 0.5])
    # w = 0: r = y, g = X^T y / 2 = (0.5, 0.25); mu = min(A/B = 1, 0.1 / 0.5) = 0.2
    P, D, gap = gradopt.lasso_duality_gap(X, y, np.zeros(2), 0.1)
    B = (y @ y) / 2
    np.testing.assert_allclose(float(P), 0.5 * B)
    np.testing.assert_allclose(float(D), 0.2 * B - 0.5 * 0.04 * B)
    # the exact solution: w_j = S(y_j, n alpha) = (0.8, 0.3) has gap 0
    _, _, gap0 = gradopt.lasso_duality_gap(X, y, np.array([0.8, 0.3]), 0.1)
    assert abs(float(gap0)) < 1e-15


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_alpha_at_least_alpha_max_gives_exact_zero(fit_intercept):
    X, y = DATASETS["toeplitz"]
    amax = gradopt.lasso_alpha_max(X, y, fit_intercept=fit_intercept)
    np.testing.assert_allclose(amax, _alpha_max(X, y, fit_intercept), rtol=1e-12)
    for alpha in (amax, 2 * amax):
        with pytest.warns(UserWarning, match="alpha_max"):
            res = gradopt.lasso(X, y, alpha, fit_intercept=fit_intercept)
        assert np.all(np.asarray(res.coef) == 0)
        assert float(res.duality_gap) == 0.0 and bool(res.converged)
        expected_b = y.mean() if fit_intercept else 0.0
        np.testing.assert_allclose(float(res.intercept), expected_b, rtol=1e-12)
    res = gradopt.lasso(X, y, 0.99 * amax, fit_intercept=fit_intercept)
    assert np.count_nonzero(np.asarray(res.coef)) >= 1


def test_solver_jax_and_ws_size_are_kept_for_compatibility():
    """``solver="jax"`` is the same engine; ``ws_size`` warns that it has no effect."""
    for name in ("toeplitz", "wide"):
        X, y = DATASETS[name]
        alpha = 0.05 * _alpha_max(X, y, True)
        a = gradopt.lasso(X, y, alpha, fit_intercept=True, tol=1e-10)
        b = gradopt.lasso(X, y, alpha, fit_intercept=True, tol=1e-10, solver="jax")
        assert bool(b.converged)
        np.testing.assert_array_equal(np.asarray(b.coef), np.asarray(a.coef))
        with pytest.warns(FutureWarning, match="ws_size has no effect"):
            c = gradopt.lasso(X, y, alpha, fit_intercept=True, tol=1e-10, ws_size=8)
        np.testing.assert_array_equal(np.asarray(c.coef), np.asarray(a.coef))
    with pytest.warns(FutureWarning, match="ws_size has no effect"):
        gradopt.lasso_batch(X, np.stack([y, y]), alpha, tol=1e-6, ws_size=8)


def test_warm_start_and_max_iter():
    X, y = DATASETS["wide"]
    alpha = 0.05 * _alpha_max(X, y, False)
    cold = gradopt.lasso(X, y, alpha, tol=1e-10)
    warm = gradopt.lasso(X, y, alpha, tol=1e-10, init=np.asarray(cold.coef))
    assert int(warm.n_iter) < int(cold.n_iter)
    np.testing.assert_allclose(np.asarray(warm.coef), np.asarray(cold.coef), atol=1e-6)
    short = gradopt.lasso(X, y, alpha, tol=1e-14, max_iter=5, max_outer=1)
    assert not bool(short.converged) and int(short.n_iter) <= 5


def test_float32_inputs():
    X, y = DATASETS["toeplitz"]
    alpha = 0.1 * _alpha_max(X, y, True)
    res32 = gradopt.lasso(X.astype(np.float32), y.astype(np.float32), alpha,
                          fit_intercept=True, tol=1e-5)
    res64 = gradopt.lasso(X, y, alpha, fit_intercept=True, tol=1e-12)
    assert res32.coef.dtype == jnp.float32 and res64.coef.dtype == jnp.float64
    assert bool(res32.converged)
    np.testing.assert_allclose(np.asarray(res32.coef), np.asarray(res64.coef), atol=2e-3)
    # the float32 certificate is honest when re-evaluated in float64
    _, _, gap = gradopt.lasso_duality_gap(X, y, np.asarray(res32.coef, np.float64), alpha,
                                          float(res32.intercept), fit_intercept=True)
    assert float(gap) <= 1e-4 * _p0(y, True)


def test_jax_array_inputs_and_jit_with_traced_alpha():
    X, y = DATASETS["toeplitz"]
    Xj, yj = jnp.asarray(X), jnp.asarray(y)
    alpha = 0.1 * _alpha_max(X, y, False)
    ref = gradopt.lasso(X, y, alpha, tol=1e-10)
    res = gradopt.lasso(Xj, yj, alpha, tol=1e-10)
    np.testing.assert_allclose(np.asarray(res.coef), np.asarray(ref.coef), atol=1e-9)
    jitted = jax.jit(lambda a: gradopt.lasso(Xj, yj, a, tol=1e-10, solver="jax").coef)
    np.testing.assert_allclose(np.asarray(jitted(alpha)), np.asarray(ref.coef), atol=1e-7)


def test_degenerate_data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 6))
    X[:, 2] = 0.0  # all-zero column
    X[:, 4] = 3.0  # constant column
    y = X[:, 0] - 2 * X[:, 1] + 0.1 * rng.standard_normal(30)
    for fi in (False, True):
        alpha = 0.05
        res = gradopt.lasso(X, y, alpha, fit_intercept=fi, tol=1e-10)
        ref = Lasso(alpha=alpha, fit_intercept=fi, tol=1e-12, max_iter=100_000).fit(X, y)
        assert np.all(np.isfinite(np.asarray(res.coef))) and bool(res.converged)
        assert float(res.coef[2]) == 0.0
        np.testing.assert_allclose(np.asarray(res.coef), ref.coef_, atol=1e-5)
        if fi:
            assert float(res.coef[4]) == 0.0  # constant column is centered to 0
    # constant y: w = 0, intercept = the constant, gap 0
    with pytest.warns(UserWarning, match="alpha_max=0"):
        res = gradopt.lasso(X, np.full(30, 2.5), 0.1, fit_intercept=True)
    assert np.all(np.asarray(res.coef) == 0) and float(res.intercept) == pytest.approx(2.5)
    assert float(res.duality_gap) == 0.0 and bool(res.converged)
    # alpha = 0 is least squares (here: n > p, full rank after dropping zero column)
    res = gradopt.lasso(X[:, [0, 1, 3]], y, 0.0, tol=1e-12)
    ls = np.linalg.lstsq(X[:, [0, 1, 3]], y, rcond=None)[0]
    np.testing.assert_allclose(np.asarray(res.coef), ls, atol=1e-6)


def test_no_alpha_max_warning_below_alpha_max_and_for_a_zero_solution_inside_the_path():
    import warnings

    X, y = DATASETS["toeplitz"]
    amax = gradopt.lasso_alpha_max(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gradopt.lasso(X, y, 0.5 * amax)
        gradopt.elastic_net(X, y, 0.5 * amax / 0.5, l1_ratio=0.5)
        gradopt.lasso_path(X, y, n_alphas=5)  # starts at alpha_max
    with pytest.warns(UserWarning, match="alpha_max"):
        gradopt.elastic_net(X, y, 1.01 * amax / 0.5, l1_ratio=0.5)


def test_tol_zero_runs_to_max_iter_or_an_exact_gap():
    X, y = DATASETS["toeplitz"]
    alpha = 0.1 * _alpha_max(X, y, False)
    res = gradopt.lasso(X, y, alpha, tol=0.0, max_iter=50, max_outer=2)
    assert int(res.n_iter) <= 2 * 50  # epochs of at most 2 working-set iterations
    assert float(res.duality_gap) >= 0.0
    # tol=0: converged only at the rounding floor of P - D (32 eps |P|)
    floor = 32 * np.finfo(np.float64).eps * abs(float(res.objective))
    assert bool(res.converged) == (float(res.duality_gap) <= floor)
    ref = gradopt.lasso(X, y, alpha, tol=1e-12)
    np.testing.assert_allclose(np.asarray(res.coef), np.asarray(ref.coef), atol=1e-6)


def test_scipy_sparse_is_densified_with_a_warning():
    sp = pytest.importorskip("scipy.sparse")
    X, y = DATASETS["toeplitz"]
    alpha = 0.1 * _alpha_max(X, y, False)
    with pytest.warns(UserWarning, match="sparse"):
        res = gradopt.lasso(sp.csr_matrix(X), y, alpha, tol=1e-10)
    ref = gradopt.lasso(X, y, alpha, tol=1e-10)
    np.testing.assert_allclose(np.asarray(res.coef), np.asarray(ref.coef), atol=1e-12)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(alpha=-1.0), "alpha"),
        (dict(alpha=np.nan), "alpha"),
        (dict(alpha=np.inf), "alpha"),
        (dict(tol=-1e-3), "tol"),
        (dict(l1_ratio=1.5), "l1_ratio"),
        (dict(l1_ratio=-0.1), "l1_ratio"),
        (dict(max_iter=0), "max_iter"),
        (dict(X="nan"), "X"),
        (dict(y="inf"), "y"),
        (dict(X="1d"), "X"),
        (dict(y="2d"), "y"),
        (dict(y="short"), "samples"),
        (dict(init="shape"), "init"),
    ],
)
def test_bad_inputs(kwargs, match):
    X, y = DATASETS["toeplitz"]
    X, y = X.copy(), y.copy()
    args = dict(alpha=0.1, l1_ratio=0.5, tol=1e-6, max_iter=100, init=None)
    special = {k: kwargs.pop(k) for k in ("X", "y", "init") if k in kwargs}
    args.update(kwargs)
    if special.get("X") == "nan":
        X[3, 2] = np.nan
    if special.get("X") == "1d":
        X = X[:, 0]
    if special.get("y") == "inf":
        y[0] = np.inf
    if special.get("y") == "2d":
        y = y[:, None]
    if special.get("y") == "short":
        y = y[:-1]
    if special.get("init") == "shape":
        args["init"] = np.zeros(X.shape[1] + 1)
    with pytest.raises(ValueError, match=match):
        gradopt.elastic_net(X, y, args["alpha"], args["l1_ratio"], tol=args["tol"],
                            max_iter=args["max_iter"], init=args["init"])
    if "l1_ratio" not in kwargs:
        with pytest.raises(ValueError, match=match):
            gradopt.lasso(X, y, args["alpha"], tol=args["tol"], max_iter=args["max_iter"],
                          init=args["init"])


def test_bad_inputs_gap_and_batch():
    X, y = DATASETS["toeplitz"]
    with pytest.raises(ValueError, match="w"):
        gradopt.lasso_duality_gap(X, y, np.zeros(3), 0.1)
    with pytest.raises(ValueError, match="alpha"):
        gradopt.lasso_duality_gap(X, y, np.zeros(X.shape[1]), -0.1)
    with pytest.raises(ValueError, match="alpha"):
        gradopt.lasso_batch(X, y, np.array([0.1, -0.2]))
    with pytest.raises(ValueError, match="batch"):
        gradopt.lasso_batch(np.stack([X, X]), np.stack([y, y, y]), 0.1)
    with pytest.raises(ValueError, match="solver"):
        gradopt.lasso(X, y, 0.1, solver="fista")


# --------------------------------------------------------------------------- batches


def _small_problems(k, n=40, p=12, seed=0):
    rng = np.random.default_rng(seed)
    Xs = rng.standard_normal((k, n, p))
    W = rng.standard_normal((k, p)) * (rng.random((k, p)) < 0.4)
    Ys = np.einsum("knp,kp->kn", Xs, W) + 0.1 * rng.standard_normal((k, n))
    return Xs, Ys


@pytest.mark.slow  # many batched compiles: the slow tier
def test_batch_equals_one_by_one():
    Xs, Ys = _small_problems(6)
    alphas = np.linspace(0.02, 0.2, 6)
    # a stack of problems with their own alphas (with intercepts)
    res = gradopt.lasso_batch(Xs, Ys, alphas, fit_intercept=True, tol=1e-10)
    assert res.coef.shape == (6, 12) and bool(np.all(res.converged))
    for k in range(6):
        one = gradopt.lasso(Xs[k], Ys[k], alphas[k], fit_intercept=True, tol=1e-10)
        np.testing.assert_allclose(np.asarray(res.coef[k]), np.asarray(one.coef), atol=1e-7)
        np.testing.assert_allclose(float(res.intercept[k]), float(one.intercept), atol=1e-7)
        np.testing.assert_allclose(float(res.objective[k]), float(one.objective), rtol=1e-9)
    # one X, many y (no intercept)
    res = gradopt.lasso_batch(Xs[0], Ys, 0.05, tol=1e-10)
    for k in (0, 5):
        one = gradopt.lasso(Xs[0], Ys[k], 0.05, tol=1e-10)
        np.testing.assert_allclose(np.asarray(res.coef[k]), np.asarray(one.coef), atol=1e-7)
    # one problem, many alphas (elastic net, intercept)
    res = gradopt.lasso_batch(Xs[1], Ys[1], alphas, l1_ratio=0.5, fit_intercept=True, tol=1e-10)
    for k in (0, 3):
        one = gradopt.elastic_net(Xs[1], Ys[1], alphas[k], 0.5, fit_intercept=True, tol=1e-10)
        np.testing.assert_allclose(np.asarray(res.coef[k]), np.asarray(one.coef), atol=1e-7)


def test_batch_wide_problems_with_working_sets_and_user_vmap():
    """p > n: the engine's working sets inside the vmap (no Newton steps there)."""
    X, y = DATASETS["wide"]
    rng = np.random.default_rng(1)
    Ys = np.stack([y, y + 0.3 * rng.standard_normal(len(y)), -y])
    alpha = 0.1 * _alpha_max(X, y, False)
    res = gradopt.lasso_batch(X, Ys, alpha, tol=1e-10)
    assert bool(np.all(res.converged))
    by_hand = jax.vmap(lambda yy: gradopt.lasso(jnp.asarray(X), yy, alpha, tol=1e-10,
                                                ).coef)(jnp.asarray(Ys))
    for k in range(3):
        one = gradopt.lasso(X, Ys[k], alpha, tol=1e-10)
        np.testing.assert_allclose(np.asarray(res.coef[k]), np.asarray(one.coef), atol=1e-6)
        np.testing.assert_allclose(np.asarray(by_hand[k]), np.asarray(one.coef), atol=1e-6)


def test_precision_rule():
    X, y = DATASETS["toeplitz"]
    assert lasso_mod._float_dtype(X, y) == jnp.float64
    assert lasso_mod._float_dtype(X.astype(np.float32), y.astype(np.float32)) == jnp.float32
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert lasso_mod._float_dtype(np.zeros((2, 2), int), np.zeros(2, int)) == jnp.float64


def test_alpha_max_of_ridge_is_inf_or_zero():
    # l1_ratio = 0 (ridge): no finite alpha zeroes w unless X^T y = 0 (a NameError once)
    X, y = DATASETS["toeplitz"]
    assert gradopt.lasso_alpha_max(X, y, l1_ratio=0.0) == np.inf
    assert gradopt.lasso_alpha_max(X, y, l1_ratio=0.0, positive=True) == np.inf
    assert gradopt.lasso_alpha_max(X, np.zeros_like(y), l1_ratio=0.0) == 0.0
