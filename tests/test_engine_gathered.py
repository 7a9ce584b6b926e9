"""The GLM engine's gathered inner loop on one device (``engine.Columns(None, capacity)``).

When the design is much wider than tall (``p_pad`` above ``capacity = bucket(4 n)``),
``glm`` runs each working set's coordinate descent on a gathered copy of its columns, so an
epoch costs ``O(capacity)`` instead of ``O(p)``, and sweeps singleton blocks of models whose
gradient is linear in ``Z`` 16 (or 8) coordinates per loop step (``engine._blocked_sweeps``).
Both must give the solution of the plain engine and of scikit-learn; the blocked sweeps must
give the iterates of one coordinate per step, and the gathered problem's blocks of rows, read
by slices, those of the same blocks read by a gather; a support larger than ``capacity`` must still
converge (windows of ``capacity`` blocks). One-task least squares is gathered at any width
(for the blocked sweeps), copying only the working set's columns.
"""

from __future__ import annotations

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.linear_model import ElasticNet, Lasso, MultiTaskLasso

import gradopt
from gradopt import datafits, prox
from gradopt.problems import engine
from gradopt.prox.group import FeatureGroupsL2

glm_module = importlib.import_module("gradopt.problems.glm")


def _wide(n=40, p=900, rho=0.6, seed=0, k=None):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    for j in range(1, p):
        X[:, j] = rho * X[:, j - 1] + np.sqrt(1 - rho ** 2) * X[:, j]
    W = np.zeros((p, k or 1))
    W[rng.choice(p, 6, replace=False)] = rng.standard_normal((6, k or 1))
    Y = X @ W + 0.1 * rng.standard_normal((n, k or 1))
    return X, (Y[:, 0] if k is None else Y)


def _solve(X, y, datafit, penalty, gathered, fit_intercept=False, tol=1e-12):
    data, W0, (_, p, _, _, _) = glm_module._prepare(X, y, datafit, None, multitask=False)
    pen = glm_module._per_feature(penalty, data.XT.shape[0], data.XT.dtype)
    columns = glm_module._columns(data)
    assert columns is not None and columns.mesh is None and columns.capacity < data.idx.shape[0]
    sol = engine.solve(datafit, pen, data, W0, tol, 1000, 100_000, fit_intercept=fit_intercept,
                       columns=columns if gathered else None)
    return sol, p


def _alpha(X, y, frac):
    yc = y - y.mean(axis=0)
    g = X.T @ yc / X.shape[0]
    return frac * float(np.max(np.linalg.norm(g.reshape(X.shape[1], -1), axis=1)))


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_gathered_lasso_matches_sklearn_and_the_plain_engine(fit_intercept):
    jax.config.update("jax_enable_x64", True)
    X, y = _wide()
    a = _alpha(X, y, 0.05)
    on, p = _solve(X, y, datafits.quadratic(), prox.l1(a), True, fit_intercept)
    off, _ = _solve(X, y, datafits.quadratic(), prox.l1(a), False, fit_intercept)
    assert int(on.status) == int(off.status) == 0
    ref = Lasso(alpha=a, fit_intercept=fit_intercept, tol=1e-15, max_iter=10 ** 6).fit(X, y)
    np.testing.assert_allclose(on.iterate.W[:p, 0], ref.coef_, atol=1e-7)
    np.testing.assert_allclose(on.iterate.W[:p, 0], off.iterate.W[:p, 0], atol=1e-7)
    if fit_intercept:
        np.testing.assert_allclose(float(on.iterate.b[0]), ref.intercept_, atol=1e-7)


