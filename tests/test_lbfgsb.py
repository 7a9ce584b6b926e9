"""gradopt.lbfgsb against SciPy's L-BFGS-B (and scipy.optimize.nnls), plus its parts.

Each problem compiles ``minimize`` once (the optimizer objects and loss
functions are module-level and data travel as traced arguments), which keeps
this file fast.
"""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.optimize import minimize as sp_minimize
from scipy.optimize import nnls
from scipy.optimize import rosen as sp_rosen
from scipy.optimize import rosen_der as sp_rosen_der

import gradopt

L = importlib.import_module("gradopt.transforms.lbfgsb")

TOL = 1e-8


def scipy_lbfgsb(fun_and_grad, x0, lo, hi):
    """SciPy's L-BFGS-B (NumPy objective) to the same projected-gradient tolerance.

    ``ftol=0``: SciPy does not stop on a small relative decrease of f.
    """
    return sp_minimize(fun_and_grad, np.asarray(x0, float), jac=True, method="L-BFGS-B",
                       bounds=list(zip(lo, hi)), options=dict(gtol=TOL, ftol=0.0, maxiter=10_000))


def np_rosen(x):
    return sp_rosen(x), sp_rosen_der(x)


def np_logistic(X, y):
    def fg(w):
        z = X @ w
        f = np.mean(np.logaddexp(0.0, z) - y * z) + 1e-3 * w @ w
        return f, X.T @ (1 / (1 + np.exp(-z)) - y) / len(y) + 2e-3 * w
    return fg


def np_least_squares(A, b):
    def fg(x):
        r = A @ x - b
        return 0.5 * r @ r, A.T @ r
    return fg


def check_against_scipy(f, x0, lo, hi, opt, *args, reference):
    ref = scipy_lbfgsb(reference, x0, lo, hi)
    active = np.sum((ref.x <= lo) | (ref.x >= hi))
    assert 0 < active < len(ref.x), "the test problem must have active and free bounds"
    pen = gradopt.prox.box(jnp.asarray(lo), jnp.asarray(hi))
    res = gradopt.minimize(f, jnp.asarray(x0), opt, *args, penalty=pen, tol=TOL, max_steps=1000)
    assert res.status_name == "CONVERGED"
    # the projected-gradient 2-norm <= 1e-8 is stricter than SciPy's inf-norm test
    assert float(res.value) == pytest.approx(ref.fun, rel=1e-10)
    assert int(res.steps) <= 2 * ref.nit, (int(res.steps), ref.nit)
    x = np.asarray(res.params)
    assert np.all(x >= lo) and np.all(x <= hi)
    return res, ref


# --------------------------------------------------------------------------- problems


def rosen(x):
    return jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


R_LO = np.full(10, -2.0)
R_HI = np.full(10, 2.0)
R_HI[::3] = 0.5      # binds (the unconstrained solution is all ones)
R_LO[1] = 1.5        # binds from below
R_OPT = gradopt.lbfgsb(jnp.asarray(R_LO), jnp.asarray(R_HI))


def logistic(w, X, y):
    z = X @ w
    return jnp.mean(jnp.logaddexp(0.0, z) - y * z) + 1e-3 * jnp.sum(w ** 2)


def least_squares(x, A, b):
    return 0.5 * jnp.sum((A @ x - b) ** 2)


NNLS_OPT = gradopt.lbfgsb(0.0, jnp.inf)


def test_bounded_rosenbrock_matches_scipy():
    x0 = np.full(10, 1.2)
    x0[1] = 1.6
    res, ref = check_against_scipy(rosen, x0, R_LO, R_HI, R_OPT, reference=np_rosen)
    np.testing.assert_allclose(np.asarray(res.params), ref.x, atol=1e-7)


def test_bounded_logistic_regression_matches_scipy():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 20))
    y = (X @ (2 * rng.standard_normal(20)) + 0.5 * rng.standard_normal(200) > 0).astype(float)
    lo, hi = np.full(20, -0.5), np.full(20, 0.5)
    res, ref = check_against_scipy(logistic, np.zeros(20), lo, hi, gradopt.lbfgsb(lo, hi),
                                   jnp.asarray(X), jnp.asarray(y), reference=np_logistic(X, y))
    np.testing.assert_allclose(np.asarray(res.params), ref.x, atol=1e-6)


