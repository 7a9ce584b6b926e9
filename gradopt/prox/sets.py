r"""Indicator functions of convex sets: their prox is the Euclidean projection.

``g = i_C``: ``value(x) = 0`` when ``x`` is in ``C`` and ``+inf`` otherwise,
``prox(v, s) = P_C(v)`` for every step ``s > 0``. The projections are
optax's (``optax.projections``). Sets are sets of whole pytrees: ``l1_ball``,
``l2_ball``, ``linf_ball`` and ``simplex`` constrain the norm / sum over all
coordinates of the pytree together (give leaves their own sets with
:func:`~gradopt.prox.separable`), ``nonnegative`` and ``box`` are
coordinate-wise.

Membership tolerance: ``value`` accepts points outside ``C`` by at most a
relative ``sqrt(eps)`` of the parameters' dtype (about 3.5e-4 in float32,
1.5e-8 in float64), so rounding in a projection never gives ``inf``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gradopt._validation import check_scalar, is_traced
from gradopt.prox.base import (
    Penalty,
    align_to_params,
    broadcast_to_params,
    penalty_class,
    set_rtol,
    tree_dtype,
    tree_norm_from_squares,
    tree_sum,
)

_INF = float("inf")


def _astype_like(new, old):
    return jax.tree_util.tree_map(lambda n, o: jnp.asarray(n).astype(jnp.asarray(o).dtype), new, old)


def _widened(tree):
    """Leaves in JAX's default float (float64 under ``jax_enable_x64``): optax's sort-based
    projections promote float32 to it inside, and their custom JVP rules then return a
    float32 tangent for a float64 primal, which JAX rejects (a derivative through the
    prox, e.g. :func:`gradopt.minimize`'s implicit differentiation, raised ``TypeError``).
    Computing in the wide type throughout and casting back avoids the mismatch."""
    wide = jnp.result_type(float)
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x).astype(wide), tree)


@jax.jit
def project_simplex(tree, total):
    """``optax.projections.projection_simplex``, jitted, keeping the leaves' dtypes.

    Under ``jax_enable_x64`` optax's simplex projection returns float64 for
    float32 input (integer divisions inside); the result is cast back.
    ``jit`` makes eager calls hit the compilation cache (inside an outer
    ``jit``/``vmap`` it is inlined).
    """
    return _astype_like(optax.projections.projection_simplex(_widened(tree), _widened(total)),
                        tree)


@jax.jit
def project_l1_ball(tree, radius):
    """Projection onto ``{x : ||x||_1 <= radius}`` over the whole pytree, keeping dtypes.

    ``optax.projections.projection_l1_ball`` branches between the identity and
    ``projection_l1_sphere``; with float32 leaves under ``jax_enable_x64`` the
    branches' dtypes differ and its ``lax.cond`` fails, so the branch is taken
    here around optax's l1-sphere projection (same algorithm), cast back.
    """
    norm = sum(jnp.sum(jnp.abs(x)) for x in jax.tree_util.tree_leaves(tree))
    return jax.lax.cond(
        norm <= radius,
        lambda t: t,
        lambda t: _astype_like(
            optax.projections.projection_l1_sphere(_widened(t), _widened(radius)), t),
        tree,
    )


def _indicator(inside, dtype):
    return jnp.where(inside, jnp.zeros([], dtype), jnp.asarray(_INF, dtype))


def _all(bools):
    out = jnp.asarray(True)
    for b in bools:
        out = out & jnp.all(b)
    return out


def _cast(value, dtype):
    return jnp.asarray(value).astype(dtype)


def _max_abs(params):
    leaves = jax.tree_util.tree_leaves(params)
    return jnp.max(jnp.stack([jnp.max(jnp.abs(x), initial=0.0) for x in leaves]))


@jax.jit
def simplex_threshold(u, total):
    r"""``tau`` with ``sum_j max(u_j - tau, 0) = total`` along the last axis of ``u``.

    The sort-based rule of Held, Wolfe & Crowder (1974) (Condat 2016,
    Algorithm 1): sort descending, ``rho`` the largest ``k`` with
    ``u_(k) > (sum_{j<=k} u_(j) - total) / k``, ``tau`` that ratio at ``rho``.
    ``total`` broadcasts to ``u.shape[:-1]``. ``max(u - tau, 0)`` is the
    projection of each row onto the simplex of that total.
    """
    u = jnp.asarray(u)
    srt = -jnp.sort(-u, axis=-1)
    css = jnp.cumsum(srt, axis=-1) - jnp.asarray(total, u.dtype)[..., None]
    k = jnp.arange(1, u.shape[-1] + 1, dtype=u.dtype)
    rho = jnp.sum(srt - css / k > 0, axis=-1, keepdims=True)
    rho = jnp.maximum(rho, 1)
    return (jnp.take_along_axis(css, rho - 1, axis=-1) / rho.astype(u.dtype))[..., 0]


def _normalize_axis(axis):
    if axis is None:
        return None
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
        return int(axis)
    if (
        isinstance(axis, (tuple, list)) and len(axis) > 0
        and all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axis)
    ):
        return tuple(int(a) for a in axis)
    raise ValueError(f"axis must be None, an int or a non-empty tuple of ints, got {axis!r}.")


def _leaf_axes(axis, x, path="<root>"):
    """``axis`` (int or tuple) as a sorted tuple of non-negative axes of ``x``."""
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    nd = jnp.ndim(x)
    for a in axes:
        if not -nd <= a < nd:
            raise ValueError(
                f"axis={axis!r} is out of range for the parameter at {path} of shape "
                f"{jnp.shape(x)}; every leaf needs that axis (use gradopt.prox.separable "
                f"to give leaves different sets)."
            )
    return tuple(sorted({a % nd for a in axes}))


def _per_slice(name, value, x, axes, path="<root>"):
    """``value`` (one entry per slice: broadcastable to the shape of ``x`` without
    ``axes``) expanded to ``x``'s rank with size-1 ``axes``."""
    gshape = tuple(d for i, d in enumerate(jnp.shape(x)) if i not in axes)
    try:
        ok = np.broadcast_shapes(np.shape(value), gshape) == gshape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"{name} must be a scalar or broadcast to the slice shape {gshape} (the shape "
            f"{jnp.shape(x)} of the parameter at {path} without axis {axes}), got shape "
            f"{np.shape(value)}."
        )
    return jnp.expand_dims(jnp.broadcast_to(jnp.asarray(value), gshape), axes)


