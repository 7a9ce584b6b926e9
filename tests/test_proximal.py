"""proximal, proximal_gradient (ISTA / FISTA / restart / backtracking).

References: CVXPY for the lasso optimum, closed forms for a diagonal quadratic
(rates), hand-written NumPy loops for chained proximal steps, and the
inequalities that define backtracking and restart.
"""

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradopt
from gradopt.prox import l1

# --------------------------------------------------------------------------- problem


def _lasso(n=40, p=60, seed=0, ratio=0.1):
    rng = np.random.default_rng(seed)
    cov = 0.5 ** np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
    X = rng.standard_normal((n, p)) @ np.linalg.cholesky(cov).T
    w = np.zeros(p)
    w[rng.choice(p, 6, replace=False)] = rng.standard_normal(6) * 2
    y = X @ w + 0.1 * rng.standard_normal(n)
    lam = ratio * np.max(np.abs(X.T @ y)) / n
    L = np.linalg.norm(X, 2) ** 2 / n
    return X, y, lam, L


X_NP, Y_NP, LAM, LIP = _lasso()
X, Y = jnp.asarray(X_NP), jnp.asarray(Y_NP)
N = X_NP.shape[0]


def smooth(w):
    r = X @ w - Y
    return 0.5 * jnp.dot(r, r) / N


def smooth_np(w):
    r = X_NP @ w - Y_NP
    return 0.5 * r @ r / N


def composite_np(w):
    return smooth_np(w) + LAM * np.abs(w).sum()


def soft_np(v, t):
    return np.sign(v) * np.maximum(np.abs(v) - t, 0.0)


@pytest.fixture(scope="module")
def cvxpy_optimum():
    w = cp.Variable(X_NP.shape[1])
    obj = 0.5 * cp.sum_squares(X_NP @ w - Y_NP) / N + LAM * cp.norm1(w)
    prob = cp.Problem(cp.Minimize(obj))
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    return composite_np(w.value)


# --------------------------------------------------------------------------- optimum


@pytest.mark.parametrize(
    "kind",
    ["ista", "fista", "fista_function", "fista_gradient", "ista_backtracking", "fista_backtracking"],
)
def test_lasso_reaches_cvxpy_optimum(kind, cvxpy_optimum):
    g = l1(LAM)
    lr = 1.0 / LIP
    opt = {
        "ista": lambda: gradopt.proximal_gradient(lr, g),
        "fista": lambda: gradopt.proximal_gradient(lr, g, accelerate=True),
        "fista_function": lambda: gradopt.proximal_gradient(lr, g, accelerate=True, restart="function"),
        "fista_gradient": lambda: gradopt.proximal_gradient(lr, g, accelerate=True, restart="gradient"),
        "ista_backtracking": lambda: gradopt.proximal_gradient(None, g),
        "fista_backtracking": lambda: gradopt.proximal_gradient(
            None, g, accelerate=True, restart="function"
        ),
    }[kind]()
    res = gradopt.minimize(smooth, jnp.zeros(X_NP.shape[1]), opt, penalty=g, max_steps=20000, tol=1e-10)
    assert res.status_name == "CONVERGED", res
    w = np.asarray(res.params)
    F = composite_np(w)
    # Result.params is the actual iterate and Result.value its objective.
    np.testing.assert_allclose(float(res.value), F, rtol=1e-12)
    assert abs(F - cvxpy_optimum) <= 1e-6 * abs(cvxpy_optimum), (F, cvxpy_optimum)
    if kind.startswith("fista"):
        np.testing.assert_array_equal(w, np.asarray(res.opt_state.iterate))
    if kind in ("fista_function", "fista_gradient"):
        assert int(res.opt_state.restarts) > 0  # the restart scheme did act


def test_fista_params_differ_from_iterate_in_own_loop():
    """In a user loop the params are y_k; current_iterate gives x_k = prox step."""
    g = l1(LAM)
    lr = 1.0 / LIP
    opt = gradopt.proximal_gradient(lr, g, accelerate=True)
    y = jnp.zeros(X_NP.shape[1])
    s = opt.init(y)
    x_prev = np.zeros(X_NP.shape[1])
    for _ in range(5):
        grad = jax.grad(smooth)(y)
        x_expected = soft_np(np.asarray(y) - lr * np.asarray(grad), lr * LAM)
        u, s = opt.update(grad, s, y)
        y = gradopt.apply_updates(y, u)
        x = np.asarray(gradopt.current_iterate(s, y))
        np.testing.assert_allclose(x, x_expected, rtol=1e-12, atol=1e-14)
        x_prev = x
    assert not np.allclose(np.asarray(y), x_prev)  # y_k is an extrapolated point