def test_nnls_matches_scipy_and_nnls():
    rng = np.random.default_rng(1)
    A, b = rng.standard_normal((60, 30)), rng.standard_normal(60)
    lo, hi = np.zeros(30), np.full(30, np.inf)
    Aj, bj = jnp.asarray(A), jnp.asarray(b)
    res, _ = check_against_scipy(least_squares, np.zeros(30), lo, hi, NNLS_OPT, Aj, bj,
                                 reference=np_least_squares(A, b))
    x_ref, rnorm = nnls(A, b)
    assert float(res.value) == pytest.approx(0.5 * rnorm ** 2, rel=1e-12)
    np.testing.assert_allclose(np.asarray(res.params), x_ref, atol=1e-8)
    # optax's convention: the state holds f and grad f at the point it moved to, and
    # optax.value_and_grad_from_state reads them back
    f = lambda x: least_squares(x, Aj, bj)
    v, g = optax.value_and_grad_from_state(f)(res.params, state=res.opt_state)
    assert float(v) == pytest.approx(float(f(res.params)), rel=1e-13)
    np.testing.assert_allclose(g, jax.grad(f)(res.params), rtol=1e-10, atol=1e-12)
    assert float(res.opt_state.value) == float(v)


def test_infeasible_start_is_projected():
    x0 = jnp.asarray(np.full(10, 3.0))  # above every upper bound (not weak-typed: no recompile)
    pen = gradopt.prox.box(jnp.asarray(R_LO), jnp.asarray(R_HI))
    one = gradopt.minimize(rosen, x0, R_OPT, penalty=pen, tol=TOL, max_steps=1)
    x1 = np.asarray(one.params)
    assert np.all(x1 >= R_LO) and np.all(x1 <= R_HI)
    assert float(rosen(x1)) < float(rosen(jnp.clip(x0, R_LO, R_HI)))
    ref = scipy_lbfgsb(np_rosen, np.asarray(x0), R_LO, R_HI)  # SciPy projects x0 as well
    res = gradopt.minimize(rosen, x0, R_OPT, penalty=pen, tol=TOL, max_steps=1000)
    assert float(res.value) == pytest.approx(ref.fun, rel=1e-10)
    assert int(res.steps) <= 2 * ref.nit


def test_pytree_bounds_match_flat_problem():
    """Bounds as a prefix pytree (a scalar per leaf or an array) == the flat problem."""
    rng = np.random.default_rng(3)
    A, b = rng.standard_normal((40, 10)), rng.standard_normal(40)
    Aj, bj = jnp.asarray(A), jnp.asarray(b)

    def f(p):
        x = jnp.concatenate([p["w"].ravel(), p["b"]])
        return 0.5 * jnp.sum((Aj @ x - bj) ** 2)

    lower = {"w": -0.1, "b": jnp.array([0.05, -jnp.inf])}  # b[0] is fixed: lower = upper
    upper = {"w": jnp.full((2, 4), 0.2), "b": 0.05}
    p0 = {"w": jnp.zeros((2, 4)), "b": jnp.zeros(2)}
    opt = gradopt.lbfgsb(lower, upper)
    res = gradopt.minimize(f, p0, opt, penalty=gradopt.prox.box(lower, upper), tol=TOL, max_steps=500)
    lo = np.r_[np.full(8, -0.1), 0.05, -np.inf]
    hi = np.r_[np.full(8, 0.2), 0.05, 0.05]
    ref = scipy_lbfgsb(np_least_squares(A, b), np.zeros(10), lo, hi)
    x = np.r_[np.asarray(res.params["w"]).ravel(), np.asarray(res.params["b"])]
    assert res.params["w"].shape == (2, 4) and float(res.params["b"][0]) == 0.05
    assert float(res.value) == pytest.approx(ref.fun, rel=1e-10)
    np.testing.assert_allclose(x, ref.x, atol=1e-7)
    assert int(res.steps) <= 2 * ref.nit


