"""gradopt.lasso_path against sklearn.linear_model.lasso_path / enet_path."""

import numpy as np
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import MultiTaskLasso, enet_path, lasso_path

import gradopt


def _data(name):
    if name == "diabetes":
        return load_diabetes(return_X_y=True)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 120))
    X[:, 1:] = 0.5 * X[:, :-1] + 0.8 * X[:, 1:]
    w = np.zeros(120)
    w[rng.choice(120, 10, replace=False)] = rng.standard_normal(10)
    return X, X @ w + 0.2 * rng.standard_normal(50)


def _objective(X, y, w, alpha, l1_ratio=1.0):
    r = y - X @ w
    return (r @ r) / (2 * len(y)) + alpha * l1_ratio * np.abs(w).sum() + 0.5 * alpha * (
        1 - l1_ratio
    ) * (w @ w)


@pytest.mark.parametrize("name", ["diabetes", "wide"])
def test_lasso_path_matches_sklearn(name):
    X, y = _data(name)
    path = gradopt.lasso_path(X, y, n_alphas=30, eps=1e-3, tol=1e-10)
    alphas, coefs, _ = lasso_path(X, y, alphas=30, eps=1e-3, tol=1e-12, max_iter=100_000)
    np.testing.assert_allclose(path.alphas, alphas, rtol=1e-12)
    assert path.coefs.shape == (30, X.shape[1])
    assert bool(np.all(path.converged))
    p0 = (y @ y) / (2 * len(y))
    assert np.all(path.duality_gaps <= 1e-10 * p0) and np.all(path.duality_gaps >= 0)
    for k, a in enumerate(alphas):
        P = _objective(X, y, path.coefs[k], a)
        P_ref = _objective(X, y, coefs[:, k], a)
        assert P <= P_ref + 1e-9 * p0
        scale = max(np.abs(coefs[:, k]).max(), 1e-12)
        np.testing.assert_allclose(path.coefs[k], coefs[:, k], atol=1e-3 * scale + 1e-10)
    # the first alpha is alpha_max: exact zero
    assert np.all(path.coefs[0] == 0)


def test_lasso_path_with_intercept_equals_centered_problem():
    X, y = _data("diabetes")
    path = gradopt.lasso_path(X, y, n_alphas=15, fit_intercept=True, tol=1e-10)
    Xc, yc = X - X.mean(0), y - y.mean()
    alphas, coefs, _ = lasso_path(Xc, yc, alphas=15, tol=1e-12, max_iter=100_000)
    np.testing.assert_allclose(path.alphas, alphas, rtol=1e-12)
    np.testing.assert_allclose(path.coefs, coefs.T, atol=1e-3 * np.abs(coefs).max())
    np.testing.assert_allclose(path.intercepts, y.mean() - path.coefs @ X.mean(0), rtol=1e-12)


def test_enet_path_and_given_alphas():
    X, y = _data("wide")
    given = np.array([0.01, 0.3, 0.05, 0.1])
    path = gradopt.lasso_path(X, y, alphas=given, l1_ratio=0.5, tol=1e-10)
    np.testing.assert_array_equal(path.alphas, np.sort(given)[::-1])  # decreasing, like sklearn
    alphas, coefs, _ = enet_path(X, y, l1_ratio=0.5, alphas=given, tol=1e-12, max_iter=100_000)
    p0 = (y @ y) / (2 * len(y))
    for k, a in enumerate(alphas):
        assert abs(_objective(X, y, path.coefs[k], a, 0.5)
                   - _objective(X, y, coefs[:, k], a, 0.5)) <= 1e-8 * p0
    # default grid for the elastic net uses alpha_max / l1_ratio (as sklearn's enet_path)
    path = gradopt.lasso_path(X, y, n_alphas=5, l1_ratio=0.5, tol=1e-8)
    alphas, _, _ = enet_path(X, y, l1_ratio=0.5, alphas=5)
    np.testing.assert_allclose(path.alphas, alphas, rtol=1e-12)


def test_path_bad_inputs():
    X, y = _data("diabetes")
    with pytest.raises(ValueError, match="eps"):
        gradopt.lasso_path(X, y, eps=0.0)
    with pytest.raises(ValueError, match="n_alphas"):
        gradopt.lasso_path(X, y, n_alphas=0)
    with pytest.raises(ValueError, match="alphas"):
        gradopt.lasso_path(X, y, alphas=[0.1, -1.0])
    with pytest.raises(ValueError, match="tol"):
        gradopt.lasso_path(X, y, tol=-1e-6)