# --------------------------------------------------------------------------- rates


def _diag_problem(N=100_000, reg=1e-3):
    lam = jnp.arange(1, N + 1) / N  # eigenvalues in (0, 1]: L = 1
    c = 1.0 / jnp.sqrt(lam)
    xhat = jnp.maximum(c - reg / lam, 0.0)  # closed-form minimizer (soft threshold)
    pen = l1(reg)
    f = lambda x: 0.5 * jnp.sum(lam * (x - c) ** 2)
    F = lambda x: f(x) + pen.value(x)
    return f, F, pen, xhat, F(xhat)


def _gaps(opt, f, F, Fstar, x0, steps):
    def body(carry, _):
        p, s = carry
        u, s = opt.update(jax.grad(f)(p), s, p, value=f(p), value_fn=f)
        p = gradopt.apply_updates(p, u)
        return (p, s), F(gradopt.current_iterate(s, p)) - Fstar

    run = jax.jit(lambda: jax.lax.scan(body, (x0, opt.init(x0)), None, length=steps)[1])
    return np.asarray(run())


def test_observed_rates_ista_1_over_k_fista_1_over_k2():
    """F(x_k) - F* on a quadratic with eigenvalues i/N (worst-case-like spectrum)."""
    f, F, pen, xhat, Fstar = _diag_problem()
    x0 = jnp.zeros_like(xhat)
    K = 300
    gi = _gaps(gradopt.proximal_gradient(1.0, pen), f, F, Fstar, x0, K)
    gf = _gaps(gradopt.proximal_gradient(1.0, pen, accelerate=True), f, F, Fstar, x0, K)
    k = np.arange(1, K + 1)
    # Beck & Teboulle's bounds with eta = 1/L = 1.
    R2 = float(jnp.sum((x0 - xhat) ** 2))
    assert np.all(gi <= R2 / (2 * k))
    assert np.all(gf <= 2 * R2 / (k + 1) ** 2)
    sl = slice(19, K)  # k in [20, 300]
    slope_i = np.polyfit(np.log(k[sl]), np.log(gi[sl]), 1)[0]
    slope_f = np.polyfit(np.log(k[sl]), np.log(gf[sl]), 1)[0]
    assert -1.3 <= slope_i <= -0.7, slope_i
    assert -2.6 <= slope_f <= -1.6, slope_f
    # FISTA's advantage grows with k.
    ratio = gi / gf
    assert ratio[29] > 3 and ratio[299] > 5 * ratio[29]


# --------------------------------------------------------------------------- backtracking


@pytest.mark.parametrize("accelerate", [False, True])
@pytest.mark.parametrize("increase", [1.0, 2.0])
def test_backtracking_accepts_only_sufficient_decrease(accelerate, increase):
    """Every accepted step satisfies Beck-Teboulle's inequality; every shrink was needed."""
    g = l1(LAM)
    shrink = 0.5
    opt = gradopt.proximal_gradient(
        None, g, accelerate=accelerate, initial_learning_rate=40.0 / LIP,
        shrink=shrink, increase=increase,
    )
    update = jax.jit(lambda gr, s, p, v: opt.update(gr, s, p, value=v, value_fn=smooth))
    y = jnp.zeros(X_NP.shape[1])
    s = opt.init(y)
    eta_prev = float(s.learning_rate)
    shrinks = 0
    for _ in range(60):
        v, grad = jax.value_and_grad(smooth)(y)
        u, s = update(grad, s, y, v)
        y_np, g_np, f_y = np.asarray(y), np.asarray(grad), float(v)
        y = gradopt.apply_updates(y, u)
        x_new = np.asarray(gradopt.current_iterate(s, y))
        eta = float(s.learning_rate)
        # the accepted point is the proximal gradient step with the accepted eta
        np.testing.assert_allclose(x_new, soft_np(y_np - eta * g_np, eta * LAM), rtol=1e-12, atol=1e-14)

        def violation(step):
            x = soft_np(y_np - step * g_np, step * LAM)
            d = x - y_np
            return smooth_np(x) - (f_y + g_np @ d + d @ d / (2 * step))

        slack = 100 * np.finfo(np.float64).eps * abs(f_y)
        assert violation(eta) <= slack
        start = eta_prev * increase
        assert eta <= start * (1 + 1e-12)
        if eta < start * (1 - 1e-12):  # it shrank: the previous trial failed the test
            shrinks += 1
            # a longer step than the last one must pass without the allowance
            # (up to this check's own rounding, which differs from JAX's)
            strict = -4 * np.finfo(np.float64).eps * abs(f_y)
            allowed = strict if eta / shrink > eta_prev * (1 + 1e-12) else slack
            assert violation(eta / shrink) > allowed
            np.testing.assert_allclose(np.log(start / eta) / np.log(1 / shrink),
                                       np.round(np.log(start / eta) / np.log(1 / shrink)), atol=1e-9)
        eta_prev = eta
    assert shrinks >= 1


