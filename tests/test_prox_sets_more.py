"""The sets added for jaxopt's users (issue 14) and the row-wise / whole-tree options.

Each projection is checked against an independent reference: CVXPY (CLARABEL)
for the convex sets, a closed form or a brute-force enumeration for the
non-convex ones, the whole-leaf projection applied row by row for ``axis=``.
Then properties: idempotence and membership, firm non-expansiveness for the
convex sets, the Moreau decomposition where the conjugate is known (subspaces
and cones: ``v = P_K(v) + P_{K polar}(v)``; norms and their dual balls per
row), and pytrees, jit, vmap, float32.
"""

import itertools

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradopt
from gradopt import prox

SETTINGS = settings(max_examples=5, deadline=None, derandomize=True)
seeds = st.integers(0, 2**31 - 1)
dims = st.sampled_from([3, 5])  # few shapes: few compilations


def _solve(objective, constraints):
    problem = cp.Problem(cp.Minimize(objective), constraints)
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11)
    assert problem.status in ("optimal", "optimal_inaccurate"), problem.status


def cvx_project(v, constraints):
    x = cp.Variable(np.shape(v))
    _solve(0.5 * cp.sum_squares(x - v), constraints(x))
    return x.value


def close(a, b, tol=1e-6):
    a, b = np.asarray(a, float), np.asarray(b, float)
    np.testing.assert_allclose(a, b, atol=tol * max(1.0, np.abs(b).max(initial=0.0)), rtol=0)


def rng_of(seed):
    return np.random.default_rng(seed)


# penalties are pytrees: one compiled prox / value per set (and shape), reused across examples
PROX = jax.jit(lambda g, x: g.prox(x))
VALUE = jax.jit(lambda g, x: g.value(x))
ROWS_SIMPLEX = jax.vmap(optax.projections.projection_simplex)


def np_simplex(v, total):
    """Projection onto {x >= 0, sum x = total} by bisection on the threshold (NumPy)."""
    lo, hi = v.min() - total, v.max()
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if np.maximum(v - mid, 0).sum() > total else (lo, mid)
    return np.maximum(v - 0.5 * (lo + hi), 0.0)


# ----------------------------------------------------------------- against CVXPY


@SETTINGS
@given(seed=seeds, n=dims)
def test_hyperplane_and_halfspace_cvxpy(seed, n):
    rng = rng_of(seed)
    a, v, b = rng.normal(size=n), rng.normal(size=n) * 2, float(rng.normal())
    close(prox.hyperplane(jnp.asarray(a), b).prox(jnp.asarray(v)), cvx_project(v, lambda x: [a @ x == b]))
    close(prox.halfspace(jnp.asarray(a), b).prox(jnp.asarray(v)), cvx_project(v, lambda x: [a @ x <= b]))


@SETTINGS
@given(seed=seeds, n=st.integers(3, 6), m=st.integers(1, 3), rank_deficient=st.booleans())
def test_affine_set_cvxpy(seed, n, m, rank_deficient):
    rng = rng_of(seed)
    A = rng.normal(size=(m, n))
    if rank_deficient:  # a repeated combination of rows: consistent b keeps the set non-empty
        A = np.vstack([A, A[:1] * 2.0 - A[-1:]])
    b = A @ rng.normal(size=n)
    v = rng.normal(size=n) * 2
    got = prox.affine_set(jnp.asarray(A), jnp.asarray(b)).prox(jnp.asarray(v))
    close(got, cvx_project(v, lambda x: [A @ x == b]))
    np.testing.assert_allclose(A @ np.asarray(got), b, atol=1e-10)


def test_affine_set_inconsistent_b_projects_onto_least_squares_solutions():
    A = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])  # rank 1; b not in range(A)
    b = np.array([1.0, 3.0])
    g = prox.affine_set(jnp.asarray(A), jnp.asarray(b))
    v = np.array([0.5, -1.0, 2.0])
    got = np.asarray(g.prox(jnp.asarray(v)))
    # least-squares solutions: x0 + x1 = 2
    close(got, cvx_project(v, lambda x: [x[0] + x[1] == 2.0]))
    assert float(g.value(jnp.asarray(got))) == np.inf