def _slices_last(x, axes):
    """``x`` with ``axes`` moved to the end and merged: ``(*slice_shape, m)``, and the inverse."""
    dst = tuple(range(x.ndim - len(axes), x.ndim))
    moved = jnp.moveaxis(x, axes, dst)
    lead = moved.shape[: x.ndim - len(axes)]
    flat = moved.reshape(lead + (-1,))
    return flat, lambda y: jnp.moveaxis(y.reshape(moved.shape), dst, axes)


def _leaves_with_paths(params):
    flat, treedef = jax.tree_util.tree_flatten_with_path(params)
    return treedef, [(jax.tree_util.keystr(p) or "<root>", jnp.asarray(x)) for p, x in flat]


def _map_slices(params, fn):
    """Apply ``fn(path, x)`` to every leaf, rebuilding the tree."""
    treedef, items = _leaves_with_paths(params)
    return jax.tree_util.tree_unflatten(treedef, [fn(p, x) for p, x in items])


# --------------------------------------------------------------------------- orthant, box


@penalty_class
class Nonnegative(Penalty):
    r"""Indicator of ``{x : x >= 0}`` (see :func:`nonnegative`)."""

    is_indicator = True

    def value(self, params):
        dt = tree_dtype(params)
        tol = set_rtol(dt) * jnp.maximum(1.0, _max_abs(params))
        return _indicator(_all(x >= -tol for x in jax.tree_util.tree_leaves(params)), dt)

    def prox(self, params, step=1.0):
        del step
        return optax.projections.projection_non_negative(params)

    def subdiff_distance(self, params, grad):
        r"""``dist(-grad, N(x))``: ``|grad_i|`` where ``x_i > 0``, ``max(-grad_i, 0)`` where ``x_i = 0``.

        ``+inf`` outside the orthant (beyond the tolerance).
        """
        sq = []
        for x, g in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(grad)):
            d = jnp.where(x > 0, jnp.abs(g), jnp.maximum(-g, 0.0))
            sq.append(jnp.sum(d * d))
        return jnp.where(jnp.isfinite(self.value(params)), tree_norm_from_squares(sq), _INF)


