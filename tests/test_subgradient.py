"""polyak, subgradient, diminishing: min-max distance to convex sets vs CVXPY."""

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradopt

# --------------------------------------------------------------------------- problem


def _simplex_directions(d, rng):
    """d + 1 unit vectors in R^d summing to 0 (a randomly rotated regular simplex)."""
    E = np.eye(d + 1) - 1.0 / (d + 1)
    Q, _ = np.linalg.qr(E[:, :d])
    U = E @ Q
    R, _ = np.linalg.qr(rng.standard_normal((d, d)))
    U = U @ R.T
    return U / np.linalg.norm(U, axis=1, keepdims=True)


def _make_sets(d, seed, t=2.0):
    """Balls, boxes and half-spaces at distance t from x*, touching it from d+1 directions.

    The nearest point of set i to x* is x* + t u_i, and the u_i positively span
    R^d, so 0 is inside the convex hull of the active subgradients -u_i: x* is the
    unique (sharp) minimizer of f = max_i dist(x, C_i) and f* = t. One more small
    ball is inactive. CVXPY confirms this independently.
    """
    rng = np.random.default_rng(seed)
    xs = rng.uniform(-2, 2, d)
    balls, boxes, halfs = [], [], []
    for i, u in enumerate(_simplex_directions(d, rng)):
        p = xs + t * u
        if i % 3 == 0:
            r = rng.uniform(0.5, 2.0)
            balls.append((p + r * u, r))
        elif i % 3 == 1:
            w = rng.uniform(0.5, 2.0, d) * np.sign(u)
            boxes.append((np.minimum(p, p + w), np.maximum(p, p + w)))
        else:
            halfs.append((-u, float(-u @ p)))  # {y : -u.y <= -u.p}
    v = rng.standard_normal(d)
    balls.append((xs + 0.5 * t * v / np.linalg.norm(v), 0.1 * t))
    return (balls, boxes, halfs), xs, t


def distances(x, sets):
    """dist(x, C_i) for each set, with safe norms (gradient 0, not NaN, inside a set)."""
    balls, boxes, halfs = sets
    out = [jnp.maximum(optax.safe_norm(x - c, 0.0) - r, 0.0) for c, r in balls]
    out += [optax.safe_norm(x - optax.projections.projection_box(x, lo, hi), 0.0) for lo, hi in boxes]
    # dist(x, {y : a.y <= b}) = max(a.x - b, 0) / ||a|| (closed form; optax has a
    # halfspace projection only after 0.2.5, the declared floor).
    out += [jnp.maximum(jnp.dot(a, x) - b, 0.0) / jnp.linalg.norm(a) for a, b in halfs]
    return jnp.stack(out)


def _cvxpy_reference(d, sets):
    balls, boxes, halfs = sets
    x, t = cp.Variable(d), cp.Variable()
    cons = [t >= 0]
    cons += [cp.norm(x - c) - r <= t for c, r in balls]
    for lo, hi in boxes:
        z = cp.Variable(d)
        cons += [z >= lo, z <= hi, cp.norm(x - z) <= t]
    cons += [(a @ x - b) / np.linalg.norm(a) <= t for a, b in halfs]
    prob = cp.Problem(cp.Minimize(t), cons)
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return prob.value, x.value


@pytest.fixture(scope="module", params=[(2, 0), (5, 1)], ids=["R2", "R5"])
def problem(request):
    d, seed = request.param
    sets, xs, t = _make_sets(d, seed)
    fstar, x_ref = _cvxpy_reference(d, sets)
    assert fstar == pytest.approx(t, rel=1e-7)  # construction and CVXPY agree
    np.testing.assert_allclose(x_ref, xs, atol=1e-6)
    f = lambda x: jnp.max(distances(x, sets))
    return f, fstar, x_ref, d


# --------------------------------------------------------------------------- convergence


def test_polyak_reaches_cvxpy_optimum(problem):
    f, fstar, x_ref, d = problem
    res = gradopt.minimize(f, jnp.full(d, 8.0), gradopt.polyak(fstar), max_steps=1000, tol=0.0)
    assert abs(float(res.best_value) - fstar) <= 1e-4 * fstar
    assert float(f(res.best_params)) == pytest.approx(float(res.best_value), rel=1e-12)
    np.testing.assert_allclose(np.asarray(res.best_params), x_ref, atol=1e-3)
    assert np.all(np.isfinite(np.asarray(res.params)))


def test_diminishing_subgradient_converges(problem):
    f, fstar, _, d = problem
    x0 = jnp.full(d, 8.0)
    # c / (k+1) needs a larger c: sum_k eta_k = c log(K) must cover ||x0 - x*|| ~ 10.
    for c, power in ((1.0, 0.5), (5.0, 1.0)):
        opt = gradopt.subgradient(gradopt.diminishing(c, power=power))
        res = gradopt.minimize(f, x0, opt, max_steps=1000, tol=0.0)
        gap = float(res.best_value) - fstar
        assert -1e-6 <= gap <= 3e-2 * fstar, (power, gap)
        assert gap < 0.01 * (float(f(x0)) - fstar)  # a real reduction of the gap


# --------------------------------------------------------------------------- the step