@SETTINGS
@given(seed=seeds, n=dims, inf_bounds=st.booleans())
def test_box_section_cvxpy(seed, n, inf_bounds):
    rng = rng_of(seed)
    lo = rng.normal(size=n) - 1.0
    hi = lo + rng.uniform(0.1, 2.0, size=n)
    w = rng.normal(size=n)
    w[rng.uniform(size=n) < 0.15] = 0.0  # zero weights: the coordinate is only boxed
    if inf_bounds:
        lo[rng.uniform(size=n) < 0.3] = -np.inf
        hi[rng.uniform(size=n) < 0.3] = np.inf
    z = np.clip(rng.normal(size=n), lo, hi)  # a feasible point fixes a feasible value
    value = float(w @ z)
    v = rng.normal(size=n) * 3
    got = prox.box_section(jnp.asarray(lo), jnp.asarray(hi), jnp.asarray(w), value).prox(jnp.asarray(v))
    fl, fh = np.isfinite(lo), np.isfinite(hi)

    def cons(x):
        out = [w @ x == value]
        out += [x[fl] >= lo[fl]] if fl.any() else []
        return out + ([x[fh] <= hi[fh]] if fh.any() else [])

    close(got, cvx_project(v, cons), tol=1e-5)
    assert abs(float(w @ np.asarray(got)) - value) <= 1e-10 * (1 + np.abs(w).sum() * np.abs(got).max())


def test_box_section_is_capped_simplex_and_reports_infeasible():
    v = jnp.asarray(rng_of(0).normal(size=7))
    capped = prox.box_section(0.0, 0.3, 1.0, 1.0).prox(v)
    want = cvx_project(np.asarray(v), lambda x: [x >= 0, x <= 0.3, cp.sum(x) == 1.0])
    close(capped, want)
    # with upper = inf and weights 1 it is the simplex
    close(prox.box_section(0.0, np.inf, 1.0, 2.0).prox(v), prox.simplex(2.0).prox(v), tol=1e-12)
    # an empty set (sum of the caps < value): the box point whose sum is closest
    g = prox.box_section(0.0, 0.1, 1.0, 1.0)
    out = g.prox(v)
    close(out, np.full(7, 0.1), tol=1e-12)
    assert float(g.value(out)) == np.inf


@settings(max_examples=5, deadline=None, derandomize=True)
@given(seed=seeds, n=st.sampled_from([3, 4]))
def test_birkhoff_cvxpy(seed, n):
    v = rng_of(seed).normal(size=(n, n)) * 2
    got = prox.birkhoff().prox(jnp.asarray(v))
    want = cvx_project(v, lambda x: [x >= 0, cp.sum(x, axis=0) == 1, cp.sum(x, axis=1) == 1])
    close(got, want, tol=1e-7)
    got = np.asarray(got)
    np.testing.assert_allclose(got.sum(0), 1.0, atol=1e-13)
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-13)
    assert got.min() >= 0.0


def test_birkhoff_float32_and_sweeps():
    v = rng_of(1).normal(size=(30, 30))
    x64, iters, err = prox.project_birkhoff(jnp.asarray(v))
    assert int(iters) < 200 and float(err) <= 1e-13
    x32 = prox.birkhoff().prox(jnp.asarray(v, jnp.float32))
    assert x32.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(x32, float), np.asarray(x64), atol=2e-5)
    np.testing.assert_allclose(np.asarray(x32, float).sum(0), 1.0, atol=1e-5)
    # max_iter is honoured: one sweep leaves visible column-sum violations
    x1, n1, err1 = prox.project_birkhoff(jnp.asarray(v), max_iter=1)
    assert int(n1) == 1 and float(err1) > 1e-6