def nonnegative() -> Nonnegative:
    r"""The non-negative orthant ``{x : x_i >= 0 for all i}`` (indicator).

    Prox: ``P(v) = max(v, 0)`` (``optax.projections.projection_non_negative``).
    ``subdiff_distance``: yes (distance of ``-grad`` to the normal cone:
    ``N(x) = {u : u_i <= 0, u_i = 0 where x_i > 0}``).

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.nonnegative().prox(jnp.array([1.0, -2.0]))
        Array([1., 0.], dtype=float32)
    """
    return Nonnegative()


@penalty_class(static=("axis",))
class Box(Penalty):
    r"""Indicator of ``{x : lower <= x <= upper}`` (see :func:`box`)."""

    lower: Any
    upper: Any
    axis: Any = None
    is_indicator = True

    def _bounds(self, params):
        if self.axis is None:
            treedef, lo = align_to_params("lower", self.lower, params)
            _, hi = align_to_params("upper", self.upper, params)
            return treedef, [(x, l_, h_) for (_, x, l_), (_, _, h_) in zip(lo, hi)]
        treedef, items = _leaves_with_paths(params)
        los = treedef.flatten_up_to(broadcast_to_params("lower", self.lower, params))
        his = treedef.flatten_up_to(broadcast_to_params("upper", self.upper, params))
        out = []
        for (path, x), lo, hi in zip(items, los, his):
            axes = _leaf_axes(self.axis, x, path)
            out.append((x, _per_slice("lower", lo, x, axes, path), _per_slice("upper", hi, x, axes, path)))
        return treedef, out

    def value(self, params):
        _, items = self._bounds(params)
        dt = tree_dtype(params)
        rtol = set_rtol(dt)
        inside = _all(
            (x >= lo - rtol * (1.0 + jnp.abs(lo))) & (x <= hi + rtol * (1.0 + jnp.abs(hi)))
            for x, lo, hi in items
        )
        return _indicator(inside, dt)

    def prox(self, params, step=1.0):
        del step
        treedef, items = self._bounds(params)
        lower = jax.tree_util.tree_unflatten(treedef, [jnp.broadcast_to(lo, jnp.shape(x)) for x, lo, _ in items])
        upper = jax.tree_util.tree_unflatten(treedef, [jnp.broadcast_to(hi, jnp.shape(x)) for x, _, hi in items])
        return _astype_like(optax.projections.projection_box(params, lower, upper), params)

    def subdiff_distance(self, params, grad):
        r"""``dist(-grad, N(x))`` for the box's normal cone.

        Coordinate-wise: ``|grad_i|`` strictly inside, ``max(-grad_i, 0)`` at
        ``x_i = lower_i``, ``max(grad_i, 0)`` at ``x_i = upper_i``, 0 where
        ``lower_i = upper_i``; ``+inf`` outside the box (beyond the tolerance).
        """
        _, items = self._bounds(params)
        sq = []
        for (x, lo, hi), g in zip(items, jax.tree_util.tree_leaves(grad)):
            at_lo, at_hi = x <= lo, x >= hi
            d = jnp.where(
                at_lo & at_hi, 0.0,
                jnp.where(at_lo, jnp.maximum(-g, 0.0), jnp.where(at_hi, jnp.maximum(g, 0.0), jnp.abs(g))),
            )
            sq.append(jnp.sum(d * d))
        return jnp.where(jnp.isfinite(self.value(params)), tree_norm_from_squares(sq), _INF)


