"""Every transformation in every floating dtype (issue 13), in the style of optax's
alias tests: the parameters' dtype is kept by the updates and the state, the
second update does not recompile, and a few steps agree with the same
transformation run in float64 to within the dtype's precision.

``gradopt.transforms.__all__`` is walked, so a new transformation without a
row here fails ``test_every_transformation_is_in_the_matrix``.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradopt
import gradopt.transforms
from gradopt.prox import box, group_l2, l1, l2_squared

# name -> (factory, supports complex parameters)
MATRIX = {
    "descent": (lambda: gradopt.descent(0.1), True),
    "descent_schedule": (lambda: gradopt.descent(optax.exponential_decay(0.1, 1, 0.9)), True),
    "momentum": (lambda: gradopt.momentum(0.1, 0.9), True),
    "momentum_damped_wd": (lambda: gradopt.momentum(0.1, 0.9, dampening=0.3, weight_decay=0.01), True),
    "nesterov": (lambda: gradopt.nesterov(0.1, 0.9), True),
    "clip": (lambda: gradopt.clip(0.5), False),  # value clipping needs an order
    "clip_by_global_norm": (lambda: gradopt.clip_by_global_norm(0.5), True),
    # p = 3 on complex values is checked against NumPy in test_clipping (the pairs
    # reference below sums |re|^3 + |im|^3, not |z|^3).
    "clip_by_global_norm_p3": (lambda: gradopt.clip_by_global_norm(0.5, 3.0), False),
    "proximal": (lambda: gradopt.chain(gradopt.descent(0.1), gradopt.proximal(l1(0.05), 0.1)), True),
    "proximal_l2_squared": (
        lambda: gradopt.chain(gradopt.descent(0.1), gradopt.proximal(l2_squared(0.5), 0.1)), True),
    "ista": (lambda: gradopt.proximal_gradient(0.1, l1(0.05)), False),
    "fista_restart": (
        lambda: gradopt.proximal_gradient(0.1, l1(0.05), accelerate=True, restart="gradient"), False),
    # Backtracking from 3: 1.5 fails and 0.75 passes by a margin (the loss has
    # L = 1; a trial at exactly 1/L would be decided by rounding).
    "fista_backtracking": (
        lambda: gradopt.proximal_gradient(None, l1(0.05), accelerate=True, initial_learning_rate=3.0), False),
    "projected_gradient": (lambda: gradopt.projected_gradient(0.1, box(-0.5, 0.5)), False),
    "polyak": (lambda: gradopt.polyak(0.0, max_learning_rate=1.0), False),
    # bounds wider than the iterates: the quasi-Newton steps, in at least float32
    "lbfgsb": (lambda: gradopt.lbfgsb(-10.0, 10.0), False),
    "subgradient": (lambda: gradopt.subgradient(gradopt.diminishing(0.1)), True),
}
# The complex reference: the same transformation on the real pairs (re, im) in
# a trailing axis of 2, in float64. Entrywise rules and the global 2-norm see
# the same numbers; the prox of sum_i |z_i| (complex soft-threshold) is the
# group-l2 prox over each (re, im) pair.
PAIRS = {
    "proximal": lambda: gradopt.chain(gradopt.descent(0.1), gradopt.proximal(group_l2(0.05, axis=-1), 0.1)),
}
# Transformations that are only combinators or helpers, not optimizers.
NOT_OPTIMIZERS = {"apply_updates", "chain", "global_norm", "diminishing"}

REAL = [jnp.bfloat16, jnp.float16, jnp.float32, jnp.float64]
TOL = {jnp.bfloat16: 3e-2, jnp.float16: 5e-3, jnp.float32: 1e-5, jnp.float64: 1e-12, jnp.complex64: 1e-5}
CASES = [(n, d) for n in MATRIX for d in REAL] + [(n, jnp.complex64) for n, (_, c) in MATRIX.items() if c]
STEPS = 3

RNG = np.random.RandomState(11)
P0 = {"w": RNG.randn(3, 2), "b": RNG.randn(2)}
TARGET = {"w": RNG.randn(3, 2), "b": RNG.randn(2)}
P0_IMAG = {"w": RNG.randn(3, 2), "b": RNG.randn(2)}


def start(dtype, pairs=False):
    if pairs:  # complex parameters as float64 (re, im) pairs
        return jax.tree_util.tree_map(lambda a, b: jnp.stack([a, b], -1), P0, P0_IMAG)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        return jax.tree_util.tree_map(lambda a, b: jnp.asarray(a + 1j * b, dtype), P0, P0_IMAG)
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), P0)


def target_like(x, t):
    if x.ndim == np.ndim(t) + 1:  # pairs: the target is real, its imaginary part 0
        return jnp.stack([jnp.asarray(t, x.dtype), jnp.zeros(np.shape(t), x.dtype)], -1)
    return jnp.asarray(t, x.dtype)


def loss(p):
    """0.5 ||p - target||^2 in the parameters' precision (a real scalar)."""
    return sum(0.5 * jnp.sum(jnp.abs(x - target_like(x, t)) ** 2)
               for x, t in zip(jax.tree_util.tree_leaves(p), jax.tree_util.tree_leaves(TARGET)))


