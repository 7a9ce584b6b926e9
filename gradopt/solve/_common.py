"""Pieces shared by the solver loops."""

from __future__ import annotations

import collections
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax


def check_params(params: Any) -> None:
    """``params`` must be a non-empty pytree of floating point arrays."""
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError("params must contain at least one array.")
    for leaf in leaves:
        if isinstance(leaf, jax.core.Tracer):
            continue
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.inexact):
            raise TypeError(
                f"params leaves must be floating point arrays, got dtype {dtype} "
                "(use e.g. jnp.asarray(x, jnp.float32))."
            )


def check_data(name: str, tree: Any) -> None:
    """Every leaf of ``tree`` (data passed to a loop, traced) must be numeric array-like.

    Strings, objects and other Python values cannot be traced; they get a
    ``TypeError`` naming ``name`` instead of JAX's "not a valid JAX type".
    """
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if isinstance(leaf, jax.core.Tracer):
            continue
        where = name + jax.tree_util.keystr(path)
        ok = isinstance(leaf, (jax.Array, np.ndarray, np.generic, int, float, complex))
        if ok and not isinstance(leaf, (int, float, complex)):
            dtype = leaf.dtype  # numbers (bfloat16 included), booleans and PRNG keys pass
            ok = (jnp.issubdtype(dtype, jnp.number) or jnp.issubdtype(dtype, jnp.bool_)
                  or jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key))
        if not ok:
            raise TypeError(
                f"{where} is passed to the loss as traced data and must be an array or a "
                f"number, got {type(leaf).__name__} {leaf!r:.60}. Bind configuration that "
                "is not an array with functools.partial or a closure instead."
            )


def tree_all_finite(tree: Any) -> jax.Array:
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        return jnp.array(True)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def squared_norm_and_finite(grad: Any, params: Any) -> tuple[jax.Array, jax.Array]:
    """``(||grad||², every entry of grad and params is finite)`` in one reduction.

    The sum of ``|g|² + g * 0 + p * 0`` is NaN exactly when an entry of
    ``grad`` or ``params`` is not finite (``inf * 0`` and ``nan * 0`` are NaN,
    a finite ``x * 0`` is 0); it is ``inf`` only when the squares of a finite
    gradient overflow (``||grad|| > 1e154`` in float64, ``1e19`` in float32),
    and that gradient is finite, correctly. In a compiled loop each reduction
    or conditional is a fixed cost per step (docs/guide.md, "Performance"), so
    the usual step pays for one reduction where a norm and two finiteness tests
    took three, and no ``lax.cond`` (an earlier version tested the entries one
    by one under a ``lax.cond`` when the sum overflowed). ``grad`` must have
    the structure of ``params``. The sum is plain (no overflow guard) and in at
    least float32.
    """
    zeros = jax.tree_util.tree_map(
        lambda g, p: jnp.real(g * 0 + (p * 0).astype(jnp.result_type(g))), grad, params)
    total = sum_of_squares(grad, plus=zeros)
    return total, ~jnp.isnan(total)


def sum_of_squares(tree: Any, plus: Any = None) -> jax.Array:
    """``sum |x_i|²`` over a pytree (``+ plus_i`` entry by entry, in the same pass, when
    ``plus`` is a tree like ``tree``): plain (no overflow guard), in at least float32."""
    leaves = [jnp.asarray(x) for x in jax.tree_util.tree_leaves(tree)]
    extra = jax.tree_util.tree_leaves(plus) if plus is not None else [0] * len(leaves)
    real = jnp.finfo(jnp.result_type(jnp.float32, *[x.dtype for x in leaves])).dtype
    return sum(jnp.sum((jnp.real(x * jnp.conj(x)) + e).astype(real))
               for x, e in zip(leaves, extra))


def check_optimizer(optimizer: Any) -> None:
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(
            "optimizer must be an optax.GradientTransformation (gradopt's "
            f"transformations are), got {type(optimizer).__name__}."
        )


#: How many compiled loops each of ``minimize`` and ``fit`` keeps (least
#: recently used first out). A compiled loop costs a few MB of host memory.
MAX_COMPILED_LOOPS = 8


class LoopCache:
    """A bounded LRU of jitted loops, keyed by ``(fun, optimizer, static config)``.

    ``jax.jit`` with the loss and the optimizer as static arguments keeps one
    executable per distinct optimizer *object* forever, so a script that builds
    a new optimizer for every call (``minimize(f, x0, gradopt.descent(0.1))``
    in a loop) grew by ~2.5 MB per call. Here each key owns its own
    ``jax.jit`` object; evicting the key drops the last reference to it (and to
    the function and optimizer it closes over), and JAX frees the executable.
    Calling again with the same function and optimizer objects reuses the
    compiled loop (new data, ``tol``, ``max_steps`` do not recompile).
    """

    def __init__(self, impl, maxsize: int = MAX_COMPILED_LOOPS):
        self.impl = impl
        self.maxsize = maxsize
        self.entries: collections.OrderedDict = collections.OrderedDict()

    def __call__(self, fun, optimizer, *statics):
        key = (fun, optimizer, statics)
        try:
            hash(key)
        except TypeError:  # unhashable members: compile without caching
            key = None
        if key is not None and key in self.entries:
            self.entries.move_to_end(key)
            return self.entries[key]
        opt = optax.with_extra_args_support(optimizer)
        loop = jax.jit(functools.partial(self.impl, fun, opt, *statics))
        if key is not None:
            self.entries[key] = loop
            while len(self.entries) > self.maxsize:
                self.entries.popitem(last=False)
        return loop

    def clear(self) -> None:
        self.entries.clear()


def current_iterate(opt_state: Any, params: Any) -> Any:
    """The point a method reports as its solution.

    Accelerated methods (FISTA, ...) evaluate gradients at an extrapolated point
    ``y_k`` (the ``params`` the loop sees) and keep the actual iterate ``x_k`` in
    their state. Such a state is a NamedTuple with a field named ``iterate``;
    the first one found in ``opt_state`` (in a chain, the first transformation
    that has one) is returned. Without one, ``params`` is the iterate.
    """
    def has_iterate(node):
        return isinstance(node, tuple) and hasattr(node, "_fields") and "iterate" in node._fields

    for node in jax.tree_util.tree_leaves(opt_state, is_leaf=has_iterate):
        if has_iterate(node):
            return node.iterate
    return params