def _check_bound(name, tree):
    leaves = jax.tree_util.tree_leaves(tree)
    if not leaves:
        raise ValueError(f"{name} must be a number, an array or a pytree of them, got {tree!r}.")
    for leaf in leaves:
        if is_traced(leaf):
            continue
        try:
            arr = np.asarray(leaf, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be numbers (or arrays of them), got {leaf!r}.") from None
        if np.any(np.isnan(arr)):
            raise ValueError(f"{name} must not contain NaN (use -inf/inf for no bound).")


def _bound_pairs(lower, upper):
    """Matching (lower, upper) leaves, broadcasting whichever is a prefix of the other."""
    leaves = jax.tree_util.tree_leaves
    try:
        return list(zip(leaves(jax.tree.broadcast(lower, upper)), leaves(upper)))
    except (ValueError, TypeError):
        pass
    try:
        return list(zip(leaves(lower), leaves(jax.tree.broadcast(upper, lower))))
    except (ValueError, TypeError):
        raise ValueError(
            "lower and upper must be single values or pytrees one of which is a prefix of the "
            f"other, got structures {jax.tree_util.tree_structure(lower)} and "
            f"{jax.tree_util.tree_structure(upper)}."
        ) from None


def _check_order(lower, upper):
    for lo, hi in _bound_pairs(lower, upper):
        if is_traced(lo) or is_traced(hi):
            continue
        lo, hi = np.asarray(lo, float), np.asarray(hi, float)
        try:
            gap = np.broadcast_arrays(lo, hi)
        except ValueError:
            raise ValueError(
                f"lower and upper must broadcast together, got shapes {lo.shape} and {hi.shape}."
            ) from None
        if np.any(gap[0] > gap[1]):
            i = np.flatnonzero(gap[0] > gap[1])[0]
            raise ValueError(
                "lower must be <= upper everywhere (else the box is empty), got lower = "
                f"{gap[0].flat[i]} > upper = {gap[1].flat[i]}."
            )
        if np.any(lo == _INF) or np.any(hi == -_INF):
            raise ValueError("lower must be < +inf and upper > -inf (else the box is empty).")


def box(lower: Any = -_INF, upper: Any = _INF, *, axis: int | tuple[int, ...] | None = None) -> Box:
    r"""The box ``{x : lower <= x <= upper}`` (indicator).

    Prox: ``P(v) = clip(v, lower, upper)``
    (``optax.projections.projection_box``). ``subdiff_distance``: yes
    (normal cone of the box, coordinate-wise).

    Args:
      lower, upper: scalars, or pytree prefixes of the parameters with
        per-leaf scalars or per-coordinate arrays; ``-inf``/``inf`` for no
        bound. ``lower <= upper`` everywhere (checked for concrete values;
        traced bounds are not checked). NaN is rejected.
      axis: ``None`` (default): bounds broadcast to each leaf's shape as
        above. An int or tuple of ints: one bound per slice along ``axis``,
        as for the other sets: the bounds broadcast to the leaf's shape
        without ``axis`` (``box(lo, hi, axis=1)`` with ``lo`` of shape
        ``(m,)`` bounds row ``i`` of an ``(m, n)`` matrix by ``lo[i]``).
        The projection is still a clip.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.box(0.0, 1.0).prox(jnp.array([-0.5, 0.3, 2.0]))
        Array([0. , 0.3, 1. ], dtype=float32)
    """
    _check_bound("lower", lower)
    _check_bound("upper", upper)
    _check_order(lower, upper)
    return Box(lower, upper, _normalize_axis(axis))


# --------------------------------------------------------------------------- balls, simplex


def _check_radius(name, radius, axis=None):
    if axis is None:
        check_scalar(name, radius, low=0.0, low_inclusive=False)
        return
    for leaf in jax.tree_util.tree_leaves(radius):
        if is_traced(leaf):
            continue
        try:
            arr = np.asarray(leaf, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a number or an array of numbers, got {leaf!r}.") from None
        if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise ValueError(f"{name} must be finite and > 0 everywhere, got {leaf!r}.")


class _SliceSet(Penalty):
    """Shared ``axis`` handling: with ``axis=None`` the set is over the whole
    pytree; with ``axis`` set, every slice along ``axis`` of every leaf is
    constrained on its own, with a per-slice parameter (``radius``/``total``)."""

    is_indicator = True
    _param = "radius"

    def _slices(self, params):
        """Per leaf: (x, axes, parameter with keepdims shape)."""
        treedef, items = _leaves_with_paths(params)
        values = treedef.flatten_up_to(broadcast_to_params(self._param, getattr(self, self._param), params))
        out = []
        for (path, x), r in zip(items, values):
            axes = _leaf_axes(self.axis, x, path)
            out.append((x, axes, _per_slice(self._param, r, x, axes, path).astype(tree_dtype(x))))
        return treedef, out

    def value(self, params):
        dt = tree_dtype(params)
        if self.axis is None:
            return _indicator(self._whole_inside(params, set_rtol(dt)), dt)
        _, items = self._slices(params)
        return _indicator(_all(self._slice_inside(x, ax, r, set_rtol(dt)) for x, ax, r in items), dt)

    def prox(self, params, step=1.0):
        del step
        if self.axis is None:
            return self._whole_prox(params, _cast(getattr(self, self._param), tree_dtype(params)))
        treedef, items = self._slices(params)
        return jax.tree_util.tree_unflatten(
            treedef, [self._slice_prox(x, ax, r).astype(x.dtype) for x, ax, r in items]
        )


def _sort_based(x, axes, r, fn):
    """``fn(rows, r_rows)`` on the slices along ``axes`` moved last and merged."""
    rows, back = _slices_last(x, axes)
    return back(fn(rows, jnp.squeeze(r, axes)))


@penalty_class(static=("axis",))
class L1Ball(_SliceSet):
    r"""Indicator of ``{x : ||x||_1 <= radius}`` (see :func:`l1_ball`)."""

    radius: Any
    axis: Any = None

    def _whole_inside(self, params, rtol):
        norm = tree_sum([jnp.sum(jnp.abs(x)) for x in jax.tree_util.tree_leaves(params)])
        return norm <= self.radius * (1.0 + rtol)

    def _slice_inside(self, x, axes, r, rtol):
        return jnp.sum(jnp.abs(x), axis=axes, keepdims=True) <= r * (1.0 + rtol)

    def _whole_prox(self, params, r):
        return project_l1_ball(params, r)

    def _slice_prox(self, x, axes, r):
        def rows(v, rad):
            a = jnp.abs(v)
            tau = jnp.maximum(simplex_threshold(a, rad), 0.0)
            return jnp.sign(v) * jnp.maximum(a - tau[..., None], 0.0)

        return _sort_based(x, axes, r, rows)


def l1_ball(radius: Any = 1.0, *, axis: int | tuple[int, ...] | None = None) -> L1Ball:
    r"""The l1 ball ``{x : sum_i |x_i| <= radius}`` over the whole pytree (indicator).

    Prox: ``optax.projections.projection_l1_ball`` (sort-based projection
    onto the simplex of ``|v|``, Duchi et al. 2008; Condat 2016 reviews the
    algorithms): ``P(v)_i = sign(v_i) max(|v_i| - theta, 0)`` with ``theta >= 0``
    the smallest value giving ``||P(v)||_1 <= radius``. With ``axis``, one
    ``theta`` per slice (:func:`simplex_threshold` on the rows).
    ``subdiff_distance``: no (use ``residual``).

    Args:
      radius: scalar ``> 0``. May be traced.
      axis: ``None`` (default): one set for the whole pytree. An int or a
        tuple of ints: every slice along ``axis`` of every leaf is its own
        set (``axis=1``: each row of a matrix; ``axis=0``: each column), and
        ``radius`` may then be an array with one value per slice (broadcast to
        the leaf's shape without ``axis``). Static.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.l1_ball(1.0).prox(jnp.array([2.0, 0.5]))
        Array([1., 0.], dtype=float32)
        >>> gradopt.prox.l1_ball(1.0, axis=1).prox(jnp.array([[2.0, 0.5], [0.2, -0.3]]))
        Array([[ 1. ,  0. ],
               [ 0.2, -0.3]], dtype=float32)
    """
    axis = _normalize_axis(axis)
    _check_radius("radius", radius, axis)
    return L1Ball(radius, axis)


@penalty_class(static=("axis",))
class L2Ball(_SliceSet):
    r"""Indicator of ``{x : ||x||_2 <= radius}`` (see :func:`l2_ball`)."""

    radius: Any
    axis: Any = None

    def _whole_inside(self, params, rtol):
        sq = tree_sum([jnp.sum(x * x) for x in jax.tree_util.tree_leaves(params)])
        return sq <= (self.radius * (1.0 + rtol)) ** 2

    def _slice_inside(self, x, axes, r, rtol):
        return jnp.sum(x * x, axis=axes, keepdims=True) <= (r * (1.0 + rtol)) ** 2

    def _whole_prox(self, params, r):
        return _astype_like(optax.projections.projection_l2_ball(params, r), params)

    def _slice_prox(self, x, axes, r):
        norm = jnp.sqrt(jnp.sum(x * x, axis=axes, keepdims=True))
        return x * (r / jnp.maximum(norm, r))


def l2_ball(radius: Any = 1.0, *, axis: int | tuple[int, ...] | None = None) -> L2Ball:
    r"""The Euclidean ball ``{x : ||x||_2 <= radius}`` over the whole pytree (indicator).

    Prox: ``P(v) = v * radius / max(||v||_2, radius)``
    (``optax.projections.projection_l2_ball``; with ``axis``, the norm of
    each slice). ``subdiff_distance``: no (use ``residual``).

    Args:
      radius: scalar ``> 0``. May be traced.
      axis: ``None`` (default): one set for the whole pytree. An int or a
        tuple of ints: every slice along ``axis`` of every leaf is its own
        set (``axis=1``: each row of a matrix; ``axis=0``: each column), and
        ``radius`` may then be an array with one value per slice (broadcast to
        the leaf's shape without ``axis``). Static.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.l2_ball(1.0).prox(jnp.array([3.0, 4.0]))
        Array([0.6, 0.8], dtype=float32)
        >>> gradopt.prox.l2_ball(1.0, axis=1).prox(jnp.array([[3.0, 4.0], [0.3, 0.4]]))
        Array([[0.6, 0.8],
               [0.3, 0.4]], dtype=float32)
    """
    axis = _normalize_axis(axis)
    _check_radius("radius", radius, axis)
    return L2Ball(radius, axis)


@penalty_class(static=("axis",))
class LinfBall(_SliceSet):
    r"""Indicator of ``{x : max_i |x_i| <= radius}`` (see :func:`linf_ball`)."""

    radius: Any
    axis: Any = None

    def _whole_inside(self, params, rtol):
        return _max_abs(params) <= self.radius * (1.0 + rtol)

    def _slice_inside(self, x, axes, r, rtol):
        return jnp.abs(x) <= r * (1.0 + rtol)

    def _whole_prox(self, params, r):
        return _astype_like(optax.projections.projection_linf_ball(params, r), params)

    def _slice_prox(self, x, axes, r):
        return jnp.clip(x, -r, r)


def linf_ball(radius: Any = 1.0, *, axis: int | tuple[int, ...] | None = None) -> LinfBall:
    r"""The l-infinity ball ``{x : max_i |x_i| <= radius}`` (indicator).

    Prox: ``P(v) = clip(v, -radius, radius)``
    (``optax.projections.projection_linf_ball``). The constraint set of
    l-infinity adversarial examples (``x`` the perturbation of an input).
    The set is a product of intervals, so ``axis`` only matters through a
    per-slice ``radius`` (e.g. one radius per row).
    ``subdiff_distance``: no (use ``residual``).

    Args:
      radius: scalar ``> 0``. May be traced.
      axis: ``None`` (default): one set for the whole pytree. An int or a
        tuple of ints: every slice along ``axis`` of every leaf is its own
        set (``axis=1``: each row of a matrix; ``axis=0``: each column), and
        ``radius`` may then be an array with one value per slice (broadcast to
        the leaf's shape without ``axis``). Static.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.linf_ball(0.1).prox(jnp.array([0.5, -0.05]))
        Array([ 0.1 , -0.05], dtype=float32)
    """
    axis = _normalize_axis(axis)
    _check_radius("radius", radius, axis)
    return LinfBall(radius, axis)


@penalty_class(static=("axis",))
class Simplex(_SliceSet):
    r"""Indicator of ``{x : x >= 0, sum_i x_i = total}`` (see :func:`simplex`)."""

    total: Any
    axis: Any = None
    _param = "total"

    def _whole_inside(self, params, rtol):
        leaves = jax.tree_util.tree_leaves(params)
        s = tree_sum([jnp.sum(x) for x in leaves])
        l1n = tree_sum([jnp.sum(jnp.abs(x)) for x in leaves])
        nonneg = _all(x >= -rtol * self.total for x in leaves)
        return nonneg & (jnp.abs(s - self.total) <= rtol * (self.total + l1n))

    def _slice_inside(self, x, axes, t, rtol):
        s = jnp.sum(x, axis=axes, keepdims=True)
        l1n = jnp.sum(jnp.abs(x), axis=axes, keepdims=True)
        return jnp.all(x >= -rtol * t) & jnp.all(jnp.abs(s - t) <= rtol * (t + l1n))

    def _whole_prox(self, params, t):
        return project_simplex(params, t)

    def _slice_prox(self, x, axes, t):
        return _sort_based(x, axes, t, lambda v, tt: jnp.maximum(v - simplex_threshold(v, tt)[..., None], 0.0))


def simplex(total: Any = 1.0, *, axis: int | tuple[int, ...] | None = None) -> Simplex:
    r"""The simplex ``{x : x_i >= 0, sum_i x_i = total}`` over the whole pytree (indicator).

    Prox: ``optax.projections.projection_simplex`` (sort-based, Held, Wolfe
    & Crowder 1974 / Duchi et al. 2008; Condat 2016):
    ``P(v)_i = max(v_i - tau, 0)`` with ``tau`` such that the sum is ``total``
    (with ``axis``: one ``tau`` per slice, :func:`simplex_threshold`).
    ``simplex(axis=1)`` makes every row of a matrix a probability vector.
    ``subdiff_distance``: no (use ``residual``).

    Args:
      total: scalar ``> 0`` (``1``: the probability simplex). May be traced.
      axis: ``None`` (default): one set for the whole pytree. An int or a
        tuple of ints: every slice along ``axis`` of every leaf is its own
        set (``axis=1``: each row of a matrix; ``axis=0``: each column), and
        ``total`` may then be an array with one value per slice (broadcast to
        the leaf's shape without ``axis``). Static.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.simplex().prox(jnp.array([1.0, 0.5, -1.0]))
        Array([0.75, 0.25, 0.  ], dtype=float32)
        >>> gradopt.prox.simplex(axis=1).prox(jnp.array([[1.0, 0.5], [0.0, 3.0]]))
        Array([[0.75, 0.25],
               [0.  , 1.  ]], dtype=float32)
    """
    axis = _normalize_axis(axis)
    _check_radius("total", total, axis)
    return Simplex(total, axis)
