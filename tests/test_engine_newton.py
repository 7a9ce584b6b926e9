"""The GLM engine's active-set Newton steps (``engine._active_set_newton``).

On a wide, correlated design the inner coordinate descent crawls once the support is
found; the Newton steps solve the model on the predicted active set exactly. They must
give the same solution as coordinate descent alone (and as scikit-learn), in far fewer
epochs where they apply, for every member of the l1 / elastic-net family (weights,
``positive``, an intercept) and for a Newton datafit (logistic), and stay off under
``jax.vmap``.
"""

from __future__ import annotations

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.linear_model import ElasticNet, Lasso

import gradopt
from gradopt import datafits, prox
from gradopt.problems import engine

glm_module = importlib.import_module("gradopt.problems.glm")


def _wide(n=50, p=500, rho=0.8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    for j in range(1, p):  # AR(1) columns: neighbours correlated rho
        X[:, j] = rho * X[:, j - 1] + np.sqrt(1 - rho ** 2) * X[:, j]
    w = np.zeros(p)
    w[rng.choice(p, 8, replace=False)] = rng.choice([-1.0, 1.0], 8)
    return X, X @ w + 0.1 * rng.standard_normal(n)


def _solve(X, y, datafit, penalty, newton, fit_intercept=False, tol=1e-10):
    data, W0, (_, p, _, _, _) = glm_module._prepare(X, y, datafit, None, multitask=False)
    pen = glm_module._per_feature(penalty, data.XT.shape[0], data.XT.dtype)
    sol = engine.solve(datafit, pen, data, W0, tol, 500, 100_000, fit_intercept=fit_intercept,
                       newton=newton)
    return sol, p


def _alpha(X, y, frac):
    return frac * float(np.max(np.abs(X.T @ (y - y.mean()))) / X.shape[0])


def _reference(case, X, y, a, fit_intercept):
    """scikit-learn's solution: the weighted positive l1 by rescaled columns
    (``sum_j c_j |w_j|`` on ``X`` is the plain l1 on ``X / c`` with ``w = v / c``)."""
    kw = dict(alpha=a, fit_intercept=fit_intercept, tol=1e-15, max_iter=1_000_000)
    if case == "l1":
        return Lasso(**kw).fit(X, y).coef_
    if case == "elastic net":
        return ElasticNet(l1_ratio=0.7, **kw).fit(X, y).coef_
    c = np.linspace(0.5, 1.5, X.shape[1])
    return Lasso(positive=True, **kw).fit(X / c, y).coef_ / c


CASES = {
    "l1": lambda a, p: prox.l1(a),
    "weighted positive l1": lambda a, p: prox.l1(a * np.linspace(0.5, 1.5, p), positive=True),
    "elastic net": lambda a, p: prox.elastic_net(a, 0.7),
}


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("case", list(CASES))
def test_newton_steps_reach_the_solution_in_no_more_epochs(case, fit_intercept):
    jax.config.update("jax_enable_x64", True)
    X, y = _wide()
    a = _alpha(X, y, 0.02)
    penalty = CASES[case](a, X.shape[1])
    on, p = _solve(X, y, datafits.quadratic(), penalty, True, fit_intercept, tol=1e-14)
    off, _ = _solve(X, y, datafits.quadratic(), penalty, False, fit_intercept, tol=1e-14)
    assert int(on.status) == int(off.status) == 0, (on.status, off.status)
    ref = _reference(case, X, y, a, fit_intercept)
    np.testing.assert_allclose(on.iterate.W[:p, 0], ref, atol=1e-8)
    assert int(on.n_epochs) <= int(off.n_epochs), (int(on.n_epochs), int(off.n_epochs))


@pytest.mark.parametrize("newton", [True, False])
def test_a_tolerance_at_the_rounding_floor_ends_and_reports_its_own_objective(newton):
    """At ``tol=1e-14`` the KKT measure reaches its rounding floor: inner solves stop there
    (they had run to ``max_epochs``, 100 000 here, on every outer iteration), and ``Z`` is
    recomputed from ``W`` (its increments' rounding had drifted the reported objective
    upward by up to 4e-12, 2e-11 relative, and kept the gap above its target). A solve
    that converges before the floor keeps its increments' rounding, a few 1e-13 relative
    here (jax 0.6)."""
    jax.config.update("jax_enable_x64", True)
    X, y = _wide()
    a = _alpha(X, y, 0.02)
    sol, p = _solve(X, y, datafits.quadratic(), prox.l1(a), newton, tol=1e-14)
    assert int(sol.status) == 0 and int(sol.n_epochs) < 20_000, (sol.status, sol.n_epochs)
    w = np.asarray(sol.iterate.W[:p, 0])
    P = 0.5 * np.mean((y - X @ w) ** 2) + a * np.sum(np.abs(w))
    assert abs(float(sol.cert.objective) - P) <= 1e-12 * P, (float(sol.cert.objective), P)
    assert float(sol.cert.gap) <= 1e-14 * float(sol.p0)


def test_newton_steps_cut_the_epochs_of_a_crawling_lasso_and_match_sklearn():
    jax.config.update("jax_enable_x64", True)
    X, y = _wide()
    a = _alpha(X, y, 0.02)
    on, p = _solve(X, y, datafits.quadratic(), prox.l1(a), True, tol=1e-12)
    off, _ = _solve(X, y, datafits.quadratic(), prox.l1(a), False, tol=1e-12)
    assert 3 * int(on.n_epochs) < 2 * int(off.n_epochs), (int(on.n_epochs), int(off.n_epochs))
    ref = Lasso(alpha=a, fit_intercept=False, tol=1e-14, max_iter=1_000_000).fit(X, y)
    np.testing.assert_allclose(on.iterate.W[:p, 0], ref.coef_, atol=1e-7)


def test_newton_steps_with_a_newton_datafit():
    jax.config.update("jax_enable_x64", True)
    X, y = _wide(seed=3)
    labels = np.where(y > np.median(y), 1.0, -1.0)
    penalty = prox.l1(0.02)
    on, p = _solve(X, labels, datafits.logistic(), penalty, True, fit_intercept=True)
    off, _ = _solve(X, labels, datafits.logistic(), penalty, False, fit_intercept=True)
    assert int(on.status) == int(off.status) == 0
    # the same solution (the steps-off engine is checked against CVXPY in test_glm); the
    # epochs are not compared: inside proximal Newton the steps change the outer trajectory
    np.testing.assert_allclose(on.iterate.W[:p, 0], off.iterate.W[:p, 0], atol=1e-6)
    np.testing.assert_allclose(on.iterate.b, off.iterate.b, atol=1e-6)


def test_newton_steps_are_off_under_vmap():
    seen = []
    jax.vmap(lambda a: seen.append(glm_module.any_batched(a)) or a)(jnp.ones(3))
    jax.jit(lambda a: seen.append(glm_module.any_batched(a)) or a)(jnp.ones(3))
    assert seen == [True, False]
    X, y = _wide(n=30, p=80)
    alphas = jnp.array([0.2, 0.05])
    batched = jax.vmap(lambda a: gradopt.glm(X, y, datafits.quadratic(), prox.l1(a),
                                             tol=1e-10))(alphas)
    for k, a in enumerate(alphas):
        single = gradopt.glm(X, y, datafits.quadratic(), prox.l1(float(a)), tol=1e-10)
        np.testing.assert_allclose(batched.coef[k], single.coef, atol=1e-8)


def test_newton_size_follows_the_samples_within_its_bounds():
    # NEWTON_SIZE = 256 blocks, at most the blocks, at most the padded samples unless below
    # NEWTON_MIN = 128 (docs/glm.md): the values the rule gives on four shapes, by hand
    def size(n, p):
        data, _, _ = glm_module._prepare(np.ones((n, p)), np.ones(n), datafits.quadratic(),
                                         None, multitask=False)
        return data.XT.shape, engine._newton_size(data)

    assert size(200, 1000) == ((1024, 224), 224)  # the samples (a support of 198 fits)
    assert size(50, 1000) == ((1024, 56), 128)  # few samples: NEWTON_MIN, as before the rule
    assert size(5000, 100) == ((112, 5120), 112)  # the blocks
    assert size(2000, 5000) == ((5120, 2048), 256)  # NEWTON_SIZE


@pytest.mark.slow
def test_newton_steps_take_a_support_larger_than_newton_min():
    """A crawling lasso (rho = 0.99, a fifth of w* non-zero) whose support, 136 of 160
    samples, is above NEWTON_MIN: the steps apply (with a size of NEWTON_MIN they could
    not: 136 + 136 // 8 + 1 > 128) and cut the epochs, 21 254 -> 3645 when measured."""
    jax.config.update("jax_enable_x64", True)
    n, p = 160, 400
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, p))
    for j in range(1, p):
        X[:, j] = 0.99 * X[:, j - 1] + np.sqrt(1 - 0.99 ** 2) * X[:, j]
    w = np.zeros(p)
    w[rng.choice(p, p // 5, replace=False)] = rng.standard_normal(p // 5)
    y = X @ w + 0.1 * rng.standard_normal(n)
    a = 1e-3 * float(np.max(np.abs(X.T @ y))) / n
    on, _ = _solve(X, y, datafits.quadratic(), prox.l1(a), True, tol=1e-8)
    off, _ = _solve(X, y, datafits.quadratic(), prox.l1(a), False, tol=1e-8)
    support = int(np.sum(np.asarray(on.iterate.W[:p, 0]) != 0))
    assert support + support // 8 + 1 > engine.NEWTON_MIN, support
    assert int(on.status) == int(off.status) == 0
    assert 2 * int(on.n_epochs) < int(off.n_epochs), (int(on.n_epochs), int(off.n_epochs))
    # rho = 0.99: a gap of 1e-8 pins the objective, not w to 1e-6
    objective = lambda w: np.sum((y - X @ w) ** 2) / (2 * n) + a * np.sum(np.abs(w))  # noqa: E731
    P_on, P_off = (objective(np.asarray(s.iterate.W[:p, 0])) for s in (on, off))
    assert abs(P_on - P_off) <= 1e-7 * P_off, (P_on, P_off)
