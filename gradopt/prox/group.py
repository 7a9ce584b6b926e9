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
    polar_ratio,
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

    def alpha_max(self, grad):
        """``max_g ||grad_g|| / (reg w_g)`` over the groups of positive strength; see
        :meth:`gradopt.prox.Penalty.alpha_max`."""
        if self.whole_tree:
            return polar_ratio(self._tree_norm(grad), self.reg)
        _, groups = self._groups(grad)
        return jnp.max(jnp.stack([
            polar_ratio(_safe_sqrt(jnp.sum(g * g, axis=axes, keepdims=True)), t)
            for g, axes, t in groups]))

    # Block protocol of the GLM engine (gradopt.problems.engine): blocks are rows
    # of a (p, k) coefficient matrix, i.e. axis=1 row groups (multitask problems).

    @property
    def row_groups(self) -> bool:
        """Whether the groups are the rows of a ``(p, k)`` matrix (``axis=1``), the only
        layout whose groups the GLM engine's blocks can hold."""
        return not self.whole_tree and self.axis in (1, -1, (1,), (-1,))

    def _row_strength(self, idx):
        if not self.row_groups:
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


@penalty_class(static=("labels",))
class IndexGroupsL2(Penalty):
    r"""``g(w) = reg sum_g weights_g ||w_g||_2`` over groups of indices of the first axis of
    one array ``w`` (``(p,)``, or ``(p, k)``: groups of rows); see :func:`group_l2`.
    ``labels`` (static): the group of each index, groups numbered from 0."""

    reg: Any
    weights: Any
    labels: tuple = ()

    @property
    def groups(self) -> list[np.ndarray]:
        """The groups as index arrays, in group order."""
        return _groups_from_labels(np.asarray(self.labels), len(self.labels))

    def _per_group(self, v):
        """The sum of ``v`` over each group's rows (all entries of a row)."""
        return jax.ops.segment_sum(jnp.sum(v.reshape(v.shape[0], -1), axis=1),
                                   jnp.asarray(self.labels, jnp.int32),
                                   num_segments=max(self.labels) + 1)

    def _thresholds(self, dtype):
        """``reg weights_g`` per group."""
        m = max(self.labels) + 1
        w = jnp.ones(m, dtype) if self.weights is None else jnp.asarray(self.weights, dtype)
        return jnp.asarray(self.reg, dtype) * w

    def _parts(self, params):
        """``(x, squared norm per group, threshold per group)`` (no step)."""
        leaves = jax.tree_util.tree_leaves(params)
        if len(leaves) != 1 or jnp.ndim(leaves[0]) == 0 or \
                jnp.shape(leaves[0])[0] != len(self.labels):
            raise ValueError(
                f"group_l2(groups=...) applies to one array whose first axis has the "
                f"{len(self.labels)} grouped indices, got {jax.tree_util.tree_structure(params)} "
                f"with shapes {[jnp.shape(x) for x in leaves]}.")
        x = jnp.asarray(leaves[0])
        return x, self._per_group(x * x), self._thresholds(x.dtype)

    def _rows(self, per_group, x):
        """A per-group array read at each index, shaped to broadcast against ``x``."""
        return per_group[jnp.asarray(self.labels, jnp.int32)].reshape((-1,) + (1,) * (x.ndim - 1))

    def value(self, params):
        _, sq, t = self._parts(params)
        return jnp.sum(t * _safe_sqrt(sq))

    def prox(self, params, step=1.0):
        x, sq, t = self._parts(params)
        norms, thr = _safe_sqrt(sq), step * t
        keep = norms > thr
        factor = jnp.where(keep, 1.0 - thr / jnp.where(keep, norms, 1.0), 0.0)
        out = (self._rows(factor, x) * x).astype(x.dtype)
        return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(params), [out])

    def subdiff_distance(self, params, grad):
        r"""``dist(-grad, dg(w))``: per group ``||grad_g + t_g w_g / ||w_g|| ||``, or
        ``max(||grad_g|| - t_g, 0)`` where ``w_g = 0``."""
        x, sq, t = self._parts(params)
        g = jnp.asarray(jax.tree_util.tree_leaves(grad)[0])
        nonzero = sq > 0
        unit = x / self._rows(jnp.where(nonzero, jnp.sqrt(jnp.where(nonzero, sq, 1.0)), 1.0), x)
        off = self._per_group((g + self._rows(t, x) * unit) ** 2)
        at_zero = jnp.maximum(_safe_sqrt(self._per_group(g * g)) - t, 0.0) ** 2
        return _safe_sqrt(jnp.sum(jnp.where(nonzero, off, at_zero)))

    def alpha_max(self, grad):
        """``max_g ||grad_g|| / (reg weights_g)`` over the groups of positive strength; see
        :meth:`gradopt.prox.Penalty.alpha_max`."""
        _, sq, t = self._parts(grad)
        return polar_ratio(_safe_sqrt(sq), t)

    def engine_blocks(self, p: int):
        """For :func:`gradopt.glm`: ``(FeatureGroupsL2 with each feature's strength
        reg weights_g, the groups as index arrays)``, the engine's blocks."""
        if p != len(self.labels):
            raise ValueError(f"group_l2(groups=...) groups {len(self.labels)} features; X has "
                             f"{p}.")
        strength = self._thresholds(jnp.result_type(float))[jnp.asarray(self.labels, jnp.int32)]
        return FeatureGroupsL2(strength), self.groups


