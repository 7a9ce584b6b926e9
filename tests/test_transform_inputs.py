"""What every transformation's ``update`` refuses (issue 13): integer or masked
inputs, updates whose shapes differ from the parameters', and unchecked flags.

Each case used to give a silently wrong answer (zero updates for integer
parameters, a broadcast (4,) update for (3,) parameters, a dropped mask).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradopt
from gradopt.prox import l1

TRANSFORMS = {
    "descent": lambda: gradopt.descent(0.1),
    "descent_schedule": lambda: gradopt.descent(optax.constant_schedule(0.1)),
    "momentum": lambda: gradopt.momentum(0.1, 0.9),
    "momentum_damped": lambda: gradopt.momentum(0.1, 0.9, dampening=0.5, weight_decay=0.1),
    "nesterov": lambda: gradopt.nesterov(0.1, 0.9),
    "clip": lambda: gradopt.clip(1.0),
    "clip_by_global_norm": lambda: gradopt.clip_by_global_norm(1.0),
    "proximal": lambda: gradopt.proximal(l1(0.1), 0.1),
    "ista": lambda: gradopt.proximal_gradient(0.1, l1(0.1)),
    "fista": lambda: gradopt.proximal_gradient(0.1, l1(0.1), accelerate=True),
    "projected_gradient": lambda: gradopt.projected_gradient(0.1, gradopt.prox.box(-1.0, 1.0)),
    "polyak": lambda: gradopt.polyak(0.0),
    "subgradient": lambda: gradopt.subgradient(0.1),
    "chain": lambda: gradopt.chain(gradopt.clip(1.0), gradopt.descent(0.1)),
}


def step(opt, grads, params, value=1.0):
    state = opt.init(params)
    extra = optax.with_extra_args_support(opt)
    return extra.update(grads, state, params, value=value)


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_integer_gradients_are_refused(name):
    opt = TRANSFORMS[name]()
    with pytest.raises(TypeError, match=r"updates \(gradients\).*int32"):
        step(opt, jnp.asarray([1, 2, 3], jnp.int32), jnp.ones(3, jnp.float32))


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_integer_parameters_are_refused(name):
    opt = TRANSFORMS[name]()
    params = {"w": jnp.asarray([1, 2, 3], jnp.int32), "b": jnp.zeros(2, jnp.float32)}
    grads = {"w": jnp.ones(3, jnp.float32), "b": jnp.ones(2, jnp.float32)}
    with pytest.raises(TypeError, match=r"params.*\['w'\].*int32"):
        step(opt, grads, params)


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_update_shape_must_match_params(name):
    opt = TRANSFORMS[name]()
    params = {"w": jnp.ones(3, jnp.float32)}
    with pytest.raises(ValueError, match=r"shapes of params.*\['w'\].*\(4,\).*\(3,\)"):
        step(opt, {"w": jnp.ones(4, jnp.float32)}, params)
    # A (1,) update would broadcast silently; it is refused as well.
    with pytest.raises(ValueError, match="shapes of params"):
        step(opt, {"w": jnp.ones(1, jnp.float32)}, params)


@pytest.mark.parametrize("name", ["descent", "momentum", "fista", "polyak", "clip_by_global_norm"])
def test_checks_also_run_under_jit(name):
    opt = TRANSFORMS[name]()
    params = jnp.ones(3, jnp.float32)
    with pytest.raises(ValueError, match="shapes of params"):
        jax.jit(lambda g, p: step(opt, g, p))(jnp.ones(4, jnp.float32), params)
    with pytest.raises(TypeError, match="updates"):
        jax.jit(lambda g, p: step(opt, g, p))(jnp.ones(3, jnp.int32), params)


@pytest.mark.parametrize("name", ["descent", "momentum", "fista", "clip", "polyak"])
def test_masked_arrays_are_refused(name):
    # JAX refuses a masked array where it enters a JAX function, but NumPy code
    # (np.asarray, the eager checks) drops the mask silently: update refuses
    # it up front, with a message that says what to do.
    opt = optax.with_extra_args_support(TRANSFORMS[name]())
    state = opt.init(jnp.ones(3))
    masked = np.ma.array([1.0, 2.0, 3.0], mask=[False, True, False])
    with pytest.raises(TypeError, match=r"updates.*masked array.*filled"):
        opt.update(masked, state, jnp.ones(3), value=1.0)
    with pytest.raises(TypeError, match=r"params.*masked array.*filled"):
        opt.update(jnp.ones(3), state, masked, value=1.0)


def test_polyak_refuses_a_vector_value():
    opt = gradopt.polyak(0.0)
    with pytest.raises(ValueError, match="value.*scalar.*\\(3,\\)"):
        opt.update(jnp.ones(3), opt.init(jnp.ones(3)), jnp.ones(3), value=jnp.ones(3))
    # A scalar value still gives Polyak's step (f - f*) / ||g||^2 = 2 / 3.
    u, _ = opt.update(jnp.ones(3), opt.init(jnp.ones(3)), jnp.ones(3), value=jnp.asarray(2.0))
    np.testing.assert_allclose(u, -np.full(3, 2.0 / 3.0), rtol=1e-12)


@pytest.mark.parametrize(
    "build, name",
    [
        (lambda v: gradopt.momentum(0.1, 0.9, nesterov=v), "nesterov"),
        (lambda v: gradopt.proximal_gradient(0.1, l1(0.1), accelerate=v), "accelerate"),
    ],
)
@pytest.mark.parametrize("flag", ["yes", "False", 1, None])
def test_boolean_flags_refuse_non_booleans(build, name, flag):
    with pytest.raises(TypeError, match=name):
        build(flag)


def test_boolean_flags_accept_numpy_bools():
    opt = gradopt.proximal_gradient(0.1, l1(0.0), accelerate=np.bool_(True))
    assert isinstance(opt.init(jnp.ones(2)), gradopt.FISTAState)


@pytest.mark.parametrize(
    "build, name",
    [
        (gradopt.descent, "learning_rate"),
        (lambda v: gradopt.momentum(0.1, v), "momentum"),
        (gradopt.subgradient, "learning_rate"),
        (gradopt.clip, "max_abs"),
        (gradopt.clip_by_global_norm, "max_norm"),
        (lambda v: gradopt.polyak(v), "f_min"),
    ],
)
def test_complex_hyperparameters_are_refused(build, name):
    # float(1+0j) would silently drop the imaginary part (and warn).
    with pytest.raises(TypeError, match=f"{name} must be a real number"):
        build(0.5 + 0j)


def test_traced_hyperparameters_skip_the_eager_checks():
    # A sweep under vmap traces the learning rate: nothing can be checked, and
    # nothing is refused; the updates are -lr * g for each lr.
    g = jnp.asarray([1.0, -2.0])
    out = jax.vmap(lambda lr: gradopt.descent(lr).update(g, optax.EmptyState(), g)[0])(
        jnp.asarray([0.1, 0.5])
    )
    np.testing.assert_allclose(out, [-0.1 * g, -0.5 * g], rtol=1e-12)