@SETTINGS
@given(seed=seeds, reg=st.floats(0.05, 2.0), s=st.floats(0.1, 3.0))
def test_group_l2_whole_tree_cvxpy(seed, reg, s):
    rng = rng_of(seed)
    a, b = rng.normal(size=(2, 3)), rng.normal(size=4) * 0.5
    got = prox.group_l2(reg, whole_tree=True).prox({"a": jnp.asarray(a), "b": jnp.asarray(b)}, s)
    xa, xb = cp.Variable(a.shape), cp.Variable(b.shape)
    _solve(
        0.5 * cp.sum_squares(xa - a) + 0.5 * cp.sum_squares(xb - b)
        + s * reg * cp.norm(cp.hstack([cp.vec(xa, order="C"), xb]), 2),
        [],
    )
    close(got["a"], xa.value)
    close(got["b"], xb.value)
    # and it differs from the default (one group per leaf) on this tree
    per_leaf = prox.group_l2(reg).prox({"a": jnp.asarray(a), "b": jnp.asarray(b)}, s)
    value_tree = float(prox.group_l2(reg, whole_tree=True).value({"a": a, "b": b}))
    np.testing.assert_allclose(value_tree, reg * np.sqrt((a**2).sum() + (b**2).sum()), rtol=1e-12)
    assert float(prox.group_l2(reg).value({"a": a, "b": b})) > value_tree
    assert not np.allclose(per_leaf["b"], got["b"]) or np.allclose(got["b"], 0)


# ---------------------------------------------------------- non-convex sets: brute force


@SETTINGS
@given(seed=seeds, n=st.sampled_from([2, 4]), radius=st.floats(0.2, 4.0))
def test_l1_sphere_is_a_nearest_point(seed, n, radius):
    v = rng_of(seed).normal(size=n)
    v[rng_of(seed + 1).uniform(size=n) < 0.2] = 0.0
    got = np.asarray(prox.l1_sphere(radius).prox(jnp.asarray(v)))
    np.testing.assert_allclose(np.abs(got).sum(), radius, rtol=1e-12)
    # the sphere is the union over sign patterns s of the faces s * simplex(radius)
    best = min(
        np.linalg.norm(np.asarray(s) * np_simplex(np.asarray(s) * v, radius) - v)
        for s in itertools.product([-1.0, 1.0], repeat=n)
    )
    np.testing.assert_allclose(np.linalg.norm(got - v), best, rtol=1e-10, atol=1e-12)
    if np.abs(v).sum() >= radius:  # outside the ball: the l1-ball projection
        close(got, prox.l1_ball(radius).prox(jnp.asarray(v)), tol=1e-12)


def test_sphere_choices_at_zero():
    z = jnp.zeros(4)
    close(prox.l1_sphere(2.0).prox(z), np.full(4, 0.5), tol=1e-15)
    close(prox.l2_sphere(2.0).prox(z), np.full(4, 1.0), tol=1e-15)
    tree = {"a": jnp.zeros((2, 2)), "b": jnp.zeros(5)}
    p = prox.l2_sphere(3.0).prox(tree)
    np.testing.assert_allclose(np.sqrt(sum(float(jnp.sum(x**2)) for x in jax.tree.leaves(p))), 3.0)


@SETTINGS
@given(seed=seeds, n=dims, radius=st.floats(0.2, 4.0))
def test_l2_sphere_closed_form_and_nearest(seed, n, radius):
    rng = rng_of(seed)
    v = rng.normal(size=n)
    got = np.asarray(prox.l2_sphere(radius).prox(jnp.asarray(v)))
    close(got, radius * v / np.linalg.norm(v), tol=1e-14)
    q = rng.normal(size=(50, n))
    q = radius * q / np.linalg.norm(q, axis=1, keepdims=True)
    assert np.linalg.norm(got - v) <= np.linalg.norm(q - v, axis=1).min() + 1e-12