def test_gathered_weighted_positive_elastic_net_matches_sklearn():
    # sum_j c_j |w_j| on X is the plain l1 on X / c with w = v / c (scikit-learn has no weights)
    jax.config.update("jax_enable_x64", True)
    X, y = _wide(seed=1)
    p = X.shape[1]
    c = np.linspace(0.5, 1.5, p)
    a = _alpha(X / c, y, 0.05)
    l1 = prox.l1(a * c, positive=True)
    on, _ = _solve(X, y, datafits.quadratic(), l1, True, True)
    ref = Lasso(alpha=a, positive=True, tol=1e-15, max_iter=10 ** 6).fit(X / c, y).coef_ / c
    np.testing.assert_allclose(on.iterate.W[:p, 0], ref, atol=1e-7)
    enet, _ = _solve(X, y, datafits.quadratic(), prox.elastic_net(a, 0.6), True)
    ref = ElasticNet(alpha=a, l1_ratio=0.6, fit_intercept=False, tol=1e-15,
                     max_iter=10 ** 6).fit(X, y).coef_

    def P(w):  # the ridge part is weak here: compare objectives, the coefficients loosely
        r = y - X @ w
        return r @ r / (2 * len(y)) + a * (0.6 * np.abs(w).sum() + 0.2 * w @ w)

    w = np.asarray(enet.iterate.W[:p, 0])
    assert abs(P(w) - P(ref)) <= float(enet.cert.gap) + 1e-14
    np.testing.assert_allclose(w, ref, atol=1e-5)


def test_gathered_multitask_matches_sklearn():
    jax.config.update("jax_enable_x64", True)
    X, Y = _wide(seed=2, k=3)
    a = _alpha(X, Y, 0.1)
    res = gradopt.multitask_lasso(X, Y, a, tol=1e-12)
    ref = MultiTaskLasso(alpha=a, fit_intercept=False, tol=1e-15, max_iter=10 ** 6).fit(X, Y)
    np.testing.assert_allclose(np.asarray(res.coef), ref.coef_.T, atol=1e-7)


@pytest.mark.parametrize("kind", ["logistic", "huber"])
def test_gathered_equals_plain_for_newton_and_bounded_datafits(kind):
    # logistic: a Newton model (blocked sweeps); huber: bounded curvature, not quadratic
    # (one coordinate per step on the gathered copy)
    jax.config.update("jax_enable_x64", True)
    X, y = _wide(seed=3)
    df = datafits.logistic() if kind == "logistic" else datafits.huber(0.5)
    if kind == "logistic":
        y = np.where(y > np.median(y), 1.0, -1.0)
    a = 0.1 * float(glm_module.glm_alpha_max(X, y, df, fit_intercept=True))
    on, p = _solve(X, y, df, prox.l1(a), True, True, tol=1e-10)
    off, _ = _solve(X, y, df, prox.l1(a), False, True, tol=1e-10)
    assert int(on.status) == int(off.status) == 0
    assert np.count_nonzero(np.asarray(on.iterate.W[:p, 0])) > 3
    np.testing.assert_allclose(on.iterate.W[:p, 0], off.iterate.W[:p, 0], atol=1e-6)
    np.testing.assert_allclose(float(on.cert.objective), float(off.cert.objective), rtol=1e-10)


def _contiguous_equals_listed(datafit, pen, data, model, start, ws, size, curvatures, epochs,
                              fit_intercept, *, rtol, atol):
    """``epochs`` inner epochs (no stopping) swept as a gathered problem (``contiguous``:
    blocked sweeps, or blocks of rows read by slices) and by the listed rows: the iterates
    must be the same. Returns the contiguous one."""

    def run(contiguous):
        it, n = engine._inner(datafit, pen, data, model, start, ws, size, *curvatures, 0.0,
                              epochs, fit_intercept, newton=False, contiguous=contiguous)
        return it, int(n)

    (contiguous, e1), (listed, e2) = run(True), run(False)
    assert e1 == e2 == epochs
    assert np.count_nonzero(np.asarray(listed.W)) > 0
    for a_, b_ in zip(contiguous, listed):
        np.testing.assert_allclose(np.asarray(a_), np.asarray(b_), rtol=rtol, atol=atol)
    return contiguous


@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("p, block", [(64, 16), (40, 8)])
def test_blocked_sweeps_give_the_iterates_of_single_steps(fit_intercept, k, p, block):
    jax.config.update("jax_enable_x64", True)
    X, y = _wide(n=30, p=p, seed=4, k=None if k == 1 else k)
    df = datafits.quadratic()
    data, W0, (_, p, _, _, _) = glm_module._prepare(X, y, df, None, multitask=False)
    data = jax.tree_util.tree_map(jnp.asarray, data)
    a = 0.05 * _alpha(X, y, 1.0)
    pen = glm_module._per_feature(prox.l1(a) if k == 1 else prox.group_l2(a, axis=1),
                                  data.XT.shape[0], data.XT.dtype)
    model = engine._model(df, data, data.XT.T @ W0)
    L, Lb, mu = engine._curvatures(df, data, model, fit_intercept)
    start = engine.Iterate(jnp.asarray(W0), jnp.zeros((W0.shape[1],)), data.XT.T @ W0)
    ws = jnp.arange(data.idx.shape[0], dtype=jnp.int32)
    assert engine._block_size(data.idx.shape[0]) == block  # 64 rows: 16 per step; 40: 8
    size = p - 21  # not a multiple of the block size: the last block is partly out of the set

    blocked = _contiguous_equals_listed(df, pen, data, model, start, ws, size, (L, Lb, mu), 7,
                                        fit_intercept, rtol=1e-10, atol=1e-12)
    assert not np.any(np.asarray(blocked.W)[size:])  # outside the set: untouched


