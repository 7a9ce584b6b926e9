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
    penalty_class,
    set_rtol,
    tree_dtype,
    tree_norm_from_squares,
    tree_sum,
)

_INF = float("inf")


def _astype_like(new, old):
    return jax.tree_util.tree_map(lambda n, o: jnp.asarray(n).astype(jnp.asarray(o).dtype), new, old)


@jax.jit
def project_simplex(tree, total):
    """``optax.projections.projection_simplex``, jitted, keeping the leaves' dtypes.

    Under ``jax_enable_x64`` optax's simplex projection returns float64 for
    float32 input (integer divisions inside); the result is cast back.
    ``jit`` makes eager calls hit the compilation cache (inside an outer
    ``jit``/``vmap`` it is inlined).
    """
    return _astype_like(optax.projections.projection_simplex(tree, total), tree)


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
        lambda t: _astype_like(optax.projections.projection_l1_sphere(t, radius), t),
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


@penalty_class
class Box(Penalty):
    r"""Indicator of ``{x : lower <= x <= upper}`` (see :func:`box`)."""

    lower: Any
    upper: Any
    is_indicator = True

    def _bounds(self, params):
        treedef, lo = align_to_params("lower", self.lower, params)
        _, hi = align_to_params("upper", self.upper, params)
        return treedef, [(x, l_, h_) for (_, x, l_), (_, _, h_) in zip(lo, hi)]

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


def box(lower: Any = -_INF, upper: Any = _INF) -> Box:
    r"""The box ``{x : lower <= x <= upper}`` (indicator).

    Prox: ``P(v) = clip(v, lower, upper)``
    (``optax.projections.projection_box``). ``subdiff_distance``: yes
    (normal cone of the box, coordinate-wise).

    Args:
      lower, upper: scalars, or pytree prefixes of the parameters with
        per-leaf scalars or per-coordinate arrays; ``-inf``/``inf`` for no
        bound. ``lower <= upper`` everywhere (checked for concrete values;
        traced bounds are not checked). NaN is rejected.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.box(0.0, 1.0).prox(jnp.array([-0.5, 0.3, 2.0]))
        Array([0. , 0.3, 1. ], dtype=float32)
    """
    _check_bound("lower", lower)
    _check_bound("upper", upper)
    _check_order(lower, upper)
    return Box(lower, upper)


# --------------------------------------------------------------------------- balls, simplex


def _check_radius(name, radius):
    check_scalar(name, radius, low=0.0, low_inclusive=False)


@penalty_class
class L1Ball(Penalty):
    r"""Indicator of ``{x : ||x||_1 <= radius}`` (see :func:`l1_ball`)."""

    radius: Any
    is_indicator = True

    def value(self, params):
        dt = tree_dtype(params)
        norm = tree_sum([jnp.sum(jnp.abs(x)) for x in jax.tree_util.tree_leaves(params)])
        return _indicator(norm <= self.radius * (1.0 + set_rtol(dt)), dt)

    def prox(self, params, step=1.0):
        del step
        r = _cast(self.radius, tree_dtype(params))
        return project_l1_ball(params, r)


def l1_ball(radius: Any = 1.0) -> L1Ball:
    r"""The l1 ball ``{x : sum_i |x_i| <= radius}`` over the whole pytree (indicator).

    Prox: ``optax.projections.projection_l1_ball`` (sort-based projection
    onto the simplex of ``|v|``, Duchi et al. 2008; Condat 2016 reviews the
    algorithms): ``P(v)_i = sign(v_i) max(|v_i| - theta, 0)`` with ``theta >= 0``
    the smallest value giving ``||P(v)||_1 <= radius``.
    ``subdiff_distance``: no (use ``residual``).

    Args:
      radius: scalar ``> 0``. May be traced.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.l1_ball(1.0).prox(jnp.array([2.0, 0.5]))
        Array([1., 0.], dtype=float32)
    """
    _check_radius("radius", radius)
    return L1Ball(radius)


