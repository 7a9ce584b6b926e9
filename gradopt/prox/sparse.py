r"""Norm penalties on the coordinates: l1, ridge, elastic net, l-infinity.

All act on pytrees of arrays. ``l1``, ``l2_squared`` and ``elastic_net`` are
coordinate-separable and accept per-leaf or per-coordinate strengths;
``linf`` is the max over *all* coordinates of the pytree (use
:func:`~gradopt.prox.separable` for one max per leaf).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradopt._validation import check_nonnegative, check_scalar
from gradopt.prox.base import (
    Penalty,
    align_to_params,
    check_reg,
    penalty_class,
    tree_dtype,
    tree_norm_from_squares,
    tree_sum,
)
from gradopt.prox.sets import project_l1_ball


def soft_threshold(x, threshold):
    r"""``sign(x) * max(|x| - t, 0)``: the prox of ``t * |x|`` (Donoho 1995).

    ``threshold`` broadcasts against ``x`` and must be ``>= 0`` (a concrete
    negative entry raises ``ValueError``; a traced one is not checked); the
    result keeps ``x``'s floating dtype (a float64 threshold does not promote
    float32 ``x``).

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.soft_threshold(jnp.array([2.0, -0.5]), 1.0)
        Array([ 1., -0.], dtype=float32)
    """
    check_nonnegative("threshold", threshold)
    x = jnp.asarray(x)
    out = jnp.sign(x) * jnp.maximum(jnp.abs(x) - threshold, 0.0)
    return out.astype(x.dtype) if jnp.issubdtype(x.dtype, jnp.inexact) else out


def _map(fn, treedef, items):
    return jax.tree_util.tree_unflatten(treedef, [fn(jnp.asarray(x), r) for _, x, r in items])


@penalty_class
class L1(Penalty):
    r"""``g(x) = sum_i reg_i |x_i|`` (see :func:`l1`)."""

    reg: Any

    def value(self, params):
        _, items = align_to_params("reg", self.reg, params)
        return tree_sum([jnp.sum(r * jnp.abs(x)) for _, x, r in items])

    def prox(self, params, step=1.0):
        treedef, items = align_to_params("reg", self.reg, params)
        return _map(lambda x, r: soft_threshold(x, step * r), treedef, items)

    def subdiff_distance(self, params, grad):
        r"""``dist(-grad, reg * d|x|)``, one Euclidean norm over all coordinates.

        At ``x_i != 0`` the subdifferential is ``{reg_i sign(x_i)}``; at
        ``x_i = 0`` it is ``[-reg_i, reg_i]``.
        """
        _, items = align_to_params("reg", self.reg, params)
        grads = jax.tree_util.tree_leaves(grad)

        def dist(x, g, r):
            at_zero = jnp.maximum(jnp.abs(g) - r, 0.0)
            off_zero = jnp.abs(g + r * jnp.sign(x))
            return jnp.sum(jnp.where(x == 0, at_zero, off_zero) ** 2)

        return tree_norm_from_squares([dist(x, g, r) for (_, x, r), g in zip(items, grads)])


def l1(reg: Any = 1.0) -> L1:
    r"""The (weighted) l1 norm, ``g(x) = sum_i reg_i |x_i|``.

    Prox (soft thresholding, Donoho 1995; Parikh & Boyd 2014, sec. 6.5.2)::

        prox(v, s)_i = sign(v_i) max(|v_i| - s reg_i, 0)

    ``subdiff_distance``: yes.

    Args:
      reg: ``>= 0``; a scalar shared by all coordinates, or a pytree whose
        structure is a prefix of the parameters' (``{"w": 0.1, "b": 0.0}``)
        with per-leaf scalars or per-coordinate arrays that broadcast to the
        leaf (weighted l1). May be traced (then it is not checked).

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.l1(0.5).prox(jnp.array([1.0, -0.2, 0.0]), 1.0)
        Array([ 0.5, -0. ,  0. ], dtype=float32)
    """
    check_reg("reg", reg)
    return L1(reg)


@penalty_class
class L2Squared(Penalty):
    r"""``g(x) = sum_i reg_i / 2 * x_i^2`` (see :func:`l2_squared`)."""

    reg: Any

    def value(self, params):
        _, items = align_to_params("reg", self.reg, params)
        return tree_sum([0.5 * jnp.sum(r * x * x) for _, x, r in items])

    def prox(self, params, step=1.0):
        treedef, items = align_to_params("reg", self.reg, params)
        return _map(lambda x, r: (x / (1.0 + step * r)).astype(x.dtype), treedef, items)

    def subdiff_distance(self, params, grad):
        r"""``||grad + reg * x||`` (``g`` is differentiable)."""
        _, items = align_to_params("reg", self.reg, params)
        grads = jax.tree_util.tree_leaves(grad)
        return tree_norm_from_squares(
            [jnp.sum((g + r * x) ** 2) for (_, x, r), g in zip(items, grads)]
        )


def l2_squared(reg: Any = 1.0) -> L2Squared:
    r"""Ridge (Tikhonov) penalty with the one-half convention: ``g(x) = reg/2 ||x||^2``.

    Note the ``1/2``: ``l2_squared(reg)`` adds ``reg * x`` to the gradient
    (the ``weight_decay`` convention of PyTorch/optax), and equals
    ``elastic_net(reg, l1_ratio=0)``. Prox (a shrinkage; Parikh & Boyd 2014,
    sec. 6.1.1)::

        prox(v, s) = v / (1 + s reg)

    ``subdiff_distance``: yes (``||grad + reg x||``).

    Args:
      reg: ``>= 0``; a scalar, or a pytree prefix of the parameters with
        per-leaf scalars or per-coordinate arrays. May be traced.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> g = gradopt.prox.l2_squared(2.0)
        >>> g.value(jnp.array([1.0, 2.0])), g.prox(jnp.array([3.0, 6.0]), 1.0)
        (Array(5., dtype=float32), Array([1., 2.], dtype=float32))
    """
    check_reg("reg", reg)
    return L2Squared(reg)


@penalty_class
class ElasticNet(Penalty):
    r"""``g(x) = reg (l1_ratio ||x||_1 + (1 - l1_ratio)/2 ||x||^2)`` (see :func:`elastic_net`)."""

    reg: Any
    l1_ratio: Any

    def value(self, params):
        _, items = align_to_params("reg", self.reg, params)
        a = self.l1_ratio
        return tree_sum(
            [jnp.sum(r * (a * jnp.abs(x) + 0.5 * (1.0 - a) * x * x)) for _, x, r in items]
        )

    def prox(self, params, step=1.0):
        treedef, items = align_to_params("reg", self.reg, params)
        a = self.l1_ratio

        def one(x, r):
            return (soft_threshold(x, step * r * a) / (1.0 + step * r * (1.0 - a))).astype(x.dtype)

        return _map(one, treedef, items)

    def subdiff_distance(self, params, grad):
        r"""``dist(-grad, reg (l1_ratio d|x| + (1 - l1_ratio) x))`` over all coordinates."""
        _, items = align_to_params("reg", self.reg, params)
        grads = jax.tree_util.tree_leaves(grad)
        a = self.l1_ratio

        def dist(x, g, r):
            at_zero = jnp.maximum(jnp.abs(g) - r * a, 0.0)
            off_zero = jnp.abs(g + r * a * jnp.sign(x) + r * (1.0 - a) * x)
            return jnp.sum(jnp.where(x == 0, at_zero, off_zero) ** 2)

        return tree_norm_from_squares([dist(x, g, r) for (_, x, r), g in zip(items, grads)])


def elastic_net(reg: Any = 1.0, l1_ratio: Any = 0.5) -> ElasticNet:
    r"""Elastic net (Zou & Hastie 2005) in scikit-learn's convention.

    ::

        g(x) = reg * (l1_ratio * ||x||_1 + (1 - l1_ratio) / 2 * ||x||^2)

    (``sklearn.linear_model.ElasticNet(alpha=reg, l1_ratio=l1_ratio)``'s
    penalty). ``l1_ratio = 1`` is :func:`l1`, ``l1_ratio = 0`` is
    :func:`l2_squared`. Prox (soft thresholding then shrinkage; Parikh & Boyd
    2014, sec. 6.5.3)::

        prox(v, s) = soft_threshold(v, s reg l1_ratio) / (1 + s reg (1 - l1_ratio))

    ``subdiff_distance``: yes.

    Args:
      reg: ``>= 0``; a scalar or a pytree prefix of the parameters with
        per-leaf scalars or per-coordinate arrays. May be traced.
      l1_ratio: scalar in ``[0, 1]``. May be traced.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.elastic_net(1.0, 0.5).prox(jnp.array([2.0, 0.3]), 1.0)
        Array([1., 0.], dtype=float32)
    """
    check_reg("reg", reg)
    check_scalar("l1_ratio", l1_ratio, low=0.0, high=1.0)
    return ElasticNet(reg, l1_ratio)


@penalty_class
class Linf(Penalty):
    r"""``g(x) = reg * max_i |x_i|`` over all coordinates of the pytree (see :func:`linf`)."""

    reg: Any

    def value(self, params):
        leaves = jax.tree_util.tree_leaves(params)
        m = jnp.max(jnp.stack([jnp.max(jnp.abs(x), initial=0.0) for x in leaves]))
        return self.reg * m

    def prox(self, params, step=1.0):
        dt = tree_dtype(params)
        t = jnp.asarray(step * self.reg).astype(dt)
        positive = t > 0
        ball = project_l1_ball(params, jnp.where(positive, t, 1.0))
        return jax.tree_util.tree_map(
            lambda v, p: jnp.where(positive, v - p, v).astype(v.dtype), params, ball
        )


def linf(reg: Any = 1.0) -> Linf:
    r"""The l-infinity norm over the whole pytree, ``g(x) = reg * max_i |x_i|``.

    Prox by the Moreau decomposition (the dual norm's unit ball is the l1
    ball; Parikh & Boyd 2014, sec. 6.5.1)::

        prox(v, s) = v - s reg * P_{||.||_1 <= 1}(v / (s reg))
                   = v - P_{||.||_1 <= s reg}(v)

    with the l1-ball projection of ``optax.projections.projection_l1_ball``
    (sort-based, Duchi et al. 2008). ``s reg = 0`` gives ``v``.

    ``subdiff_distance``: no (use ``residual``).

    Args:
      reg: scalar ``>= 0``. May be traced.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.linf(1.0).prox(jnp.array([3.0, -2.0, 0.5]), 1.0)
        Array([ 2. , -2. ,  0.5], dtype=float32)
    """
    check_scalar("reg", reg, low=0.0)
    return Linf(reg)