@pytest.mark.parametrize("datafit", [datafits.quadratic(), datafits.huber(1.0)])
def test_contiguous_group_blocks_give_the_iterates_of_gathered_rows(datafit):
    # a gathered problem holds block j in rows j g ... j g + g - 1: the sweep reads them (and
    # writes W) by slices; read by a gather of the same rows, the iterates must be the same
    jax.config.update("jax_enable_x64", True)
    X, y = _wide(n=30, p=60, seed=7)
    g, C = 3, 20
    XT = jnp.asarray(X.T)
    valid = jnp.asarray(np.arange(C * g).reshape(C, g) < 58)  # the last block partly padding
    XT = jnp.where(valid.reshape(-1)[:, None], XT, 0.0)
    data = engine.Data(XT, jnp.asarray(y)[:, None], jnp.ones(30),
                       jnp.arange(C * g, dtype=jnp.int32).reshape(C, g), valid)
    a = 0.1 * float(np.max(np.abs(X.T @ y))) / 30
    pen = FeatureGroupsL2(jnp.full(C * g, a))  # group_lasso's block penalty
    W0 = jnp.zeros((C * g, 1))
    Z0 = jnp.zeros((30, 1))
    model = engine._model(datafit, data, Z0)
    L, Lb, mu = engine._curvatures(datafit, data, model, False)
    start = engine.Iterate(W0, jnp.zeros((1,)), Z0)
    ws = jnp.arange(C, dtype=jnp.int32)

    sliced = _contiguous_equals_listed(datafit, pen, data, model, start, ws, C - 3,
                                       (L, Lb, mu), 6, False, rtol=1e-12, atol=1e-14)
    assert not np.any(np.asarray(sliced.W)[(C - 3) * g:])  # outside the set: untouched


def test_support_beyond_the_capacity_converges():
    # n = 8: capacity 64 blocks; a small l1_ratio gives about 200 non-zeros, swept in
    # windows of 64
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((8, 2000))
    y = X[:, :5] @ np.ones(5) + 0.1 * rng.standard_normal(8)
    a = 0.01 * float(np.max(np.abs(X.T @ y))) / 8 / 0.05
    res = gradopt.glm(X, y, datafits.quadratic(), prox.elastic_net(a, 0.05), tol=1e-9,
                      max_iter=2000)
    assert bool(res.converged)
    w = np.asarray(res.coef)
    assert np.count_nonzero(w) > 64
    ref = ElasticNet(alpha=a, l1_ratio=0.05, fit_intercept=False, tol=1e-15,
                     max_iter=10 ** 6).fit(X, y).coef_

    def P(w):
        r = y - X @ w
        return r @ r / 16 + a * (0.05 * np.abs(w).sum() + 0.475 * w @ w)

    assert P(w) - P(ref) <= 1e-9 * P(np.zeros(2000)) + 1e-14


