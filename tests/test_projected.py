"""projected_gradient against SciPy (lsq_linear with bounds, nnls)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.optimize import lsq_linear, nnls

import gradopt
from gradopt.prox import box, l1, l2_ball, nonnegative


def _box_ls(seed=0, n=30, p=10):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, p))
    b = A @ rng.uniform(-3, 3, p) + 0.5 * rng.standard_normal(n)
    lb = -np.ones(p) * rng.uniform(0.2, 1.5, p)
    ub = np.ones(p) * rng.uniform(0.2, 1.5, p)
    L = np.linalg.norm(A, 2) ** 2
    return A, b, lb, ub, L


A_NP, B_NP, LB, UB, LIP = _box_ls()
A, B = jnp.asarray(A_NP), jnp.asarray(B_NP)


def ls(x):
    r = A @ x - B
    return 0.5 * jnp.dot(r, r)


@pytest.fixture(scope="module")
def scipy_solution():
    sol = lsq_linear(A_NP, B_NP, bounds=(LB, UB), method="bvls", tol=1e-14)
    assert sol.success
    x = sol.x
    n_active = np.sum(np.isclose(x, LB) | np.isclose(x, UB))
    assert 0 < n_active < len(x)  # a real constrained problem
    return x


@pytest.mark.parametrize(
    "how", ["callable", "set_penalty", "accelerated", "backtracking", "fista_backtracking_restart"]
)
def test_box_least_squares_matches_lsq_linear(how, scipy_solution):
    pen = box(jnp.asarray(LB), jnp.asarray(UB))
    if how == "callable":
        opt = gradopt.projected_gradient(
            1.0 / LIP, lambda x: optax.projections.projection_box(x, jnp.asarray(LB), jnp.asarray(UB))
        )
    elif how == "set_penalty":
        opt = gradopt.projected_gradient(1.0 / LIP, pen)
    elif how == "accelerated":
        opt = gradopt.proximal_gradient(1.0 / LIP, pen, accelerate=True, restart="gradient")
    elif how == "backtracking":
        opt = gradopt.projected_gradient(None, pen)
    else:
        proj = lambda x: optax.projections.projection_box(x, jnp.asarray(LB), jnp.asarray(UB))
        opt = gradopt.projected_gradient(None, proj, accelerate=True, restart="function")
    res = gradopt.minimize(ls, jnp.zeros(len(LB)), opt, penalty=pen, max_steps=20000, tol=1e-11)
    assert res.status_name == "CONVERGED"
    np.testing.assert_allclose(np.asarray(res.params), scipy_solution, atol=1e-6)
    f_ref = 0.5 * np.sum((A_NP @ scipy_solution - B_NP) ** 2)
    assert float(res.value) == pytest.approx(f_ref, rel=1e-9)


def test_nonnegative_least_squares_matches_nnls():
    rng = np.random.default_rng(3)
    M = rng.standard_normal((25, 8))
    c = rng.standard_normal(25)
    x_ref, _ = nnls(M, c)
    assert np.sum(x_ref == 0) > 0
    Mj, cj = jnp.asarray(M), jnp.asarray(c)
    f = lambda x: 0.5 * jnp.sum((Mj @ x - cj) ** 2)
    opt = gradopt.projected_gradient(1.0 / np.linalg.norm(M, 2) ** 2, nonnegative())
    res = gradopt.minimize(f, jnp.ones(8), opt, penalty=nonnegative(), max_steps=20000, tol=1e-11)
    np.testing.assert_allclose(np.asarray(res.params), x_ref, atol=1e-7)


def test_iterates_feasible_and_same_for_penalty_and_callable():
    """From an infeasible start, every iterate is in the box; penalty == optax projection."""
    lr = 1.0 / LIP
    a = gradopt.projected_gradient(lr, box(jnp.asarray(LB), jnp.asarray(UB)))
    b = gradopt.projected_gradient(lr, lambda x: optax.projections.projection_box(x, LB, UB))
    pa = pb = jnp.full(len(LB), 5.0)
    sa, sb = a.init(pa), b.init(pb)
    x = np.full(len(LB), 5.0)
    for _ in range(20):
        ua, sa = a.update(jax.grad(ls)(pa), sa, pa)
        ub, sb = b.update(jax.grad(ls)(pb), sb, pb)
        pa, pb = gradopt.apply_updates(pa, ua), gradopt.apply_updates(pb, ub)
        x = np.clip(x - lr * A_NP.T @ (A_NP @ x - B_NP), LB, UB)
        assert np.all(np.asarray(pa) >= LB - 1e-15) and np.all(np.asarray(pa) <= UB + 1e-15)
        np.testing.assert_allclose(np.asarray(pa), np.asarray(pb), rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(np.asarray(pa), x, rtol=1e-12, atol=1e-14)


def test_pytree_l2_ball_float32_and_schedule():
    """Projection onto a ball of the whole pytree; float32 kept; schedule evaluated per step."""
    target = {"a": jnp.array([3.0, 4.0], jnp.float32), "b": jnp.array([[12.0]], jnp.float32)}
    f = lambda p: 0.5 * sum(jnp.sum((p[k] - target[k]) ** 2) for k in p)
    sched = lambda k: 0.5 / (k + 1.0)
    opt = gradopt.projected_gradient(sched, l2_ball(1.0))
    p = jax.tree_util.tree_map(jnp.zeros_like, target)
    s = opt.init(p)
    q = {k: np.zeros_like(np.asarray(v), dtype=np.float64) for k, v in target.items()}
    for k in range(10):
        u, s = opt.update(jax.grad(f)(p), s, p)
        assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves(u))
        p = gradopt.apply_updates(p, u)
        eta = 0.5 / (k + 1.0)
        q = {key: q[key] - eta * (q[key] - np.asarray(target[key])) for key in q}
        nrm = np.sqrt(sum(np.sum(v ** 2) for v in q.values()))
        q = {key: v / max(nrm, 1.0) for key, v in q.items()}
        for key in q:
            np.testing.assert_allclose(np.asarray(p[key]), q[key], rtol=1e-5, atol=1e-6)
    # the solution of min ||x - t|| over the unit ball is t / ||t|| (= /13)
    res = gradopt.minimize(f, p, gradopt.projected_gradient(0.5, l2_ball(1.0)), max_steps=200, tol=0.0)
    np.testing.assert_allclose(np.asarray(res.params["b"]), [[12.0 / 13.0]], rtol=1e-5)
    assert res.params["a"].dtype == jnp.float32


def test_vmap_over_learning_rate():
    lrs = jnp.array([0.3, 0.6, 0.9]) / LIP

    def run(lr):
        opt = gradopt.projected_gradient(lr, box(jnp.asarray(LB), jnp.asarray(UB)))
        x0 = jnp.zeros(len(LB))

        def body(_, c):
            x, s = c
            u, s = opt.update(jax.grad(ls)(x), s, x)
            return gradopt.apply_updates(x, u), s

        return jax.lax.fori_loop(0, 50, body, (x0, opt.init(x0)))[0]

    out = np.asarray(jax.jit(jax.vmap(run))(lrs))
    for i, lr in enumerate(np.asarray(lrs)):
        x = np.zeros(len(LB))
        for _ in range(50):
            x = np.clip(x - lr * A_NP.T @ (A_NP @ x - B_NP), LB, UB)
        np.testing.assert_allclose(out[i], x, rtol=1e-10, atol=1e-12)


def test_bad_input():
    proj = optax.projections.projection_non_negative
    with pytest.raises(ValueError, match="learning_rate"):
        gradopt.projected_gradient(-1.0, proj)
    with pytest.raises(ValueError, match="is_indicator"):
        gradopt.projected_gradient(0.1, l1(0.1))
    with pytest.raises(TypeError, match="projection"):
        gradopt.projected_gradient(0.1, 3.0)
    opt = gradopt.projected_gradient(0.1, proj)
    x = jnp.zeros(2)
    with pytest.raises(ValueError, match="params"):
        opt.update(x, opt.init(x))
    with pytest.raises(ValueError, match="structure"):
        opt.update([x], opt.init(x), x)


def test_backtracking_and_acceleration_need_far_fewer_steps_on_nnls():
    """NNLS: fixed 1/L vs backtracking vs FISTA + restart (+ backtracking), same answer as nnls."""
    rng = np.random.default_rng(5)
    M, c = rng.standard_normal((120, 80)), rng.standard_normal(120)
    x_ref, rnorm = nnls(M, c)
    f = lambda x, M, c: 0.5 * jnp.sum((M @ x - c) ** 2)
    C = nonnegative()
    lip = np.linalg.norm(M, 2) ** 2
    steps = {}
    for name, opt in {
        "fixed": gradopt.projected_gradient(1.0 / lip, C),
        "backtracking": gradopt.projected_gradient(None, C),
        "fista_restart": gradopt.projected_gradient(1.0 / lip, C, accelerate=True, restart="gradient"),
        "fista_restart_backtracking": gradopt.projected_gradient(None, C, accelerate=True,
                                                                 restart="gradient"),
    }.items():
        res = gradopt.minimize(f, jnp.zeros(80), opt, jnp.asarray(M), jnp.asarray(c), penalty=C,
                               max_steps=20000, tol=1e-8)
        assert res.status_name == "CONVERGED", name
        assert float(res.value) == pytest.approx(0.5 * rnorm ** 2, rel=1e-12), name
        np.testing.assert_allclose(np.asarray(res.params), x_ref, atol=1e-8)
        steps[name] = int(res.steps)
    assert steps["backtracking"] < steps["fixed"]
    assert 3 * steps["fista_restart"] < steps["fixed"], steps
    assert 3 * steps["fista_restart_backtracking"] < steps["fixed"], steps


def test_accelerated_iterates_stay_in_the_set():
    """FISTA extrapolates outside C, but the iterate it reports is always projected."""
    opt = gradopt.projected_gradient(None, box(jnp.asarray(LB), jnp.asarray(UB)), accelerate=True)
    step = jax.jit(lambda x, s: opt.update(jax.grad(ls)(x), s, x, value_fn=ls))
    x = jnp.full(len(LB), 5.0)
    s = opt.init(x)
    for _ in range(15):
        u, s = step(x, s)
        x = gradopt.apply_updates(x, u)
        it = np.asarray(gradopt.current_iterate(s, x))
        assert np.all(it >= LB) and np.all(it <= UB)
    assert isinstance(gradopt.projected_gradient(0.1, nonnegative()).init(x),
                      gradopt.ProjectedGradientState)


def test_backtracking_needs_the_loss():
    opt = gradopt.projected_gradient(None, optax.projections.projection_non_negative)
    x = jnp.zeros(2)
    with pytest.raises(ValueError, match="value_fn"):
        opt.update(x, opt.init(x), x)
    with pytest.raises(ValueError, match="shrink"):
        gradopt.projected_gradient(None, nonnegative(), shrink=1.5)
    with pytest.raises(ValueError, match="restart"):
        gradopt.projected_gradient(0.1, nonnegative(), restart="function")


def test_backtracking_with_increase_converges_on_nnls():
    # With increase > 1 a step longer than the last must pass the backtracking test
    # without the round-off allowance (else near the minimizer the step doubles at
    # every iteration while the iterates stall); this NNLS must still converge.
    rng = np.random.default_rng(0)
    X = jnp.asarray(rng.standard_normal((500, 300)))
    y = jnp.asarray(rng.standard_normal(500))
    f = lambda w, X, y: 0.5 * jnp.sum((X @ w - y) ** 2)
    C = gradopt.prox.nonnegative()
    opt = gradopt.projected_gradient(None, C, increase=2.0)
    res = gradopt.minimize(f, jnp.zeros(300), opt, X, y, penalty=C, tol=1e-6, max_steps=5_000)
    assert res.status_name == "CONVERGED"
    ref = nnls(np.asarray(X), np.asarray(y))[0]
    np.testing.assert_allclose(res.params, ref, atol=1e-5)
