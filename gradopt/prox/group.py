r"""Group lasso: the sum of (weighted) Euclidean norms of groups of coordinates."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradopt.prox.base import (
    Penalty,
    align_to_params,
    broadcast_to_params,
    check_reg,
    penalty_class,
    tree_norm_from_squares,
    tree_sum,
)


def _safe_sqrt(sq):
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


# Block protocol pieces (gradopt.problems.engine) for t ||x||_2 on a block: the norm runs
# over ``axis`` (1: each row of a (g, k) block; None: the whole block).

def _norms(x, axis):
    return _safe_sqrt(jnp.sum(x * x, axis=axis, keepdims=True))


def _block_shrink(v, thr, axis):
    """Block soft thresholding ``max(0, 1 - thr / ||v||) v``."""
    norms = _norms(v, axis)
    keep = norms > thr
    return (jnp.where(keep, 1.0 - thr / jnp.where(keep, norms, 1.0), 0.0) * v).astype(v.dtype)


def _block_dist(w, g, t, axis):
    """``dist(-g, t d||w||)``: ``||g + t w/||w||||``, or ``max(||g|| - t, 0)`` at ``w = 0``."""
    sq = jnp.sum(w * w, axis=axis, keepdims=True)
    nonzero = sq > 0
    off = jnp.sum((g + t * w / jnp.sqrt(jnp.where(nonzero, sq, 1.0))) ** 2, axis=axis,
                  keepdims=True)
    at_zero = jnp.maximum(_norms(g, axis) - t, 0.0) ** 2
    return _safe_sqrt(jnp.sum(jnp.where(nonzero, off, at_zero)))


def _block_ratio(u, t, axis):
    """``max ||u|| / t``: the dual norm's ratio (the conjugate is the ball's indicator)."""
    norms = _norms(u, axis)
    tiny = jnp.finfo(u.dtype).tiny
    return jnp.max(jnp.where(norms > 0, norms / jnp.maximum(t, tiny), 0.0))


@penalty_class(static=("axis", "whole_tree"))
class GroupL2(Penalty):
    r"""``g(x) = sum_groups reg * w_g * ||x_g||_2`` (see :func:`group_l2`)."""

    reg: Any
    weights: Any
    axis: Any = None
    whole_tree: bool = False

    def _tree_norm(self, params):
        return tree_norm_from_squares([jnp.sum(x * x) for x in jax.tree_util.tree_leaves(params)])

    def _axes(self, x, path):
        if self.axis is None:
            return tuple(range(x.ndim))
        axes = (self.axis,) if isinstance(self.axis, int) else tuple(self.axis)
        out = []
        for a in axes:
            if not -x.ndim <= a < x.ndim:
                raise ValueError(
                    f"axis={self.axis!r} is out of range for the parameter at {path} of shape "
                    f"{x.shape}; group_l2(axis=...) needs every leaf to have that axis "
                    f"(use gradopt.prox.separable to give leaves different penalties)."
                )
            out.append(a % x.ndim)
        return tuple(sorted(set(out)))

    def _groups(self, params):
        """Per leaf: (x, axes, thresholds-without-step with keepdims shape)."""
        treedef, items = align_to_params("reg", self.reg, params, per="leaf")
        if self.weights is None:
            ws = [None] * len(items)
        else:
            ws = treedef.flatten_up_to(broadcast_to_params("weights", self.weights, params))
        out = []
        for (path, x, r), w in zip(items, ws):
            x = jnp.asarray(x)
            axes = self._axes(x, path)
            group_shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
            if w is None:
                t = r
            else:
                try:
                    b = np.broadcast_shapes(np.shape(w), group_shape)
                except ValueError:
                    b = None
                if b != group_shape:
                    raise ValueError(
                        f"weights must broadcast to the group shape {group_shape} (the shape of "
                        f"the parameter at {path}, {x.shape}, without axis={self.axis!r}), got "
                        f"shape {np.shape(w)}."
                    )
                t = r * jnp.expand_dims(jnp.broadcast_to(w, group_shape), axes)
            out.append((x, axes, t))
        return treedef, out

    def value(self, params):
        if self.whole_tree:
            return self.reg * self._tree_norm(params)
        _, groups = self._groups(params)
        total = []
        for x, axes, t in groups:
            norms = _safe_sqrt(jnp.sum(x * x, axis=axes, keepdims=True))
            total.append(jnp.sum(t * norms))
        return tree_sum(total)

    def prox(self, params, step=1.0):
        if self.whole_tree:
            norm = self._tree_norm(params)
            thr = step * self.reg
            keep = norm > thr
            factor = jnp.where(keep, 1.0 - thr / jnp.where(keep, norm, 1.0), 0.0)
            return jax.tree.map(lambda x: (factor * x).astype(jnp.asarray(x).dtype), params)
        treedef, groups = self._groups(params)
        out = []
        for x, axes, t in groups:
            norms = _safe_sqrt(jnp.sum(x * x, axis=axes, keepdims=True))
            thr = step * t
            keep = norms > thr
            factor = jnp.where(keep, 1.0 - thr / jnp.where(keep, norms, 1.0), 0.0)
            out.append((factor * x).astype(x.dtype))
        return jax.tree_util.tree_unflatten(treedef, out)

    def subdiff_distance(self, params, grad):
        r"""``dist(-grad, dg(x))`` over all groups.

        For a group with ``x_g != 0`` the subdifferential is
        ``{t_g x_g / ||x_g||}``; at ``x_g = 0`` it is the ball of radius
        ``t_g = reg * w_g``: the distance is ``max(||grad_g|| - t_g, 0)``.
        With ``whole_tree`` the group is the whole pytree.
        """
        if self.whole_tree:
            norm = self._tree_norm(params)
            nonzero = norm > 0
            safe = jnp.where(nonzero, norm, 1.0)
            off = tree_norm_from_squares([
                jnp.sum((g + self.reg * x / safe) ** 2)
                for x, g in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(grad))
            ])
            return jnp.where(nonzero, off, jnp.maximum(self._tree_norm(grad) - self.reg, 0.0))
        _, groups = self._groups(params)
        grads = jax.tree_util.tree_leaves(grad)
        total = []
        for (x, axes, t), g in zip(groups, grads):
            sq = jnp.sum(x * x, axis=axes, keepdims=True)
            nonzero = sq > 0
            norms = jnp.sqrt(jnp.where(nonzero, sq, 1.0))
            off = jnp.sum((g + t * x / norms) ** 2, axis=axes, keepdims=True)
            gnorm = _safe_sqrt(jnp.sum(g * g, axis=axes, keepdims=True))
            at_zero = jnp.maximum(gnorm - t, 0.0) ** 2
            total.append(jnp.sum(jnp.where(nonzero, off, at_zero)))
        return tree_norm_from_squares(total)

    # Block protocol of the GLM engine (gradopt.problems.engine): blocks are rows
    # of a (p, k) coefficient matrix, i.e. axis=1 row groups (multitask problems).

    def _row_strength(self, idx):
        if self.axis not in (1, -1):
            raise ValueError(
                "the GLM solvers accept group_l2 with axis=1 (one group per row of the "
                f"(n_features, n_tasks) coefficients), got axis={self.axis!r}."
            )
        t = jnp.asarray(self.reg)
        t = t[idx] if t.ndim else t
        if self.weights is not None:
            w = jnp.asarray(self.weights)
            t = t * (w[idx] if w.ndim else w)
        return jnp.broadcast_to(t, idx.shape)[:, None]

    def block_prox(self, v, step, idx):
        return _block_shrink(v, step * self._row_strength(idx), 1)

    def block_value(self, w, idx):
        return jnp.sum(self._row_strength(idx) * _norms(w, 1))

    def block_dist(self, w, g, idx):
        return _block_dist(w, g, self._row_strength(idx), 1)

    def block_dual_ratio(self, u, idx):
        return _block_ratio(u, self._row_strength(idx), 1)

    def block_conjugate(self, u, idx):
        return jnp.zeros((), u.dtype)


@penalty_class
class FeatureGroupsL2:
    r"""``sum_g t_g ||w_g||_2`` over groups of features: the GLM engine's block penalty of
    :func:`gradopt.group_lasso` (not a general :class:`Penalty`: no ``value``/``prox``).

    The blocks (groups of rows of the ``(p, k)`` coefficients) come from the solver's
    layout; ``reg`` holds, for every feature, the strength ``t_g = alpha omega_g`` of its
    group, so it is a pytree leaf that may be traced (differentiated).
    """

    reg: Any

    def _strength(self, idx):
        t = jnp.asarray(self.reg)
        return t[idx[0]] if t.ndim else t  # a block's first entry is a real feature

    def block_prox(self, v, step, idx):
        return _block_shrink(v, step * self._strength(idx), None)

    def block_value(self, w, idx):
        return self._strength(idx) * _norms(w, None)[0, 0]

    def block_dist(self, w, g, idx):
        return _block_dist(w, g, self._strength(idx), None)

    def block_dual_ratio(self, u, idx):
        return _block_ratio(u, self._strength(idx), None)

    def block_conjugate(self, u, idx):
        return jnp.zeros((), u.dtype)


def group_l2(
    reg: Any = 1.0,
    *,
    axis: int | tuple[int, ...] | None = None,
    weights: Any = None,
    whole_tree: bool = False,
) -> GroupL2:
    r"""Group lasso (Yuan & Lin 2006): ``g(x) = reg * sum_groups w_g ||x_g||_2``.

    Groups: with ``axis=None`` (the default) each leaf of the parameters is
    one group. With ``whole_tree=True`` the whole pytree is one group,
    ``g(x) = reg * sqrt(sum_leaves ||x_leaf||^2)`` (jaxopt's
    ``prox_group_lasso`` convention; for a single array both are the same).
    With
    ``axis`` an int or tuple of ints, the Euclidean norm runs over those axes
    (as in ``jnp.linalg.norm(x, axis=axis)``) and the remaining axes index
    the groups: for a ``(n_features, n_tasks)`` matrix, ``axis=1`` makes each
    row one group (the l2,1 norm of ``MultiTaskLasso``); ``axis=0`` makes each
    column one group. Every leaf must have that axis (give leaves different
    penalties with :func:`~gradopt.prox.separable`).

    Prox (block soft thresholding; Parikh & Boyd 2014, sec. 6.5.4)::

        prox(v, s)_g = max(0, 1 - s reg w_g / ||v_g||) v_g

    ``subdiff_distance``: yes.

    Args:
      reg: ``>= 0``; a scalar, or a pytree prefix of the parameters with one
        scalar per leaf (a scalar with ``whole_tree``). May be traced.
      axis: the axes the norm runs over (static; ``None``: the whole leaf).
      weights: optional per-group weights ``w_g >= 0``: a pytree prefix of
        the parameters whose leaves broadcast to the group shape (the leaf's
        shape without ``axis``); the common choice ``w_g = sqrt(|g|)`` is
        ``weights=jnp.sqrt(n_tasks)`` for row groups. Default 1. Not used
        with ``whole_tree`` (scale ``reg`` instead).
      whole_tree: one group for the whole pytree (static). Excludes ``axis``
        and ``weights``.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> W = jnp.array([[3.0, 4.0], [0.3, 0.4]])
        >>> gradopt.prox.group_l2(1.0, axis=1).prox(W, 1.0)   # rows of norm 5 and 0.5
        Array([[2.4, 3.2],
               [0. , 0. ]], dtype=float32)
        >>> tree = {"a": jnp.array([3.0]), "b": jnp.array([4.0])}   # one group of norm 5
        >>> gradopt.prox.group_l2(1.0, whole_tree=True).prox(tree, 1.0)
        {'a': Array([2.4], dtype=float32), 'b': Array([3.2], dtype=float32)}
    """
    check_reg("reg", reg, scalar=True)
    if not isinstance(whole_tree, bool):
        raise TypeError(f"whole_tree must be True or False, got {whole_tree!r}.")
    if whole_tree:
        if axis is not None or weights is not None:
            raise ValueError(
                "whole_tree=True makes the whole pytree one group: axis and weights must be None "
                f"(got axis={axis!r}, weights={'given' if weights is not None else None})."
            )
        if len(jax.tree_util.tree_leaves(reg)) != 1 or np.ndim(jax.tree_util.tree_leaves(reg)[0]) != 0:
            raise ValueError(f"reg must be a single scalar with whole_tree=True, got {reg!r}.")
        return GroupL2(reg, None, None, True)
    if axis is not None:
        axis = _normalize_axis(axis)
    if weights is not None:
        check_reg("weights", weights)
    return GroupL2(reg, weights, axis)


def _is_int(a) -> bool:
    return isinstance(a, (int, np.integer)) and not isinstance(a, bool)


def _normalize_axis(axis):
    if _is_int(axis):
        return int(axis)
    if isinstance(axis, (tuple, list)) and len(axis) > 0 and all(_is_int(a) for a in axis):
        return tuple(int(a) for a in axis)
    raise ValueError(f"axis must be None, an int or a non-empty tuple of ints, got {axis!r}.")