def test_backtracking_uses_value_fn_when_value_missing():
    g = l1(LAM)
    opt = gradopt.proximal_gradient(None, g, accelerate=True)
    p = jnp.zeros(X_NP.shape[1])
    s = opt.init(p)
    grad = jax.grad(smooth)(p)
    u1, s1 = opt.update(grad, s, p, value=smooth(p), value_fn=smooth)
    u2, s2 = opt.update(grad, s, p, value_fn=smooth)
    np.testing.assert_array_equal(np.asarray(u1), np.asarray(u2))
    assert float(s1.learning_rate) == float(s2.learning_rate)


# --------------------------------------------------------------------------- restart rules


@pytest.mark.parametrize("restart", ["function", "gradient"])
def test_restart_rule(restart):
    """Momentum is reset (y_{k+1} = x_{k+1}, t = 1) exactly when the scheme's test fires."""
    g = l1(LAM * 0.05)
    lr = 1.0 / LIP
    opt = gradopt.proximal_gradient(lr, g, accelerate=True, restart=restart)
    update = jax.jit(lambda gr, s, p: opt.update(gr, s, p, value_fn=smooth))
    y = jnp.zeros(X_NP.shape[1])
    s = opt.init(y)
    F_prev = np.inf
    fired = 0
    for _ in range(300):
        x_prev = np.asarray(s.iterate)
        y_np = np.asarray(y)
        u, s = update(jax.grad(smooth)(y), s, y)
        y = gradopt.apply_updates(y, u)
        x_new = np.asarray(s.iterate)
        if restart == "function":
            F_new = smooth_np(x_new) + LAM * 0.05 * np.abs(x_new).sum()
            np.testing.assert_allclose(float(s.objective), F_new, rtol=1e-12)
            test = F_new > F_prev * (1 + 1e-13)
            unclear = abs(F_new - F_prev) <= 1e-13 * abs(F_prev)
            F_prev = F_new
        else:
            inner = (y_np - x_new) @ (x_new - x_prev)
            test = inner > 0
            unclear = abs(inner) <= 1e-13 * np.linalg.norm(y_np - x_new) * np.linalg.norm(x_new - x_prev) + 1e-300
        reset = float(s.momentum) == 1.0
        if not unclear:
            assert reset == test
        if reset:
            fired += 1
            np.testing.assert_allclose(np.asarray(y), x_new, rtol=1e-13, atol=1e-15)
    assert fired >= 2
    assert int(s.restarts) == fired


# --------------------------------------------------------------------------- proximal in chains