def test_path_and_lasso_argument_checks_issue_13():
    # each of these was accepted silently or failed with an obscure error before
    X = np.random.default_rng(0).standard_normal((20, 5))
    y = X[:, 0]
    with pytest.raises(ValueError, match="eps"):
        gradopt.lasso_path(X, y, eps=1.0)
    with pytest.raises(ValueError, match="eps"):
        gradopt.lasso_path(X, y, eps=3.0)
    with pytest.raises(ValueError, match="alphas must be a non-empty 1-D"):
        gradopt.lasso_path(X, y, alphas=np.ones((2, 2)))
    with pytest.raises(TypeError, match="alphas"):
        gradopt.lasso_path(X, y, alphas=["a"])
    with pytest.raises(ValueError, match="max_outer"):
        gradopt.lasso(X, y, 0.1, max_outer=0)
    with pytest.raises(TypeError, match="max_outer"):
        gradopt.lasso(X, y, 0.1, max_outer=None)
    with pytest.raises(ValueError, match="max_iter"):
        gradopt.lasso(X, y, 0.1, max_iter=2**40)
    with pytest.raises(TypeError, match="max_iter"):
        gradopt.lasso(X, y, 0.1, max_iter="yes")


@pytest.mark.filterwarnings("ignore:alpha=.*alpha_max")
def test_tall_path_matches_single_solves_and_sklearn():
    # n >= 2 p: the engine's Gram form, formed once before the path's scan and its start
    # X^T grad F carried from the certificate; each point of the warm-started path must equal
    # its own cold-started solve, with an intercept (the Gram of centred columns) and an
    # elastic net, on badly scaled columns
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 30)) * np.logspace(-1, 1, 30) + 2.0
    y = X[:, :5] @ rng.standard_normal(5) + 0.1 * rng.standard_normal(200) + 4.0
    path = gradopt.lasso_path(X, y, n_alphas=6, eps=1e-2, l1_ratio=0.7, fit_intercept=True,
                              tol=1e-12)
    assert bool(np.all(path.converged))
    for k, a in enumerate(path.alphas):
        one = gradopt.elastic_net(X, y, float(a), 0.7, fit_intercept=True, tol=1e-12)
        scale = max(np.abs(one.coef).max(), 1e-12)
        np.testing.assert_allclose(path.coefs[k], one.coef, atol=1e-6 * scale)
        np.testing.assert_allclose(path.intercepts[k], one.intercept, atol=1e-6 * abs(y).max())
    Xc, yc = X - X.mean(0), y - y.mean()
    _, coefs, _ = enet_path(Xc, yc, l1_ratio=0.7, alphas=path.alphas, tol=1e-12, max_iter=100_000)
    np.testing.assert_allclose(path.coefs, coefs.T, atol=1e-4 * np.abs(coefs).max())


@pytest.mark.filterwarnings("ignore:alpha=.*alpha_max")
def test_tall_multitask_path_matches_single_solves():
    # a multitask path in the Gram form (two tasks, an intercept): its certificates are
    # computed from the Gram matrix (X^T u = H W - X_c^T y / n), which must stop where the
    # residual's own certificate stops; each point equals scikit-learn's MultiTaskLasso (the
    # same objective) and its own cold-started multitask_lasso
    rng = np.random.default_rng(5)
    X = rng.standard_normal((160, 24)) * np.logspace(-0.5, 0.5, 24) + 1.0
    Y = X[:, :3] @ rng.standard_normal((3, 2)) + 0.1 * rng.standard_normal((160, 2)) + 2.0
    amax = np.max(np.linalg.norm((X - X.mean(0)).T @ (Y - Y.mean(0)), axis=1)) / 160
    alphas = amax * np.array([0.5, 0.2, 0.05, 0.01])
    path = gradopt.glm_path(X, Y, gradopt.datafits.quadratic(),
                            lambda a: gradopt.prox.group_l2(a, axis=1), alphas,
                            fit_intercept=True, tol=1e-10)
    assert bool(np.all(path.converged))
    for k, a in enumerate(alphas):
        one = gradopt.multitask_lasso(X, Y, float(a), fit_intercept=True, tol=1e-12)
        np.testing.assert_allclose(path.coefs[k], one.coef, atol=1e-6 * np.abs(one.coef).max())
        np.testing.assert_allclose(path.intercepts[k], one.intercept, atol=1e-6 * abs(Y).max())
        assert float(path.objectives[k]) <= float(one.objective) + 1e-10 * float(one.objective)
        sk = MultiTaskLasso(alpha=float(a), tol=1e-12, max_iter=100_000).fit(X, Y)
        np.testing.assert_allclose(path.coefs[k], sk.coef_.T, atol=1e-5 * np.abs(sk.coef_).max())
        np.testing.assert_allclose(path.intercepts[k], sk.intercept_, atol=1e-5 * abs(Y).max())