@SETTINGS
@given(seed=seeds, n=st.sampled_from([4, 6]), k=st.integers(1, 4), total=st.floats(0.3, 3.0))
def test_sparse_simplex_brute_force(seed, n, k, total):
    v = rng_of(seed).normal(size=n)
    got = np.asarray(prox.sparse_simplex(k, total).prox(jnp.asarray(v)))
    assert (got >= 0).all() and np.count_nonzero(got) <= k
    np.testing.assert_allclose(got.sum(), total, rtol=1e-12)
    best = np.inf
    for support in itertools.combinations(range(n), min(k, n)):
        idx = list(support)
        x = np.zeros(n)
        x[idx] = np_simplex(v[idx], total)
        best = min(best, np.linalg.norm(x - v))
    assert np.linalg.norm(got - v) <= best + 1e-10
    if k >= n:
        close(got, prox.simplex(total).prox(jnp.asarray(v)), tol=1e-12)


# ----------------------------------------------------------------- axis=: row by row


def _rows(g_whole, v, axis):
    """The whole-leaf projection applied to each slice along ``axis`` (a 2-D v)."""
    v = np.asarray(v)
    if axis == 1:
        return np.stack([np.asarray(g_whole(i).prox(jnp.asarray(v[i]))) for i in range(v.shape[0])])
    return np.stack([np.asarray(g_whole(j).prox(jnp.asarray(v[:, j]))) for j in range(v.shape[1])], axis=1)


AXIS_SETS = {
    "simplex": lambda p, axis: prox.simplex(p, axis=axis),
    "l1_ball": lambda p, axis: prox.l1_ball(p, axis=axis),
    "l2_ball": lambda p, axis: prox.l2_ball(p, axis=axis),
    "linf_ball": lambda p, axis: prox.linf_ball(p, axis=axis),
    "box": lambda p, axis: prox.box(-p, p, axis=axis),
}


@pytest.mark.parametrize("name", sorted(AXIS_SETS))
@pytest.mark.parametrize("axis", [0, -1])
def test_axis_matches_whole_leaf_per_slice(name, axis):
    make = AXIS_SETS[name]
    v = rng_of(3).normal(size=(4, 5)) * 2
    ax = axis % 2
    n_slices = v.shape[1 - ax]
    params = np.linspace(0.3, 2.0, n_slices)  # one radius / total / bound per slice
    got = PROX(make(jnp.asarray(params), axis), jnp.asarray(v))
    want = _rows(lambda i: make(float(params[i]), None), v, ax)
    close(got, want, tol=1e-12)
    # a scalar parameter is shared by all slices; value is 0 on the projection, inf before
    g = make(1.0, axis)
    p = PROX(g, jnp.asarray(v))
    assert float(VALUE(g, p)) == 0.0 and float(VALUE(g, jnp.asarray(v))) == np.inf
    close(PROX(g, p), p, tol=1e-12)


def test_axis_tuple_3d_and_pytree():
    rng = rng_of(4)
    v = rng.normal(size=(2, 3, 4))
    got = prox.simplex(axis=(1, 2)).prox(jnp.asarray(v))  # each (3, 4) slab sums to 1
    for i in range(2):
        close(got[i], prox.simplex().prox(jnp.asarray(v[i])), tol=1e-12)
    tree = {"W": jnp.asarray(rng.normal(size=(3, 4))), "U": jnp.asarray(rng.normal(size=(2, 4)))}
    out = prox.l2_ball(1.0, axis=1).prox(tree)
    for k in tree:
        np.testing.assert_allclose(np.linalg.norm(out[k], axis=1), np.minimum(np.linalg.norm(tree[k], axis=1), 1.0), rtol=1e-12)
    # a pytree of per-leaf radii
    out = prox.l2_ball({"W": 0.5, "U": jnp.array([1.0, 2.0])}, axis=1).prox(tree)
    assert np.linalg.norm(out["W"], axis=1).max() <= 0.5 + 1e-12


def test_axis_errors():
    with pytest.raises(ValueError, match="axis"):
        prox.simplex(axis=2).prox(jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="total must be a scalar or broadcast to the slice shape"):
        prox.simplex(jnp.ones(3), axis=1).prox(jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="radius must be finite and > 0"):
        prox.l2_ball(jnp.array([1.0, -1.0]), axis=1)
    with pytest.raises(ValueError, match="axis must be None, an int"):
        prox.box(0.0, 1.0, axis="rows")
    with pytest.raises(ValueError, match="radius"):
        prox.l1_ball(jnp.array([1.0, 2.0]))  # arrays need axis