def test_chain_descent_proximal_equals_ista():
    g = l1(LAM)
    lr = 1.0 / LIP
    a = gradopt.chain(gradopt.descent(lr), gradopt.proximal(g, lr))
    b = gradopt.proximal_gradient(lr, g)
    pa = pb = jnp.zeros(X_NP.shape[1])
    sa, sb = a.init(pa), b.init(pb)
    w = np.zeros(X_NP.shape[1])
    for _ in range(50):
        ua, sa = a.update(jax.grad(smooth)(pa), sa, pa)
        ub, sb = b.update(jax.grad(smooth)(pb), sb, pb)
        pa, pb = gradopt.apply_updates(pa, ua), gradopt.apply_updates(pb, ub)
        w = soft_np(w - lr * (X_NP.T @ (X_NP @ w - Y_NP)) / N, lr * LAM)
        np.testing.assert_allclose(np.asarray(pa), np.asarray(pb), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(np.asarray(pa), w, rtol=1e-10, atol=1e-13)


def test_schedule_in_optax_chain_matches_proximal_gradient_and_numpy():
    g = l1(LAM)
    sched = optax.exponential_decay(1.5 / LIP, transition_steps=10, decay_rate=0.5)
    a = optax.chain(optax.scale_by_schedule(lambda k: -sched(k)), gradopt.proximal(g, sched))
    b = gradopt.proximal_gradient(sched, g)
    pa = pb = jnp.zeros(X_NP.shape[1])
    sa, sb = a.init(pa), b.init(pb)
    w = np.zeros(X_NP.shape[1])
    for k in range(30):
        ua, sa = a.update(jax.grad(smooth)(pa), sa, pa)
        ub, sb = b.update(jax.grad(smooth)(pb), sb, pb)
        pa, pb = optax.apply_updates(pa, ua), optax.apply_updates(pb, ub)
        eta = float(sched(jnp.asarray(k, jnp.int32)))  # as the transformations evaluate it
        w = soft_np(w - eta * (X_NP.T @ (X_NP @ w - Y_NP)) / N, eta * LAM)
        np.testing.assert_allclose(np.asarray(pa), w, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(np.asarray(pb), w, rtol=1e-10, atol=1e-13)


def test_proximal_heavy_ball_with_optax_sgd():
    """optax.sgd(momentum) followed by proximal(g): x+ = soft(x - eta b, eta reg)."""
    g = l1(LAM)
    lr, mu = 0.5 / LIP, 0.8
    opt = optax.chain(optax.sgd(lr, momentum=mu), gradopt.proximal(g, lr))
    p = jnp.zeros(X_NP.shape[1])
    s = opt.init(p)
    w, b = np.zeros(X_NP.shape[1]), np.zeros(X_NP.shape[1])
    for _ in range(30):
        u, s = opt.update(jax.grad(smooth)(p), s, p)
        p = optax.apply_updates(p, u)
        b = mu * b + (X_NP.T @ (X_NP @ w - Y_NP)) / N
        w = soft_np(w - lr * b, lr * LAM)
        np.testing.assert_allclose(np.asarray(p), w, rtol=1e-10, atol=1e-13)


# --------------------------------------------------------------------------- jit / vmap / dtypes / pytrees


def _run_fixed(opt, p0, steps):
    def body(_, c):
        p, s = c
        u, s = opt.update(jax.grad(smooth)(p), s, p, value_fn=smooth)
        return gradopt.apply_updates(p, u), s

    p, s = jax.lax.fori_loop(0, steps, body, (p0, opt.init(p0)))
    return gradopt.current_iterate(s, p)


def test_vmap_over_traced_reg_and_learning_rate():
    regs = jnp.array([0.5, 1.0, 2.0]) * LAM
    lrs = jnp.array([0.5, 0.8, 1.0]) / LIP
    p0 = jnp.zeros(X_NP.shape[1])

    @jax.jit
    @jax.vmap
    def batched(reg, lr):
        return _run_fixed(gradopt.proximal_gradient(lr, l1(reg), accelerate=True, restart="gradient"), p0, 100)

    out = np.asarray(batched(regs, lrs))
    for i in range(3):
        single = _run_fixed(
            gradopt.proximal_gradient(float(lrs[i]), l1(float(regs[i])), accelerate=True, restart="gradient"),
            p0, 100,
        )
        np.testing.assert_allclose(out[i], np.asarray(single), rtol=1e-10, atol=1e-13)


def test_minimize_under_vmap_over_reg(cvxpy_optimum):
    regs = jnp.array([1.0, 0.5]) * LAM

    def solve(reg):
        g = l1(reg)
        opt = gradopt.proximal_gradient(1.0 / LIP, g, accelerate=True, restart="function")
        return gradopt.minimize(smooth, jnp.zeros(X_NP.shape[1]), opt, penalty=g, max_steps=5000, tol=1e-10)

    res = jax.vmap(solve)(regs)
    assert float(res.value[0]) == pytest.approx(cvxpy_optimum, rel=1e-6)
    single = solve(float(regs[1]))
    np.testing.assert_allclose(np.asarray(res.params[1]), np.asarray(single.params), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(
    "make",
    [
        lambda g: gradopt.proximal_gradient(0.1, g),
        lambda g: gradopt.proximal_gradient(0.1, g, accelerate=True, restart="function"),
        lambda g: gradopt.proximal_gradient(None, g, accelerate=True, restart="gradient"),
        lambda g: gradopt.chain(gradopt.descent(0.1), gradopt.proximal(g, 0.1)),
    ],
)
def test_float32_pytree_dtypes_preserved(make):
    Xf = jnp.asarray(X_NP[:, :6], jnp.float32)
    params = {"w": jnp.ones(4, jnp.float32), "b": jnp.ones(2, jnp.float32)}

    def f(p):
        w = jnp.concatenate([p["w"], p["b"]])
        return 0.5 * jnp.mean((Xf @ w - jnp.asarray(Y_NP, jnp.float32)) ** 2)

    opt = make(l1(0.05))
    s = opt.init(params)
    p = params
    for _ in range(5):
        v, gr = jax.value_and_grad(f)(p)
        u, s = optax.with_extra_args_support(opt).update(gr, s, p, value=v, value_fn=f)
        assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves(u))
        p = gradopt.apply_updates(p, u)
    assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves(p))
    x = gradopt.current_iterate(s, p)
    assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves(x))
    # result is a real improvement (l1 objective decreased)
    F = lambda q: float(f(q)) + 0.05 * sum(float(jnp.abs(a).sum()) for a in jax.tree_util.tree_leaves(q))
    assert F(x) < F(params)