def test_polyak_step_formula_clip_and_zero_gradient():
    a = jnp.array([1.0, -2.0, 3.0])
    f = lambda x: jnp.sum(jnp.abs(x - a))
    x = jnp.array([0.5, 0.5, 0.5])
    g = jax.grad(f)(x)
    gn = np.asarray(g)
    v = float(f(x))
    for f_min, cap in [(0.0, None), (1.0, None), (0.0, 0.1)]:
        opt = gradopt.polyak(f_min, max_learning_rate=cap)
        u, _ = opt.update(g, opt.init(x), x, value=f(x))
        eta = (v - f_min) / (gn @ gn)
        if cap is not None:
            eta = min(eta, cap)
        np.testing.assert_allclose(np.asarray(u), -eta * gn, rtol=1e-12)
    opt = gradopt.polyak(10.0)  # f(x) < f_min: no ascent step
    u, _ = opt.update(g, opt.init(x), x, value=f(x))
    np.testing.assert_array_equal(np.asarray(u), 0.0)
    # g = 0 (e.g. at a minimizer, or inside every set): zero step, no NaN, eps = 0
    opt = gradopt.polyak(0.0, eps=0.0)
    u, _ = opt.update(jnp.zeros(3), opt.init(x), x, value=jnp.asarray(1.0))
    np.testing.assert_array_equal(np.asarray(u), 0.0)
    opt = gradopt.polyak(0.0, eps=1.0)
    u, _ = opt.update(g, opt.init(x), x, value=f(x))
    np.testing.assert_allclose(np.asarray(u), -v / (gn @ gn + 1.0) * gn, rtol=1e-12)


def test_diminishing_schedule_values():
    for c, power in [(2.0, 0.5), (0.3, 1.0), (1.0, 0.75)]:
        sched = gradopt.diminishing(c, power)
        k = np.arange(20)
        np.testing.assert_allclose(np.asarray(jax.vmap(sched)(jnp.asarray(k))), c / (k + 1.0) ** power,
                                   rtol=1e-12)
    opt = gradopt.subgradient(gradopt.diminishing(2.0, 0.5))
    x = jnp.zeros(2)
    s = opt.init(x)
    for k in range(3):
        u, s = opt.update(jnp.array([1.0, -1.0]), s, x)
        np.testing.assert_allclose(np.asarray(u), -2.0 / np.sqrt(k + 1.0) * np.array([1.0, -1.0]))


def test_jax_grad_conventions_at_kinks_documented():
    """What the docs say about jax.grad at kinks, and that the safe distance avoids NaN."""
    assert float(jax.grad(jnp.abs)(0.0)) == 1.0
    assert np.all(np.isnan(np.asarray(jax.grad(jnp.linalg.norm)(jnp.zeros(2)))))
    np.testing.assert_array_equal(np.asarray(jax.grad(lambda x: optax.safe_norm(x, 0.0))(jnp.zeros(2))), 0.0)
    np.testing.assert_array_equal(np.asarray(jax.grad(gradopt.global_norm)(jnp.zeros(2))), 0.0)
    sets, xs, _ = _make_sets(2, 0)
    inside_box = jnp.asarray((sets[1][0][0] + sets[1][0][1]) / 2)  # a point inside the box
    safe = lambda x: jnp.max(distances(x, sets))
    assert np.all(np.isfinite(np.asarray(jax.grad(safe)(inside_box))))
    balls, boxes, halfs = sets
    naive = lambda x: jnp.max(jnp.stack(
        [jnp.linalg.norm(x - optax.projections.projection_box(x, lo, hi)) for lo, hi in boxes]
        + [jnp.maximum(jnp.linalg.norm(x - c) - r, 0.0) for c, r in balls]))
    assert np.any(np.isnan(np.asarray(jax.grad(naive)(inside_box))))  # why safe norms are needed


def test_vmap_over_f_min_and_float32():
    target = jnp.array([1.0, -2.0], jnp.float32)
    f = lambda x: jnp.sum(jnp.abs(x - target)) + 0.5

    def run(f_min):
        opt = gradopt.polyak(f_min)
        x0 = jnp.zeros(2, jnp.float32)

        def body(_, c):
            x, s = c
            v, g = jax.value_and_grad(f)(x)
            u, s = opt.update(g, s, x, value=v)
            return gradopt.apply_updates(x, u), s

        return jax.lax.fori_loop(0, 30, body, (x0, opt.init(x0)))[0]

    out = jax.jit(jax.vmap(run))(jnp.array([0.5, 0.0]))
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out[0]), [1.0, -2.0], atol=1e-5)  # exact f*: converges
    # an underestimate f_min = 0 < f* = 0.5 overshoots and stays 0.5-ish away in value
    assert float(f(out[1])) > 0.5 + 1e-2
    res = gradopt.minimize(f, jnp.zeros(2, jnp.float32), gradopt.polyak(0.5), max_steps=50, tol=0.0)
    assert res.best_params.dtype == jnp.float32
    assert float(res.best_value) == pytest.approx(0.5, abs=1e-5)


def test_bad_input():
    for bad in (np.inf, -np.inf, np.nan):
        with pytest.raises(ValueError, match="f_min"):
            gradopt.polyak(bad)
    with pytest.raises(ValueError, match="max_learning_rate"):
        gradopt.polyak(0.0, max_learning_rate=0.0)
    with pytest.raises(ValueError, match="max_learning_rate"):
        gradopt.polyak(0.0, max_learning_rate=-1.0)
    with pytest.raises(ValueError, match="eps"):
        gradopt.polyak(0.0, eps=-1e-3)
    with pytest.raises(TypeError, match="f_min"):
        gradopt.polyak("zero")
    opt = gradopt.polyak(0.0)
    x = jnp.zeros(2)
    with pytest.raises(ValueError, match="value"):
        opt.update(x, opt.init(x), x)
    with pytest.raises(ValueError, match="learning_rate"):
        gradopt.subgradient(-0.1)
    with pytest.raises(ValueError, match="c"):
        gradopt.diminishing(0.0)
    with pytest.raises(ValueError, match="power"):
        gradopt.diminishing(1.0, power=1.5)
    with pytest.raises(ValueError, match="power"):
        gradopt.diminishing(1.0, power=0.0)