def test_jit_float32_and_own_loop():
    """A jitted hand-written loop in float32: dtype kept, same solution as SciPy (float64)."""
    rng = np.random.default_rng(4)
    A, b = rng.standard_normal((30, 12)), rng.standard_normal(30)
    A32, b32 = jnp.asarray(A, jnp.float32), jnp.asarray(b, jnp.float32)
    f = lambda x: least_squares(x, A32, b32)
    opt = gradopt.lbfgsb(-0.3, 0.3, memory_size=5)

    @jax.jit
    def run(x):
        def body(_, c):
            x, s = c
            v, g = optax.value_and_grad_from_state(f)(x, state=s)
            u, s = opt.update(g, s, x, value=v, value_fn=f)
            return optax.apply_updates(x, u), s

        return jax.lax.fori_loop(0, 40, body, (x, opt.init(x)))

    x, s = run(jnp.zeros(12, jnp.float32))
    assert x.dtype == jnp.float32 and s.grad.dtype == jnp.float32
    ref = scipy_lbfgsb(np_least_squares(A, b), np.zeros(12), np.full(12, -0.3), np.full(12, 0.3))
    assert float(f(x)) == pytest.approx(ref.fun, rel=1e-5)
    np.testing.assert_allclose(np.asarray(x), ref.x, atol=1e-3)
    assert int(s.count) == 40


def test_pairs_without_curvature_are_skipped_bfloat16():
    """A linear loss has y = 0: no pair is stored; the minimizer is a corner of the box.

    In bfloat16 (the algebra runs in float32; the updates keep bfloat16).
    """
    c = jnp.array([1.0, -2.0, 0.5], jnp.bfloat16)
    f = lambda x: jnp.sum(c.astype(jnp.float32) * x.astype(jnp.float32))
    opt = gradopt.lbfgsb(-1.0, jnp.array([2.0, 3.0, 4.0]))
    x = jnp.zeros(3, jnp.bfloat16)
    s = opt.init(x)
    update = jax.jit(lambda s, x: opt.update(c, s, x, value=f(x), value_fn=f))
    for _ in range(3):
        u, s = update(s, x)
        assert u.dtype == jnp.bfloat16
        x = x + u
        assert int(s.pairs) == 0
    np.testing.assert_array_equal(np.asarray(x, np.float32), [-1.0, 3.0, -1.0])


# --------------------------------------------------------------------------- the parts


def _pairs(n, m, seed):
    """``m`` curvature pairs of an SPD quadratic and the BFGS matrix built from them."""
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((n, n))
    H = Q @ Q.T + n * np.eye(n)
    S = rng.standard_normal((m, n))
    Y = S @ H
    theta = Y[-1] @ Y[-1] / (S[-1] @ Y[-1])
    B = theta * np.eye(n)
    for s, y in zip(S, Y):  # the BFGS recursion (Nocedal & Wright, eq. 6.19)
        Bs = B @ s
        B = B - np.outer(Bs, Bs) / (s @ Bs) + np.outer(y, y) / (y @ s)
    return S, Y, theta, B


def _compact(S, Y, theta, mem):
    """W and M from the state arrays, as the transformation builds them."""
    m = len(S)
    pad = lambda a: np.vstack([np.zeros((mem - m, a.shape[1])), a])
    Sp, Yp = pad(S), pad(Y)
    valid = jnp.arange(mem) >= mem - m
    M = L._middle(jnp.asarray(Sp @ Sp.T), jnp.asarray(Sp @ Yp.T), theta, valid)
    W = np.concatenate([Yp, theta * Sp], axis=0).T
    return jnp.asarray(W), M


def test_compact_representation_is_the_bfgs_matrix():
    S, Y, theta, B = _pairs(7, 3, seed=0)
    W, M = _compact(S, Y, theta, mem=5)  # two unused slots
    np.testing.assert_allclose(theta * np.eye(7) - W @ M @ W.T, B, rtol=1e-9, atol=1e-9)


