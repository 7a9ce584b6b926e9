"""Pieces shared by the solver loops."""

from __future__ import annotations

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
            dtype = np.dtype(leaf.dtype) if not hasattr(leaf.dtype, "_rules") else None
            ok = dtype is None or dtype.kind in "biufc"  # PRNG key arrays pass
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


def with_extra_args(optimizer: Any) -> optax.GradientTransformationExtraArgs:
    """Accept any optax transformation; the loops always pass value/grad/value_fn.

    The wrapper is cached per optimizer so that the jitted loops (which take the
    optimizer as a static argument) are not recompiled on every call.
    """
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(
            "optimizer must be an optax.GradientTransformation (gradopt's "
            f"transformations are), got {type(optimizer).__name__}."
        )
    try:
        return _wrap_cached(optimizer)
    except TypeError:  # unhashable members: wrap without caching
        return optax.with_extra_args_support(optimizer)


@functools.lru_cache(maxsize=256)
def _wrap_cached(optimizer):
    return optax.with_extra_args_support(optimizer)


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
