r"""Indicators of non-convex sets: spheres and the sparse simplex.

The "prox" of the indicator of a non-convex set is a Euclidean projection
that may not be unique; each factory documents the point it picks at ties.
Projected / proximal gradient with these sets is a heuristic (no global
guarantee), as for any non-convex constraint. All three act on the whole
pytree (the norm / the support runs over all coordinates of all leaves).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from gradopt._validation import check_scalar
from gradopt.prox.base import Penalty, penalty_class, set_rtol, tree_dtype, tree_sum
from gradopt.prox.sets import _cast, _indicator, project_simplex, simplex_threshold


def _l1(params):
    return tree_sum([jnp.sum(jnp.abs(x)) for x in jax.tree_util.tree_leaves(params)])


def _l2(params):
    return jnp.sqrt(tree_sum([jnp.sum(x * x) for x in jax.tree_util.tree_leaves(params)]))


def _size(params):
    return sum(int(np.size(x)) for x in jax.tree_util.tree_leaves(params))


@penalty_class
class L1Sphere(Penalty):
    r"""Indicator of ``{x : ||x||_1 = radius}`` (see :func:`l1_sphere`)."""

    radius: Any
    is_indicator = True

    def value(self, params):
        dt = tree_dtype(params)
        return _indicator(jnp.abs(_l1(params) - self.radius) <= set_rtol(dt) * self.radius, dt)

    def prox(self, params, step=1.0):
        del step
        r = _cast(self.radius, tree_dtype(params))
        mags = project_simplex(jax.tree.map(jnp.abs, params), r)
        return jax.tree.map(lambda x, m: jnp.where(x >= 0, m, -m).astype(x.dtype), params, mags)


def l1_sphere(radius: Any = 1.0) -> L1Sphere:
    r"""The l1 sphere ``{x : sum_i |x_i| = radius}`` over the whole pytree (indicator; non-convex).

    Prox: a nearest point, keeping the signs of ``v`` and projecting the
    magnitudes onto the simplex of total ``radius`` (Duchi et al. 2008)::

        P(v) = s * P_simplex(|v|, radius),   s_i = +1 if v_i >= 0 else -1

    For ``||v||_1 >= radius`` this is the projection onto the l1 ball. Inside
    the ball the nearest point lies in ``v``'s orthant (a sign flip never
    brings a point closer). Ties: coordinates with ``v_i = 0`` take the
    ``+`` sign; in particular ``P(0) = (radius / n, ..., radius / n)``, one of
    the ``2^n`` nearest points.

    Args:
      radius: scalar ``> 0``. May be traced.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.l1_sphere(5.0).prox(jnp.array([1.0, -1.0, 0.0]))
        Array([ 2., -2.,  1.], dtype=float32)
    """
    check_scalar("radius", radius, low=0.0, low_inclusive=False)
    return L1Sphere(radius)


@penalty_class
class L2Sphere(Penalty):
    r"""Indicator of ``{x : ||x||_2 = radius}`` (see :func:`l2_sphere`)."""

    radius: Any
    is_indicator = True

    def value(self, params):
        dt = tree_dtype(params)
        return _indicator(jnp.abs(_l2(params) - self.radius) <= set_rtol(dt) * self.radius, dt)

    def prox(self, params, step=1.0):
        del step
        norm = _l2(params)
        at_zero = norm == 0
        scale = self.radius / jnp.where(at_zero, 1.0, norm)
        fill = self.radius / np.sqrt(max(_size(params), 1))
        return jax.tree.map(
            lambda x: jnp.where(at_zero, fill, scale * x).astype(x.dtype), params
        )


def l2_sphere(radius: Any = 1.0) -> L2Sphere:
    r"""The Euclidean sphere ``{x : ||x||_2 = radius}`` over the whole pytree (indicator; non-convex).

    Prox: ``P(v) = radius * v / ||v||_2``, the unique nearest point for
    ``v != 0``. At ``v = 0`` every point of the sphere is nearest; the choice
    is ``radius / sqrt(n) * (1, ..., 1)`` (``n`` coordinates in all), which
    is deterministic and keeps ``P`` defined under ``jit``.

    Args:
      radius: scalar ``> 0``. May be traced.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.l2_sphere(1.0).prox(jnp.array([0.3, 0.4]))
        Array([0.6, 0.8], dtype=float32)
    """
    check_scalar("radius", radius, low=0.0, low_inclusive=False)
    return L2Sphere(radius)


@penalty_class(static=("max_nonzeros",))
class SparseSimplex(Penalty):
    r"""Indicator of ``{x in simplex(total) : at most k nonzeros}`` (see :func:`sparse_simplex`)."""

    total: Any
    max_nonzeros: int = 1
    is_indicator = True

    def value(self, params):
        dt = tree_dtype(params)
        rtol = set_rtol(dt)
        leaves = jax.tree_util.tree_leaves(params)
        s = tree_sum([jnp.sum(x) for x in leaves])
        nonneg = jnp.all(jnp.stack([jnp.all(x >= -rtol * self.total) for x in leaves]))
        nnz = tree_sum([jnp.sum(jnp.abs(x) > rtol * self.total) for x in leaves])
        on_plane = jnp.abs(s - self.total) <= rtol * (self.total + _l1(params))
        return _indicator(nonneg & on_plane & (nnz <= self.max_nonzeros), dt)

    def prox(self, params, step=1.0):
        del step
        flat, unravel = ravel_pytree(params)
        return unravel(_project_sparse_simplex(flat, _cast(self.total, flat.dtype), self.max_nonzeros))


@functools.partial(jax.jit, static_argnames="k")
def _project_sparse_simplex(flat, total, k):
    top, idx = jax.lax.top_k(flat, min(k, flat.shape[0]))
    kept = simplex_threshold(top, total)
    return jnp.zeros_like(flat).at[idx].set(jnp.maximum(top - kept, 0.0))


def sparse_simplex(max_nonzeros: int, value: Any = 1.0) -> SparseSimplex:
    r"""The k-sparse simplex ``{x : x >= 0, sum_i x_i = value, ||x||_0 <= k}`` (indicator; non-convex).

    Over the whole pytree. Prox (Kyrillidis, Becker, Cevher & Koch 2013,
    "Sparse projections onto the simplex", ICML: for the simplex, the greedy
    choice of support is exact)::

        S = indices of the k largest v_i
        P(v)_S = P_simplex(v_S, value),  P(v)_i = 0 elsewhere

    Ties among the k-th largest entries go to the lower flat index (the
    leaves flattened in tree order, ``jax.lax.top_k``'s rule). Cost: a
    top-k and a sort of ``k`` entries.

    Args:
      max_nonzeros: ``k``, a Python int ``>= 1`` (static; ``k >= n`` gives
        the plain simplex).
      value: scalar ``> 0``, the sum. May be traced.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.sparse_simplex(2).prox(jnp.array([0.9, 0.1, 0.5, -1.0]))
        Array([0.7, 0. , 0.3, 0. ], dtype=float32)
    """
    if isinstance(max_nonzeros, bool) or not isinstance(max_nonzeros, (int, np.integer)) or max_nonzeros < 1:
        raise ValueError(f"max_nonzeros must be a Python int >= 1, got {max_nonzeros!r}.")
    check_scalar("value", value, low=0.0, low_inclusive=False)
    return SparseSimplex(value, int(max_nonzeros))