# ----------------------------------------------------------------- from_projection


def test_from_projection_row_simplex_in_minimize_and_proximal_gradient():
    g = prox.from_projection(ROWS_SIMPLEX)
    assert g.is_indicator
    v = jnp.asarray(rng_of(5).normal(size=(3, 4)))
    close(g.prox(v, 0.3), prox.simplex(axis=1).prox(v), tol=1e-12)
    assert float(g.value(g.prox(v))) == 0.0 and float(g.value(v)) == np.inf
    # least squares over row-stochastic matrices, through minimize(penalty=...)
    target = jnp.asarray(rng_of(6).normal(size=(3, 4)))
    f = lambda W: 0.5 * jnp.sum((W - target) ** 2)
    res = gradopt.minimize(f, jnp.full((3, 4), 0.25), gradopt.proximal_gradient(1.0, g), penalty=g, tol=1e-10)
    close(res.params, prox.simplex(axis=1).prox(target), tol=1e-10)
    res2 = gradopt.minimize(f, jnp.full((3, 4), 0.25), gradopt.projected_gradient(0.5, g), penalty=g, tol=1e-10)
    close(res2.params, res.params, tol=1e-8)
    # a penalty is a pytree with the function as static data: jit with it as an argument
    out = jax.jit(lambda pen, x: pen.prox(x))(g, v)
    close(out, g.prox(v), tol=1e-15)


def test_from_projection_errors():
    with pytest.raises(TypeError, match="projection must be a function"):
        prox.from_projection(3.0)
    with pytest.raises(TypeError, match="already a penalty"):
        prox.from_projection(prox.simplex())


# ----------------------------------------------------------------- properties

CONVEX = {
    "hyperplane": lambda: prox.hyperplane(jnp.linspace(-1.0, 1.0, 12).reshape(3, 4) + 0.05, 0.7),
    "halfspace": lambda: prox.halfspace(jnp.linspace(-1.0, 1.0, 12).reshape(3, 4) + 0.05, -0.3),
    "affine_set": lambda: prox.affine_set(
        jnp.asarray(rng_of(7).normal(size=(5, 12))), jnp.asarray(rng_of(8).normal(size=5))
    ),
    "box_section": lambda: prox.box_section(-0.4, jnp.linspace(0.1, 1.0, 12).reshape(3, 4), 1.0, 1.5),
    "box_section_signed": lambda: prox.box_section(
        -1.0, 1.0, jnp.linspace(-1.0, 2.0, 12).reshape(3, 4), 0.5
    ),
    "simplex_rows": lambda: prox.simplex(jnp.array([1.0, 2.0, 0.5]), axis=1),
    "l1_ball_cols": lambda: prox.l1_ball(0.8, axis=0),
    "l2_ball_rows": lambda: prox.l2_ball(jnp.array([0.2, 1.0, 3.0]), axis=1),
    "box_rows": lambda: prox.box(jnp.array([-1.0, 0.0, 0.5]), 1.0, axis=1),
    "from_projection": lambda: prox.from_projection(ROWS_SIMPLEX),
}
NONCONVEX = {
    "l1_sphere": lambda: prox.l1_sphere(2.0),
    "l2_sphere": lambda: prox.l2_sphere(2.0),
    "sparse_simplex": lambda: prox.sparse_simplex(3, 2.0),
}
ALL = {**CONVEX, **NONCONVEX}


def rand(seed, scale=2.0):
    return jnp.asarray(rng_of(seed).normal(size=(3, 4)) * scale)


