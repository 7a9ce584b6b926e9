r"""Indicators of affine sets, half-spaces and box sections; prox = Euclidean projection.

``hyperplane(a, b)``: ``{x : <a, x> = b}``; ``halfspace(a, b)``:
``{x : <a, x> <= b}``; ``affine_set(A, b)``: ``{x : A x = b}``;
``box_section(lower, upper, weights, value)``:
``{x : lower <= x <= upper, <weights, x> = value}``. ``<a, x>`` runs over all
coordinates of the pytree (``a`` has the parameters' structure, or is a
prefix of it whose leaves broadcast to the leaves' shapes).

Membership tolerance as for the other sets (:func:`~gradopt.prox.base.set_rtol`):
a relative ``sqrt(eps)`` of the parameters' dtype.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from gradopt._validation import check_scalar, is_traced
from gradopt.prox.base import Penalty, align_to_params, penalty_class, set_rtol, tree_dtype, tree_sum
from gradopt.prox.sets import _check_bound, _check_order, _indicator

_INF = float("inf")


def _aligned(name, coef, params):
    """``(treedef, [(x, c broadcast to x's shape)])`` for a coefficient pytree prefix."""
    treedef, items = align_to_params(name, coef, params)
    return treedef, [(jnp.asarray(x), jnp.broadcast_to(jnp.asarray(c), jnp.shape(x))) for _, x, c in items]


def _vdot(pairs):
    return tree_sum([jnp.sum(c * x) for x, c in pairs])


def _norm(leaves):
    return jnp.sqrt(tree_sum([jnp.sum(c * c) for c in leaves]))


def _check_coef(name, coef):
    """``coef`` is numbers, finite, not all zero (concrete leaves only)."""
    leaves = jax.tree_util.tree_leaves(coef)
    if not leaves:
        raise ValueError(f"{name} must be an array or a pytree of arrays, got {coef!r}.")
    concrete = [leaf for leaf in leaves if not is_traced(leaf)]
    for leaf in concrete:
        try:
            arr = np.asarray(leaf, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be numbers (or arrays of them), got {leaf!r}.") from None
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be finite (no NaN or inf).")
    if len(concrete) == len(leaves) and all(not np.any(np.asarray(c, float)) for c in concrete):
        raise ValueError(f"{name} must not be all zeros (the set would be empty or everything).")


@penalty_class
class Hyperplane(Penalty):
    r"""Indicator of ``{x : <a, x> = b}`` (see :func:`hyperplane`)."""

    a: Any
    b: Any
    is_indicator = True

    def _gap(self, params):
        treedef, pairs = _aligned("a", self.a, params)
        return treedef, pairs, _vdot(pairs) - self.b

    def value(self, params):
        _, pairs, gap = self._gap(params)
        dt = tree_dtype(params)
        scale = jnp.abs(self.b) + _norm([c for _, c in pairs]) * _norm([x for x, _ in pairs])
        return _indicator(jnp.abs(gap) <= set_rtol(dt) * scale, dt)

    def _shift(self, params, gap):
        treedef, pairs = _aligned("a", self.a, params)
        t = gap / tree_sum([jnp.sum(c * c) for _, c in pairs])
        return jax.tree_util.tree_unflatten(treedef, [(x - t * c).astype(x.dtype) for x, c in pairs])

    def prox(self, params, step=1.0):
        del step
        _, _, gap = self._gap(params)
        return self._shift(params, gap)


def hyperplane(a: Any, b: Any = 0.0) -> Hyperplane:
    r"""The hyperplane ``{x : <a, x> = b}`` (indicator).

    Prox (the projection; Bauschke & Combettes 2017, Example 29.18)::

        P(v) = v - (<a, v> - b) / ||a||^2 * a

    ``<a, v>`` and ``||a||`` run over all coordinates of the pytree. Cost:
    two inner products.

    Args:
      a: the normal: an array of the parameters' shape, or a pytree prefix of
        the parameters whose leaves broadcast to the leaves' shapes; finite,
        not all zeros (checked when concrete). May be traced.
      b: scalar offset. May be traced.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.hyperplane(jnp.array([1.0, 1.0]), 1.0).prox(jnp.array([1.0, 2.0]))
        Array([0., 1.], dtype=float32)
    """
    _check_coef("a", a)
    check_scalar("b", b)
    return Hyperplane(a, b)


@penalty_class
class Halfspace(Hyperplane):
    r"""Indicator of ``{x : <a, x> <= b}`` (see :func:`halfspace`)."""

    def value(self, params):
        _, pairs, gap = self._gap(params)
        dt = tree_dtype(params)
        scale = jnp.abs(self.b) + _norm([c for _, c in pairs]) * _norm([x for x, _ in pairs])
        return _indicator(gap <= set_rtol(dt) * scale, dt)

    def prox(self, params, step=1.0):
        del step
        _, _, gap = self._gap(params)
        return self._shift(params, jnp.maximum(gap, 0.0))


def halfspace(a: Any, b: Any = 0.0) -> Halfspace:
    r"""The half-space ``{x : <a, x> <= b}`` (indicator).

    Prox (the projection; Bauschke & Combettes 2017, Example 29.20)::

        P(v) = v - max(<a, v> - b, 0) / ||a||^2 * a

    Args:
      a: the outward normal, as in :func:`hyperplane` (not all zeros).
      b: scalar offset. May be traced.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.halfspace(jnp.array([1.0, 1.0]), 1.0).prox(jnp.array([1.0, 2.0]))
        Array([0., 1.], dtype=float32)
    """
    _check_coef("a", a)
    check_scalar("b", b)
    return Halfspace(a, b)


@penalty_class
class AffineSet(Penalty):
    r"""Indicator of ``{x : A x = b}`` (see :func:`affine_set`)."""

    A: Any
    b: Any
    A_pinv: Any
    is_indicator = True

    def _flat(self, params):
        flat, unravel = ravel_pytree(params)
        n = jnp.shape(self.A)[1]
        if flat.shape[0] != n:
            raise ValueError(
                f"affine_set: A has {n} columns but the parameters have {flat.shape[0]} "
                f"coordinates (all leaves, flattened in tree order); they must match."
            )
        return flat, unravel

    def value(self, params):
        flat, _ = self._flat(params)
        dt = tree_dtype(params)
        A = jnp.asarray(self.A, dt)
        res = jnp.linalg.norm(A @ flat - self.b)
        scale = jnp.linalg.norm(self.b) + jnp.linalg.norm(A) * jnp.linalg.norm(flat)
        return _indicator(res <= set_rtol(dt) * scale, dt)

    def prox(self, params, step=1.0):
        del step
        flat, unravel = self._flat(params)
        dt = flat.dtype
        A, pinv = jnp.asarray(self.A, dt), jnp.asarray(self.A_pinv, dt)
        return unravel((flat - pinv @ (A @ flat - jnp.asarray(self.b, dt))).astype(dt))


def affine_set(A: Any, b: Any) -> AffineSet:
    r"""The affine set ``{x : A x = b}`` (indicator); ``x`` is the flattened parameters.

    Prox (the projection; Bauschke & Combettes 2017, Example 29.17)::

        P(v) = v - A^+ (A v - b)

    with ``A^+`` the Moore-Penrose pseudo-inverse, computed once when the
    penalty is built (``jnp.linalg.pinv``, an SVD: ``O(m n min(m, n))``);
    each projection then costs two matrix-vector products, ``O(m n)``.
    ``x`` is the pytree flattened in leaf order (``jax.flatten_util.ravel_pytree``),
    so ``A`` has as many columns as the parameters have coordinates.

    Rank-deficient ``A``: singular values below ``pinv``'s cutoff
    (``10 max(m, n) eps`` times the largest) are treated as zero, so
    redundant rows are harmless when ``b`` is consistent. When ``b`` is not
    in the range of ``A`` the set is empty; ``P`` then projects onto the
    least-squares solutions ``{x : A^T A x = A^T b}`` and ``value`` stays
    ``inf``.

    Args:
      A: ``(m, n)`` matrix. May be traced.
      b: ``(m,)`` vector. May be traced.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> g = gradopt.prox.affine_set(jnp.array([[1.0, 1.0, 1.0]]), jnp.array([3.0]))
        >>> g.prox(jnp.array([1.0, 2.0, 3.0])).round(4)
        Array([0., 1., 2.], dtype=float32)
    """
    if np.ndim(A) != 2:
        raise ValueError(f"A must be a 2-D matrix (m, n), got shape {np.shape(A)}.")
    if np.ndim(b) != 1 or np.shape(b)[0] != np.shape(A)[0]:
        raise ValueError(
            f"b must be a vector with one entry per row of A ({np.shape(A)[0]},), got shape {np.shape(b)}."
        )
    A = jnp.asarray(A)
    if not jnp.issubdtype(A.dtype, jnp.inexact):
        A = A.astype(jnp.result_type(float))
    return AffineSet(A, jnp.asarray(b), jnp.linalg.pinv(A))


@penalty_class
class BoxSection(Penalty):
    r"""Indicator of ``{x : lower <= x <= upper, <w, x> = value}`` (see :func:`box_section`)."""

    lower: Any
    upper: Any
    weights: Any
    total: Any
    is_indicator = True

    def _items(self, params):
        treedef, lo = _aligned("lower", self.lower, params)
        _, hi = _aligned("upper", self.upper, params)
        _, w = _aligned("weights", self.weights, params)
        return treedef, [(x, l_, h_, w_) for (x, l_), (_, h_), (_, w_) in zip(lo, hi, w)]

    def value(self, params):
        _, items = self._items(params)
        dt = tree_dtype(params)
        rtol = set_rtol(dt)
        in_box = jnp.asarray(True)
        for x, lo, hi, _ in items:
            in_box &= jnp.all((x >= lo - rtol * (1.0 + jnp.abs(lo))) & (x <= hi + rtol * (1.0 + jnp.abs(hi))))
        dot = tree_sum([jnp.sum(w * x) for x, _, _, w in items])
        scale = jnp.abs(self.total) + tree_sum([jnp.sum(jnp.abs(w * x)) for x, _, _, w in items])
        return _indicator(in_box & (jnp.abs(dot - self.total) <= rtol * scale), dt)

    def prox(self, params, step=1.0):
        del step
        treedef, items = self._items(params)
        dt = tree_dtype(params)
        v = jnp.concatenate([jnp.ravel(x).astype(dt) for x, *_ in items])
        lo, hi, w = (jnp.concatenate([jnp.ravel(it[k]).astype(dt) for it in items]) for k in (1, 2, 3))
        lam = _box_section_multiplier(v, lo, hi, w, jnp.asarray(self.total, dt))
        out = []
        for x, l_, h_, w_ in items:
            out.append(jnp.clip(x - lam * w_, l_, h_).astype(x.dtype))
        return jax.tree_util.tree_unflatten(treedef, out)


@jax.jit
def _box_section_multiplier(v, lo, hi, w, total):
    """The root ``lam`` of ``phi(lam) = <w, clip(v - lam w, lo, hi)> = total``.

    ``phi`` is continuous, piecewise linear and non-increasing with kinks at the
    breakpoints ``(v - hi) / w`` and ``(v - lo) / w``. Bisection on a bracket
    holding every finite breakpoint (extended by its width on both sides) for
    a fixed number of steps, then one exact linear step on the free set
    ``{lo < v - lam w < hi}`` of the final bracket. Outside the extended
    bracket ``phi`` is linear, so the exact step also finds roots there.
    """
    nz = w != 0
    safe_w = jnp.where(nz, w, 1.0)
    bps = jnp.concatenate([(v - hi) / safe_w, (v - lo) / safe_w])
    ok = jnp.concatenate([nz, nz]) & jnp.isfinite(bps)
    any_bp = jnp.any(ok)
    left = jnp.where(any_bp, jnp.min(jnp.where(ok, bps, _INF)), 0.0)
    right = jnp.where(any_bp, jnp.max(jnp.where(ok, bps, -_INF)), 0.0)
    width = right - left + 1.0 + jnp.abs(left) + jnp.abs(right)
    l0, r0 = left - width, right + width

    def phi(lam):
        return jnp.sum(w * jnp.clip(v - lam * w, lo, hi))

    def body(_, lr):
        l_, r_ = lr
        mid = 0.5 * (l_ + r_)
        high = phi(mid) > total  # root lies to the right of mid
        return jnp.where(high, mid, l_), jnp.where(high, r_, mid)

    n_steps = 2 * (jnp.finfo(v.dtype).nmant + 1) + 10
    l_, r_ = jax.lax.fori_loop(0, n_steps, body, (l0, r0))
    mid = 0.5 * (l_ + r_)
    x = v - mid * w
    free = nz & (x > lo) & (x < hi)
    slope = jnp.sum(jnp.where(free, w * w, 0.0))
    lam = mid + (phi(mid) - total) / jnp.where(slope > 0, slope, 1.0)
    lam = jnp.where(slope > 0, lam, mid)
    # inside the original bracket phi may kink between l_ and r_: stay in it;
    # at an end of the extended bracket phi is linear beyond it: let the step go.
    lo_lim = jnp.where(l_ <= l0, -_INF, l_)
    hi_lim = jnp.where(r_ >= r0, _INF, r_)
    return jnp.clip(lam, lo_lim, hi_lim)


def box_section(lower: Any = -_INF, upper: Any = _INF, weights: Any = 1.0, value: Any = 1.0) -> BoxSection:
    r"""The box section ``{x : lower <= x <= upper, <weights, x> = value}`` (indicator).

    Capped simplices, budget constraints, "k-hot" relaxations. The projection
    (KKT conditions; Helgason, Kennington & Lall 1980, Kiwiel 2008) is::

        P(v) = clip(v - lam * weights, lower, upper)

    with ``lam`` the root of the non-increasing, piecewise-linear
    ``phi(lam) = <weights, clip(v - lam weights, lower, upper)> - value``.
    ``lam`` is found by bisection with a fixed number of steps
    (``2 (mantissa bits + 1) + 10``: 58 in float32, 116 in float64, each
    ``O(n)``), which brackets it to rounding, then one exact linear step on
    the free coordinates, so ``<weights, P(v)> = value`` holds to rounding
    (the tests check 1e-12 in float64). Fixed cost, no data-dependent loop:
    works under ``jit`` and ``vmap``.

    The set is non-empty iff ``<w, l> <= value <= <w, u>`` with ``l, u`` the
    bound of each coordinate that minimizes / maximizes ``w_i x_i``. An
    empty set is not detected (bounds may be traced): ``prox`` then returns
    the point of the box whose ``<weights, x>`` is closest to ``value``, and
    ``value`` is ``inf`` there.

    Args:
      lower, upper: bounds as in :func:`box` (scalars or pytree prefixes of
        the parameters with per-coordinate arrays; ``-inf``/``inf`` allowed).
      weights: the linear form, a scalar or a pytree prefix of the parameters
        (any sign; zero weights leave a coordinate to the box alone).
      value: scalar right-hand side. All may be traced.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> g = gradopt.prox.box_section(0.0, 0.5, 1.0, 1.0)   # capped simplex
        >>> g.prox(jnp.array([0.9, 0.6, 0.2])).round(4)
        Array([0.5 , 0.45, 0.05], dtype=float32)
    """
    _check_bound("lower", lower)
    _check_bound("upper", upper)
    _check_order(lower, upper)
    _check_bound("weights", weights)
    for leaf in jax.tree_util.tree_leaves(weights):
        if not is_traced(leaf) and not np.all(np.isfinite(np.asarray(leaf, float))):
            raise ValueError("weights must be finite.")
    check_scalar("value", value)
    return BoxSection(lower, upper, weights, value)