@pytest.mark.parametrize("datafit", ["quadratic", "poisson"])
@pytest.mark.parametrize("p", [65, 120])
def test_ridge_beyond_the_capacity_converges(datafit, p):
    # n = 11 (16 padded rows): capacity 64 blocks. A ridge's support is every feature: once
    # 64 were non-zero they held every window, and the 65th stayed at 0 until max_iter
    # (found by a randomized check); the windows now rotate over the violators too
    from sklearn.linear_model import PoissonRegressor, Ridge
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(1)
    n, a = 11, 0.5
    X = rng.standard_normal((n, p))
    if datafit == "quadratic":
        y = X[:, 0] + rng.standard_normal(n)
        res = gradopt.elastic_net(X, y, a, 0.0, tol=1e-10)
        ref = Ridge(alpha=a * n, fit_intercept=False, tol=1e-14).fit(X, y)
        loss = lambda z: 0.5 * np.mean((y - z) ** 2)
    else:
        y = rng.poisson(2.0, size=n).astype(float)
        res = gradopt.poisson_regression(X, y, a, l1_ratio=0.0, fit_intercept=True, tol=1e-10)
        ref = PoissonRegressor(alpha=a, tol=1e-14, max_iter=10 ** 5).fit(X, y)
        loss = lambda z: np.mean(np.exp(z) - y * z)
    w = np.asarray(res.coef)
    assert bool(res.converged) and np.count_nonzero(w) == p
    P = lambda w, b: loss(X @ w + b) + 0.5 * a * w @ w
    excess = P(w, float(res.intercept)) - P(ref.coef_, ref.intercept_)
    assert -1e-10 <= excess <= float(res.duality_gap) + 1e-12, excess
    np.testing.assert_allclose(w, ref.coef_, atol=1e-3 * np.abs(ref.coef_).max())


def test_square_lasso_is_gathered_and_matches_sklearn_and_the_plain_engine():
    # n close to p: the quadratic datafit with one task still gathers its working set (every
    # block fits), for the blocked sweeps; other datafits and multitask sweep X in place.
    # With an intercept (the centred columns of the blocked sweep); without one, every
    # square lasso of the suite takes this mode too
    fit_intercept = True
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(4)
    X = rng.standard_normal((70, 90)) + 0.3 * rng.standard_normal((70, 1))
    y = X[:, :40] @ rng.standard_normal(40) + rng.standard_normal(70)
    data, W0, (_, p, _, _, _) = glm_module._prepare(X, y, datafits.quadratic(), None,
                                                    multitask=False)
    columns = glm_module._columns(data, datafits.quadratic())
    assert columns is not None and not columns.gram and columns.capacity == data.idx.shape[0]
    assert glm_module._columns(data, datafits.logistic()) is None
    Y, _, _ = glm_module._prepare(X, np.stack([y, y], 1), datafits.quadratic(), None,
                                  multitask=True)
    assert glm_module._columns(Y, datafits.quadratic()) is None
    a = _alpha(X, y, 0.02)
    pen = glm_module._per_feature(prox.l1(a), data.XT.shape[0], data.XT.dtype)
    on, off = (engine.solve(datafits.quadratic(), pen, data, W0, 1e-12, 1000, 100_000,
                            fit_intercept=fit_intercept, columns=c) for c in (columns, None))
    assert int(on.status) == int(off.status) == 0
    ref = Lasso(alpha=a, fit_intercept=fit_intercept, tol=1e-15, max_iter=10 ** 6).fit(X, y)
    assert np.count_nonzero(ref.coef_) > 20
    np.testing.assert_allclose(on.iterate.W[:p, 0], ref.coef_, atol=1e-7)
    np.testing.assert_allclose(on.iterate.W[:p, 0], off.iterate.W[:p, 0], atol=1e-7)
    res = gradopt.lasso(X, y, a, fit_intercept=fit_intercept, tol=1e-12)
    np.testing.assert_allclose(np.asarray(res.coef), ref.coef_, atol=1e-7)


@pytest.mark.parametrize("size", [1, 63, 64, 65, 70, 72])
def test_gathering_copies_the_first_size_blocks_only(size):
    # on one device the columns are copied GATHER_ROWS at a time, as many as ``size`` needs;
    # a last chunk past the capacity (72 = 64 + 8) is shifted back onto the same rows
    rng = np.random.default_rng(size)
    p, n, capacity = 100, 7, 72
    XT = jnp.asarray(rng.standard_normal((p, n)))
    idx, valid = jnp.arange(p, dtype=jnp.int32)[:, None], jnp.ones((p, 1), bool)
    data = engine.Data(XT, jnp.zeros((n, 1)), jnp.ones(n), idx, valid)
    chosen = np.sort(rng.choice(p, size, replace=False)).astype(np.int32)
    ws = jnp.asarray(np.concatenate([chosen, np.full(capacity - size, p, np.int32)]))
    W = jnp.asarray(rng.standard_normal((p, 1)))
    pen = (jnp.arange(p, dtype=XT.dtype),)
    whole = engine._gather_working_set(data, pen, W, ws, capacity)
    part = engine._gather_working_set(data, pen, W, ws, capacity, jnp.asarray(size))
    np.testing.assert_array_equal(part[0].XT[:size], XT[chosen])
    np.testing.assert_array_equal(part[0].XT, whole[0].XT)  # past size: zeros in both
    for a, b in zip(jax.tree_util.tree_leaves(part[1:]), jax.tree_util.tree_leaves(whole[1:])):
        np.testing.assert_array_equal(a, b)