def _model_path_minimum(x, g, lo, hi, B):
    """The first local minimizer of m(P(x - t g)), segment by segment (dense B)."""
    grad_m = lambda z: g + B @ (z - x)
    t_break = np.where(g < 0, (x - hi) / np.where(g < 0, g, 1),
                       np.where(g > 0, (x - lo) / np.where(g > 0, g, 1), np.inf))
    ts = np.unique(np.r_[0.0, t_break[t_break > 0]])
    path = lambda t: np.clip(x - t * g, lo, hi)
    for a, b in zip(ts, np.r_[ts[1:], np.inf]):
        xa = path(a)
        d = np.where((t_break > a), -g, 0.0)
        slope, curv = grad_m(xa) @ d, d @ B @ d
        if slope >= 0:
            return xa
        tau = -slope / curv
        if tau < b - a:
            return xa + tau * d
    raise AssertionError("unbounded model")


CAUCHY, SUBSPACE = jax.jit(L._cauchy_point), jax.jit(L._subspace_step)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cauchy_point_and_subspace_step_against_dense_model(seed):
    n = 9
    S, Y, theta, B = _pairs(n, 4, seed)
    rng = np.random.default_rng(10 + seed)
    lo, hi = -rng.uniform(0.1, 1.0, n), rng.uniform(0.1, 1.0, n)
    lo[0], hi[1] = -np.inf, np.inf
    x = rng.uniform(lo.clip(-1), hi.clip(None, 1))
    x[2], x[3] = lo[2], hi[3]  # starts at a bound
    g = 5 * rng.standard_normal(n)
    W, M = _compact(S, Y, theta, mem=6)
    xcp, c, active = CAUCHY(*(jnp.asarray(a) for a in (x, g, lo, hi)), W, M, theta)
    np.testing.assert_allclose(xcp, _model_path_minimum(x, g, lo, hi, B), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(c, np.asarray(W).T @ (np.asarray(xcp) - x), rtol=1e-8, atol=1e-9)
    free = ~np.asarray(active)
    assert free.any() and (~free).any()
    assert np.all((np.asarray(xcp)[~free] == lo[~free]) | (np.asarray(xcp)[~free] == hi[~free]))
    # the subspace step, without the box, zeroes the model gradient on the free variables
    wide = np.full(n, np.inf)
    xbar = np.asarray(SUBSPACE(*(jnp.asarray(a) for a in (x, g, -wide, wide, xcp, c)),
                                 active, W, M, theta))
    np.testing.assert_allclose((g + B @ (xbar - x))[free], 0.0, atol=1e-8)
    np.testing.assert_array_equal(xbar[~free], np.asarray(xcp)[~free])


# --------------------------------------------------------------------------- validation


def test_bad_input():
    with pytest.raises(ValueError, match="lower must be <= upper"):
        gradopt.lbfgsb(jnp.array([0.0, 2.0]), 1.0)
    with pytest.raises(ValueError, match="lower must be <= upper"):
        gradopt.lbfgsb({"a": 1.0, "b": 0.0}, {"a": 2.0, "b": -1.0})
    with pytest.raises(ValueError, match="upper must not contain NaN"):
        gradopt.lbfgsb(0.0, jnp.nan)
    with pytest.raises(ValueError, match="memory_size"):
        gradopt.lbfgsb(0.0, 1.0, memory_size=0)
    with pytest.raises(ValueError, match="c1 must be < c2"):
        gradopt.lbfgsb(0.0, 1.0, c1=0.5, c2=0.1)
    opt = gradopt.lbfgsb({"a": 0.0, "b": 1.0}, 2.0)
    with pytest.raises(ValueError, match="lower must be a single value or a pytree"):
        opt.init({"c": jnp.zeros(2)})
    with pytest.raises(ValueError, match="upper must broadcast"):
        gradopt.lbfgsb(0.0, jnp.ones(3)).init(jnp.zeros(2))
    opt = gradopt.lbfgsb(0.0, 1.0)
    x = jnp.zeros(2)
    with pytest.raises(ValueError, match="value_fn"):
        opt.update(x, opt.init(x), x)
    with pytest.raises(ValueError, match="params"):
        opt.update(x, opt.init(x), value_fn=jnp.sum)
