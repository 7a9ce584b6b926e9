"""Primal, dual and duality gap of the lasso / elastic net (private helpers).

All quantities use scikit-learn's scaling, divided by ``n``::

    P(w) = 1/(2n) ||y - X w||^2 + a1 ||w||_1 + a2/2 ||w||^2

with ``a1 = alpha * l1_ratio`` and ``a2 = alpha * (1 - l1_ratio)`` (the lasso is
``a2 = 0``). Writing ``r = y - X w`` and ``g = X^T r / n``, the Fenchel dual
evaluated at the rescaled residual ``u = mu r`` is::

    D(mu) = mu r.y/n - mu^2 ||r||^2/(2n) - sum_j (mu |g_j| - a1)_+^2 / (2 a2)

For the lasso (``a2 = 0``) the last term is the indicator of ``mu ||g||_inf <= a1``,
so ``mu`` is restricted to ``|mu| <= a1 / ||g||_inf`` (dual feasibility); we take
the best such ``mu`` (the unconstrained maximizer ``r.y / ||r||^2`` clipped to the
feasible interval), which is still "the residual rescaled to be dual feasible"
(Massias et al. 2018; Ndiaye et al. 2017) and never worse than the usual
``mu = min(1, a1/||g||_inf)``. For the elastic net every ``mu`` is feasible; we
take the better of ``mu = 1`` (the dual optimum at the primal optimum) and the
lasso-style ``mu``. Any ``mu`` gives a lower bound ``D <= P*``, so
``gap = P(w) - D >= P(w) - P*`` is a certificate.

:func:`_dual_from_scalars` takes the three numbers it needs (``r.y/n``,
``||r||^2/n`` and ``|g|``); ``gradopt.lasso_duality_gap`` and
``elastic_net_duality_gap`` compute them from the residual.
"""

from __future__ import annotations

import jax.numpy as jnp


def _dual_from_scalars(A, B, gabs, a1, a2):
    """Best dual value over ``mu`` candidates, from ``A = r.y/n``, ``B = ||r||^2/n``, ``|g|``.

    Returns ``D`` (a scalar). ``gabs`` is ``|X^T r / n|`` (any shape).
    """
    gmax = jnp.max(gabs) if gabs.size else jnp.zeros((), A.dtype)
    tiny = jnp.finfo(A.dtype).tiny
    # lasso-feasible scaling |mu| <= a1 / ||g||_inf, best value of mu A - mu^2 B / 2
    cap = jnp.where(gmax > tiny, a1 / jnp.where(gmax > tiny, gmax, 1.0), jnp.inf)
    mu_free = jnp.where(B > tiny, A / jnp.where(B > tiny, B, 1.0), 0.0)
    mu_l = jnp.clip(mu_free, -cap, cap)
    mu_l = jnp.where(jnp.isfinite(mu_l), mu_l, 0.0)

    def dual(mu):
        quad = mu * A - 0.5 * mu * mu * B
        excess = jnp.maximum(jnp.abs(mu) * gabs - a1, 0.0)
        pen_enet = jnp.sum(excess * excess) / (2.0 * jnp.where(a2 > 0, a2, 1.0))
        # a2 == 0: indicator of feasibility (mu_l is feasible up to rounding)
        pen = jnp.where(a2 > 0, pen_enet, 0.0)
        return quad - pen

    d_l = dual(mu_l)
    d_1 = jnp.where(a2 > 0, dual(jnp.ones_like(A)), -jnp.inf)
    return jnp.maximum(d_l, d_1)