def test_listed_window_is_the_top_k_selection():
    # the one-device listing (prefix sums) picks what the sharded top_k ranking picks
    rng = np.random.default_rng(6)
    nb, capacity = 200, 32
    for trial in range(20):
        first = rng.random(nb) < rng.choice([0.05, 0.3])
        ties = ~first & (rng.random(nb) < 0.4)
        count = int(first.sum() + rng.integers(0, ties.sum() + 1))
        shift = int(rng.integers(0, nb)) if first.sum() > capacity else 0
        got = np.asarray(engine._listed_window(jnp.asarray(first), jnp.asarray(ties), count,
                                               capacity, shift))
        idx = np.arange(nb)
        rank = nb - 1 - np.where(first, (idx - shift) % nb, idx)
        key = np.where(first, 2 * nb, np.where(ties, nb, 0)) + rank
        size = min(count, capacity)
        want = np.sort(np.argsort(-key)[:size])
        np.testing.assert_array_equal(got[:size], want, err_msg=str(trial))
        assert np.all(got[size:] == nb)


# --------------------------------------------------------------------------- Gram form


def _tall(n=400, p=30, seed=7, k=None):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + 0.5 * rng.standard_normal((n, 1))  # correlated
    W = np.zeros((p, k or 1))
    W[:5] = rng.standard_normal((5, k or 1))
    Y = X @ W + 0.5 * rng.standard_normal((n, k or 1)) + 2.0
    return X, (Y[:, 0] if k is None else Y)


def test_tall_quadratic_problems_take_the_gram_form():
    X, y = _tall()
    data, _, _ = glm_module._prepare(X, y, datafits.quadratic(), None, multitask=False)
    assert glm_module._columns(data, datafits.quadratic()).gram
    assert glm_module._columns(data, datafits.huber(1.0)) is None  # not quadratic
    wide, _, _ = glm_module._prepare(*_wide(), datafits.quadratic(), None, multitask=False)
    assert not glm_module._columns(wide, datafits.quadratic()).gram


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_gram_form_matches_sklearn(fit_intercept):
    jax.config.update("jax_enable_x64", True)
    X, y = _tall()
    c = np.linspace(0.5, 2.0, X.shape[1])
    a = _alpha(X / c, y, 0.02)
    res = gradopt.glm(X, y, datafits.quadratic(), prox.l1(a * c), fit_intercept=fit_intercept,
                      tol=1e-12)
    ref = Lasso(alpha=a, fit_intercept=fit_intercept, tol=1e-15, max_iter=10 ** 6).fit(X / c, y)
    assert bool(res.converged)
    np.testing.assert_allclose(np.asarray(res.coef), ref.coef_ / c, atol=1e-9)
    np.testing.assert_allclose(float(res.intercept), ref.intercept_, atol=1e-9)
    X, Y = _tall(seed=8, k=3)
    a = _alpha(X, Y, 0.05)
    res = gradopt.multitask_lasso(X, Y, a, fit_intercept=fit_intercept, tol=1e-12)
    ref = MultiTaskLasso(alpha=a, fit_intercept=fit_intercept, tol=1e-15,
                         max_iter=10 ** 6).fit(X, Y)
    np.testing.assert_allclose(np.asarray(res.coef), ref.coef_.T, atol=1e-9)


