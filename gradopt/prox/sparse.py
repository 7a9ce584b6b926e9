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
import numpy as np

from gradopt._validation import check_nonnegative, check_scalar, is_traced
from gradopt.prox.base import (
    Penalty,
    align_to_params,
    check_reg,
    penalty_class,
    polar_ratio,
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


def _gather(strength, idx):
    """Per-row strengths of the rows ``idx`` of a ``(p, k)`` coefficient matrix, shape ``(g, 1)``.

    ``strength`` is a scalar or a ``(p,)`` array (one value per feature).
    """
    s = jnp.asarray(strength)
    return (s[idx] if s.ndim else jnp.broadcast_to(s, idx.shape))[:, None]


def _positive_part(x, positive: bool):
    return jnp.maximum(x, 0.0) if positive else x


def _sign_dist(w, g, a, positive: bool):
    """Entrywise ``dist(-g, a d|w| [+ normal cone of w >= 0])`` (``a >= 0``)."""
    at_zero = jnp.maximum(-g - a, 0.0) if positive else jnp.maximum(jnp.abs(g) - a, 0.0)
    return jnp.where(w == 0, at_zero, jnp.abs(g + a * jnp.sign(w)))


def _check_positive(positive):
    if not isinstance(positive, (bool, np.bool_)):
        raise TypeError(f"positive must be True or False, got {positive!r}.")
    return bool(positive)


def _nonneg_value(value, params, positive: bool):
    """``value`` plus the indicator of ``params >= 0`` when ``positive``."""
    if not positive:
        return value
    neg = jnp.stack([jnp.any(jnp.asarray(x) < 0) for x in jax.tree_util.tree_leaves(params)])
    return jnp.where(jnp.any(neg), jnp.inf, value)


def block_terms(a1, a2, w, positive: bool):
    """``sum a1 |w| + a2/2 w^2``, plus the indicator of ``w >= 0`` when ``positive`` (``inf``
    for a negative entry: the engine's extrapolated and Newton candidates, which no prox
    has projected, are then rejected by their value)."""
    value = jnp.sum(a1 * jnp.abs(w) + 0.5 * a2 * w * w)
    return jnp.where(jnp.any(w < 0), jnp.inf, value) if positive else value


class _Blocks:
    """Block protocol used by the GLM engine (``gradopt.problems``), for coefficient
    matrices ``W`` of shape ``(p, k)`` whose rows ``idx`` form one block.

    ``block_prox(v, step, idx)``: prox of the block's term; ``block_value(w, idx)``;
    ``block_dist(w, g, idx)``: ``dist(-g, d g_b(w))``; ``block_dual_ratio(u, idx)``:
    the smallest ``c >= 0`` with ``g_b^*(u / c) < inf`` (0 when ``g_b^*`` is finite
    everywhere); ``block_conjugate(u, idx)``: ``g_b^*(u)`` on that domain. Subclasses
    define ``_split(idx) -> (a1, a2)``: the l1 and ridge strengths of the rows; the engine
    also reads it for its active-set Newton steps, where the penalty is smooth.
    They also define ``_l1_slope(reg)``, the l1 strength of coordinates of strength
    ``reg``, for :meth:`alpha_max`.
    """

    positive = False

    def alpha_max(self, grad):
        """``max_j |grad_j| / (l1 strength_j)`` (``max(-grad_j, 0)`` with ``positive``) over
        the penalized coordinates; see :meth:`gradopt.prox.Penalty.alpha_max`."""
        _, items = align_to_params("reg", self.reg, grad)
        return jnp.max(jnp.stack([
            polar_ratio(jnp.maximum(-g, 0.0) if self.positive else jnp.abs(g),
                        self._l1_slope(r), jnp.asarray(r) > 0)
            for _, g, r in items]))

    def block_prox(self, v, step, idx):
        a1, a2 = self._split(idx)
        shrunk = v - step * a1 if self.positive else soft_threshold(v, step * a1)
        return (_positive_part(shrunk, self.positive) / (1.0 + step * a2)).astype(v.dtype)

    def block_value(self, w, idx):
        a1, a2 = self._split(idx)
        return block_terms(a1, a2, w, self.positive)

    def block_dist(self, w, g, idx):
        a1, a2 = self._split(idx)
        d = _sign_dist(w, g + a2 * w, a1, self.positive)
        return jnp.sqrt(jnp.sum(d * d))

    def block_dual_ratio(self, u, idx):
        a1, a2 = self._split(idx)
        mag = jnp.maximum(u, 0.0) if self.positive else jnp.abs(u)
        tiny = jnp.finfo(u.dtype).tiny
        ratio = jnp.where(mag > 0, mag / jnp.maximum(a1, tiny), 0.0)
        return jnp.max(jnp.where(a2 > 0, 0.0, ratio))

    def block_conjugate(self, u, idx):
        a1, a2 = self._split(idx)
        mag = jnp.maximum(u, 0.0) if self.positive else jnp.abs(u)
        excess = jnp.maximum(mag - a1, 0.0)
        return jnp.sum(jnp.where(a2 > 0, excess * excess / (2.0 * jnp.where(a2 > 0, a2, 1.0)), 0.0))


@penalty_class(static=("positive",))
class L1(_Blocks, Penalty):
    r"""``g(x) = sum_i reg_i |x_i|`` (see :func:`l1`)."""

    reg: Any
    positive: bool = False

    def value(self, params):
        _, items = align_to_params("reg", self.reg, params)
        v = tree_sum([jnp.sum(r * jnp.abs(x)) for _, x, r in items])
        return _nonneg_value(v, params, self.positive)

    def prox(self, params, step=1.0):
        treedef, items = align_to_params("reg", self.reg, params)
        if self.positive:
            return _map(lambda x, r: jnp.maximum(x - step * r, 0.0).astype(x.dtype), treedef, items)
        return _map(lambda x, r: soft_threshold(x, step * r), treedef, items)

    def subdiff_distance(self, params, grad):
        r"""``dist(-grad, reg * d|x|)``, one Euclidean norm over all coordinates.

        At ``x_i != 0`` the subdifferential is ``{reg_i sign(x_i)}``; at
        ``x_i = 0`` it is ``[-reg_i, reg_i]`` (``(-inf, reg_i]`` with ``positive``).
        """
        _, items = align_to_params("reg", self.reg, params)
        grads = jax.tree_util.tree_leaves(grad)
        return tree_norm_from_squares(
            [jnp.sum(_sign_dist(x, g, r, self.positive) ** 2) for (_, x, r), g in zip(items, grads)]
        )

    def _split(self, idx):
        return _gather(self.reg, idx), 0.0

    def _l1_slope(self, reg):
        return reg


def l1(reg: Any = 1.0, *, positive: bool = False) -> L1:
    r"""The (weighted) l1 norm, ``g(x) = sum_i reg_i |x_i|``.

    Prox (soft thresholding, Donoho 1995; Parikh & Boyd 2014, sec. 6.5.2)::

        prox(v, s)_i = sign(v_i) max(|v_i| - s reg_i, 0)

    With ``positive=True`` the penalty is ``sum_i reg_i x_i`` plus the
    indicator of ``x >= 0`` (scikit-learn's ``Lasso(positive=True)``), and the
    prox is ``max(v_i - s reg_i, 0)``.

    ``subdiff_distance``: yes.

    Args:
      reg: ``>= 0``; a scalar shared by all coordinates, or a pytree whose
        structure is a prefix of the parameters' (``{"w": 0.1, "b": 0.0}``)
        with per-leaf scalars or per-coordinate arrays that broadcast to the
        leaf (weighted l1). May be traced (then it is not checked).
      positive: constrain every coordinate to be ``>= 0``.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.l1(0.5).prox(jnp.array([1.0, -0.2, 0.0]), 1.0)
        Array([ 0.5, -0. ,  0. ], dtype=float32)
        >>> gradopt.prox.l1(0.5, positive=True).prox(jnp.array([1.0, -2.0]), 1.0)
        Array([0.5, 0. ], dtype=float32)
    """
    check_reg("reg", reg)
    return L1(reg, _check_positive(positive))


@penalty_class(static=("positive",))
class L2Squared(_Blocks, Penalty):
    r"""``g(x) = sum_i reg_i / 2 * x_i^2`` (see :func:`l2_squared`)."""

    reg: Any
    positive: bool = False

    def value(self, params):
        _, items = align_to_params("reg", self.reg, params)
        v = tree_sum([0.5 * jnp.sum(r * x * x) for _, x, r in items])
        return _nonneg_value(v, params, self.positive)

    def prox(self, params, step=1.0):
        treedef, items = align_to_params("reg", self.reg, params)
        return _map(
            lambda x, r: (_positive_part(x, self.positive) / (1.0 + step * r)).astype(x.dtype),
            treedef, items,
        )

    def subdiff_distance(self, params, grad):
        r"""``||grad + reg * x||`` (``g`` is differentiable; with ``positive``, the
        normal cone of ``x >= 0`` is added at ``x_i = 0``)."""
        _, items = align_to_params("reg", self.reg, params)
        grads = jax.tree_util.tree_leaves(grad)
        return tree_norm_from_squares(
            [jnp.sum(_sign_dist(x, g + r * x, 0.0, self.positive) ** 2)
             for (_, x, r), g in zip(items, grads)]
        )

    def _split(self, idx):
        return 0.0, _gather(self.reg, idx)

    def _l1_slope(self, reg):
        return 0.0


def l2_squared(reg: Any = 1.0, *, positive: bool = False) -> L2Squared:
    r"""Ridge (Tikhonov) penalty with the one-half convention: ``g(x) = reg/2 ||x||^2``.

    Note the ``1/2``: ``l2_squared(reg)`` adds ``reg * x`` to the gradient
    (the ``weight_decay`` convention of PyTorch/optax), and equals
    ``elastic_net(reg, l1_ratio=0)``. Prox (a shrinkage; Parikh & Boyd 2014,
    sec. 6.1.1)::

        prox(v, s) = v / (1 + s reg)        (positive: max(v, 0) / (1 + s reg))

    ``subdiff_distance``: yes (``||grad + reg x||``).

    Args:
      reg: ``>= 0``; a scalar, or a pytree prefix of the parameters with
        per-leaf scalars or per-coordinate arrays. May be traced.
      positive: add the indicator of ``x >= 0``.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> g = gradopt.prox.l2_squared(2.0)
        >>> g.value(jnp.array([1.0, 2.0])), g.prox(jnp.array([3.0, 6.0]), 1.0)
        (Array(5., dtype=float32), Array([1., 2.], dtype=float32))
    """
    check_reg("reg", reg)
    return L2Squared(reg, _check_positive(positive))


@penalty_class(static=("positive",))
class ElasticNet(_Blocks, Penalty):
    r"""``g(x) = reg (l1_ratio ||x||_1 + (1 - l1_ratio)/2 ||x||^2)`` (see :func:`elastic_net`)."""

    reg: Any
    l1_ratio: Any
    positive: bool = False

    def value(self, params):
        _, items = align_to_params("reg", self.reg, params)
        a = self.l1_ratio
        v = tree_sum(
            [jnp.sum(r * (a * jnp.abs(x) + 0.5 * (1.0 - a) * x * x)) for _, x, r in items]
        )
        return _nonneg_value(v, params, self.positive)

    def prox(self, params, step=1.0):
        treedef, items = align_to_params("reg", self.reg, params)
        a = self.l1_ratio

        def one(x, r):
            t = step * r * a
            shrunk = jnp.maximum(x - t, 0.0) if self.positive else soft_threshold(x, t)
            return (shrunk / (1.0 + step * r * (1.0 - a))).astype(x.dtype)

        return _map(one, treedef, items)

    def subdiff_distance(self, params, grad):
        r"""``dist(-grad, reg (l1_ratio d|x| + (1 - l1_ratio) x))`` over all coordinates."""
        _, items = align_to_params("reg", self.reg, params)
        grads = jax.tree_util.tree_leaves(grad)
        a = self.l1_ratio
        return tree_norm_from_squares(
            [jnp.sum(_sign_dist(x, g + r * (1.0 - a) * x, r * a, self.positive) ** 2)
             for (_, x, r), g in zip(items, grads)]
        )

    def _split(self, idx):
        r = _gather(self.reg, idx)
        a = _gather(self.l1_ratio, idx)
        return r * a, r * (1.0 - a)

    def _l1_slope(self, reg):
        return reg * jnp.asarray(self.l1_ratio)


def elastic_net(reg: Any = 1.0, l1_ratio: Any = 0.5, *, positive: bool = False) -> ElasticNet:
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
      l1_ratio: in ``[0, 1]``: a scalar, or an array that broadcasts to the
        parameters (a mix per coordinate). May be traced.
      positive: add the indicator of ``x >= 0``.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.elastic_net(1.0, 0.5).prox(jnp.array([2.0, 0.3]), 1.0)
        Array([1., 0.], dtype=float32)
    """
    check_reg("reg", reg)
    check_reg("l1_ratio", l1_ratio)
    if not any(is_traced(v) for v in jax.tree_util.tree_leaves(l1_ratio)):
        if np.any(np.asarray(l1_ratio) > 1):
            raise ValueError(f"l1_ratio must be in [0, 1], got a maximum of {np.max(l1_ratio)}.")
    return ElasticNet(reg, l1_ratio, _check_positive(positive))


@penalty_class
class Linf(Penalty):
    r"""``g(x) = reg * max_i |x_i|`` over all coordinates of the pytree (see :func:`linf`)."""

    reg: Any

    def value(self, params):
        leaves = jax.tree_util.tree_leaves(params)
        m = jnp.max(jnp.stack([jnp.max(jnp.abs(x), initial=0.0) for x in leaves]))
        return self.reg * m

    def alpha_max(self, grad):
        """``||grad||_1 / reg``, the dual norm; see :meth:`gradopt.prox.Penalty.alpha_max`."""
        l1 = sum(jnp.sum(jnp.abs(g)) for g in jax.tree_util.tree_leaves(grad))
        return polar_ratio(l1, self.reg)

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