@penalty_class
class L2Ball(Penalty):
    r"""Indicator of ``{x : ||x||_2 <= radius}`` (see :func:`l2_ball`)."""

    radius: Any
    is_indicator = True

    def value(self, params):
        dt = tree_dtype(params)
        sq = tree_sum([jnp.sum(x * x) for x in jax.tree_util.tree_leaves(params)])
        return _indicator(sq <= (self.radius * (1.0 + set_rtol(dt))) ** 2, dt)

    def prox(self, params, step=1.0):
        del step
        r = _cast(self.radius, tree_dtype(params))
        return _astype_like(optax.projections.projection_l2_ball(params, r), params)


def l2_ball(radius: Any = 1.0) -> L2Ball:
    r"""The Euclidean ball ``{x : ||x||_2 <= radius}`` over the whole pytree (indicator).

    Prox: ``P(v) = v * radius / max(||v||_2, radius)``
    (``optax.projections.projection_l2_ball``).
    ``subdiff_distance``: no (use ``residual``).

    Args:
      radius: scalar ``> 0``. May be traced.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.l2_ball(1.0).prox(jnp.array([3.0, 4.0]))
        Array([0.6, 0.8], dtype=float32)
    """
    _check_radius("radius", radius)
    return L2Ball(radius)


@penalty_class
class LinfBall(Penalty):
    r"""Indicator of ``{x : max_i |x_i| <= radius}`` (see :func:`linf_ball`)."""

    radius: Any
    is_indicator = True

    def value(self, params):
        dt = tree_dtype(params)
        return _indicator(_max_abs(params) <= self.radius * (1.0 + set_rtol(dt)), dt)

    def prox(self, params, step=1.0):
        del step
        r = _cast(self.radius, tree_dtype(params))
        return _astype_like(optax.projections.projection_linf_ball(params, r), params)


def linf_ball(radius: Any = 1.0) -> LinfBall:
    r"""The l-infinity ball ``{x : max_i |x_i| <= radius}`` (indicator).

    Prox: ``P(v) = clip(v, -radius, radius)``
    (``optax.projections.projection_linf_ball``). The constraint set of
    l-infinity adversarial examples (``x`` the perturbation of an input).
    ``subdiff_distance``: no (use ``residual``).

    Args:
      radius: scalar ``> 0``. May be traced.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.linf_ball(0.1).prox(jnp.array([0.5, -0.05]))
        Array([ 0.1 , -0.05], dtype=float32)
    """
    _check_radius("radius", radius)
    return LinfBall(radius)


@penalty_class
class Simplex(Penalty):
    r"""Indicator of ``{x : x >= 0, sum_i x_i = total}`` (see :func:`simplex`)."""

    total: Any
    is_indicator = True

    def value(self, params):
        dt = tree_dtype(params)
        rtol = set_rtol(dt)
        leaves = jax.tree_util.tree_leaves(params)
        s = tree_sum([jnp.sum(x) for x in leaves])
        l1n = tree_sum([jnp.sum(jnp.abs(x)) for x in leaves])
        nonneg = _all(x >= -rtol * self.total for x in leaves)
        on_plane = jnp.abs(s - self.total) <= rtol * (self.total + l1n)
        return _indicator(nonneg & on_plane, dt)

    def prox(self, params, step=1.0):
        del step
        t = _cast(self.total, tree_dtype(params))
        return project_simplex(params, t)


def simplex(total: Any = 1.0) -> Simplex:
    r"""The simplex ``{x : x_i >= 0, sum_i x_i = total}`` over the whole pytree (indicator).

    Prox: ``optax.projections.projection_simplex`` (sort-based, Held, Wolfe
    & Crowder 1974 / Duchi et al. 2008; Condat 2016):
    ``P(v)_i = max(v_i - tau, 0)`` with ``tau`` such that the sum is ``total``.
    ``subdiff_distance``: no (use ``residual``).

    Args:
      total: scalar ``> 0`` (``1``: the probability simplex). May be traced.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.simplex().prox(jnp.array([1.0, 0.5, -1.0]))
        Array([0.75, 0.25, 0.  ], dtype=float32)
    """
    _check_radius("total", total)
    return Simplex(total)
