"""Mathematical properties of every penalty's prox, value and optimality measures.

* firm non-expansiveness: <P(x) - P(y), x - y> >= ||P(x) - P(y)||^2 (Bauschke & Combettes);
* Moreau decomposition v = prox_{s g}(v) + s prox_{g*/s}(v/s) for norms, whose
  conjugates are indicators of the dual-norm balls (so the second prox is a projection);
* projections are idempotent and land in the set (value 0), points far outside have value inf;
* value against a NumPy formula;
* subdiff_distance is 0 at x = prox(v, s) with grad = (x - v)/s (the prox optimality
  condition (v - x)/s in dg(x)), and equals the small-step limit of the gradient mapping.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradopt import prox

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True)
seeds = st.integers(0, 2**31 - 1)
SHAPE = (3, 4)

# Penalties applicable to a (3, 4) matrix, with a NumPy formula for their value.
NORMS = {
    "l1": (lambda: prox.l1(0.7), lambda x: 0.7 * np.abs(x).sum()),
    "l1_weighted": (
        lambda: prox.l1(jnp.linspace(0.0, 1.0, 12).reshape(SHAPE)),
        lambda x: (np.linspace(0.0, 1.0, 12).reshape(SHAPE) * np.abs(x)).sum(),
    ),
    "l2_squared": (lambda: prox.l2_squared(0.8), lambda x: 0.4 * (x**2).sum()),
    "elastic_net": (
        lambda: prox.elastic_net(0.9, 0.3),
        lambda x: 0.9 * (0.3 * np.abs(x).sum() + 0.35 * (x**2).sum()),
    ),
    "group_l2": (lambda: prox.group_l2(0.6), lambda x: 0.6 * np.linalg.norm(x)),
    "group_l2_rows": (
        lambda: prox.group_l2(0.6, axis=1, weights=jnp.array([1.0, 2.0, 0.5])),
        lambda x: 0.6 * (np.array([1.0, 2.0, 0.5]) * np.linalg.norm(x, axis=1)).sum(),
    ),
    "group_l2_cols": (
        lambda: prox.group_l2(0.6, axis=0),
        lambda x: 0.6 * np.linalg.norm(x, axis=0).sum(),
    ),
    "nuclear": (lambda: prox.nuclear(0.5), lambda x: 0.5 * np.linalg.svd(x, compute_uv=False).sum()),
    "linf": (lambda: prox.linf(1.1), lambda x: 1.1 * np.abs(x).max()),
    "zero": (lambda: prox.zero(), lambda x: 0.0),
}
SETS = {
    "nonnegative": (lambda: prox.nonnegative(), lambda x: (x >= 0).all()),
    "box": (lambda: prox.box(-0.5, jnp.full(SHAPE, 1.0)), lambda x: ((x >= -0.5) & (x <= 1.0)).all()),
    "box_half_open": (lambda: prox.box(upper=0.2), lambda x: (x <= 0.2).all()),
    "l1_ball": (lambda: prox.l1_ball(1.5), lambda x: np.abs(x).sum() <= 1.5 * (1 + 1e-12)),
    "l2_ball": (lambda: prox.l2_ball(1.5), lambda x: np.linalg.norm(x) <= 1.5 * (1 + 1e-12)),
    "linf_ball": (lambda: prox.linf_ball(0.3), lambda x: np.abs(x).max() <= 0.3),
    "simplex": (lambda: prox.simplex(2.0), lambda x: (x >= 0).all() and abs(x.sum() - 2.0) < 1e-10),
}
ALL = {**NORMS, **{k: (make, None) for k, (make, _) in SETS.items()}}
WITH_SUBDIFF = ["l1", "l1_weighted", "l2_squared", "elastic_net", "group_l2", "group_l2_rows",
                "group_l2_cols", "zero", "nonnegative", "box", "box_half_open"]


def rand(seed, scale=2.0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=SHAPE) * scale)


def inner(a, b):
    return float(jnp.vdot(a, b))


@pytest.mark.parametrize("name", sorted(ALL))
@SETTINGS
@given(seed=seeds, s=st.floats(0.1, 3.0))
def test_firmly_nonexpansive(name, seed, s):
    g = ALL[name][0]()
    x, y = rand(seed), rand(seed + 1, scale=1.0)
    px, py = g.prox(x, s), g.prox(y, s)
    d = px - py
    assert inner(d, x - y) >= inner(d, d) - 1e-10 * (1 + inner(x - y, x - y))


# (norm penalty g = reg * ||.||, projection onto the dual-norm ball of radius reg)
MOREAU = {
    "l1_linf_ball": (lambda r: prox.l1(r), lambda r: prox.linf_ball(r)),
    "weighted_l1_box": (
        lambda r: prox.l1(r * jnp.linspace(0.1, 1.0, 12).reshape(SHAPE)),
        lambda r: prox.box(-r * jnp.linspace(0.1, 1.0, 12).reshape(SHAPE),
                           r * jnp.linspace(0.1, 1.0, 12).reshape(SHAPE)),
    ),
    "l2_l2_ball": (lambda r: prox.group_l2(r), lambda r: prox.l2_ball(r)),
    # linf's prox is computed as v - P_{l1 ball of radius s reg}(v); this checks the
    # step scaling against the textbook form with P_{l1 ball of radius reg}(v / s).
    "linf_l1_ball": (lambda r: prox.linf(r), lambda r: prox.l1_ball(r)),
}


@pytest.mark.parametrize("name", sorted(MOREAU))
@SETTINGS
@given(seed=seeds, s=st.floats(0.1, 3.0), reg=st.floats(0.05, 2.0))
def test_moreau_decomposition(name, seed, s, reg):
    norm, dual_ball = MOREAU[name]
    v = rand(seed)
    lhs = norm(reg).prox(v, s) + s * dual_ball(reg).prox(v / s)
    np.testing.assert_allclose(lhs, v, atol=1e-10)


@SETTINGS
@given(seed=seeds, s=st.floats(0.1, 3.0), reg=st.floats(0.05, 2.0))
def test_moreau_group_l2_with_per_leaf_l2_balls(seed, s, reg):
    # group_l2 with one group per leaf  <->  a product of l2 balls (separable)
    v = {"a": rand(seed), "b": rand(seed + 1)[0]}
    p = prox.group_l2(reg).prox(v, s)
    q = prox.separable({"a": prox.l2_ball(reg), "b": prox.l2_ball(reg)}).prox(
        jax.tree.map(lambda t: t / s, v)
    )
    for k in v:
        np.testing.assert_allclose(p[k] + s * q[k], v[k], atol=1e-10)


@pytest.mark.parametrize("name", sorted(SETS))
@SETTINGS
@given(seed=seeds)
def test_projection_idempotent_and_inside(name, seed):
    make, inside = SETS[name]
    g = make()
    v = rand(seed)
    p = g.prox(v)
    np.testing.assert_allclose(g.prox(p), p, atol=1e-12)
    np.testing.assert_allclose(g.prox(p, 5.0), p, atol=1e-12)  # step does not matter
    assert inside(np.asarray(p))
    assert float(g.value(p)) == 0.0
    assert g.is_indicator


@pytest.mark.parametrize("name", sorted(SETS))
def test_indicator_value_inf_outside(name):
    make, inside = SETS[name]
    g = make()
    v = rand(0, scale=3.0)
    assert not inside(np.asarray(v))
    assert float(g.value(v)) == np.inf
    # within the documented relative tolerance sqrt(eps) of the boundary: still 0
    p = g.prox(v)
    if name == "simplex":
        nudged = p.at[0, 0].add(1e-10)
    else:
        nudged = p * (1 + 1e-10)
    assert float(g.value(nudged)) == 0.0
    # beyond the tolerance: inf again (p is on the boundary since v is outside)
    if name == "simplex":
        assert float(g.value(p.at[0, 0].add(1e-3))) == np.inf
    elif name in ("l1_ball", "l2_ball", "linf_ball"):
        assert float(g.value(p * (1 + 1e-3))) == np.inf


@pytest.mark.parametrize("name", sorted(NORMS))
@SETTINGS
@given(seed=seeds)
def test_value_matches_numpy(name, seed):
    make, formula = NORMS[name]
    x = rand(seed)
    np.testing.assert_allclose(float(make().value(x)), formula(np.asarray(x)), rtol=1e-12, atol=1e-12)
    assert not make().is_indicator or name == "zero"


@pytest.mark.parametrize("name", sorted(ALL))
@SETTINGS
@given(seed=seeds, s=st.floats(0.1, 3.0))
def test_prox_minimizes_its_objective(name, seed, s):
    # prox(v, s) beats random perturbations on 1/2||x - v||^2 + s g(x) and has finite value
    g = ALL[name][0]()
    v = rand(seed)
    p = g.prox(v, s)
    obj = lambda x: 0.5 * float(jnp.sum((x - v) ** 2)) + s * float(g.value(x))
    best = obj(p)
    assert np.isfinite(best)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        q = g.prox(p + 1e-2 * rng.normal(size=SHAPE), s)  # feasible neighbours
        assert best <= obj(q) + 1e-12


@pytest.mark.parametrize("name", WITH_SUBDIFF)
@SETTINGS
@given(seed=seeds, s=st.floats(0.1, 3.0))
def test_subdiff_distance_zero_at_prox(name, seed, s):
    g = ALL[name][0]()
    assert g.has_subdiff_distance
    v = rand(seed)
    x = g.prox(v, s)
    grad = (x - v) / s
    assert float(g.subdiff_distance(x, grad)) <= 1e-10
    # and it is not trivially zero: a wrong gradient gives a positive distance
    assert float(g.subdiff_distance(x, grad - 10.0)) > 1.0


@pytest.mark.parametrize("name", WITH_SUBDIFF)
@SETTINGS
@given(seed=seeds)
def test_subdiff_distance_is_small_step_limit_of_gradient_mapping(name, seed):
    # lim_{s->0} ||x - prox(x - s grad, s)|| / s = dist(-grad, dg(x)) for x in dom g.
    g = ALL[name][0]()
    rng = np.random.default_rng(seed)
    x = g.prox(rand(seed), 1.0)  # a point of dom g with zeros / active bounds
    grad = jnp.asarray(rng.normal(size=SHAPE))
    want = float(g.residual(x, grad, 1e-7))
    np.testing.assert_allclose(float(g.subdiff_distance(x, grad)), want, rtol=1e-5, atol=1e-6)


def test_subdiff_distance_availability():
    have = {k for k, (make, _) in {**NORMS, **SETS}.items() if make().has_subdiff_distance}
    assert have == set(WITH_SUBDIFF)
    mixed = prox.separable({"a": prox.l1(1.0), "b": prox.nuclear(1.0)})
    assert not mixed.has_subdiff_distance
    with pytest.raises(NotImplementedError, match="Nuclear"):
        mixed.subdiff_distance({"a": jnp.ones(2), "b": jnp.ones((2, 2))},
                               {"a": jnp.ones(2), "b": jnp.ones((2, 2))})


def test_subdiff_distance_outside_set_is_inf():
    x = jnp.array([-1.0, 0.5])
    assert float(prox.nonnegative().subdiff_distance(x, jnp.zeros(2))) == np.inf
    assert float(prox.box(0.0, 1.0).subdiff_distance(x, jnp.zeros(2))) == np.inf


def test_residual_zero_exactly_at_lasso_optimum():
    # f(x) = 1/2||x - v||^2: the minimizer of f + g is prox(v, 1); residual(x, grad f(x)) = 0 there
    v = rand(3)
    for make in (lambda: prox.l1(0.5), lambda: prox.group_l2(0.5, axis=0), lambda: prox.simplex()):
        g = make()
        x = g.prox(v, 1.0)
        for step in (0.3, 1.0, 2.0):
            assert float(g.residual(x, x - v, step)) <= 1e-12
        assert float(g.residual(v, jnp.zeros_like(v) + 0.5, 1.0)) > 1e-3
