"""Every prox against CVXPY solving ``argmin_x 1/2 ||x - v||^2 + s g(x)`` (or the projection).

Random inputs from hypothesis (a seed, small shapes, strengths and steps);
CVXPY solves the same convex problem with CLARABEL (interior point, ~1e-9
accuracy), so agreement to 1e-5 checks the closed forms independently.
"""

import cvxpy as cp
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradopt import prox

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True)
TOL = 1e-5

seeds = st.integers(0, 2**31 - 1)
steps = st.floats(0.05, 3.0)
regs = st.floats(0.0, 2.0)
dims = st.integers(1, 6)


def _solve(objective, constraints=()):
    problem = cp.Problem(cp.Minimize(objective), list(constraints))
    problem.solve(solver=cp.CLARABEL)
    assert problem.status in ("optimal", "optimal_inaccurate"), problem.status


def cvx_prox(v, s, g_expr=None, constraints=None):
    """argmin_x 1/2||x - v||^2 + s g(x) (s constraints) with CVXPY; ``g_expr(x)`` a CVXPY expr."""
    v = np.asarray(v, float)
    x = cp.Variable(v.shape)
    obj = 0.5 * cp.sum_squares(x - v)
    if g_expr is not None:
        obj = obj + s * g_expr(x)
    _solve(obj, [] if constraints is None else constraints(x))
    return x.value


def close(a, b, tol=TOL):
    a, b = np.asarray(a, float), np.asarray(b, float)
    np.testing.assert_allclose(a, b, atol=tol * max(1.0, np.abs(b).max(initial=0.0)), rtol=0)


def rand(seed, shape, scale=2.0):
    return np.random.default_rng(seed).normal(size=shape) * scale


@SETTINGS
@given(seed=seeds, n=dims, reg=regs, s=steps)
def test_l1_scalar(seed, n, reg, s):
    v = rand(seed, (n,))
    got = prox.l1(reg).prox(jnp.asarray(v), s)
    close(got, cvx_prox(v, s, lambda x: reg * cp.norm1(x)))


@SETTINGS
@given(seed=seeds, m=dims, n=dims, s=steps)
def test_l1_weighted_per_coordinate(seed, m, n, s):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(m, n)) * 2
    w = rng.uniform(0, 2, size=(m, n)) * (rng.uniform(size=(m, n)) > 0.2)  # some zero weights
    got = prox.l1(jnp.asarray(w)).prox(jnp.asarray(v), s)
    close(got, cvx_prox(v, s, lambda x: cp.sum(cp.multiply(w, cp.abs(x)))))


@SETTINGS
@given(seed=seeds, n=dims, s=steps)
def test_l1_per_leaf_pytree(seed, n, s):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, 2)) * 2, rng.normal(size=(n,)) * 2
    ra, rb = 0.3, rng.uniform(0, 2, size=(n,))
    got = prox.l1({"a": ra, "b": jnp.asarray(rb)}).prox({"a": jnp.asarray(a), "b": jnp.asarray(b)}, s)
    close(got["a"], cvx_prox(a, s, lambda x: ra * cp.sum(cp.abs(x))))
    close(got["b"], cvx_prox(b, s, lambda x: cp.sum(cp.multiply(rb, cp.abs(x)))))


@SETTINGS
@given(seed=seeds, n=dims, reg=regs, s=steps)
def test_l2_squared(seed, n, reg, s):
    v = rand(seed, (n,))
    got = prox.l2_squared(reg).prox(jnp.asarray(v), s)
    close(got, cvx_prox(v, s, lambda x: reg / 2 * cp.sum_squares(x)))


@SETTINGS
@given(seed=seeds, n=dims, reg=regs, ratio=st.floats(0.0, 1.0), s=steps)
def test_elastic_net(seed, n, reg, ratio, s):
    v = rand(seed, (n,))
    got = prox.elastic_net(reg, ratio).prox(jnp.asarray(v), s)
    want = cvx_prox(
        v, s, lambda x: reg * (ratio * cp.norm1(x) + (1 - ratio) / 2 * cp.sum_squares(x))
    )
    close(got, want)


@SETTINGS
@given(seed=seeds, n=dims, reg=regs, s=steps)
def test_group_l2_leaf_groups(seed, n, reg, s):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, 2)), rng.normal(size=(n + 1,)) * 0.5
    got = prox.group_l2(reg).prox({"a": jnp.asarray(a), "b": jnp.asarray(b)}, s)
    xa, xb = cp.Variable(a.shape), cp.Variable(b.shape)
    _solve(
        0.5 * cp.sum_squares(xa - a) + 0.5 * cp.sum_squares(xb - b)
        + s * reg * (cp.norm(cp.vec(xa, order="C"), 2) + cp.norm(xb, 2))
    )
    close(got["a"], xa.value)
    close(got["b"], xb.value)


@SETTINGS
@given(seed=seeds, m=dims, n=dims, reg=regs, s=steps, axis=st.sampled_from([0, 1]))
def test_group_l2_axis_groups_with_weights(seed, m, n, reg, s, axis):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(m, n))
    n_groups = m if axis == 1 else n
    w = rng.uniform(0, 2, size=n_groups)
    got = prox.group_l2(reg, axis=axis, weights=jnp.asarray(w)).prox(jnp.asarray(v), s)
    want = cvx_prox(v, s, lambda x: reg * cp.sum(cp.multiply(w, cp.norm(x, 2, axis=axis))))
    close(got, want)


