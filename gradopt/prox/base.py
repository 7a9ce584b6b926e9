"""The penalty protocol: a non-smooth term ``g`` with its value and its prox.

A penalty is an immutable pytree (so regularization strengths may be traced
arrays and a penalty can be passed through ``jit``/``vmap`` as an argument)
with

* ``value(params) -> scalar``: ``g(params)`` (``inf`` outside a set for indicators);
* ``prox(params, step) -> params``: ``argmin_x 1/2 ||x - v||^2 + step * g(x)``;
* ``residual(params, grad, step=1.0) -> scalar``: the gradient-mapping norm
  ``||x - prox(x - step * grad, step)|| / step``, zero exactly at minimizers of
  ``f + g`` when ``grad = grad f(x)``; loops use it as a stopping test.

Subclasses are declared with :func:`penalty_class`, which makes a frozen
dataclass and registers it as a pytree whose array fields are children and
whose ``static`` fields (Python config such as an axis) are auxiliary data.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from gradopt.transforms.clipping import global_norm


class Penalty:
    """Base class of penalties. Subclasses implement ``value`` and ``prox``."""

    #: True for indicator functions of sets (value 0 or inf, prox a projection).
    is_indicator: bool = False

    def value(self, params: Any) -> jax.Array:
        raise NotImplementedError

    def prox(self, params: Any, step: Any = 1.0) -> Any:
        raise NotImplementedError

    def residual(self, params: Any, grad: Any, step: Any = 1.0) -> jax.Array:
        """Gradient-mapping norm ``||x - prox(x - step*grad, step)|| / step``."""
        moved = jax.tree_util.tree_map(lambda x, g: x - step * g, params, grad)
        new = self.prox(moved, step)
        diff = jax.tree_util.tree_map(lambda a, b: a - b, params, new)
        return global_norm(diff) / step

    def __call__(self, params: Any) -> jax.Array:
        return self.value(params)


def penalty_class(cls=None, *, static: tuple[str, ...] = ()):
    """Decorator: frozen dataclass + pytree registration for a :class:`Penalty`.

    Fields named in ``static`` are hashed into the treedef (they must be
    hashable Python values); all other fields are pytree children.
    """

    def wrap(cls):
        cls = dataclasses.dataclass(frozen=True)(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        dynamic = [n for n in names if n not in static]

        def flatten(obj):
            children = [getattr(obj, n) for n in dynamic]
            aux = tuple(getattr(obj, n) for n in static)
            return children, aux

        def unflatten(aux, children):
            obj = object.__new__(cls)
            for n, v in zip(dynamic, children):
                object.__setattr__(obj, n, v)
            for n, v in zip(static, aux):
                object.__setattr__(obj, n, v)
            return obj

        jax.tree_util.register_pytree_node(cls, flatten, unflatten)
        return cls

    return wrap if cls is None else wrap(cls)


def tree_sum(tree: Any) -> jax.Array:
    """Sum of a pytree of scalars (0.0 for an empty tree)."""
    leaves = jax.tree_util.tree_leaves(tree)
    return sum(leaves[1:], leaves[0]) if leaves else jnp.zeros([])
