r"""The Birkhoff polytope: doubly stochastic matrices, and the projection onto it."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradopt.prox.base import Penalty, penalty_class, set_rtol, tree_dtype
from gradopt.prox.sets import _all, _indicator, simplex_threshold


def _check_square(x):
    if jnp.ndim(x) != 2 or jnp.shape(x)[0] != jnp.shape(x)[1]:
        raise ValueError(
            f"birkhoff needs square matrix parameters (n, n), got a leaf of shape {jnp.shape(x)}. "
            f"Give other leaves their own penalty with gradopt.prox.separable."
        )


@functools.partial(jax.jit, static_argnames=("max_iter", "tol"))
def project_birkhoff(v, max_iter=500, tol=None):
    r"""Euclidean projection of a square matrix onto the doubly stochastic matrices.

    Exact block-coordinate ascent on the dual of
    ``min 1/2 ||X - V||^2  s.t.  X >= 0, X 1 = 1, X^T 1 = 1``: with row
    multipliers ``alpha`` and column multipliers ``beta``,
    ``X = max(V - alpha 1^T - 1 beta^T, 0)``; for fixed ``beta`` the best
    ``alpha_i`` is the simplex threshold of row ``i`` of ``V - 1 beta^T``
    (and symmetrically), so each half-step is ``n`` sort-based simplex
    projections. Returns ``(X, n_iter, violation)``, ``violation`` the
    largest ``|column sum - 1|`` (row sums are exact after each sweep).
    """
    v = jnp.asarray(v)
    dt = v.dtype
    n = v.shape[0]
    if tol is None:
        tol = 4.0 * float(jnp.finfo(dt).eps) * np.sqrt(n)
    one = jnp.ones([], dt)

    def sweep(ab):
        alpha, _ = ab
        beta = simplex_threshold(v.T - alpha[None, :], one)
        alpha = simplex_threshold(v - beta[None, :], one)
        return alpha, beta

    def violation(ab):
        alpha, beta = ab
        x = jnp.maximum(v - alpha[:, None] - beta[None, :], 0.0)
        return jnp.max(jnp.abs(jnp.sum(x, axis=0) - 1.0))

    def cond(state):
        i, _, err = state
        return (i < max_iter) & (err > tol)

    def body(state):
        i, ab, _ = state
        ab = sweep(ab)
        return i + 1, ab, violation(ab)

    alpha0 = simplex_threshold(v, one)
    ab0 = (alpha0, jnp.zeros(n, dt))
    i, (alpha, beta), err = jax.lax.while_loop(cond, body, (0, ab0, violation(ab0)))
    x = jnp.maximum(v - alpha[:, None] - beta[None, :], 0.0)
    return x, i, err


@penalty_class(static=("max_iter", "tol"))
class Birkhoff(Penalty):
    r"""Indicator of the doubly stochastic matrices (see :func:`birkhoff`)."""

    max_iter: int = 500
    tol: Any = None
    is_indicator = True

    def value(self, params):
        dt = tree_dtype(params)
        rtol = set_rtol(dt)
        leaves = jax.tree_util.tree_leaves(params)
        for x in leaves:
            _check_square(x)
        inside = _all(
            (x >= -rtol).all()
            & (jnp.abs(jnp.sum(x, 0) - 1.0) <= rtol * x.shape[0]).all()
            & (jnp.abs(jnp.sum(x, 1) - 1.0) <= rtol * x.shape[0]).all()
            for x in leaves
        )
        return _indicator(inside, dt)

    def prox(self, params, step=1.0):
        del step

        def one(x):
            _check_square(x)
            return project_birkhoff(x, self.max_iter, self.tol)[0].astype(x.dtype)

        return jax.tree.map(one, params)


def birkhoff(max_iter: int = 500, tol: float | None = None) -> Birkhoff:
    r"""The Birkhoff polytope of doubly stochastic matrices, for every square matrix leaf.

    ``{X in R^{n x n} : X >= 0, X 1 = 1, X^T 1 = 1}`` (indicator): the convex
    hull of the permutation matrices (Birkhoff-von Neumann), the relaxation
    used for matching, ranking and sorting. Prox: the Euclidean projection,
    computed by exact block-coordinate ascent on its dual (Tseng 2001; the
    dual is the "quadratically regularized optimal transport" problem of
    Blondel, Seguy & Rolet 2018 with unit marginals)::

        X = max(V - alpha 1^T - 1 beta^T, 0)
        beta  <- column simplex thresholds of V - alpha 1^T
        alpha <- row simplex thresholds of V - 1 beta^T

    repeated until every column sums to 1 within ``tol`` (rows sum to 1
    after every sweep) or ``max_iter`` sweeps. Each sweep costs two sorts
    of the matrix, ``O(n^2 log n)``. Measured on Gaussian matrices
    (n = 4 to 300): the column sums reach rounding (``1e-15`` in float64,
    ``2e-7`` in float32) in about 60 sweeps, independently of ``n``, and
    ``X`` matches CVXPY (CLARABEL, tolerances 1e-12) to 1e-9 for n <= 8.
    The loop is a ``lax.while_loop``: it works under ``jit`` and ``vmap``
    (a ``vmap`` runs until the slowest matrix stops).

    Every leaf must be a square 2-D array (a ``ValueError`` names the shape
    otherwise); under ``vmap`` each mapped leaf is 2-D.

    Args:
      max_iter: the most sweeps (static int).
      tol: the stopping tolerance on ``max |column sum - 1|`` (static);
        ``None``: ``4 eps sqrt(n)`` of the matrix dtype.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> X = gradopt.prox.birkhoff().prox(jnp.array([[2.0, 0.0], [1.0, 0.5]]))
        >>> bool(jnp.allclose(X, jnp.array([[0.875, 0.125], [0.125, 0.875]]), atol=1e-6))
        True
    """
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a Python int >= 1, got {max_iter!r}.")
    if tol is not None:
        tol = float(tol)
        if not tol > 0:
            raise ValueError(f"tol must be > 0 or None, got {tol!r}.")
    return Birkhoff(int(max_iter), tol)
