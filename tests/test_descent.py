"""gradopt.descent against its recurrence p <- p - lr g, optax.sgd, and JAX transformations."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradopt

RNG = np.random.RandomState(0)
A = RNG.randn(6, 4)
B = RNG.randn(6)


def quad_grad(x):
    """Gradient of 0.5 ||A x - b||^2 in NumPy (the reference) ..."""
    return A.T @ (A @ x - B)


def jax_quad_grad(x):
    """... and the same in JAX."""
    return jnp.asarray(A).T @ (jnp.asarray(A) @ x - jnp.asarray(B))


def np_grad(x):
    """The NumPy gradient fed to the transformation, so that the reference and
    gradopt see bit-identical gradients and only the update rule is compared."""
    return jnp.asarray(quad_grad(np.asarray(x)))


def run(opt, x0, steps, grad_fn=np_grad):
    x = jnp.asarray(x0)
    state = opt.init(x)
    traj = []
    for _ in range(steps):
        u, state = opt.update(grad_fn(x), state, x)
        x = gradopt.apply_updates(x, u)
        traj.append(np.asarray(x))
    return np.stack(traj), state


def test_trajectory_equals_numpy_recurrence():
    lr = 0.037
    x0 = RNG.randn(4)
    traj, _ = run(gradopt.descent(lr), x0, 25)
    x, ref = x0.copy(), []
    for _ in range(25):
        x = x - lr * quad_grad(x)
        ref.append(x)
    # eager float64: the same operations in the same order, bit for bit
    np.testing.assert_array_equal(traj, np.stack(ref))


def test_identical_to_optax_sgd_under_jit():
    x0 = jnp.asarray(RNG.randn(4))

    def trajectory(opt):
        def body(carry, _):
            x, s = carry
            u, s = opt.update(jax_quad_grad(x), s, x)
            x = optax.apply_updates(x, u)
            return (x, s), x

        return jax.jit(lambda x: jax.lax.scan(body, (x, opt.init(x)), None, length=30)[1])(x0)

    np.testing.assert_array_equal(trajectory(gradopt.descent(0.05)), trajectory(optax.sgd(0.05)))


def test_schedule_uses_step_count_from_zero():
    sched = optax.exponential_decay(0.1, transition_steps=1, decay_rate=0.8)
    x0 = RNG.randn(4)
    traj, state = run(gradopt.descent(sched), x0, 12)
    x, ref = x0.copy(), []
    for k in range(12):
        x = x - float(sched(jnp.asarray(k, jnp.int32))) * quad_grad(x)
        ref.append(x)
    np.testing.assert_array_equal(traj, np.stack(ref))
    assert int(state.count) == 12
    # and step for step what optax does with the same schedule
    traj_optax, _ = run(optax.sgd(sched), x0, 12)
    np.testing.assert_array_equal(traj, traj_optax)


def test_vmap_over_traced_learning_rate_compiles_once():
    traces = []
    x0 = jnp.asarray(RNG.randn(4))

    @jax.jit
    @jax.vmap
    def sweep(lr):
        traces.append(1)
        opt = gradopt.descent(lr)  # lr is a tracer: accepted unchecked
        x, s = x0, opt.init(x0)
        for _ in range(5):
            u, s = opt.update(jax_quad_grad(x), s, x)
            x = gradopt.apply_updates(x, u)
        return x

    lrs = jnp.array([0.0, 0.01, 0.05])
    out = sweep(lrs)
    out2 = sweep(lrs * 2)
    assert len(traces) == 1
    for i, lr in enumerate(np.asarray(lrs)):
        x = np.asarray(x0)
        for _ in range(5):
            x = x - lr * quad_grad(x)
        np.testing.assert_allclose(out[i], x, rtol=1e-12)
    np.testing.assert_array_equal(out[0], x0)  # lr = 0 does not move
    assert out2.shape == (3, 4)


def test_meta_gradient_wrt_learning_rate_closed_form():
    # One step x1 = x0 - lr g0 of L(x) = 0.5 ||x - t||^2 with a fixed g0:
    # dL(x1)/dlr = -(x1 - t) . g0.
    x0, g0, t = (jnp.asarray(RNG.randn(5)) for _ in range(3))

    def outer(lr):
        opt = gradopt.descent(lr)
        u, _ = opt.update(g0, opt.init(x0), x0)
        x1 = gradopt.apply_updates(x0, u)
        return 0.5 * jnp.sum((x1 - t) ** 2)

    lr = 0.3
    x1 = np.asarray(x0) - lr * np.asarray(g0)
    expected = -np.dot(x1 - np.asarray(t), np.asarray(g0))
    np.testing.assert_allclose(jax.grad(outer)(lr), expected, rtol=1e-12)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64, jnp.bfloat16])
def test_dtype_preserved_even_with_float64_traced_lr(dtype):
    p = {"w": jnp.ones((3,), dtype), "b": jnp.zeros((), dtype)}
    g = {"w": jnp.full((3,), 0.5, dtype), "b": jnp.ones((), dtype)}

    @jax.jit
    def step(lr):
        opt = gradopt.descent(lr)
        u, _ = opt.update(g, opt.init(p), p)
        return u, gradopt.apply_updates(p, u)

    u, new = step(jnp.asarray(0.25, jnp.float64))
    for tree in (u, new):
        assert all(leaf.dtype == dtype for leaf in jax.tree_util.tree_leaves(tree))
    np.testing.assert_allclose(np.asarray(new["w"], np.float64), 0.875)
    np.testing.assert_allclose(np.asarray(new["b"], np.float64), -0.25)


class Pair(NamedTuple):
    a: jax.Array
    b: jax.Array


@pytest.mark.parametrize(
    "tree",
    [
        {"x": np.arange(3.0), "y": {"z": np.ones((2, 2))}},
        [np.arange(3.0), (np.ones(2), np.full((1, 2), 2.0))],
        Pair(np.arange(3.0), np.ones((2,))),
        {"params": {"Dense_0": {"kernel": np.ones((3, 2)), "bias": np.zeros(2)},
                    "Dense_1": {"kernel": np.ones((2, 1)), "bias": np.zeros(1)}}},
    ],
    ids=["dict", "list", "namedtuple", "flax"],
)
def test_nested_pytrees(tree):
    params = jax.tree_util.tree_map(jnp.asarray, tree)
    grads = jax.tree_util.tree_map(lambda x: 2.0 * x + 1.0, params)
    opt = gradopt.descent(0.1)
    u, _ = opt.update(grads, opt.init(params), params)
    new = gradopt.apply_updates(params, u)
    assert jax.tree_util.tree_structure(new) == jax.tree_util.tree_structure(params)
    for p, n in zip(jax.tree_util.tree_leaves(tree), jax.tree_util.tree_leaves(new)):
        np.testing.assert_allclose(n, p - 0.1 * (2.0 * p + 1.0), rtol=1e-15)


def test_inside_optax_chain_with_optax_transforms():
    # gradopt.descent after optax's clip == optax.sgd after optax's clip
    g = jnp.array([3.0, -0.2, 0.7])
    ours = gradopt.chain(optax.clip(0.5), gradopt.descent(0.1))
    ref = optax.chain(optax.clip(0.5), optax.sgd(0.1))
    np.testing.assert_array_equal(
        ours.update(g, ours.init(g), g)[0], ref.update(g, ref.init(g), g)[0]
    )


@pytest.mark.parametrize(
    "lr, exc",
    [(-0.1, ValueError), (float("nan"), ValueError), (float("inf"), ValueError),
     ("0.1", TypeError), (np.array([0.1, 0.2]), ValueError)],
)
def test_bad_learning_rate(lr, exc):
    with pytest.raises(exc, match="learning_rate"):
        gradopt.descent(lr)


def test_structure_mismatch_raises():
    opt = gradopt.descent(0.1)
    params = {"a": jnp.ones(2), "b": jnp.ones(3)}
    with pytest.raises(ValueError, match="same pytree structure"):
        opt.update({"a": jnp.ones(2)}, opt.init(params), params)
