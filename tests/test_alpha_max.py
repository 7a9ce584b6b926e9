"""``Penalty.alpha_max`` and ``glm_alpha_max(X, y, datafit, penalty)``.

The reference is the definition itself: ``glm`` with the penalty scaled by
``1.01 * alpha_max`` returns ``w = 0`` and with ``0.9 * alpha_max`` it does not
(checked with the engine, the proximal-gradient fallback and several datafits),
plus closed forms computed here with NumPy.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradopt
from gradopt import datafits as df
from gradopt import prox

jax.config.update("jax_enable_x64", True)

RNG = np.random.default_rng(7)
X = RNG.standard_normal((40, 12))
Y3 = X[:, :2] @ RNG.standard_normal((2, 3)) + 0.1 * RNG.standard_normal((40, 3))
y = X[:, 0] - 2 * X[:, 3] + 0.1 * RNG.standard_normal(40)
y01 = (y > 0).astype(float)
counts = RNG.poisson(np.exp(0.3 * X[:, 1])).astype(float)
GROUPS = [[0, 1, 2], [3, 4], [5, 6, 7, 8], [9, 10, 11]]
WEIGHTS = np.r_[0.0, np.linspace(0.5, 2.0, 11)]  # feature 0 not penalized

CASES = {
    # name: (datafit, targets, fit_intercept, penalty of strength t)
    "l1": (df.quadratic(), y, False, lambda t: prox.l1(t)),
    "l1-intercept": (df.quadratic(), y, True, lambda t: prox.l1(t)),
    "l1-positive": (df.quadratic(), y, False, lambda t: prox.l1(t, positive=True)),
    "enet": (df.quadratic(), y, False, lambda t: prox.elastic_net(t, 0.4)),
    "groups": (df.quadratic(), y, True,
               lambda t: prox.group_l2(t, groups=GROUPS, weights=np.sqrt([3, 2, 4, 3]))),
    "rows": (df.quadratic(), Y3, False, lambda t: prox.group_l2(t, axis=1)),
    "logistic": (df.logistic(), y01, True, lambda t: prox.l1(t)),
    "poisson": (df.poisson(), counts, False, lambda t: prox.l1(t)),
    "linf": (df.quadratic(), y, False, lambda t: prox.linf(t)),
    "nuclear": (df.quadratic(), Y3, False, lambda t: prox.nuclear(t)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_alpha_max_is_the_threshold_of_zero(name):
    datafit, target, fi, pen = CASES[name]
    amax = float(gradopt.glm_alpha_max(X, target, datafit, pen(1.0), fit_intercept=fi))
    assert 0 < amax < np.inf
    above = gradopt.glm(X, target, datafit, pen(1.01 * amax), fit_intercept=fi, tol=1e-10)
    below = gradopt.glm(X, target, datafit, pen(0.9 * amax), fit_intercept=fi, tol=1e-10)
    assert np.max(np.abs(np.asarray(above.coef))) < 1e-12
    assert np.max(np.abs(np.asarray(below.coef))) > 1e-6
    # relative to the penalty's strength: twice the strength, half the threshold
    half = float(gradopt.glm_alpha_max(X, target, datafit, pen(2.0), fit_intercept=fi))
    np.testing.assert_allclose(half, amax / 2, rtol=1e-12)


def test_closed_forms():
    n = X.shape[0]
    g = -X.T @ y / n  # gradient of the quadratic datafit at w = 0
    q = df.quadratic()
    amax = lambda pen: float(gradopt.glm_alpha_max(X, y, q, pen))  # noqa: E731
    np.testing.assert_allclose(amax(prox.l1(1.0)), np.max(np.abs(g)), rtol=1e-12)
    np.testing.assert_allclose(amax(prox.l1(1.0, positive=True)), np.max(-g), rtol=1e-12)
    np.testing.assert_allclose(amax(prox.l1(WEIGHTS)), np.max(np.abs(g[1:]) / WEIGHTS[1:]),
                               rtol=1e-12)
    ratio = np.linspace(0.2, 1.0, 12)
    np.testing.assert_allclose(amax(prox.elastic_net(1.0, ratio)),
                               np.max(np.abs(g) / ratio), rtol=1e-12)
    np.testing.assert_allclose(amax(prox.linf(1.0)), np.sum(np.abs(g)), rtol=1e-12)
    np.testing.assert_allclose(
        amax(prox.group_l2(1.0, groups=GROUPS)),
        max(np.linalg.norm(g[idx]) for idx in GROUPS), rtol=1e-12)
    # no l1 part: a ridge term never zeroes w; nothing penalized: 0
    assert amax(prox.l2_squared(1.0)) == np.inf
    assert amax(prox.elastic_net(1.0, 0.0)) == np.inf
    assert amax(prox.l1(0.0)) == 0.0 and amax(prox.zero()) == 0.0
    # the default penalty and the presets' functions agree with the penalty method
    np.testing.assert_allclose(float(gradopt.glm_alpha_max(X, y, q)), amax(prox.l1(1.0)))
    np.testing.assert_allclose(float(gradopt.glm_alpha_max(X, y, q, weights=WEIGHTS)),
                               amax(prox.l1(WEIGHTS)))
    np.testing.assert_allclose(float(gradopt.lasso_alpha_max(X, y, positive=True)),
                               amax(prox.l1(1.0, positive=True)), rtol=1e-12)
    np.testing.assert_allclose(
        float(gradopt.group_lasso_alpha_max(X, y, GROUPS)),
        amax(prox.group_l2(1.0, groups=GROUPS, weights=np.sqrt([3, 2, 4, 3]))), rtol=1e-12)
    G3 = X.T @ Y3 / n
    np.testing.assert_allclose(float(gradopt.glm_alpha_max(X, Y3, q)),
                               np.max(np.linalg.norm(G3, axis=1)), rtol=1e-12)
    np.testing.assert_allclose(float(gradopt.glm_alpha_max(X, Y3, q, prox.nuclear(1.0))),
                               np.linalg.norm(G3, 2), rtol=1e-12)


def test_null_intercept_closed_forms_and_gradient():
    """With an intercept, ``alpha_max`` reads the null model's best intercept: the closed
    forms ``log(n+ / n-)`` (logistic) and ``log(mean y)`` (Poisson) give the gradient
    at ``w = 0``; its reverse-mode derivative matches central finite differences."""
    n = X.shape[0]
    t = y01
    b = np.log(t.mean() / (1 - t.mean()))
    g = X.T @ (t - 1 / (1 + np.exp(-b))) / n
    np.testing.assert_allclose(float(gradopt.glm_alpha_max(X, y01, df.logistic(),
                                                           fit_intercept=True)),
                               np.max(np.abs(g)), rtol=1e-9)
    g = X.T @ (counts - counts.mean()) / n  # exp(b) = mean(y): the residual is centred
    np.testing.assert_allclose(float(gradopt.glm_alpha_max(X, counts, df.poisson(),
                                                           fit_intercept=True)),
                               np.max(np.abs(g)), rtol=1e-9)
    for datafit, target in ((df.poisson(), counts), (df.huber(0.5), y)):
        f = lambda v: gradopt.glm_alpha_max(X, v, datafit, fit_intercept=True)  # noqa: E731
        grad = np.asarray(jax.grad(f)(jnp.asarray(target)))
        e = np.zeros(n)
        for i in np.flatnonzero(np.abs(target) > 0.5)[:3]:  # counts stay >= 0
            e[:] = 0.0
            e[i] = 1e-6
            fd = (float(f(target + e)) - float(f(target - e))) / 2e-6
            np.testing.assert_allclose(grad[i], fd, rtol=1e-5, atol=1e-9)


def test_presets_warn_at_alpha_max_only_and_point_at_the_caller():
    """Each preset warns once ``alpha >= alpha_max`` (its solution is then ``w = 0``),
    not below it, and the warning names this file (the caller's line)."""
    import warnings

    groups = [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]
    cases = {
        "lasso": (lambda a: gradopt.lasso(X, y, a), gradopt.lasso_alpha_max(X, y)),
        "sparse logistic": (lambda a: gradopt.sparse_logistic(X, y01, a),
                            gradopt.sparse_logistic_alpha_max(X, y01)),
        "multitask lasso": (lambda a: gradopt.multitask_lasso(X, Y3, a),
                            gradopt.glm_alpha_max(X, Y3, df.quadratic())),
        "group lasso": (lambda a: gradopt.group_lasso(X, y, a, groups),
                        gradopt.group_lasso_alpha_max(X, y, groups)),
        "Huber regression": (lambda a: gradopt.huber_regression(X, y, a, l1_ratio=0.5),
                             gradopt.glm_alpha_max(X, y, df.huber(1.35),
                                                   prox.elastic_net(1.0, l1_ratio=0.5))),
        "Poisson regression": (lambda a: gradopt.poisson_regression(X, counts, a),
                               gradopt.glm_alpha_max(X, counts, df.poisson())),
    }
    for what, (solve, amax) in cases.items():
        for scale, expected in ((1.01, 1), (0.5, 0)):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                res = solve(scale * float(amax))
            ours = [w for w in caught if "alpha_max" in str(w.message)]
            assert len(ours) == expected, (what, scale, [str(w.message) for w in caught])
            assert bool(np.any(np.asarray(res.coef))) == (expected == 0), (what, scale)
            if ours:  # the line of the preset's call: the lambda's, not this loop's
                assert what in str(ours[0].message) and ours[0].filename == __file__, (
                    what, ours[0].filename)
                assert ours[0].lineno == solve.__code__.co_firstlineno, (what, ours[0].lineno)


def test_separable_takes_the_largest_child():
    g = {"a": jnp.array([3.0, -1.0]), "b": jnp.array([[1.0, 2.0], [2.0, 1.0]])}
    pen = prox.separable({"a": prox.l1(2.0), "b": prox.nuclear(1.0)})
    np.testing.assert_allclose(float(pen.alpha_max(g)), 3.0)  # max(3 / 2, sigma_1 = 3)
    pen = prox.separable({"a": prox.l1(1.0), "b": prox.zero()})  # b not penalized
    np.testing.assert_allclose(float(pen.alpha_max(g)), 3.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_traced_strength_and_dtype(dtype):
    g = jnp.asarray(RNG.standard_normal(12), dtype)
    eager = prox.l1(jnp.asarray(WEIGHTS, dtype)).alpha_max(g)
    jitted = jax.jit(lambda w: prox.l1(w).alpha_max(g))(jnp.asarray(WEIGHTS, dtype))
    assert eager.dtype == dtype
    np.testing.assert_allclose(float(jitted), float(eager), rtol=1e-6)
    a32 = gradopt.glm_alpha_max(X.astype(dtype), y.astype(dtype), df.quadratic(), prox.l1(1.0))
    assert a32.dtype == dtype
    np.testing.assert_allclose(float(a32), np.max(np.abs(X.T @ y)) / 40, rtol=1e-5)


def test_errors():
    with pytest.raises(NotImplementedError, match="Box does not define alpha_max"):
        gradopt.glm_alpha_max(X, y, df.quadratic(), prox.box(-1.0, 1.0))
    with pytest.raises(ValueError, match="weights sets the default penalty"):
        gradopt.glm_alpha_max(X, y, df.quadratic(), prox.l1(1.0), weights=WEIGHTS)
    with pytest.raises(TypeError, match="penalty must be a gradopt.prox penalty"):
        gradopt.glm_alpha_max(X, y, df.quadratic(), "l1")


def test_glm_path_default_grid():
    # the default grid: alpha_max of penalty(1.0) down to eps * alpha_max, as lasso_path's
    amax = float(gradopt.glm_alpha_max(X, y01, df.logistic(), prox.l1(1.0), fit_intercept=True))
    path = gradopt.glm_path(X, y01, df.logistic(), prox.l1, n_alphas=5, eps=1e-2,
                            fit_intercept=True, tol=1e-8)
    np.testing.assert_allclose(np.asarray(path.alphas), amax * np.geomspace(1, 1e-2, 5),
                               rtol=1e-12)
    coefs = np.asarray(path.coefs)
    assert not np.any(coefs[0]) and np.all(np.any(coefs[1:] != 0, axis=1))
    explicit = gradopt.glm_path(X, y01, df.logistic(), prox.l1, np.asarray(path.alphas),
                                fit_intercept=True, tol=1e-8)
    np.testing.assert_allclose(coefs, np.asarray(explicit.coefs), atol=1e-12)
    # index groups, and the lasso path's grid for the quadratic datafit
    groups = lambda a: prox.group_l2(a, groups=GROUPS)  # noqa: E731
    gpath = gradopt.glm_path(X, y, df.quadratic(), groups, n_alphas=3)
    assert not np.any(np.asarray(gpath.coefs)[0]) and np.any(np.asarray(gpath.coefs)[-1])
    lpath = gradopt.lasso_path(X, y, n_alphas=4)
    np.testing.assert_allclose(
        np.asarray(gradopt.glm_path(X, y, df.quadratic(), prox.l1, n_alphas=4).alphas),
        np.asarray(lpath.alphas), rtol=1e-12)
    with pytest.raises(ValueError, match="0 < alpha_max < inf"):
        gradopt.glm_path(X, y, df.quadratic(), prox.l2_squared, n_alphas=3)
    with pytest.raises(ValueError, match="n_alphas"):
        gradopt.glm_path(X, y, df.quadratic(), prox.l1, n_alphas=0)
    with pytest.raises(ValueError, match="eps"):
        gradopt.glm_path(X, y, df.quadratic(), prox.l1, eps=0.0)