@pytest.mark.parametrize("name", sorted(ALL))
@settings(max_examples=3, deadline=None, derandomize=True)
@given(seed=seeds)
def test_idempotent_and_inside(name, seed):
    g = ALL[name]()
    v = rand(seed)
    p = PROX(g, v)
    assert g.is_indicator
    np.testing.assert_allclose(g.prox(p, 5.0), p, atol=1e-12)
    assert float(VALUE(g, p)) == 0.0
    outside = 10.0 * g.a if name == "halfspace" else v  # v is far outside the other sets
    assert float(VALUE(g, outside)) == np.inf


@pytest.mark.parametrize("name", sorted(CONVEX))
@SETTINGS
@given(seed=seeds)
def test_firmly_nonexpansive(name, seed):
    g = CONVEX[name]()
    x, y = rand(seed), rand(seed + 1, scale=1.0)
    d = PROX(g, x) - PROX(g, y)
    assert float(jnp.vdot(d, x - y)) >= float(jnp.vdot(d, d)) - 1e-10


@pytest.mark.parametrize("name", ["birkhoff"])
@settings(max_examples=4, deadline=None, derandomize=True)
@given(seed=seeds)
def test_birkhoff_firmly_nonexpansive_and_idempotent(name, seed):
    g = prox.birkhoff()
    x = jnp.asarray(rng_of(seed).normal(size=(4, 4)) * 2)
    y = jnp.asarray(rng_of(seed + 1).normal(size=(4, 4)))
    d = g.prox(x) - g.prox(y)
    assert float(jnp.vdot(d, x - y)) >= float(jnp.vdot(d, d)) - 1e-10
    p = g.prox(x)
    np.testing.assert_allclose(g.prox(p), p, atol=1e-12)
    assert float(g.value(p)) == 0.0 and float(g.value(x)) == np.inf


@SETTINGS
@given(seed=seeds)
def test_moreau_cones_and_subspaces(seed):
    # For a closed convex cone K, v = P_K(v) + P_{K polar}(v) (Moreau 1962).
    rng = rng_of(seed)
    a, v = rng.normal(size=6), rng.normal(size=6) * 2
    ray = max(a @ v, 0.0) / (a @ a) * a  # polar of {a.x <= 0} is the ray {t a, t >= 0}
    close(np.asarray(prox.halfspace(jnp.asarray(a), 0.0).prox(jnp.asarray(v))) + ray, v, tol=1e-12)
    line = (a @ v) / (a @ a) * a  # orthogonal complement of {a.x = 0}
    close(np.asarray(prox.hyperplane(jnp.asarray(a), 0.0).prox(jnp.asarray(v))) + line, v, tol=1e-12)
    A = rng.normal(size=(2, 6))  # null(A) and range(A^T)
    row_space = A.T @ np.linalg.solve(A @ A.T, A @ v)
    close(np.asarray(prox.affine_set(jnp.asarray(A), jnp.zeros(2)).prox(jnp.asarray(v))) + row_space, v, tol=1e-10)


@SETTINGS
@given(seed=seeds, s=st.floats(0.1, 3.0))
def test_moreau_row_norms_and_row_balls(seed, s):
    # (reg ||.||) row by row and the dual-norm ball of radius reg, row by row
    v = rand(seed)
    reg = jnp.array([0.3, 1.0, 2.0])
    lhs = prox.group_l2(1.0, axis=1, weights=reg).prox(v, s) + s * prox.l2_ball(reg, axis=1).prox(v / s)
    close(lhs, v, tol=1e-12)
    lhs = prox.l1(reg[:, None]).prox(v, s) + s * prox.linf_ball(reg, axis=1).prox(v / s)
    close(lhs, v, tol=1e-12)
    # whole-tree group norm and the whole-tree l2 ball
    tree = {"a": v, "b": v[0] * 0.5}
    p = prox.group_l2(0.7, whole_tree=True).prox(tree, s)
    q = prox.l2_ball(0.7).prox(jax.tree.map(lambda t: t / s, tree))
    for k in tree:
        close(p[k] + s * q[k], tree[k], tol=1e-12)


