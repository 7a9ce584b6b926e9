"""Coordinate-separable sparsity penalties: (weighted) l1."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradopt._validation import check_tree_nonnegative
from gradopt.prox.base import Penalty, penalty_class, tree_sum


def soft_threshold(x, threshold):
    """``sign(x) * max(|x| - t, 0)``: the prox of ``t * |x|``."""
    return jnp.sign(x) * jnp.maximum(jnp.abs(x) - threshold, 0.0)


def _broadcast_reg(reg, params):
    """``reg`` as a pytree matching ``params`` (a scalar is shared by every leaf)."""
    if jax.tree_util.tree_structure(reg).num_leaves == 1 and jnp.ndim(
        jax.tree_util.tree_leaves(reg)[0]
    ) == 0 and not isinstance(reg, (dict, list, tuple)):
        return jax.tree_util.tree_map(lambda _: reg, params)
    return reg


@penalty_class
class L1(Penalty):
    r"""``g(x) = sum_i reg_i |x_i|`` (see :func:`l1`)."""

    reg: Any

    def value(self, params):
        reg = _broadcast_reg(self.reg, params)
        return tree_sum(jax.tree_util.tree_map(lambda x, r: jnp.sum(r * jnp.abs(x)), params, reg))

    def prox(self, params, step=1.0):
        reg = _broadcast_reg(self.reg, params)
        return jax.tree_util.tree_map(
            lambda x, r: soft_threshold(x, step * r).astype(x.dtype), params, reg
        )

    def subdiff_distance(self, params, grad):
        r"""``dist(-grad, reg * d|x|)`` per coordinate, as one Euclidean norm.

        At ``x_i != 0`` the subdifferential is ``{reg_i sign(x_i)}``; at
        ``x_i = 0`` it is ``[-reg_i, reg_i]``.
        """
        reg = _broadcast_reg(self.reg, params)

        def dist(x, g, r):
            at_zero = jnp.maximum(jnp.abs(g) - r, 0.0)
            off_zero = jnp.abs(g + r * jnp.sign(x))
            return jnp.sum(jnp.where(x == 0, at_zero, off_zero) ** 2)

        return jnp.sqrt(tree_sum(jax.tree_util.tree_map(dist, params, grad, reg)))


def l1(reg: Any = 1.0) -> L1:
    r"""The (weighted) l1 norm, ``g(x) = sum_i reg_i |x_i|``.

    Prox (soft thresholding, Donoho 1995)::

        prox(v, s)_i = sign(v_i) max(|v_i| - s reg_i, 0)

    Args:
      reg: ``>= 0``; a scalar shared by all coordinates, or a pytree of the
        parameters' structure with per-leaf scalars or per-coordinate arrays
        (weighted l1). May be traced.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.l1(0.5).prox(jnp.array([1.0, -0.2, 0.0]), 1.0)
        Array([ 0.5, -0. ,  0. ], dtype=float32)
    """
    check_tree_nonnegative("reg", reg)
    return L1(reg)
