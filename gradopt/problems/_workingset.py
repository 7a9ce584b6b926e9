"""Working-set and full-Gram drivers for the lasso / elastic net (private).

Data layout: the solvers take ``XT``, the (centered) design transposed, shape
``(p, n)`` and row-major, so that ``XT @ r`` (all correlations) and
``XT[ws]`` (gathering the rows of a working set) read contiguous memory; on the
CPU, ``X.T @ r`` with a row-major ``X`` is several times slower in XLA.

Working sets (Johnson & Guestrin 2015 "Blitz"; Massias et al. 2018 "Celer";
Bertrand et al. 2022 "skglm"): one outer iteration computes the residual
correlations ``v = X^T r / n`` and the duality gap of the full problem, stops if
``gap <= tol``, and otherwise solves the problem restricted to ``K`` features:
the current support plus the features whose optimality conditions are most
violated, scored by ``(|v_j| - a1) / ||x_j||`` (a feature with
``|v_j| <= a1`` satisfies its optimality condition at 0). The restricted
problem is solved by coordinate descent (``_cd.py``; Gram or residual form by a
static cost model, :func:`use_gram`) to a gap ``max(0.3 gap, tol/2)``, or
straight to ``tol/2`` once the bucket holds every feature and every violating
one is inside the swept part. Active-set Newton steps (``_cd.py``) are on in
both forms, gated by the cost model (in the residual form each costs
``2 n |A|^2`` flops for ``X_A^T X_A``; measured to halve the epochs at
``100 x 10000``).
``K`` is a bucket size (``64, 128, 256, ...``, capped at ``p``) chosen at
twice the support size (on a cold start: half the number of violated
optimality conditions, at most ``n/2``), so the number of compiled shapes
stays ``O(log p)``; coordinate descent sweeps only the first
``max(2 nnz, K/2)`` slots, so the padding of a bucket costs little. The outer iterations of one bucket run inside one
``lax.while_loop`` (:func:`ws_loop`) until the support fills more than
``GROW_FILL`` of the bucket; the Python driver (:func:`solve_auto`) then moves
to a larger bucket, or, once the bucket would hold half of all features (and
``p <= FULL_GRAM_MAX_P``), finishes on the full Gram matrix. ``p <= 256``:
coordinate descent on the full ``p x p`` Gram matrix (:func:`gram_solve`).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gradopt.problems._cd import PDAS_STEPS, cd_gram_solve, cd_residual_solve
from gradopt.problems._gap import _dual_from_scalars

MIN_WS = 64
WS_GROWTH = 2
INNER_RATIO = 0.3
GROW_FILL = 0.75  # a bucket grows when the support fills more than this fraction
FULL_GRAM_MAX_P = 4096  # largest p whose p x p Gram matrix the driver may form (128 MiB)


def use_gram(K: int, n: int) -> bool:
    """Static choice of the coordinate-descent form for ``K`` features and ``n`` samples.

    A rough CPU cost model (measured on XLA CPU): a Gram coordinate update
    costs about ``150 ns + 0.45 ns * K``, a residual one (blocks of 8)
    ``250 ns + 0.7 ns * n``, building the Gram matrix ``2 n K^2`` flops at about
    40 GFlop/s; an inner solve sweeps about ``K/2`` coordinates for about 30
    epochs.
    """
    sweeps = 30 * max(K // 2, 1)
    gram = 2.0 * n * K * K / 40e9 + sweeps * (150e-9 + 0.45e-9 * K)
    resid = sweeps * (250e-9 + 0.7e-9 * n)
    return gram < resid


class Prepared(NamedTuple):
    XT: jax.Array  # (p, n), centered when fitting an intercept
    y: jax.Array  # (n,), centered when fitting an intercept
    x_mean: jax.Array  # (p,)
    y_mean: jax.Array  # ()
    colsq: jax.Array  # (p,) ||x_j||^2 / n


class Solved(NamedTuple):
    w: jax.Array
    primal: jax.Array
    dual: jax.Array
    gap: jax.Array
    epochs: jax.Array


def prepare_t(XT, y, fit_intercept: bool) -> Prepared:
    """Center (optionally) the transposed design ``XT (p, n)`` and ``y``. Pure JAX."""
    n = y.shape[0]
    if fit_intercept:
        x_mean = jnp.mean(XT, axis=1)
        y_mean = jnp.mean(y)
        XT = XT - x_mean[:, None]
        y = y - y_mean
    else:
        x_mean = jnp.zeros(XT.shape[0], XT.dtype)
        y_mean = jnp.zeros((), XT.dtype)
    colsq = jnp.sum(XT * XT, axis=1) / n
    return Prepared(XT, y, x_mean, y_mean, colsq)


def prepare(X, y, fit_intercept: bool) -> Prepared:
    """:func:`prepare_t` from ``X (n, p)`` (transposed inside the trace)."""
    return prepare_t(X.T, y, fit_intercept)


@functools.partial(jax.jit, static_argnums=2)
def prepare_t_jit(XT, y, fit_intercept: bool):
    """:func:`prepare_t` and ``y.y`` (centered) in one compiled call."""
    prep = prepare_t(XT, y, fit_intercept)
    return prep, prep.y @ prep.y


def host_transpose(X, dtype):
    """``X^T`` row-major. NumPy inputs are transposed by NumPy (free for
    Fortran-ordered arrays, such as column-generated designs), which is cheaper
    than a transpose inside XLA on the CPU, and stay NumPy arrays: the compiled
    call that takes them copies them to the device (a separate ``jnp.asarray``
    would cost one more dispatch, ~0.1 ms on the CPU). JAX inputs are
    transposed on their device."""
    if isinstance(X, np.ndarray):
        return np.ascontiguousarray(X.T, dtype=np.dtype(dtype))
    return _transpose_jit(jnp.asarray(X, dtype))


_transpose_jit = jax.jit(lambda X: X.T)


def _scalars(XT, y, w, r, a1, a2):
    """``(P, D, gap, v)`` at ``w`` with residual ``r = y - X w``."""
    n = y.shape[0]
    v = (XT @ r) / n
    A = (r @ y) / n
    B = (r @ r) / n
    P = 0.5 * B + a1 * jnp.sum(jnp.abs(w)) + 0.5 * a2 * (w @ w)
    D = _dual_from_scalars(A, B, jnp.abs(v), a1, a2)
    return P, D, jnp.maximum(P - D, 0.0), v


def residual(XT, y, w):
    return y - w @ XT


@jax.jit
def full_gap(XT, y, w, a1, a2):
    """``(P, D, gap)`` of the full problem from the explicit residual."""
    P, D, gap, _ = _scalars(XT, y, w, residual(XT, y, w), a1, a2)
    return P, D, gap


def gram_solve(XT, y, a1, a2, w, tol, max_epochs, pdas=None) -> Solved:
    """CD on the full ``p x p`` Gram matrix; final gap from the explicit residual."""
    n = y.shape[0]
    G = (XT @ XT.T) / n
    c = (XT @ y) / n
    yy = (y @ y) / n
    res = cd_gram_solve(G, c, yy, a1, a2, w, tol, max_epochs, newton_size=G.shape[0], pdas=pdas)
    P, D, gap = full_gap.__wrapped__(XT, y, res.w, a1, a2)
    return Solved(res.w, P, D, gap, res.epochs)


gram_solve_jit = jax.jit(gram_solve)


class GramStats(NamedTuple):
    """What coordinate descent on the full Gram matrix needs from the data: ``G = X^T X / n``,
    ``c = X^T y / n``, ``yy = y.y / n`` (of the centered data with an intercept) and the
    means that were removed."""

    G: jax.Array
    c: jax.Array
    yy: jax.Array
    x_mean: jax.Array
    y_mean: jax.Array


def _centered(X, y, fit_intercept: bool, transposed: bool):
    """``(X, y, x_mean, y_mean)`` with ``X (n, p)``, centered when ``fit_intercept``."""
    if transposed:
        X = X.T
    if not fit_intercept:
        return X, y, jnp.zeros(X.shape[1], X.dtype), jnp.zeros((), X.dtype)
    x_mean, y_mean = jnp.mean(X, axis=0), jnp.mean(y)
    return X - x_mean, y - y_mean, x_mean, y_mean


@functools.partial(jax.jit, static_argnames=("fit_intercept", "transposed"))
def gram_stats(X, y, fit_intercept: bool, transposed: bool = False) -> GramStats:
    """:class:`GramStats` of ``X (n, p)`` as given (``X^T (p, n)`` with ``transposed``, what a
    Fortran-ordered NumPy ``X`` gives for free): two matrix products, no transposed copy."""
    X, y, x_mean, y_mean = _centered(X, y, fit_intercept, transposed)
    n = y.shape[0]
    return GramStats((X.T @ X) / n, (y @ X) / n, (y @ y) / n, x_mean, y_mean)


@jax.jit
def gram_cd(stats: GramStats, a1, a2, w, tol_rel, max_epochs):
    """Coordinate descent (Anderson, Newton steps) on ``stats``' Gram matrix to a gap of
    ``tol_rel * P(0)``. Its program depends on ``p`` only, so every ``n`` (cross-validation
    folds, a refit on all rows) reuses one compilation; the data-sized work is in
    :func:`gram_stats` and :func:`gram_certificate`, cheap programs to compile."""
    tol_abs = tol_rel * 0.5 * stats.yy
    return cd_gram_solve(stats.G, stats.c, stats.yy, a1, a2, w, tol_abs, max_epochs,
                         newton_size=stats.G.shape[0])


@functools.partial(jax.jit, static_argnames=("fit_intercept", "transposed"))
def gram_certificate(X, y, stats: GramStats, w, epochs, a1, a2, tol_rel, fit_intercept: bool,
                     transposed: bool = False):
    """``(Solved, tol_abs)`` at ``w``: the gap from the explicit residual ``y - X w`` (the
    Gram form's own gap can lose digits to cancellation) and ``tol_rel * P(0)``."""
    X, y, _, _ = _centered(X, y, fit_intercept, transposed)
    r = y - X @ w
    P, D, gap, _ = _scalars_from(r @ X / y.shape[0], y, w, r, a1, a2)
    return Solved(w, P, D, gap, epochs), tol_rel * 0.5 * stats.yy


def _scalars_from(v, y, w, r, a1, a2):
    n = y.shape[0]
    A = (r @ y) / n
    B = (r @ r) / n
    P = 0.5 * B + a1 * jnp.sum(jnp.abs(w)) + 0.5 * a2 * (w @ w)
    D = _dual_from_scalars(A, B, jnp.abs(v), a1, a2)
    return P, D, jnp.maximum(P - D, 0.0), v


TOPK_SORT_MAX_P = 2048  # top_indices: lax.top_k (a sort in XLA CPU) up to this p


def top_indices(score, K: int):
    """Indices of the ``K`` largest entries of ``score``, largest first (ties:
    lower index first), as ``lax.top_k``.

    ``lax.top_k`` is a full sort on XLA CPU (1.8 ms for ``p = 10000``, paid at
    every outer iteration); for ``p > TOPK_SORT_MAX_P`` the threshold of the
    ``K``-th largest is found by bisection (48 counting passes; ``+-inf``
    clipped to finite bounds), the entries above it are compacted with a
    cumulative sum and only those ``K`` are sorted (0.45 ms at ``p = 10000``).
    """
    p = score.shape[0]
    if p <= TOPK_SORT_MAX_P:
        return lax.top_k(score, K)[1]
    finite = jnp.isfinite(score)
    big = jnp.max(jnp.where(finite, jnp.abs(score), 0.0)) + 1.0
    s = jnp.clip(score, -big, big)

    def halve(_, lh):  # invariant: count(s >= lo) >= K > count(s >= hi)
        lo, hi = lh
        mid = 0.5 * (lo + hi)
        enough = jnp.sum(s >= mid) >= K
        return jnp.where(enough, mid, lo), jnp.where(enough, hi, mid)

    lo, hi = lax.fori_loop(0, 48, halve, (-big, big + 1.0))
    above = s >= hi  # fewer than K: all taken
    tied = (s >= lo) & ~above  # fill the rest in index order
    pos = jnp.where(above, jnp.cumsum(above) - 1,
                    jnp.where(tied, jnp.sum(above) + jnp.cumsum(tied) - 1, K))
    idx = jnp.zeros(K, jnp.int32).at[pos].set(jnp.arange(p, dtype=jnp.int32), mode="drop")
    return idx[jnp.argsort(-s[idx], stable=True)]


def ws_iteration(XT, y, colsq, w, r, a1, a2, tol, max_epochs, K: int, pdas=None):
    """One outer working-set iteration of static size ``K`` (see module docstring).

    Returns ``(w_new, r_new, P, D, gap, epochs, nnz_new)`` where ``P, D, gap``
    belong to the *input* ``w``; when ``gap <= tol`` nothing is solved and
    ``w_new = w``.
    """
    n = y.shape[0]
    P, D, gap, v = _scalars(XT, y, w, r, a1, a2)
    done = gap <= tol
    norm = jnp.sqrt(colsq)
    score = jnp.where(norm > 0, (jnp.abs(v) - a1) / jnp.where(norm > 0, norm, 1.0), -jnp.inf)
    score = jnp.where(w != 0, jnp.inf, score)

    n_active = jnp.minimum(K, jnp.maximum(2 * jnp.sum(w != 0), max(MIN_WS, K // 2))).astype(jnp.int32)
    # every violating feature is swept: solve the subproblem to the final tolerance
    # (otherwise to a fraction of the current gap, as the literature does)
    # straight to the final tolerance only when the bucket holds every feature
    # (measured: doing so in smaller buckets, where the sub-problem can still
    # change, doubled the epochs at 100 x 10000)
    complete = (K >= XT.shape[0]) & (jnp.sum(score > 0) <= n_active)

    # Newton steps may handle the whole bucket (the support fills up to GROW_FILL of it)
    H = K

    def solve(_):
        ws = top_indices(score, K)  # inside the branch: a converged check skips it
        XTw = XT[ws]
        tol_in = jnp.where(complete, 0.5 * tol, jnp.maximum(INNER_RATIO * gap, 0.5 * tol))
        if use_gram(K, n):
            Gw = (XTw @ XTw.T) / n
            cw = (XTw @ y) / n
            yy = (y @ y) / n
            res = cd_gram_solve(Gw, cw, yy, a1, a2, w[ws], tol_in, max_epochs,
                                n_active=n_active, newton_size=H, pdas=pdas)
            r_new = y - res.w @ XTw
        else:
            res = cd_residual_solve(XTw, y, colsq[ws], a1, a2, w[ws], tol_in, max_epochs,
                                    n_active=n_active, newton_size=H,
                                    pdas=PDAS_STEPS if pdas is None else pdas)
            r_new = res.state
        w_new = jnp.zeros_like(w).at[ws].set(res.w)
        return w_new, r_new, res.epochs

    w_new, r_new, ep = lax.cond(
        done, lambda _: (w, r, jnp.zeros((), jnp.int32)), solve, None
    )
    return w_new, r_new, P, D, gap, ep, jnp.sum(w_new != 0)


@functools.lru_cache(maxsize=None)
def _ws_iteration_jit(K: int):
    return jax.jit(functools.partial(ws_iteration, K=K))


def bucket(size: int, p: int) -> int:
    """Smallest ``MIN_WS * WS_GROWTH**k >= size``, capped at ``p``.

    Few, widely spaced sizes keep the number of compiled working-set solvers
    small (each costs a compilation on first use); the padding of a bucket is
    cheap because coordinate descent only sweeps the first ``2 * nnz`` slots.
    """
    k = MIN_WS
    while k < size:
        k *= WS_GROWTH
    return min(k, p)


def ws_loop(XT, y, colsq, w, r, a1, a2, tol, max_epochs, max_outer, K: int, grow: bool,
            pdas=None):
    """Outer working-set iterations of size ``K`` inside one ``lax.while_loop``.

    Stops when ``gap <= tol`` (then ``w`` is the certified point), when the
    epoch or iteration budget is spent, or, with ``grow``, as soon as the
    support outgrows the bucket (``nnz > GROW_FILL K``, ``K < p``) so the caller can
    continue with a larger ``K``. Returns ``(w, r, P, D, gap, epochs, iters,
    needs_growth)``; ``P, D, gap`` are those of the last *measured* point (the
    returned ``w`` when converged).
    """
    p = XT.shape[0]
    inf = jnp.asarray(jnp.inf, XT.dtype)

    def cond(s):
        w, r, P, D, gap, ep, it, big = s
        return (gap > tol) & (ep < max_epochs) & (it < max_outer) & ~big

    def body(s):
        w, r, _, _, _, ep, it, _ = s
        w_new, r_new, P, D, gap, e, nnz = ws_iteration(
            XT, y, colsq, w, r, a1, a2, tol, jnp.maximum(max_epochs - ep, 1), K, pdas
        )
        big = (nnz > int(GROW_FILL * K)) & (K < p) if grow else jnp.zeros((), bool)
        big = big & (gap > tol)
        return w_new, r_new, P, D, gap, ep + e, it + 1, big

    i0 = jnp.zeros((), jnp.int32)
    init = (w, r, inf, -inf, inf, i0, i0, jnp.zeros((), bool))
    return lax.while_loop(cond, body, init)


@functools.lru_cache(maxsize=None)
def _ws_loop_jit(K: int):
    def run(*args):
        out = ws_loop(*args, K=K, grow=True)
        return (*out, out[4] <= args[7], jnp.sum(out[0] != 0))  # + converged, nnz

    return jax.jit(run)


def solve_auto(prep: Prepared, a1, a2, w0, tol, max_epochs: int, max_outer: int,
               gram_max_p: int, start=None) -> Solved:
    """Python driver: full Gram when ``p <= gram_max_p``, growing working sets otherwise.

    Each working-set size runs its outer iterations inside one compiled
    ``lax.while_loop`` (:func:`ws_loop`, cached per size); Python only moves to the
    next size bucket when the support outgrows the current one. ``start``:
    ``(r, nnz, nviol)`` at ``w0`` when already computed
    (:func:`prepare_start_jit`).
    """
    XT, y, _, _, colsq = prep
    p = XT.shape[0]
    dtype = XT.dtype
    a1, a2, tol = (np.asarray(v, dtype) for v in (a1, a2, tol))
    w = w0 if isinstance(w0, jax.Array) else np.asarray(w0, dtype)
    if p <= gram_max_p:
        return _gram_with_retry(XT, y, a1, a2, w, tol, max_epochs)
    if start is None:
        start = _start_jit(XT, y, w, a1)
    r, (nnz, nviol) = start[0], jax.device_get(start[1:])
    n = y.shape[0]
    # first bucket: twice the support, or half the features violating their
    # optimality condition at the start (at most n of them can end up active),
    # so a cold start does not climb 64, 128, 256, ... one compiled call at a time
    K = bucket(max(2 * int(nnz), min(int(nviol), n) // 2), p)
    if 2 * K >= p and p <= FULL_GRAM_MAX_P:
        return _gram_with_retry(XT, y, a1, a2, w, tol, max_epochs)
    epochs, iters = 0, 0
    while True:
        w, r, P, D, gap, ep, it, big, done, nnz = _ws_loop_jit(K)(
            XT, y, colsq, w, r, a1, a2, tol, np.int32(max(max_epochs - epochs, 1)),
            np.int32(max(max_outer - iters, 1)),
        )
        ep, it, big, done, nnz = jax.device_get((ep, it, big, done, nnz))  # one sync
        epochs += int(ep)
        iters += int(it)
        if done:
            return Solved(w, P, D, gap, np.int32(epochs))
        if not big or epochs >= max_epochs or iters >= max_outer:
            break
        K = bucket(2 * int(nnz), p)
        if 2 * K >= p and p <= FULL_GRAM_MAX_P:
            # most features in play: finish on the full Gram matrix, where the
            # active-set Newton steps are cheap (500 x 600: 1.5-2x faster)
            return _gram_with_retry(XT, y, a1, a2, w, tol, max_epochs - epochs)
    P, D, gap = full_gap(XT, y, w, a1, a2)
    return Solved(w, P, D, gap, np.int32(epochs))


def _start(XT, y, w, a1):
    """Residual, support size and number of violated optimality conditions at ``w``."""
    r = residual(XT, y, w)
    v = (XT @ r) / y.shape[0]
    return r, jnp.sum(w != 0), jnp.sum((w != 0) | (jnp.abs(v) > a1))


_start_jit = jax.jit(_start)


@functools.partial(jax.jit, static_argnums=4)
def prepare_start_jit(XT, y, w, a1, fit_intercept: bool):
    """:func:`prepare_t` and the start of :func:`solve_auto` in one compiled call
    (each call and each device-to-host sync costs ~0.1 ms on the CPU, which
    shows on problems solved in a few ms). Returns ``(prep, y.y, start)``."""
    prep = prepare_t(XT, y, fit_intercept)
    return prep, prep.y @ prep.y, _start(prep.XT, prep.y, w, a1)



def _gram_with_retry(XT, y, a1, a2, w, tol, max_epochs) -> Solved:
    """Full-Gram solve; if the explicit gap disagrees with the Gram-form one
    (cancellation in ``||r||^2 = yy - w.(c + g)``), tighten the inner tolerance."""
    inner_tol = tol
    res = None
    for _ in range(3):
        res = gram_solve_jit(XT, y, a1, a2, w, inner_tol, jnp.int32(max_epochs))
        if bool(res.gap <= tol) or int(res.epochs) >= max_epochs:
            break
        w = res.w
        inner_tol = inner_tol / 10
    return res


def solve_fixed(prep: Prepared, a1, a2, w0, tol, max_epochs, max_outer: int, K: int,
                pdas=None) -> Solved:
    """Pure-JAX solver with a fixed working-set size ``K`` (``lax.while_loop``).

    Works under ``jit`` and ``vmap`` (all problems of a batch share ``K``). When
    ``K >= p`` it is coordinate descent on the full Gram matrix. If the support
    of the solution has more than ``K`` features the result is not converged
    (``gap > tol``): increase ``K``. ``pdas=0`` turns the Newton steps off (what
    batched solves use: under ``vmap`` a conditional evaluates all its branches,
    so the occasional Newton try would run at every check).
    """
    XT, y, _, _, colsq = prep
    p = XT.shape[0]
    if K >= p and p <= 256:
        return gram_solve(XT, y, a1, a2, w0, tol, max_epochs, pdas)
    r0 = residual(XT, y, w0)
    w, r, P, D, gap, ep, _, _ = ws_loop(XT, y, colsq, w0, r0, a1, a2, tol, max_epochs,
                                        max_outer, K, False, pdas)
    # unless converged, the last iteration solved a subproblem after measuring
    # the gap: measure the returned point
    P2, D2, gap2, _ = _scalars(XT, y, w, r, a1, a2)
    done = gap <= tol
    return Solved(w, jnp.where(done, P, P2), jnp.where(done, D, D2), jnp.where(done, gap, gap2), ep)