@SETTINGS
@given(seed=seeds, m=st.integers(1, 5), n=st.integers(1, 5), reg=regs, s=steps)
def test_nuclear(seed, m, n, reg, s):
    v = rand(seed, (m, n))
    got = prox.nuclear(reg).prox(jnp.asarray(v), s)
    close(got, cvx_prox(v, s, lambda x: reg * cp.normNuc(x)))


@SETTINGS
@given(seed=seeds, n=dims, reg=regs, s=steps)
def test_linf(seed, n, reg, s):
    v = rand(seed, (n,))
    got = prox.linf(reg).prox(jnp.asarray(v), s)
    close(got, cvx_prox(v, s, lambda x: reg * cp.norm_inf(x)))


@SETTINGS
@given(seed=seeds, n=dims, reg=regs, s=steps)
def test_linf_pytree_is_global(seed, n, reg, s):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, 2)) * 2, rng.normal(size=(n,)) * 2
    got = prox.linf(reg).prox({"a": jnp.asarray(a), "b": jnp.asarray(b)}, s)
    want = cvx_prox(np.concatenate([a.ravel(), b]), s, lambda x: reg * cp.norm_inf(x))
    close(np.concatenate([np.ravel(got["a"]), got["b"]]), want)


# ----------------------------------------------------------------------------- sets


@SETTINGS
@given(seed=seeds, n=dims)
def test_nonnegative(seed, n):
    v = rand(seed, (n,))
    close(prox.nonnegative().prox(jnp.asarray(v), 0.7), cvx_prox(v, 1, constraints=lambda x: [x >= 0]))


@SETTINGS
@given(seed=seeds, n=dims)
def test_box_per_coordinate_with_infinite_bounds(seed, n):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=n) * 2
    lo = rng.normal(size=n) - 0.5
    hi = lo + rng.uniform(0, 2, size=n)
    lo[rng.uniform(size=n) < 0.2] = -np.inf
    hi[rng.uniform(size=n) < 0.2] = np.inf
    got = prox.box(jnp.asarray(lo), jnp.asarray(hi)).prox(jnp.asarray(v), 2.0)
    fl, fh = np.isfinite(lo), np.isfinite(hi)

    def constraints(x):
        out = [x[fl] >= lo[fl]] if fl.any() else []
        return out + ([x[fh] <= hi[fh]] if fh.any() else [])

    want = cvx_prox(v, 1, constraints=constraints)
    close(got, want)


@SETTINGS
@given(seed=seeds, n=dims, radius=st.floats(0.05, 3.0))
def test_l1_ball(seed, n, radius):
    v = rand(seed, (n,))
    got = prox.l1_ball(radius).prox(jnp.asarray(v))
    close(got, cvx_prox(v, 1, constraints=lambda x: [cp.norm1(x) <= radius]))


@SETTINGS
@given(seed=seeds, n=dims, radius=st.floats(0.05, 3.0))
def test_l2_ball(seed, n, radius):
    v = rand(seed, (n,))
    got = prox.l2_ball(radius).prox(jnp.asarray(v))
    close(got, cvx_prox(v, 1, constraints=lambda x: [cp.norm(x, 2) <= radius]))


@SETTINGS
@given(seed=seeds, n=dims, radius=st.floats(0.05, 3.0))
def test_linf_ball(seed, n, radius):
    v = rand(seed, (n,))
    got = prox.linf_ball(radius).prox(jnp.asarray(v))
    close(got, cvx_prox(v, 1, constraints=lambda x: [cp.norm_inf(x) <= radius]))


@SETTINGS
@given(seed=seeds, n=dims, total=st.floats(0.1, 3.0))
def test_simplex(seed, n, total):
    v = rand(seed, (n,))
    got = prox.simplex(total).prox(jnp.asarray(v))
    close(got, cvx_prox(v, 1, constraints=lambda x: [x >= 0, cp.sum(x) == total]))


@pytest.mark.parametrize(
    "make, constraint",
    [
        (lambda: prox.l1_ball(1.5), lambda x: [cp.norm1(x) <= 1.5]),
        (lambda: prox.l2_ball(1.5), lambda x: [cp.norm(x, 2) <= 1.5]),
        (lambda: prox.simplex(2.0), lambda x: [x >= 0, cp.sum(x) == 2.0]),
    ],
)
def test_sets_constrain_the_whole_pytree(make, constraint):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 3)) * 2, rng.normal(size=(4,)) * 2
    got = make().prox({"a": jnp.asarray(a), "b": jnp.asarray(b)})
    want = cvx_prox(np.concatenate([a.ravel(), b]), 1, constraints=constraint)
    close(np.concatenate([np.ravel(got["a"]), got["b"]]), want)


def test_separable_mix_against_cvxpy():
    rng = np.random.default_rng(1)
    w, b, c = rng.normal(size=(3, 2)) * 2, rng.normal(size=(2,)), rng.normal(size=(4,))
    g = prox.separable({"w": prox.l1(0.4), "b": prox.zero(), "c": prox.nonnegative()})
    s = 1.3
    got = g.prox({"w": jnp.asarray(w), "b": jnp.asarray(b), "c": jnp.asarray(c)}, s)
    xw, xb, xc = cp.Variable(w.shape), cp.Variable(b.shape), cp.Variable(c.shape)
    _solve(
        0.5 * (cp.sum_squares(xw - w) + cp.sum_squares(xb - b) + cp.sum_squares(xc - c))
        + s * 0.4 * cp.sum(cp.abs(xw)),
        [xc >= 0],
    )
    close(got["w"], xw.value)
    close(got["b"], xb.value)
    close(got["c"], xc.value)