@pytest.mark.parametrize("after, at_once", [(0.0, 0), (1e9, 0), (1e9, 64)])
@pytest.mark.parametrize("fit_intercept", [False, True])
def test_gram_form_switch_gives_the_solution_either_way(after, at_once, fit_intercept,
                                                         monkeypatch):
    # the Gram form is taken once the residual form's coordinate steps reach
    # GRAM_AFTER p_pad^2: at once (0) or never (1e9), the same lasso / elastic net as sklearn;
    # with at most GRAM_AT_ONCE padded features (here set to 64 against this design's 40) the
    # Gram is formed before the first step, and the program has no residual form
    jax.config.update("jax_enable_x64", True)
    monkeypatch.setattr(engine, "GRAM_AFTER", after)
    monkeypatch.setattr(engine, "GRAM_AT_ONCE", at_once)
    jax.clear_caches()  # both are read when the program is traced
    X, y = _tall(n=300, p=40, seed=12)
    data, _, _ = glm_module._prepare(X, y, datafits.quadratic(), None, multitask=False)
    assert engine._gram_at_once(data) == (at_once >= data.XT.shape[0])
    a = _alpha(X, y, 0.01)
    res = gradopt.glm(X, y, datafits.quadratic(), prox.l1(a), fit_intercept=fit_intercept,
                      tol=1e-12)
    ref = Lasso(alpha=a, fit_intercept=fit_intercept, tol=1e-15, max_iter=10 ** 6).fit(X, y)
    assert bool(res.converged)
    np.testing.assert_allclose(np.asarray(res.coef), ref.coef_, atol=1e-7)
    res = gradopt.glm(X, y, datafits.quadratic(), prox.elastic_net(2 * a, 0.5),
                      fit_intercept=fit_intercept, tol=1e-12)
    ref = ElasticNet(alpha=2 * a, l1_ratio=0.5, fit_intercept=fit_intercept, tol=1e-15,
                     max_iter=10 ** 6).fit(X, y)
    np.testing.assert_allclose(np.asarray(res.coef), ref.coef_, atol=1e-7)
    jax.clear_caches()


def test_gram_form_under_vmap_matches_single_solves():
    # under jax.vmap (no lax.cond switch, no Newton steps) the Gram form runs from the start
    jax.config.update("jax_enable_x64", True)
    X, y = _tall(n=300, p=40, seed=13)
    alphas = np.array([0.3, 0.05, 0.01]) * _alpha(X, y, 1.0)

    def coef(a):
        return gradopt.glm(X, y, datafits.quadratic(), prox.l1(a), fit_intercept=True,
                           tol=1e-12).coef

    batched = jax.vmap(coef)(jnp.asarray(alphas))
    for a, c in zip(alphas, batched):
        ref = Lasso(alpha=a, tol=1e-15, max_iter=10 ** 6).fit(X, y)
        np.testing.assert_allclose(np.asarray(c), ref.coef_, atol=1e-9)


def test_gram_form_float32():
    X, y = _tall(seed=9)
    a = _alpha(X, y, 0.05)
    jax.config.update("jax_enable_x64", True)
    ref = gradopt.glm(X, y, datafits.quadratic(), prox.l1(a), fit_intercept=True, tol=1e-12)
    res = gradopt.glm(X.astype(np.float32), y.astype(np.float32), datafits.quadratic(),
                      prox.l1(np.float32(a)), fit_intercept=True, tol=1e-5)
    assert res.coef.dtype == np.float32 and bool(res.converged)
    np.testing.assert_allclose(np.asarray(res.coef), np.asarray(ref.coef), atol=2e-3)
    assert float(res.objective) <= float(ref.objective) * (1 + 1e-5)


def test_gram_inner_loop_gives_the_iterates_of_the_residual_one():
    # same coordinate steps and Anderson steps, in O(C) per step instead of O(n)
    jax.config.update("jax_enable_x64", True)
    X, y = _tall(n=200, p=24, seed=10)
    df = datafits.quadratic()
    data, W0, _ = glm_module._prepare(X, y, df, None, multitask=False)
    data = jax.tree_util.tree_map(jnp.asarray, data)
    pen = glm_module._per_feature(prox.l1(_alpha(X, y, 0.05)), data.XT.shape[0], data.XT.dtype)
    model = engine._model(df, data, data.XT.T @ W0)
    L, Lb, mu = engine._curvatures(df, data, model, False)
    start = engine.Iterate(jnp.asarray(W0), jnp.zeros((1,)), data.XT.T @ W0)
    ws = jnp.arange(data.idx.shape[0], dtype=jnp.int32)
    size = 21
    it, e1 = engine._inner(df, pen, data, model, start, ws, size, L, Lb, mu, 0.0, 9, False,
                           newton=False)
    h = engine._hessian_weights(df, data, model)
    H = (data.XT * h) @ data.XT.T
    q0 = data.XT @ engine._model_grad(df, data, model, start.Z)
    W, e2 = engine._inner_gram(pen, data, H, q0, start.W, size, L, 0.0, 9, newton=False)
    assert int(e1) == int(e2) == 9
    assert np.count_nonzero(np.asarray(W)) > 2
    np.testing.assert_allclose(np.asarray(W), np.asarray(it.W), rtol=1e-9, atol=1e-12)