@SETTINGS
@given(seed=seeds, s=st.floats(0.1, 3.0))
def test_group_l2_whole_tree_subdiff_distance(seed, s):
    g = prox.group_l2(0.8, whole_tree=True)
    v = {"a": rand(seed), "b": rand(seed + 1)[0]}
    x = g.prox(v, s)
    grad = jax.tree.map(lambda xi, vi: (xi - vi) / s, x, v)
    assert float(g.subdiff_distance(x, grad)) <= 1e-10
    shifted = jax.tree.map(lambda t: t - 3.0, grad)
    np.testing.assert_allclose(
        float(g.subdiff_distance(x, shifted)), float(g.residual(x, shifted, 1e-7)), rtol=1e-5
    )
    small = {"a": 0.01 * rand(seed), "b": 0.01 * rand(seed + 1)[0]}  # shrinks to 0
    z = g.prox(small, s)
    assert all(float(jnp.abs(t).max()) == 0.0 for t in jax.tree.leaves(z))


def test_group_l2_whole_tree_errors():
    with pytest.raises(ValueError, match="whole_tree=True makes the whole pytree one group"):
        prox.group_l2(1.0, axis=1, whole_tree=True)
    with pytest.raises(ValueError, match="single scalar"):
        prox.group_l2({"a": 1.0, "b": 2.0}, whole_tree=True)


# ----------------------------------------------------------------- pytrees, jit, vmap, dtypes


def test_pytree_sets_match_flattened():
    rng = rng_of(9)
    tree = {"a": jnp.asarray(rng.normal(size=(2, 3))), "b": jnp.asarray(rng.normal(size=4))}
    flat = jnp.concatenate([tree["a"].ravel(), tree["b"]])
    unflat = lambda x: {"a": x[:6].reshape(2, 3), "b": x[6:]}
    a_tree = {"a": jnp.ones((2, 3)), "b": jnp.arange(4.0)}
    a_flat = jnp.concatenate([jnp.ones(6), jnp.arange(4.0)])
    pairs = [
        (prox.hyperplane(a_tree, 0.5), prox.hyperplane(a_flat, 0.5)),
        (prox.halfspace(a_tree, -0.5), prox.halfspace(a_flat, -0.5)),
        (prox.box_section({"a": 0.0, "b": -1.0}, 1.0, a_tree, 2.0),
         prox.box_section(jnp.concatenate([jnp.zeros(6), -jnp.ones(4)]), 1.0, a_flat, 2.0)),
        (prox.l1_sphere(3.0), prox.l1_sphere(3.0)),
        (prox.l2_sphere(3.0), prox.l2_sphere(3.0)),
        (prox.sparse_simplex(4), prox.sparse_simplex(4)),
        (prox.affine_set(jnp.ones((1, 10)), jnp.array([1.0])), prox.affine_set(jnp.ones((1, 10)), jnp.array([1.0]))),
    ]
    for g_tree, g_flat in pairs:
        got = g_tree.prox(tree)
        jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, atol=1e-12), got, unflat(g_flat.prox(flat)))
        assert float(g_tree.value(got)) == 0.0
    # birkhoff: every square leaf on its own
    mats = {"P": jnp.asarray(rng.normal(size=(3, 3))), "Q": jnp.asarray(rng.normal(size=(2, 2)))}
    out = prox.birkhoff().prox(mats)
    for k in mats:
        close(out[k], prox.birkhoff().prox(mats[k]), tol=1e-15)
    with pytest.raises(ValueError, match="square"):
        prox.birkhoff().prox(jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="A has 3 columns"):
        prox.affine_set(jnp.ones((1, 3)), jnp.ones(1)).prox(jnp.ones(4))