# --------------------------------------------------------------------------- bad input


def test_bad_input():
    g = l1(0.1)
    with pytest.raises(ValueError, match="learning_rate"):
        gradopt.proximal_gradient(-0.1, g)
    with pytest.raises(ValueError, match="learning_rate"):
        gradopt.proximal_gradient(0.0, g)
    with pytest.raises(ValueError, match="learning_rate"):
        gradopt.proximal(g, -1.0)
    with pytest.raises(ValueError, match="restart"):
        gradopt.proximal_gradient(0.1, g, accelerate=True, restart="momentum")
    with pytest.raises(ValueError, match="accelerate=True"):
        gradopt.proximal_gradient(0.1, g, restart="function")
    with pytest.raises(TypeError, match="penalty"):
        gradopt.proximal_gradient(0.1, "l1")
    with pytest.raises(TypeError, match="penalty"):
        gradopt.proximal_gradient(0.1, lambda x: jnp.sum(jnp.abs(x)))
    with pytest.raises(TypeError, match="penalty"):
        gradopt.proximal(object(), 0.1)
    with pytest.raises(ValueError, match="shrink"):
        gradopt.proximal_gradient(None, g, shrink=1.5)
    with pytest.raises(ValueError, match="increase"):
        gradopt.proximal_gradient(None, g, increase=0.5)
    with pytest.raises(ValueError, match="initial_learning_rate"):
        gradopt.proximal_gradient(None, g, initial_learning_rate=-1.0)
    with pytest.raises(ValueError, match="max_backtracking_steps"):
        gradopt.proximal_gradient(None, g, max_backtracking_steps=2.5)
    with pytest.raises(TypeError, match="accelerate"):
        gradopt.proximal_gradient(0.1, g, accelerate="yes")
    p = jnp.zeros(3)
    for opt in (gradopt.proximal_gradient(None, g), gradopt.proximal_gradient(0.1, g, accelerate=True, restart="function")):
        with pytest.raises(ValueError, match="value_fn"):
            opt.update(p, opt.init(p), p)
    opt = gradopt.proximal_gradient(0.1, g)
    with pytest.raises(ValueError, match="params"):
        opt.update(p, opt.init(p))
    with pytest.raises(ValueError, match="structure"):
        opt.update({"a": p}, opt.init(p), p)
    prox = gradopt.proximal(g, 0.1)
    with pytest.raises(ValueError, match="params"):
        prox.update(p, prox.init(p))
