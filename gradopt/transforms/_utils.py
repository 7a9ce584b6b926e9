"""Small helpers shared by the transformations."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradopt._validation import check_inexact_tree, check_same_shapes, check_same_structure


def learning_rate_at(learning_rate, count):
    """``learning_rate`` evaluated at step ``count`` when it is a schedule."""
    return learning_rate(count) if callable(learning_rate) else learning_rate


def check_updates_match(updates: Any, params: Any) -> None:
    """The checks every ``update`` makes on its inputs (static, so also at trace time).

    * updates (and params, when given) have floating or complex dtypes:
      integer leaves would give zero or truncated updates (``TypeError``);
    * no leaf is a ``numpy.ma`` masked array, whose mask JAX drops (``TypeError``);
    * updates and params share one pytree structure and every leaf's shape
      (``ValueError``; a ``(4,)`` update for a ``(3,)`` parameter is a bug,
      not something to broadcast).
    """
    check_inexact_tree("updates (gradients)", updates)
    if params is not None:
        check_inexact_tree("params", params)
        check_same_structure("updates (gradients)", updates, "params", params)
        check_same_shapes("updates (gradients)", updates, "params", params)


def like(scalar: Any, leaf: Any) -> jax.Array:
    """A hyperparameter cast to the dtype of ``leaf``.

    Hyperparameters are rounded to each leaf's dtype before they multiply it
    (as optax's schedules and PyTorch's ``alpha=`` arguments do), so a float64
    (possibly traced) learning rate never promotes a float32 or bfloat16
    update, and the arithmetic runs in the parameters' own precision.
    """
    return jnp.asarray(scalar, dtype=jnp.result_type(leaf))


def cast_like(tree: Any, like_tree: Any) -> Any:
    """Cast every leaf of ``tree`` to the dtype of the matching leaf of ``like_tree``."""
    return jax.tree_util.tree_map(
        lambda t, l: jnp.asarray(t).astype(jnp.result_type(l)), tree, like_tree
    )