def grad(p):
    # p - target: the gradient of the loss (for complex p, the conjugate-free
    # direction, so descent converges).
    return jax.tree_util.tree_map(lambda x, t: x - target_like(x, t), p, TARGET)


def run(name, dtype, jitted, pairs=False):
    factory = PAIRS.get(name, MATRIX[name][0]) if pairs else MATRIX[name][0]
    opt = optax.with_extra_args_support(factory())

    def step(p, state):
        u, state = opt.update(grad(p), state, p, value=loss(p), value_fn=loss)
        return u, state

    step = jax.jit(step) if jitted else step
    p = start(dtype, pairs)
    state = opt.init(p)
    for _ in range(STEPS):
        u, state = step(p, state)
        for leaf_u, leaf_p in zip(jax.tree_util.tree_leaves(u), jax.tree_util.tree_leaves(p)):
            assert leaf_u.dtype == leaf_p.dtype, (name, leaf_u.dtype, leaf_p.dtype)
        p = gradopt.apply_updates(p, u)
    params = gradopt.current_iterate(state, p)
    return params, state, step


@functools.lru_cache(maxsize=None)
def reference(name, pairs):
    """The float64 eager run, once per transformation (eager L-BFGS-B takes seconds)."""
    return run(name, jnp.float64, jitted=False, pairs=pairs)[0]


@pytest.mark.parametrize("name, dtype", CASES, ids=[f"{n}-{jnp.dtype(d).name}" for n, d in CASES])
def test_dtype_kept_no_recompile_and_close_to_float64(name, dtype):
    params, state, step = run(name, dtype, jitted=True)
    for leaf in jax.tree_util.tree_leaves(params):
        assert leaf.dtype == dtype
    # Buffers of the parameters' shape (momentum, FISTA's iterate) keep its dtype.
    for leaf in jax.tree_util.tree_leaves(state):
        if jnp.shape(leaf) in ((3, 2), (2,)):
            assert leaf.dtype == dtype, (name, leaf.dtype)
    # STEPS calls with the state each one returned: compiled once.
    assert step._cache_size() == 1
    ref = reference(name, pairs=dtype == jnp.complex64)
    if dtype == jnp.complex64:
        ref = jax.tree_util.tree_map(lambda r: r[..., 0] + 1j * r[..., 1], ref)
    tol = TOL[dtype]
    for a, r in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(ref)):
        np.testing.assert_allclose(np.asarray(a.astype(r.dtype)), np.asarray(r), rtol=tol, atol=tol)


def test_every_transformation_is_in_the_matrix():
    public = {n for n in gradopt.transforms.__all__ if n[0].islower()} - NOT_OPTIMIZERS
    covered = {n.split("_damped")[0].split("_schedule")[0] for n in MATRIX}
    covered |= {"proximal_gradient"} if {"ista", "fista_restart"} <= set(MATRIX) else set()
    covered |= {"clip_by_global_norm"}
    missing = public - covered
    assert not missing, f"add these transformations to MATRIX: {sorted(missing)}"
