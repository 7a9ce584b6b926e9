"""Coordinate descent for the quadratic lasso / elastic net, with Anderson
extrapolation and guarded active-set Newton steps (private).

Problem (scikit-learn's scaling, ``a1 = alpha l1_ratio``, ``a2 = alpha (1 - l1_ratio)``)::

    min_w  1/(2n) ||y - X w||^2 + a1 ||w||_1 + a2/2 ||w||^2

Cyclic coordinate descent (Friedman et al. 2007; Wu & Lange 2008)::

    w_j <- S(g_j + d_j w_j, a1) / (d_j + a2),   g_j = x_j^T (y - X w) / n,  d_j = ||x_j||^2 / n

Two interchangeable representations of the state (``_Gram`` and ``_Residual``):

* Gram: ``G = X^T X / n`` and ``g = c - G w`` maintained incrementally
  (``g <- g - G[j] delta``): a coordinate costs ``K`` flops. Best when the
  number of features ``K`` is small compared with ``n``.
* Residual: ``r = y - X w`` maintained incrementally (``r <- r - x_j delta``,
  ``g_j = x_j . r / n``): a coordinate costs ``2n`` flops and nothing is
  precomputed. Best when ``K`` is comparable with ``n`` or larger. Processed
  in blocks of ``BLOCK`` coordinates per loop step (see ``_Residual``).

The solver runs blocks of ``M`` epochs. After each block (a "check") two
candidates may replace the CD iterate, each kept only when it lowers the
objective (the guard keeps the method a descent method):

* Anderson extrapolation of the ``M + 1`` iterates of the block (Anderson
  acceleration of coordinate descent, Bertrand & Massias 2021): with
  ``U = [w_1 - w_0, ..., w_M - w_{M-1}]``, ``z = (U^T U)^{-1} 1``,
  ``w_e = sum_i z_i w_i / sum(z)``.
* A few primal-dual active-set (semismooth Newton) steps (Hintermüller, Ito &
  Kunisch 2002; Fan, Jiao & Lu 2014): predict the active set and signs from
  the CD pre-threshold values ``z_j = d_j w_j + g_j`` (``A = {|z_j| > a1}``,
  ``s = sign(z_A)``) and solve ``(G_AA + a2 I) w_A = c_A - a1 s_A``, ``w = 0``
  off ``A``. Once CD has almost identified the support this lands on the exact
  solution in one to three steps, where CD alone can need hundreds of epochs
  on ill-conditioned problems. It is tried only when the predicted pattern
  changed little during the block, the observed linear rate of the gap
  predicts many more blocks, and their predicted cost exceeds the Newton
  cost; tries back off exponentially (blocks 1, 3, 7, 15, ..., then every 64).
  The active set is compacted to the smallest of a few static sizes
  (``H/8 .. H``, ``H = K/2`` by default) that holds it; a singular ``G_AA``
  (Cholesky fails, or a pivot at rounding level, as when ``|A| > n``) gives
  NaN, which the guard rejects. On by default in the Gram form;
  :func:`cd_residual_solve` leaves them off unless asked (each step must form
  ``X_A^T X_A``, ``2 n |A|^2`` flops, which the cost model weighs); the
  working-set driver asks, which pays off when ``n`` is small.

After each check the duality gap (``_gap.py``) decides whether to stop.
Everything is pure JAX with static shapes (``lax.while_loop``): the solver
works under ``jit`` and ``vmap`` and on any backend. A coordinate with
``d_j + a2 == 0`` (an all-zero column, or padding) never moves from 0.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from gradopt.problems._gap import _dual_from_scalars

ANDERSON_M = 5
PDAS_STEPS = 3
STABLE_DIV = 100  # Newton is tried when at most nnz/STABLE_DIV signs changed in a block
BLOCK = 8  # coordinates per loop step of the residual form
PIVOT_RTOL = 100.0  # Newton steps need Cholesky pivots > PIVOT_RTOL * |A| * eps * max diag
# Rough CPU time model (seconds, measured on XLA CPU) used to decide when an
# active-set Newton try pays for itself: per coordinate update, Gram form
# ~150 ns + 0.45 ns * K, residual form (blocks of 8) ~250 ns + 0.7 ns * n;
# matrix products ~ 1 / _DENSE_FLOPS seconds per flop (measured 65-90 GFlop/s on
# 2 cores in float64), Cholesky ~ 1 / _CHOL_FLOPS (measured 4-14 GFlop/s for
# sizes 128-512).
_DENSE_FLOPS = 6e10
_CHOL_FLOPS = 1e10
# A Newton try may cost at most this many blocks of M epochs: beyond it a failed
# try (they fail while the predicted support is wrong, often when |A| is close
# to n) costs more than CD gains (measured at 1000 x 5000, |A| ~ 970: tries of
# 0.3-1 s each, 18 of 19 rejected).
NEWTON_BUDGET_BLOCKS = 50


class CDSolve(NamedTuple):
    w: jax.Array
    state: jax.Array  # g (Gram) or r (residual) at w
    gap: jax.Array
    primal: jax.Array
    epochs: jax.Array


def _soft(x, t):
    return jnp.sign(x) * jnp.maximum(jnp.abs(x) - t, 0.0)


class _Gram:
    """State ``g = c - G w``; ``G = X^T X / n``, ``c = X^T y / n``, ``yy = y.y / n``."""

    block = 1

    def __init__(self, G, c, yy):
        self.G, self.c, self.yy = G, c, yy
        self.d = jnp.diag(G)
        self.K = G.shape[0]

    def state(self, W):  # W: (m, K) -> (m, K)
        return self.c - W @ self.G

    def grad(self, s):
        return s

    def scalars(self, w, s):
        """``(r.y/n, ||r||^2/n)``."""
        return self.yy - self.c @ w, self.yy - w @ (self.c + s)

    def epoch(self, w, s, a1, invd, sweep):
        """Cyclic sweep over coordinates ``0 .. sweep-1``; ``g <- g - G[j] delta``."""
        G, d = self.G, self.d

        def coord(j, ws):
            w, g = ws
            wj = w[j]
            new = _soft(g[j] + d[j] * wj, a1) * invd[j]
            return w.at[j].set(new), g - G[j] * (new - wj)

        return lax.fori_loop(0, sweep, coord, (w, s))

    def epoch_cost(self, sweep):
        return sweep * (150e-9 + 0.45e-9 * self.K)

    def newton_cost(self, H):
        return H**3 / 3 / _CHOL_FLOPS + 4 * H * H / _DENSE_FLOPS

    def sub_gram(self, order):
        return self.G[order][:, order], self.c[order]


class _Residual:
    """State ``r = y - X w``; ``XT`` is ``X^T`` (``(K, n)``, row-major, ``K % BLOCK == 0``).

    An epoch runs over blocks of ``BLOCK`` consecutive coordinates: one product
    ``g_B = X_B^T r / n``, the exact sequential CD updates of the block using its
    precomputed ``BLOCK x BLOCK`` Gram block, then one update
    ``r <- r - X_B delta_B``. This is cyclic CD (same iterates), with fewer, larger
    kernels per coordinate (2-3x faster than one coordinate per loop step on XLA CPU).
    """

    block = BLOCK

    def __init__(self, XT, y, d):
        self.XT, self.y, self.d = XT, y, d
        self.n = y.shape[0]
        self.K = XT.shape[0]
        B = BLOCK
        self.XB = XT.reshape(self.K // B, B, self.n)
        self.GBB = jnp.einsum("kbn,kcn->kbc", self.XB, self.XB) / self.n

    def state(self, W):  # (m, K) -> (m, n)
        return self.y - W @ self.XT

    def grad(self, s):
        return (self.XT @ s) / self.n

    def scalars(self, w, s):
        return (s @ self.y) / self.n, (s @ s) / self.n

    def epoch(self, w, s, a1, invd, sweep):
        B, n = BLOCK, self.n
        XB, GBB, d = self.XB, self.GBB, self.d

        def block(b, wr):
            w, r = wr
            xb, Gb = XB[b], GBB[b]
            wB = lax.dynamic_slice(w, (b * B,), (B,))
            dB = lax.dynamic_slice(d, (b * B,), (B,))
            iB = lax.dynamic_slice(invd, (b * B,), (B,))
            w0 = wB
            gB = (xb @ r) / n
            for q in range(B):
                new = _soft(gB[q] + dB[q] * wB[q], a1) * iB[q]
                gB = gB - Gb[q] * (new - wB[q])
                wB = wB.at[q].set(new)
            r = r - (wB - w0) @ xb
            return lax.dynamic_update_slice(w, wB, (b * B,)), r

        return lax.fori_loop(0, sweep // B, block, (w, s))

    def epoch_cost(self, sweep):
        return sweep * (250e-9 + 0.7e-9 * self.n)

    def newton_cost(self, H):
        return H**3 / 3 / _CHOL_FLOPS + (2 * self.n * H * H + 4 * self.n * self.K) / _DENSE_FLOPS

    def sub_gram(self, order):
        XA = self.XT[order]
        return (XA @ XA.T) / self.n, (XA @ self.y) / self.n


def _values(op, W, S, a1, a2):
    """Primal values of the rows of ``W`` with states ``S`` (batched)."""
    A, B = jax.vmap(op.scalars)(W, S)
    return 0.5 * B + a1 * jnp.sum(jnp.abs(W), axis=1) + 0.5 * a2 * jnp.sum(W * W, axis=1)


def _primal_gap(op, w, s, a1, a2, mask=None):
    A, B = op.scalars(w, s)
    g = op.grad(s)
    if mask is not None:  # coordinates outside the swept set do not count
        g = jnp.where(mask, g, 0.0)
    P = 0.5 * B + a1 * jnp.sum(jnp.abs(w)) + 0.5 * a2 * (w @ w)
    D = _dual_from_scalars(A, B, jnp.abs(g), a1, a2)
    return P, jnp.maximum(P - D, 0.0), g


def _anderson(W):
    """Extrapolate from the ``(M+1, K)`` stack of successive iterates ``W``."""
    U = W[1:] - W[:-1]
    C = U @ U.T
    M = C.shape[0]
    scale = jnp.trace(C) / M
    C = C + (1e-10 * scale + jnp.finfo(W.dtype).tiny) * jnp.eye(M, dtype=W.dtype)
    z = jnp.linalg.solve(C, jnp.ones((M,), W.dtype))
    return (z / jnp.sum(z)) @ W[1:]


def _pattern(w, g, d, a1):
    """Active set and signs a CD step would produce: ``sign(z) [|z| > a1]``."""
    z = d * w + g
    return jnp.where(jnp.abs(z) > a1, jnp.sign(z), 0.0)


def _pdas(op, a1, a2, w, g, steps, mask=None, H=None):
    """``steps`` primal-dual active-set steps from ``w`` (see module docstring).

    Returns the iterate with the lowest objective among the steps (the method
    is not monotone); NaN when no step is usable (an active set larger than
    ``H`` slots, or ``G_AA + a2 I`` singular to working precision).
    """
    K = w.shape[0]
    H = max(K // 2, 1) if H is None else H

    def step(_, carry):
        w, g, best_w, best_P = carry
        pat = _pattern(w, g, op.d, a1)
        act = pat != 0
        fits = jnp.sum(act) <= H
        order = jnp.argsort(jnp.where(act, 0, 1), stable=True)[:H]
        m = act[order]
        Gh, ch = op.sub_gram(order)
        Hm = jnp.where(m[:, None] & m[None, :], Gh, 0.0)
        Hm = Hm + jnp.diag(jnp.where(m, a2, 1.0).astype(Hm.dtype))
        rhs = jnp.where(m, ch - a1 * pat[order], 0.0)
        L = jnp.linalg.cholesky(Hm)
        x = jax.scipy.linalg.cho_solve((L, True), rhs)
        # a (numerically) singular G_AA, e.g. more active features than samples,
        # need not make Cholesky fail: it can return tiny pivots and a huge x
        # along the null space of X_A, whose objective the Gram form cannot
        # evaluate (cancellation in ||r||^2 = yy - 2 c.w + w.G w). Reject steps
        # whose smallest pivot is at rounding level (a matrix with condition
        # number below 1 / PIVOT_RTOL always passes: every pivot >= lambda_min).
        piv = jnp.where(m, jnp.diagonal(L) ** 2, jnp.inf)
        scale = jnp.max(jnp.where(m, jnp.diagonal(Hm), 0.0))
        regular = jnp.min(piv) > PIVOT_RTOL * H * jnp.finfo(w.dtype).eps * scale
        x = jnp.where(fits & regular, jnp.where(m, x, 0.0), jnp.nan)
        w_new = jnp.zeros_like(w).at[order].set(x)
        s_new = op.state(w_new[None])
        P_new = _values(op, w_new[None], s_new, a1, a2)[0]
        g_new = op.grad(s_new[0])
        if mask is not None:
            g_new = jnp.where(mask, g_new, 0.0)
        better = jnp.isfinite(P_new) & (P_new < best_P)
        best_w = jnp.where(better, w_new, best_w)
        best_P = jnp.where(better, P_new, best_P)
        # a failed (NaN) step restarts from the best point so far
        ok = jnp.all(jnp.isfinite(w_new))
        return (jnp.where(ok, w_new, best_w), jnp.where(ok, g_new, g), best_w, best_P)

    nan = jnp.full_like(w, jnp.nan)
    init = (w, g, nan, jnp.asarray(jnp.inf, w.dtype))
    return lax.fori_loop(0, steps, step, init)[2]


def cd_solve(op, a1, a2, w, tol, max_epochs, *, anderson=None, pdas=None, n_active=None,
             newton_size=None):
    """Blocks of ``M`` CD epochs with guarded extrapolation, until ``gap <= tol``.

    ``op`` is a ``_Gram`` or ``_Residual``; ``tol`` is absolute; ``max_epochs``
    is rounded up to a multiple of ``M``. ``anderson=0`` / ``pdas=0`` turn the
    accelerations off. ``n_active`` (optional, may be traced): sweep only the
    first ``n_active`` coordinates (the others stay where they are), so a
    working set padded to a size bucket does not pay for its padding.
    ``newton_size`` (static): the largest active set a Newton step handles
    (default ``K // 2``; its Cholesky factorization costs ``newton_size^3 / 3``).
    """
    anderson = ANDERSON_M if anderson is None else int(anderson)
    pdas = PDAS_STEPS if pdas is None else int(pdas)
    M = ANDERSON_M if anderson <= 0 else anderson
    K = w.shape[0]
    d = op.d
    den = d + a2
    invd = jnp.where(den > 0, 1.0 / jnp.where(den > 0, den, 1.0), 0.0)
    B = op.block
    if n_active is None:
        sweep = K
        mask = None
    else:  # whole blocks; the gap only counts the swept coordinates
        sweep = jnp.minimum(((n_active + B - 1) // B) * B, K).astype(jnp.int32)
        mask = jnp.arange(K) < sweep
    H = max(K // 2, 1) if newton_size is None else min(int(newton_size), K)
    # Newton steps come in a few static sizes; the smallest that holds the
    # predicted active set is used (its cost is what the decision weighs)
    sizes = sorted({max(min(H, h), 1) for h in (H // 8, H // 4, H // 2, H) if h >= 8} | {H})
    sizes_arr = jnp.asarray(sizes)
    costs_arr = jnp.asarray([op.newton_cost(h) for h in sizes], w.dtype)
    s = op.state(w[None])[0]
    P, gap, g = _primal_gap(op, w, s, a1, a2, mask)
    inf = jnp.asarray(jnp.inf, P.dtype)

    def epoch(i, carry):
        w, s, W = carry
        w, s = op.epoch(w, s, a1, invd, sweep)
        return w, s, W.at[i + 1].set(w)

    def cond(c):
        return (c[3] > tol) & (c[2] < max_epochs)

    def body(c):
        w, s, ep, gap, P, pat, wait, countdown = c
        W = jnp.zeros((M + 1, K), w.dtype).at[0].set(w)
        w, s, W = lax.fori_loop(0, M, epoch, (w, s, W))
        # candidates: CD iterate (fresh state, limits drift), Anderson
        cands = jnp.stack([w, _anderson(W)]) if anderson > 0 else w[None]
        S = op.state(cands)
        vals = _values(op, cands, S, a1, a2)
        vals = jnp.where(jnp.isfinite(vals), vals, inf)
        best = jnp.argmin(vals)
        w_best, s_best, P_best = cands[best], S[best], vals[best]
        g_cd = op.grad(S[0])
        if mask is not None:
            g_cd = jnp.where(mask, g_cd, 0.0)
        new_pat = _pattern(cands[0], g_cd, d, a1)
        P_new, gap_new, _ = _primal_gap(op, w_best, s_best, a1, a2, mask)
        if pdas > 0:
            changes = jnp.sum(new_pat != pat)
            nnz = jnp.sum(new_pat != 0)
            # blocks still needed at the observed linear rate, and their cost
            rate = jnp.clip(gap_new / jnp.maximum(gap, jnp.finfo(gap.dtype).tiny), 1e-12, 1.0)
            blocks = jnp.log(jnp.maximum(tol, jnp.finfo(gap.dtype).tiny) / gap_new) / jnp.log(
                jnp.minimum(rate, 1.0 - 1e-6))
            cd_cost = blocks * M * op.epoch_cost(sweep)
            stable = changes <= jnp.maximum(2, nnz // STABLE_DIV)
            slow = blocks > 10  # CD alone still needs many blocks
            # room for the active set to grow a little during the steps
            which = jnp.searchsorted(sizes_arr, nnz + nnz // 8 + 1)
            fits = which < len(sizes)
            which = jnp.minimum(which, len(sizes) - 1)
            attempt = (stable & slow & fits & (nnz > 0) & (countdown <= 0)
                       & (cd_cost > pdas * costs_arr[which])
                       & (pdas * costs_arr[which] <= NEWTON_BUDGET_BLOCKS * M * op.epoch_cost(sweep)))

            def newton_branch(h):
                def run(_):
                    wn = _pdas(op, a1, a2, cands[0], g_cd, pdas, mask, h)
                    sn = op.state(wn[None])
                    Pn = _values(op, wn[None], sn, a1, a2)[0]
                    return wn, sn[0], jnp.where(jnp.isfinite(Pn), Pn, inf)
                return run

            branches = [lambda _: (w_best, s_best, inf)] + [newton_branch(h) for h in sizes]
            index = jnp.where(attempt, which + 1, 0)
            wn, sn, Pn = lax.switch(index, branches, None)
            take = Pn < P_best
            w_best = jnp.where(take, wn, w_best)
            s_best = jnp.where(take, sn, s_best)
            # exponential back-off: tries at blocks 1, 3, 7, 15, ... (at most every 64)
            wait = jnp.where(attempt, jnp.minimum(2 * wait, 64), wait)
            countdown = jnp.where(attempt, wait, countdown - 1)
            P_new, gap_new, _ = lax.cond(
                take, lambda _: _primal_gap(op, w_best, s_best, a1, a2, mask),
                lambda _: (P_new, gap_new, g_cd), None)
        return w_best, s_best, ep + M, gap_new, P_new, new_pat, wait, countdown

    i0 = jnp.zeros((), jnp.int32)
    init = (w, s, i0, gap, P, _pattern(w, g, d, a1), i0 + 1, i0)
    w, s, ep, gap, P, *_ = lax.while_loop(cond, body, init)
    return CDSolve(w, s, gap, P, ep)


def cd_gram_solve(G, c, yy, a1, a2, w, tol, max_epochs, **kw):
    """:func:`cd_solve` on Gram quantities (``G = X^T X/n``, ``c = X^T y/n``, ``yy = y.y/n``)."""
    return cd_solve(_Gram(G, c, yy), a1, a2, w, tol, max_epochs, **kw)


def cd_residual_solve(XT, y, d, a1, a2, w, tol, max_epochs, **kw):
    """:func:`cd_solve` on the residual (``XT = X^T``, ``d_j = ||x_j||^2/n``).

    ``K`` is padded with inert zero features to a multiple of ``BLOCK``.
    """
    K = XT.shape[0]
    pad = (-K) % BLOCK
    if pad:
        XT = jnp.concatenate([XT, jnp.zeros((pad, XT.shape[1]), XT.dtype)])
        d = jnp.concatenate([d, jnp.zeros((pad,), d.dtype)])
        w = jnp.concatenate([w, jnp.zeros((pad,), w.dtype)])
    # Newton steps need the Gram matrix of the active set (2 n |A|^2 flops per
    # step in this form): off unless asked (see the module docstring)
    if kw.get("pdas") is None:
        kw["pdas"] = 0
    res = cd_solve(_Residual(XT, y, d), a1, a2, w, tol, max_epochs, **kw)
    return res._replace(w=res.w[:K]) if pad else res