# one traced hyperparameter per new set: vmap over it == a Python loop
SWEEPS = {
    "hyperplane_b": (lambda b: prox.hyperplane(jnp.ones((3, 4)), b), [-1.0, 0.0, 2.0]),
    "halfspace_b": (lambda b: prox.halfspace(jnp.ones((3, 4)), b), [-1.0, 0.0, 2.0]),
    "affine_b": (lambda b: prox.affine_set(jnp.ones((1, 12)), jnp.stack([b])), [-1.0, 0.0, 2.0]),
    "box_section_value": (lambda c: prox.box_section(-1.0, 1.0, 1.0, c), [-2.0, 0.5, 3.0]),
    "l1_sphere": (lambda r: prox.l1_sphere(r), [0.5, 1.0, 30.0]),
    "l2_sphere": (lambda r: prox.l2_sphere(r), [0.5, 1.0, 30.0]),
    "sparse_simplex": (lambda t: prox.sparse_simplex(3, t), [0.5, 1.0, 3.0]),
    "simplex_rows": (lambda t: prox.simplex(t, axis=1), [0.5, 1.0, 3.0]),
    "l1_ball_rows": (lambda r: prox.l1_ball(r, axis=1), [0.5, 1.0, 3.0]),
}


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_jit_vmap_over_hyperparameter_and_batch(name):
    make, values = SWEEPS[name]
    v = rand(11)
    eager = np.stack([np.asarray(make(c).prox(v)) for c in values])
    batched = jax.jit(jax.vmap(lambda c: make(c).prox(v)))(jnp.asarray(values))
    np.testing.assert_allclose(batched, eager, atol=1e-12)
    assert not np.allclose(eager[0], eager[-1])
    vals = jax.vmap(lambda c: make(c).value(make(c).prox(v)))(jnp.asarray(values))
    np.testing.assert_array_equal(vals, 0.0)
    g = make(values[1])
    batch = jnp.stack([v, -v, 2 * v])
    got = jax.jit(jax.vmap(g.prox))(batch)
    for i in range(3):
        np.testing.assert_allclose(got[i], g.prox(batch[i]), atol=1e-12)


def test_birkhoff_vmap_and_jit():
    batch = jnp.asarray(rng_of(12).normal(size=(3, 4, 4)))
    got = jax.jit(jax.vmap(prox.birkhoff().prox))(batch)
    for i in range(3):
        close(got[i], prox.birkhoff().prox(batch[i]), tol=1e-12)


@pytest.mark.parametrize("name", sorted(ALL))
def test_float32_kept_and_inside(name):
    g = ALL[name]()
    v = rand(13).astype(jnp.float32)
    p = PROX(g, v)
    assert p.dtype == jnp.float32
    assert float(VALUE(g, p)) == 0.0
    np.testing.assert_allclose(np.asarray(p, float), np.asarray(PROX(g, v.astype(jnp.float64))), atol=2e-5)


def test_construction_errors():
    with pytest.raises(ValueError, match="a must not be all zeros"):
        prox.hyperplane(jnp.zeros(3), 1.0)
    with pytest.raises(ValueError, match="A must be a 2-D"):
        prox.affine_set(jnp.ones(3), jnp.ones(1))
    with pytest.raises(ValueError, match="b must be a vector"):
        prox.affine_set(jnp.ones((2, 3)), jnp.ones(3))
    with pytest.raises(ValueError, match="lower must be <= upper"):
        prox.box_section(1.0, 0.0, 1.0, 0.5)
    with pytest.raises(ValueError, match="max_nonzeros must be a Python int >= 1"):
        prox.sparse_simplex(0)
    with pytest.raises(ValueError, match="radius"):
        prox.l2_sphere(-1.0)
    with pytest.raises(ValueError, match="max_iter"):
        prox.birkhoff(max_iter=0)


def test_box_axis_subdiff_distance():
    # per-row bounds keep the box's closed-form normal-cone distance
    g = prox.box(jnp.array([-1.0, 0.0, 0.5]), jnp.array([0.0, 1.0, 2.0]), axis=1)
    v = rand(14)
    x = g.prox(v, 0.7)
    grad = (x - v) / 0.7
    assert float(g.subdiff_distance(x, grad)) <= 1e-12
    grad2 = jnp.asarray(rng_of(15).normal(size=(3, 4)))
    np.testing.assert_allclose(float(g.subdiff_distance(x, grad2)), float(g.residual(x, grad2, 1e-7)), rtol=1e-5)
