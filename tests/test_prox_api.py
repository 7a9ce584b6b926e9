"""Penalties as JAX citizens: jit, vmap over traced strengths, dtypes, pytrees, separable,
and clear errors on bad input."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradopt
from gradopt import prox

RNG = np.random.default_rng(0)
V = jnp.asarray(RNG.normal(size=(3, 4)) * 2)

# name -> (factory of one traced/concrete scalar hyperparameter, values to sweep)
SWEEPS = {
    "l1": (lambda r: prox.l1(r), [0.0, 0.3, 1.5]),
    "l2_squared": (lambda r: prox.l2_squared(r), [0.0, 0.3, 1.5]),
    "elastic_net_reg": (lambda r: prox.elastic_net(r, 0.4), [0.0, 0.3, 1.5]),
    "elastic_net_ratio": (lambda a: prox.elastic_net(1.0, a), [0.0, 0.5, 1.0]),
    "group_l2": (lambda r: prox.group_l2(r, axis=1), [0.0, 0.3, 1.5]),
    "nuclear": (lambda r: prox.nuclear(r), [0.0, 0.3, 1.5]),
    "linf": (lambda r: prox.linf(r), [0.0, 0.3, 1.5]),
    "box_upper": (lambda u: prox.box(-0.5, u), [0.0, 0.3, 1.5]),
    "l1_ball": (lambda r: prox.l1_ball(r), [0.2, 1.0, 3.0]),
    "l2_ball": (lambda r: prox.l2_ball(r), [0.2, 1.0, 3.0]),
    "linf_ball": (lambda r: prox.linf_ball(r), [0.2, 1.0, 3.0]),
    "simplex": (lambda t: prox.simplex(t), [0.2, 1.0, 3.0]),
}


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_vmap_and_jit_over_traced_hyperparameter(name):
    make, values = SWEEPS[name]
    eager = np.stack([np.asarray(make(v).prox(V, 0.7)) for v in values])
    eager_val = np.array([float(make(v).value(V)) for v in values])
    batched = jax.jit(jax.vmap(lambda r: make(r).prox(V, 0.7)))(jnp.asarray(values))
    np.testing.assert_allclose(batched, eager, atol=1e-12)
    vals = jax.jit(jax.vmap(lambda r: make(r).value(V)))(jnp.asarray(values))
    np.testing.assert_allclose(vals, eager_val, atol=1e-12)
    # the results differ across the sweep: the traced value is really used
    assert not np.allclose(eager[0], eager[-1])


def test_vmap_over_penalty_object_and_params():
    # a penalty is a pytree: vmap over a batched penalty, and over a batch of matrices
    regs = jnp.array([0.1, 0.5, 2.0])
    out = jax.vmap(lambda g: g.prox(V, 1.0))(prox.l1(regs))
    for i, r in enumerate(regs):
        np.testing.assert_allclose(out[i], prox.l1(float(r)).prox(V, 1.0), atol=1e-12)
    batch = jnp.stack([V, 2 * V, -V])
    got = jax.vmap(lambda m: prox.nuclear(0.8).prox(m, 0.5))(batch)
    for i in range(3):
        np.testing.assert_allclose(got[i], prox.nuclear(0.8).prox(batch[i], 0.5), atol=1e-10)


def test_penalty_passes_through_jit_as_argument():
    g = prox.separable({"w": prox.l1(0.3), "b": prox.box(-1.0, 1.0)})
    params = {"w": V, "b": jnp.array([2.0, -0.5, -3.0])}
    f = jax.jit(lambda g, p, s: (g.prox(p, s), g.value(p)))
    (p1, v1), (p2, v2) = f(g, params, 0.5), (g.prox(params, 0.5), g.value(params))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-12), p1, p2)
    assert float(v1) == float(v2) == np.inf


ALL_PENALTIES = [
    prox.l1(0.3), prox.l1(jnp.full((3, 4), 0.2, jnp.float64)), prox.l2_squared(jnp.float64(0.5)),
    prox.elastic_net(jnp.float64(0.5), 0.3), prox.group_l2(jnp.float64(0.5)),
    prox.group_l2(0.5, axis=0, weights=jnp.ones(4, jnp.float64)), prox.nuclear(jnp.float64(0.5)),
    prox.linf(jnp.float64(0.5)), prox.zero(), prox.nonnegative(), prox.box(jnp.float64(-0.5), 0.5),
    prox.l1_ball(jnp.float64(1.0)), prox.l2_ball(jnp.float64(1.0)), prox.linf_ball(jnp.float64(0.3)),
    prox.simplex(jnp.float64(1.0)), prox.separable(prox.l1(jnp.float64(0.2))),
]


@pytest.mark.parametrize("g", ALL_PENALTIES, ids=lambda g: type(g).__name__)
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_low_precision_dtype_preserved(g, dtype):
    # float64 strengths (x64 is on in the tests) must not promote float32/bfloat16 params
    v = V.astype(dtype)
    out = g.prox(v, jnp.float64(0.5))
    assert out.dtype == dtype
    assert out.shape == v.shape
    jitted = jax.jit(lambda x: g.prox(x, 0.5))(v)
    assert jitted.dtype == dtype
    if dtype == jnp.float32:  # float32 result agrees with the float64 computation
        np.testing.assert_allclose(out, g.prox(V, 0.5), atol=1e-5)
    assert np.isfinite(float(g.value(out)))


def test_float32_indicator_accepts_its_own_projections():
    v = jnp.asarray(RNG.normal(size=1000) * 3, jnp.float32)
    for g in (prox.simplex(1.0), prox.l1_ball(2.0), prox.l2_ball(2.0), prox.box(-0.1, 0.1)):
        assert float(g.value(g.prox(v))) == 0.0
        assert float(g.value(v)) == np.inf


def _params():
    return {
        "w": jnp.asarray(RNG.normal(size=(4, 3))),
        "b": jnp.asarray(RNG.normal(size=(3,))),
        "scale": jnp.asarray(RNG.normal(size=(2,))),
    }


def test_pytree_params_leafwise():
    p = _params()
    for g in (prox.l1(0.4), prox.l2_squared(0.4), prox.elastic_net(0.4, 0.6), prox.group_l2(0.4)):
        out = g.prox(p, 0.9)
        for k in p:  # coordinate-/leaf-separable: the pytree prox is the prox of each leaf
            np.testing.assert_allclose(out[k], g.prox(p[k], 0.9), atol=1e-12)
        np.testing.assert_allclose(
            float(g.value(p)), sum(float(g.value(p[k])) for k in p), rtol=1e-12
        )


def test_reg_prefix_pytree():
    p = _params()
    g = prox.l1({"w": 0.5, "b": jnp.array([0.0, 1.0, 2.0]), "scale": 0.0})
    out = g.prox(p, 1.0)
    np.testing.assert_allclose(out["w"], prox.l1(0.5).prox(p["w"], 1.0))
    np.testing.assert_allclose(out["b"], prox.l1(jnp.array([0.0, 1.0, 2.0])).prox(p["b"], 1.0))
    np.testing.assert_allclose(out["scale"], p["scale"])
    nested = {"layer": {"w": p["w"], "b": p["b"]}, "head": p["scale"]}
    out = prox.group_l2({"layer": 1.0, "head": 0.0}).prox(nested, 0.5)
    np.testing.assert_allclose(out["head"], p["scale"])
    np.testing.assert_allclose(out["layer"]["b"], prox.group_l2(1.0).prox(p["b"], 0.5))


def test_group_l2_axis_forms():
    x = jnp.asarray(RNG.normal(size=(3, 4, 5)))
    m = x.reshape(3, 20)
    # axis=(1, 2) on a tensor: one group per x[i], same as rows of the reshaped matrix
    np.testing.assert_allclose(
        prox.group_l2(0.7, axis=(1, 2)).prox(x, 2.0).reshape(3, 20),
        prox.group_l2(0.7, axis=1).prox(m, 2.0), atol=1e-12,
    )
    np.testing.assert_allclose(
        float(prox.group_l2(0.7, axis=(2, -2)).value(x)), 0.7 * np.linalg.norm(m, axis=1).sum()
    )
    np.testing.assert_allclose(prox.group_l2(0.7, axis=-1).prox(m, 2.0),
                               prox.group_l2(0.7, axis=1).prox(m, 2.0))


def test_separable_mix():
    p = _params()
    g = prox.separable({"w": prox.l1(0.5), "b": prox.zero(), "scale": prox.nonnegative()})
    out = g.prox(p, 0.8)
    np.testing.assert_allclose(out["w"], np.sign(p["w"]) * np.maximum(np.abs(p["w"]) - 0.4, 0))
    np.testing.assert_allclose(out["b"], p["b"])
    np.testing.assert_allclose(out["scale"], np.maximum(p["scale"], 0))
    np.testing.assert_allclose(float(g.value(out)), 0.5 * np.abs(out["w"]).sum(), rtol=1e-12)
    assert float(g.value({**p, "scale": -jnp.ones(2)})) == np.inf
    assert not g.is_indicator and g.has_subdiff_distance
    grad = jax.tree.map(lambda a, b: (a - b) / 0.8, out, p)
    assert float(g.subdiff_distance(out, grad)) <= 1e-12
    # None is zero; a set-only separable is an indicator; a subtree gets one penalty
    h = prox.separable({"w": prox.box(-1.0, 1.0), "b": None, "scale": prox.nonnegative()})
    assert h.is_indicator
    np.testing.assert_allclose(h.prox(p)["b"], p["b"])
    nested = {"enc": {"w": p["w"], "b": p["b"]}, "dec": p["scale"]}
    k = prox.separable({"enc": prox.group_l2(0.3), "dec": prox.linf_ball(0.1)})
    out = k.prox(nested, 1.0)
    np.testing.assert_allclose(out["enc"]["w"], prox.group_l2(0.3).prox(p["w"], 1.0))
    np.testing.assert_allclose(out["dec"], np.clip(p["scale"], -0.1, 0.1))


def test_value_and_prox_differentiable():
    # safe norms: gradients at zero groups are finite (0), not NaN
    x = {"a": jnp.zeros(3), "b": jnp.array([3.0, 4.0])}
    gr = jax.grad(prox.group_l2(2.0).value)(x)
    np.testing.assert_allclose(gr["a"], 0.0)
    np.testing.assert_allclose(gr["b"], 2.0 * np.array([0.6, 0.8]))
    # derivative of the prox with respect to the strength: d/dr soft(v, s r) = -s sign(v) off zero
    d = jax.grad(lambda r: jnp.sum(prox.l1(r).prox(jnp.array([2.0, 3.0, -4.0, 0.1]), 0.5)))(1.0)
    np.testing.assert_allclose(d, -0.5 - 0.5 + 0.5 + 0.0, atol=1e-12)


def test_public_names_exported():
    for name in prox.__all__:
        assert hasattr(prox, name), name
    assert gradopt.prox.l1 is prox.l1
    for name in ("l1", "l2_squared", "elastic_net", "group_l2", "nuclear", "linf", "nonnegative",
                 "box", "l1_ball", "l2_ball", "linf_ball", "simplex", "zero", "separable"):
        assert name in prox.__all__


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "build, arg",
    [
        (lambda: prox.l1(-0.1), "reg"),
        (lambda: prox.l1({"w": 0.1, "b": jnp.array([0.1, -1.0])}), "reg"),
        (lambda: prox.l1(float("nan")), "reg"),
        (lambda: prox.l2_squared(-1.0), "reg"),
        (lambda: prox.l2_squared(jnp.array([1.0, jnp.nan])), "reg"),
        (lambda: prox.elastic_net(-1.0, 0.5), "reg"),
        (lambda: prox.elastic_net(1.0, 1.5), "l1_ratio"),
        (lambda: prox.elastic_net(1.0, -0.1), "l1_ratio"),
        (lambda: prox.elastic_net(1.0, float("nan")), "l1_ratio"),
        (lambda: prox.group_l2(-1.0), "reg"),
        (lambda: prox.group_l2(1.0, weights=jnp.array([1.0, -2.0])), "weights"),
        (lambda: prox.group_l2(1.0, axis=1.5), "axis"),
        (lambda: prox.group_l2(jnp.array([1.0, 2.0])), "reg"),
        (lambda: prox.nuclear(-1.0), "reg"),
        (lambda: prox.nuclear(float("nan")), "reg"),
        (lambda: prox.linf(-1.0), "reg"),
        (lambda: prox.linf(float("inf")), "reg"),
        (lambda: prox.l1_ball(0.0), "radius"),
        (lambda: prox.l1_ball(-1.0), "radius"),
        (lambda: prox.l2_ball(0.0), "radius"),
        (lambda: prox.linf_ball(-2.0), "radius"),
        (lambda: prox.l2_ball(float("nan")), "radius"),
        (lambda: prox.simplex(0.0), "total"),
        (lambda: prox.box(1.0, 0.0), "lower"),
        (lambda: prox.box(jnp.zeros(3), jnp.array([1.0, -1.0, 1.0])), "lower"),
        (lambda: prox.box(float("nan"), 1.0), "lower"),
        (lambda: prox.box(0.0, float("-inf")), "upper"),
        (lambda: prox.separable({}), "penalties"),
    ],
)
def test_bad_input_raises_at_build(build, arg):
    with pytest.raises(ValueError, match=arg):
        build()


def test_bad_type_raises():
    with pytest.raises(TypeError, match="penalties"):
        prox.separable({"w": 0.1})
    with pytest.raises(TypeError, match="reg"):
        prox.l1("big")


@pytest.mark.parametrize(
    "g, params, arg",
    [
        (prox.nuclear(1.0), {"W": jnp.ones((2, 3)), "b": jnp.ones(3)}, r"params.*\['b'\]"),
        (prox.nuclear(1.0), jnp.ones((2, 2, 2)), "params"),
        (prox.separable({"w": prox.l1(1.0), "c": prox.zero()}), {"w": jnp.ones(2), "b": jnp.ones(2)}, "penalties"),
        (prox.separable([prox.l1(1.0), prox.zero()]), (jnp.ones(2), jnp.ones(2)), "penalties"),
        (prox.separable({"w": prox.l1(1.0)}), jnp.ones(2), "penalties"),
        (prox.l1({"w": 1.0, "c": 1.0}), {"w": jnp.ones(2), "b": jnp.ones(2)}, "reg"),
        (prox.l1(jnp.ones(3)), jnp.ones(2), "reg"),
        (prox.group_l2(1.0, axis=1), {"W": jnp.ones((2, 3)), "b": jnp.ones(3)}, "axis"),
        (prox.group_l2(1.0, axis=0, weights=jnp.ones(2)), jnp.ones((2, 3)), "weights"),
        (prox.box(jnp.zeros(3), 1.0), jnp.ones(2), "lower"),
    ],
)
def test_bad_params_raise_at_first_call(g, params, arg):
    with pytest.raises(ValueError, match=arg):
        g.prox(params, 1.0)
    with pytest.raises(ValueError, match=arg):
        g.value(params)
    with pytest.raises(ValueError, match=arg):  # also at trace time under jit
        jax.jit(lambda p: g.prox(p, 1.0))(params)


def test_traced_hyperparameters_are_not_checked():
    # documented limitation: a traced negative strength cannot be validated eagerly
    out = jax.jit(lambda r: prox.l1(r).prox(jnp.ones(2), 1.0))(-1.0)
    np.testing.assert_allclose(out, 2.0)


@pytest.mark.slow  # the docs tier, with tests/test_docstrings.py
def test_docstring_examples():
    # docstrings show float32 outputs: run them in a fresh process without x64
    files = [os.path.join(os.path.dirname(prox.__file__), f) for f in
             ("sparse.py", "group.py", "matrix.py", "sets.py", "combine.py")]
    env = {**os.environ, "JAX_ENABLE_X64": "0", "JAX_PLATFORMS": "cpu"}
    res = subprocess.run([sys.executable, "-m", "doctest", *files], capture_output=True, text=True,
                         env=env, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


# ----------------------------------------------- prox steps and thresholds (issue 13)

ALL_PENALTIES = {
    "l1": prox.l1(0.3),
    "elastic_net": prox.elastic_net(0.3, 0.5),
    "l2_squared": prox.l2_squared(0.3),
    "group_l2": prox.group_l2(0.3, axis=1),
    "nuclear": prox.nuclear(0.3),
    "linf": prox.linf(0.3),
    "zero": prox.zero(),
    "box": prox.box(-0.5, 0.5),
    "nonnegative": prox.nonnegative(),
    "l1_ball": prox.l1_ball(1.0),
    "l2_ball": prox.l2_ball(1.0),
    "linf_ball": prox.linf_ball(1.0),
    "simplex": prox.simplex(),
    "separable": prox.separable({"a": prox.l1(0.3), "b": prox.box(-1.0, 1.0)}),
}


def _point(name):
    return {"a": V, "b": V[0]} if name == "separable" else V


@pytest.mark.parametrize("name", sorted(ALL_PENALTIES))
@pytest.mark.parametrize("step", [-0.5, float("nan"), np.array([0.5, -0.1])])
def test_prox_refuses_a_negative_step(name, step):
    # prox(v, s) is defined for s >= 0; a negative step used to compute the
    # "prox" of -s g silently (for l1: a soft threshold that grows |v|).
    pen = ALL_PENALTIES[name]
    with pytest.raises(ValueError, match="step must be >= 0"):
        pen.prox(_point(name), step)
    with pytest.raises(ValueError, match="step must be >= 0"):
        pen.prox(_point(name), step=step)


@pytest.mark.parametrize("name", sorted(ALL_PENALTIES))
def test_prox_with_step_zero_is_the_identity(name):
    pen = ALL_PENALTIES[name]
    x = pen.prox(_point(name), 1.0)  # a feasible point for the indicators (and box in separable)
    out = pen.prox(x, 0.0)
    for o, v in zip(jax.tree_util.tree_leaves(out), jax.tree_util.tree_leaves(x)):
        np.testing.assert_allclose(o, v, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("step", [0.0, -1.0])
def test_residual_refuses_a_step_that_is_not_positive(step):
    # residual divides by the step: step 0 gave 0/0 = NaN, a negative step a
    # meaningless number.
    with pytest.raises(ValueError, match="step must be > 0"):
        prox.l1(0.3).residual(V, V, step)


def test_traced_steps_are_not_checked_and_match_eager():
    pen = prox.l1(0.3)
    eager = pen.prox(V, 0.5)
    traced = jax.jit(pen.prox)(V, jnp.asarray(0.5))
    np.testing.assert_array_equal(traced, eager)
    r = jax.jit(pen.residual)(V, V, jnp.asarray(0.5))
    np.testing.assert_allclose(r, pen.residual(V, V, 0.5), rtol=1e-12)


@pytest.mark.parametrize("threshold", [-1.0, np.array([0.5, -0.5]), float("nan")])
def test_soft_threshold_refuses_a_negative_threshold(threshold):
    with pytest.raises(ValueError, match="threshold must be >= 0"):
        prox.soft_threshold(jnp.asarray([2.0, -0.5]), threshold)


def test_soft_threshold_zero_and_array_thresholds():
    x = jnp.asarray([2.0, -0.5, 0.25])
    np.testing.assert_array_equal(prox.soft_threshold(x, 0.0), x)
    np.testing.assert_allclose(prox.soft_threshold(x, np.array([1.0, 0.25, 1.0])), [1.0, -0.25, 0.0])


def test_prox_refuses_masked_arrays():
    masked = np.ma.array(np.ones(3), mask=[0, 1, 0])
    with pytest.raises(TypeError, match="masked array"):
        prox.l1(0.1).prox(masked, 0.5)