def _gram_problem(penalty_of, n=300, p=40, rho=0.95, seed=11):
    """An ill-conditioned tall lasso-type problem in Gram form: ``(pen, data, H, q0, W0, L)``."""
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    for j in range(1, p):
        X[:, j] = rho * X[:, j - 1] + np.sqrt(1 - rho ** 2) * X[:, j]
    y = X[:, :8] @ np.abs(rng.standard_normal(8)) + 0.3 * rng.standard_normal(n)
    H = jnp.asarray(X.T @ X / n)
    q0 = jnp.asarray(-(X.T @ y) / n)[:, None]
    data = engine.Data(None, None, None, jnp.arange(p, dtype=jnp.int32)[:, None],
                       jnp.ones((p, 1), bool))
    pen = penalty_of(_alpha(X, y, 0.02), p)
    return pen, data, H, q0, jnp.zeros((p, 1)), jnp.diag(H)


@pytest.mark.parametrize("kind", ["l1", "weighted_positive", "elastic_net"])
def test_gram_newton_steps_reach_the_coordinate_descent_solution_sooner(kind):
    # active-set Newton steps on the Gram form (engine._gram_newton): the same solution as
    # coordinate descent alone, in fewer epochs, on an ill-conditioned design (rho = 0.95)
    makers = {
        "l1": lambda a, p: prox.l1(jnp.full(p, a)),
        "weighted_positive": lambda a, p: prox.l1(jnp.linspace(0.5, 1.5, p) * a, positive=True),
        "elastic_net": lambda a, p: prox.elastic_net(jnp.full(p, 2 * a),
                                                     jnp.linspace(0.3, 0.9, p)),
    }
    pen, data, H, q0, W0, L = _gram_problem(makers[kind])
    p = W0.shape[0]
    tol = 1e-13 * float(jnp.max(jnp.abs(q0)))
    W_cd, e_cd = engine._inner_gram(pen, data, H, q0, W0, p, L, tol, 100_000, newton=False)
    W_nt, e_nt = engine._inner_gram(pen, data, H, q0, W0, p, L, tol, 100_000, newton=True)
    assert int(e_nt) < int(e_cd) < 100_000
    assert np.count_nonzero(np.asarray(W_nt)) >= 3
    np.testing.assert_allclose(np.asarray(W_nt), np.asarray(W_cd), atol=1e-9)


def test_gram_newton_solves_the_kkt_system_on_the_right_pattern():
    # near the optimum the predicted pattern is the optimal one, and the steps land on the
    # optimum: q_S + a1 sign(w_S) = 0 on the support, |q_j| <= a1 off it (the lasso's KKT)
    pen, data, H, q0, W0, L = _gram_problem(lambda a, p: prox.l1(jnp.full(p, a)))
    p = W0.shape[0]
    W_opt, _ = engine._inner_gram(pen, data, H, q0, W0, p, L, 1e-14, 100_000, newton=False)
    W = 0.999 * W_opt  # same pattern, off the optimum
    q = q0 + H @ (W - W0)

    def phi(W, q):
        return 0.5 * jnp.sum((q0 + q) * (W - W0)) + engine.penalty_value(pen, data, W)

    Wn, qn, better = engine._gram_newton(pen, H, W, q, p, L, data.valid[:, 0], phi, 64)
    assert bool(better)
    np.testing.assert_allclose(np.asarray(qn), np.asarray(q0 + H @ (Wn - W0)), atol=1e-12)
    on = np.asarray(Wn[:, 0]) != 0
    a1 = float(pen.reg[0])
    np.testing.assert_allclose(np.asarray(qn[on, 0]), -a1 * np.sign(np.asarray(Wn[on, 0])),
                               atol=1e-10)
    assert np.all(np.abs(np.asarray(qn[~on, 0])) <= a1 * (1 + 1e-9))
    np.testing.assert_allclose(np.asarray(Wn), np.asarray(W_opt), atol=1e-8)