def group_l2(
    reg: Any = 1.0,
    *,
    axis: int | tuple[int, ...] | None = None,
    weights: Any = None,
    whole_tree: bool = False,
    groups: Any = None,
) -> GroupL2 | IndexGroupsL2:
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
      groups: index groups of the first axis of one array (features of a
        ``(p,)`` vector, or rows of a ``(p, k)`` matrix): a list of index
        arrays partitioning ``range(p)``, or one label per index. Then
        ``g(w) = reg sum_g weights_g ||w_g||_2`` with ``weights`` one per
        group (default 1; ``np.sqrt(sizes)`` is Yuan & Lin's choice, the
        default of :func:`gradopt.group_lasso`). :func:`gradopt.glm` solves
        it with the groups as blocks, for any datafit. Excludes ``axis`` and
        ``whole_tree``.

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
    if groups is not None:
        if axis is not None or whole_tree:
            raise ValueError("groups excludes axis and whole_tree: index groups run over the "
                             "first axis of one array.")
        return _index_groups(reg, weights, groups)
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


def _index_groups(reg, weights, groups) -> IndexGroupsL2:
    if isinstance(groups, (list, tuple)) and groups and all(np.ndim(g) == 1 for g in groups):
        # index arrays: they must partition range(p), p = the largest index + 1
        p = int(max((np.max(g) for g in groups if len(g)), default=-1)) + 1
    else:
        p = len(groups) if isinstance(groups, (list, tuple)) or np.ndim(groups) == 1 else 0
    glist = parse_groups(groups, p)
    labels = np.empty(p, np.int64)
    for k, idx in enumerate(glist):
        labels[idx] = k
    if weights is not None:
        check_reg("weights", weights)
        if np.shape(weights) not in ((), (len(glist),)):
            raise ValueError(f"weights must be a scalar or one per group, shape "
                             f"({len(glist)},); got shape {np.shape(weights)}.")
    return IndexGroupsL2(reg, weights, tuple(labels.tolist()))


def parse_groups(groups: Any, p: int) -> list[np.ndarray]:
    """Groups as a list of index arrays that partition ``range(p)``."""
    if groups is None:
        raise ValueError("groups must be given: a list of index arrays or one label per feature.")
    if isinstance(groups, (int, np.integer)) and not isinstance(groups, bool):
        raise TypeError(
            "groups must be a list of index arrays or an array of one label per "
            f"feature, got the int {groups}."
        )
    if isinstance(groups, (np.ndarray, jax.Array)) and np.ndim(groups) == 1:
        labels = np.asarray(groups)
        return _groups_from_labels(labels, p)
    if not isinstance(groups, (list, tuple)):
        raise TypeError(
            "groups must be a list of index arrays or an array of one label per "
            f"feature, got {type(groups).__name__}."
        )
    if len(groups) == 0:
        raise ValueError("groups is empty: give at least one group (a list of index arrays or one label per feature).")
    scalar = [np.ndim(g) == 0 for g in groups]
    if all(scalar):
        return _groups_from_labels(np.asarray(groups), p)
    if any(scalar):
        raise ValueError(
            "groups mixes scalars and sequences: give either a list of index "
            "arrays or one label per feature."
        )
    out = []
    for k, g in enumerate(groups):
        idx = np.asarray(g)
        if idx.ndim != 1:
            raise ValueError(f"groups[{k}] must be a 1-D array of feature indices, got shape {idx.shape}.")
        if idx.size == 0:
            raise ValueError(f"groups[{k}] is empty; every group needs at least one feature.")
        if not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"groups[{k}] must contain integer feature indices, got dtype {idx.dtype}.")
        out.append(idx.astype(np.int64))
    allidx = np.concatenate(out)
    if allidx.min() < 0 or allidx.max() >= p:
        k = next(k for k, g in enumerate(out) if g.min() < 0 or g.max() >= p)
        raise ValueError(f"groups[{k}] has feature indices outside [0, {p - 1}].")
    counts = np.bincount(allidx, minlength=p)
    if np.any(counts > 1):
        raise ValueError(
            f"groups overlap: features {np.flatnonzero(counts > 1)[:10].tolist()} appear more "
            "than once; each feature must belong to exactly one group."
        )
    if np.any(counts == 0):
        missing = np.flatnonzero(counts == 0)
        raise ValueError(
            f"groups must partition the {p} features; features {missing[:10].tolist()}"
            f"{'...' if missing.size > 10 else ''} are in no group (put each in a group, "
            "e.g. a singleton group)."
        )
    return out


def _groups_from_labels(labels: np.ndarray, p: int) -> list[np.ndarray]:
    if labels.shape != (p,):
        raise ValueError(
            f"groups given as labels must have one label per feature, shape ({p},); got {labels.shape}."
        )
    if labels.dtype == object:
        raise TypeError("groups labels must be numbers or strings of one type.")
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    return np.split(order.astype(np.int64), np.cumsum(counts)[:-1])


def _is_int(a) -> bool:
    return isinstance(a, (int, np.integer)) and not isinstance(a, bool)


def _normalize_axis(axis):
    if _is_int(axis):
        return int(axis)
    if isinstance(axis, (tuple, list)) and len(axis) > 0 and all(_is_int(a) for a in axis):
        return tuple(int(a) for a in axis)
    raise ValueError(f"axis must be None, an int or a non-empty tuple of ints, got {axis!r}.")
