r"""The group lasso, solved by block coordinate descent with a duality-gap certificate.

Objective (scikit-learn's least-squares scaling)::

    P(w, b) = 1/(2n) ||y - X w - b 1||^2 + alpha * sum_g omega_g ||w_g||_2

The groups partition the features; ``omega_g = sqrt(|g|)`` by default
(Yuan & Lin 2006). The intercept ``b`` is unpenalized: it is eliminated
exactly by centering ``X`` and ``y`` (``b = mean(y) - mean(X) @ w``).

Dual and certificate. With ``r = y - X w`` (centered data when
``fit_intercept``) the Fenchel dual is::

    D(theta) = 1/(2n) ||y||^2 - n/2 ||theta - y/n||^2
    subject to  Omega^*(X^T theta) = max_g ||X_g^T theta||_2 / omega_g <= alpha

and ``theta = s r / n`` is feasible for ``|s| <= alpha / Omega^*(X^T r / n)``
(residual rescaling; Ndiaye et al. 2017, Massias et al. 2018); we take the best such
``s`` (the maximizer ``r^T y / ||r||^2`` of ``D`` clipped to that interval,
never worse than the usual ``s = min(1, alpha / Omega^*(X^T r / n))``), so
``gap = P(w) - D(theta) >= P(w) - P*``: a true certificate. The solver stops
when ``gap <= tol * P(0)``, ``P(0) = ||y_c||^2 / (2n)``.

Solver. Cyclic block coordinate descent: each group takes one proximal
gradient step with its own Lipschitz constant ``L_g = ||X_g||_2^2 / n``,
``w_g <- BST(w_g - grad_g / L_g, alpha omega_g / L_g)`` with block soft
thresholding ``BST(v, t) = max(0, 1 - t / ||v||) v`` (Tseng & Yun 2009;
Qin, Scheinberg & Goldfarb 2013), which is exact coordinate descent for
singleton groups. Every 5 epochs the last iterates are extrapolated by
Anderson acceleration, kept only when it lowers the objective (Bertrand &
Massias 2021). Between two gap checks the epochs visit a working set: the
``max(10, 2 x #non-zero groups)`` groups with the largest scores
``||X_g^T r|| / (n omega_g)`` (non-zero groups first); the gap is computed on
all groups, so a violating group enters at the next check (Massias et al.
2018). When ``n >= p`` the Gram matrix ``X^T X / n`` is precomputed so that a
group update costs ``O(p * max|g|)`` instead of ``O(n * max|g|)``. The whole
solve is one compiled ``lax.while_loop``.

References:
  M. Yuan, Y. Lin. Model selection and estimation in regression with grouped
  variables. JRSS-B 68(1), 2006.
  P. Tseng, S. Yun. A coordinate gradient descent method for nonsmooth
  separable minimization. Math. Program. 117, 2009.
  Z. Qin, K. Scheinberg, D. Goldfarb. Efficient block-coordinate descent
  algorithms for the group lasso. Math. Prog. Comp. 5, 2013.
  E. Ndiaye, O. Fercoq, A. Gramfort, J. Salmon. Gap safe screening rules for
  sparsity enforcing penalties. JMLR 18, 2017.
  M. Massias, A. Gramfort, J. Salmon. Celer: a fast solver for the lasso
  with dual extrapolation. ICML 2018.
  Q. Bertrand, M. Massias. Anderson acceleration of coordinate descent.
  AISTATS 2021.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gradopt._validation import check_scalar, concrete_float, densify, is_traced
from gradopt.problems import _inputs, _sharding
from gradopt.problems._result import SparseResult
from gradopt.problems.glm import DEFAULT_MAX_ITER as _ENGINE_MAX_OUTER, any_traced
from gradopt.problems.lasso import engine_least_squares
from gradopt.prox.group import FeatureGroupsL2

__all__ = ["group_lasso", "group_lasso_alpha_max"]

_ANDERSON_K = 5  # epochs between two Anderson extrapolations (and gap checks)
_WS_MIN = 10  # smallest working set (groups)
_BUCKET_MAX = 1 << 22  # designs up to this many entries are padded to size buckets


def _group_bucket(k: int) -> int:
    """``k`` rounded up to a size bucket: a power of 2 up to 256 (at least 8),
    then 4 buckets per octave (<= 25% padding).

    Padding small designs to buckets lets data of nearby sizes (cross-validation
    folds, scikit-learn's estimator checks) share one compiled program.
    """
    if k <= 256:
        return max(8, 1 << (k - 1).bit_length())
    step = 1 << ((k - 1).bit_length() - 3)
    return -(-k // step) * step


def _group_padded_shape(n: int, p: int) -> tuple[int, int]:
    if n * p > _BUCKET_MAX:
        return n, p
    return _group_bucket(n), _group_bucket(p)


# --------------------------------------------------------------------------
# input handling shared with logistic.py
# --------------------------------------------------------------------------


def _group_float_dtype(*arrays) -> np.dtype:
    """The floating dtype of the solve: the promoted floating input dtypes, canonicalized.

    float32 inputs stay float32 (integer labels / targets do not upcast them);
    float64 stays float64 when x64 is enabled (otherwise JAX computes in
    float32); all-integer / boolean inputs use JAX's default float.
    """
    dts = [np.dtype(a.dtype) for a in arrays]
    if any(np.issubdtype(d, np.complexfloating) for d in dts):
        raise TypeError("X and y must be real; got complex input.")
    floats = [d for d in dts if np.issubdtype(d, np.floating)]  # integer labels do not upcast
    dt = np.result_type(*floats) if floats else np.dtype(np.float64)
    return np.dtype(jax.dtypes.canonicalize_dtype(dt))


def _group_check_data(X: Any, y: Any, *, y_name: str = "y"):
    """Eager checks of a design ``X (n, p)`` and targets ``y (n,)``; returns arrays.

    scipy.sparse input is densified with a warning. Shapes are
    always checked; NaN / inf are checked when the data are concrete (not traced).
    """
    X = densify("X", X, stacklevel=4)
    y = densify(y_name, y, stacklevel=4)
    if not isinstance(X, jax.Array):
        X = np.asarray(X)
    if not isinstance(y, jax.Array):
        y = np.asarray(y)
    for name, a in (("X", X), (y_name, y)):
        if a.dtype == object or not (
            np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.bool_)
        ):
            raise TypeError(f"{name} must be a numeric array, got dtype {a.dtype}.")
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (n_samples, n_features), got shape {X.shape}.")
    if y.ndim != 1:
        raise ValueError(f"{y_name} must be a 1-D array (n_samples,), got shape {y.shape}.")
    n, p = X.shape
    if y.shape[0] != n:
        raise ValueError(
            f"X and {y_name} have inconsistent numbers of samples: X has {n} rows, "
            f"{y_name} has {y.shape[0]} entries."
        )
    if n == 0 or p == 0:
        raise ValueError(f"X must have at least one sample and one feature, got shape {X.shape}.")
    for name, a in (("X", X), (y_name, y)):
        _inputs.check_finite(name, a)
    dtype = _group_float_dtype(X, y)
    return _group_cast(X, dtype), _group_cast(y, dtype), dtype


def _group_xp(*arrays):
    """``jax.numpy`` when any array is a JAX array (or traced), else NumPy.

    NumPy inputs are padded and checked with NumPy, which avoids compiling small
    eager JAX programs for every new data shape.
    """
    return jnp if any(isinstance(a, jax.Array) for a in arrays) else np


def _group_cast(a, dtype):
    return jnp.asarray(a, dtype) if isinstance(a, jax.Array) else np.asarray(a, dtype)


def _group_check_common(alpha, tol, max_iter):
    check_scalar("alpha", alpha, low=0.0, low_inclusive=False)
    check_scalar("tol", tol, low=0.0)
    if not is_traced(max_iter):
        if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)):
            raise TypeError(f"max_iter must be an int, got {max_iter!r}.")
        if max_iter < 0:
            raise ValueError(f"max_iter must be >= 0, got {max_iter}.")


def _group_check_init(init, p, dtype):
    if init is None:
        return np.zeros((p,), dtype)
    if not isinstance(init, jax.Array):
        init = np.asarray(init)
    if init.shape != (p,):
        raise ValueError(f"init must be an array of shape ({p},) (one coefficient per feature), got {init.shape}.")
    _inputs.check_finite("init", init)
    return _group_cast(init, dtype)


# --------------------------------------------------------------------------
# groups
# --------------------------------------------------------------------------


class _GroupLayout(NamedTuple):
    """Features permuted so that each group is contiguous.

    ``perm[k]`` is the original index of permuted coordinate ``k``; group
    ``g`` occupies ``[starts[g], starts[g] + sizes[g])``; ``m`` is the largest
    group size; ``seg`` gives the group of each permuted coordinate, padded
    with ``G`` for the ``m`` trailing zero coordinates.
    """

    perm: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray
    seg: np.ndarray
    m: int


def _group_parse(groups: Any, p: int) -> list[np.ndarray]:
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
        return _group_from_labels(labels, p)
    if not isinstance(groups, (list, tuple)):
        raise TypeError(
            "groups must be a list of index arrays or an array of one label per "
            f"feature, got {type(groups).__name__}."
        )
    if len(groups) == 0:
        raise ValueError("groups is empty: give at least one group (a list of index arrays or one label per feature).")
    scalar = [np.ndim(g) == 0 for g in groups]
    if all(scalar):
        return _group_from_labels(np.asarray(groups), p)
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


def _group_from_labels(labels: np.ndarray, p: int) -> list[np.ndarray]:
    if labels.shape != (p,):
        raise ValueError(
            f"groups given as labels must have one label per feature, shape ({p},); got {labels.shape}."
        )
    if labels.dtype == object:
        raise TypeError("groups labels must be numbers or strings of one type.")
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    return np.split(order.astype(np.int64), np.cumsum(counts)[:-1])


def _group_layout(groups: list[np.ndarray], p: int) -> _GroupLayout:
    # int32 index arrays: the same under x64 and without it
    sizes = np.array([g.size for g in groups], dtype=np.int32)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int32)
    perm = np.concatenate(groups).astype(np.int32)
    m = int(sizes.max())
    seg = np.concatenate([np.repeat(np.arange(len(groups)), sizes), np.full(m, len(groups))])
    return _GroupLayout(perm, starts, sizes, seg.astype(np.int32), m)


def _group_weights(weights: Any, sizes: np.ndarray, dtype):
    G = sizes.size
    if weights is None:
        return np.sqrt(sizes).astype(dtype)
    if not is_traced(weights):
        w = np.asarray(weights, dtype=float)
        if w.shape != (G,):
            raise ValueError(f"weights must have one entry per group, shape ({G},); got {w.shape}.")
        if not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise ValueError("weights must be finite and > 0 (one per group).")
    return _group_cast(weights, dtype)


# --------------------------------------------------------------------------
# the compiled solver
# --------------------------------------------------------------------------


def _group_bst(v, t):
    """Block soft thresholding ``max(0, 1 - t/||v||) v``: the prox of ``t ||.||_2``."""
    nrm = jnp.sqrt(jnp.sum(v * v))
    safe = jnp.where(nrm > 0, nrm, 1.0)
    return v * jnp.maximum(1.0 - t / safe, 0.0)


@functools.partial(jax.jit, static_argnames=("m", "gram"))
def _group_solve(X, y, row_mask, fit_intercept, alpha, omega, w0, tol, max_iter, perm, starts, sizes, *, m, gram):
    # rows with row_mask == 0 are padding (zeros): they do not count in n;
    # fit_intercept is a traced bool (one compiled program for both cases)
    n_rows, p = X.shape
    G = starts.shape[0]
    P = p + m
    dtype = X.dtype
    alpha = jnp.asarray(alpha, dtype)
    tol = jnp.asarray(tol, dtype)
    omega = omega.astype(dtype)
    row_mask = row_mask.astype(dtype)
    n = jnp.sum(row_mask)

    fi = jnp.asarray(fit_intercept, dtype)
    x_mean = fi * (row_mask @ X / n)
    y_mean = fi * (jnp.dot(row_mask, y) / n)
    Xc = (X - x_mean) * row_mask[:, None]
    yc = (y - y_mean) * row_mask
    # permuted, zero-padded design: XT[k] is the permuted feature k (P, n)
    XT = jnp.concatenate([Xc[:, perm].T, jnp.zeros((m, n_rows), dtype)], axis=0)
    w = jnp.concatenate([w0[perm], jnp.zeros((m,), dtype)])
    yy = jnp.dot(yc, yc) / n
    p0 = 0.5 * yy  # P(0)
    ar = jnp.arange(m)
    masks = ar[None, :] < sizes[:, None]  # (G, m)
    gidx = starts[:, None] + ar[None, :]  # (G, m) window of each group

    def group_norms(v):
        blocks = jnp.where(masks, v[gidx], 0.0)
        return jnp.sqrt(jnp.sum(blocks * blocks, axis=1))

    def penalty(w):
        return alpha * jnp.sum(omega * group_norms(w))

    if gram:
        Q = XT @ XT.T / n  # (P, P)
        q = XT @ yc / n  # (P,)

        def block_gram(s, msk):
            B = lax.dynamic_slice(Q, (s, s), (m, m))
            return B * (msk[:, None] & msk[None, :])

        def aux_of(w):  # gradient of the datafit
            return Q @ w - q

        def fit_terms(w, grad):
            # ||r||^2/n, r^T y/n and X^T r/n from Gram quantities
            wq = jnp.dot(w, q)
            rr = jnp.maximum(yy - 2.0 * wq + jnp.dot(w, grad + q), 0.0)
            return rr, yy - wq, -grad

        def block_grad(aux, s):
            return lax.dynamic_slice_in_dim(aux, s, m)

        def block_apply(aux, s, delta):
            rows = lax.dynamic_slice_in_dim(Q, s, m, axis=0)  # (m, P)
            return aux + delta @ rows

    else:

        def block_gram(s, msk):
            B = lax.dynamic_slice_in_dim(XT, s, m, axis=0) * msk[:, None]
            return B @ B.T / n

        def aux_of(w):  # residual
            return yc - XT.T @ w

        def fit_terms(w, r):
            return jnp.dot(r, r) / n, jnp.dot(r, yc) / n, XT @ r / n

        def block_grad(aux, s):
            return -(lax.dynamic_slice_in_dim(XT, s, m, axis=0) @ aux) / n

        def block_apply(aux, s, delta):
            rows = lax.dynamic_slice_in_dim(XT, s, m, axis=0)
            return aux - delta @ rows

    # group Lipschitz constants L_g = lambda_max(X_g^T X_g / n): the blocks are
    # formed one by one (lax.map: a batched tiny matmul is slow on CPU), then
    # one batched eigvalsh; singleton groups need no eigenvalue
    grams = lax.map(lambda a: block_gram(*a), (starts, masks))  # (G, m, m)
    L = grams[:, 0, 0] if m == 1 else jnp.linalg.eigvalsh(grams)[:, -1]
    L_ok = L > 0
    L_safe = jnp.where(L_ok, L, 1.0)

    def primal(w, aux):
        rr, _, _ = fit_terms(w, aux)
        return 0.5 * rr + penalty(w)

    def gap_of(w, aux):
        rr, ry, corr = fit_terms(w, aux)
        pobj = 0.5 * rr + penalty(w)
        scores = group_norms(corr) / omega
        dnorm = jnp.max(scores)
        # D(s r/n) = s r.y/n - s^2 ||r||^2/(2n), feasible for |s| dnorm <= alpha:
        # the best feasible s (>= the usual s = min(1, alpha/dnorm))
        s_max = jnp.where(dnorm > 0, alpha / jnp.where(dnorm > 0, dnorm, 1.0), jnp.inf)
        s = jnp.clip(jnp.where(rr > 0, ry / jnp.where(rr > 0, rr, 1.0), 1.0), -s_max, s_max)
        dobj = s * ry - 0.5 * s * s * rr
        return pobj, pobj - dobj, scores

    def working_set(w, scores):
        # BCD epochs visit only the k groups with the largest optimality scores
        # ||X_g^T r||/(n omega_g) (non-zero groups first), k = 2 x the non-zero
        # groups, at least _WS_MIN (the working-set growth of Massias et al.
        # 2018, Bertrand & Massias 2021); the gap test is always on all groups,
        # so a violating group outside the set ranks in at the next check
        nz = group_norms(w) > 0
        order = jnp.argsort(-jnp.where(nz, jnp.inf, scores), stable=True).astype(jnp.int32)
        k = jnp.clip(2 * jnp.sum(nz.astype(jnp.int32)), min(_WS_MIN, G), G)
        return order, k

    def epoch(carry, ws, k):
        def body(i, c):
            w, aux = c
            g = ws[i]
            s = starts[g]
            msk = masks[g]
            wg = lax.dynamic_slice_in_dim(w, s, m)
            grad = block_grad(aux, s)
            v = jnp.where(msk, wg - grad / L_safe[g], 0.0)
            new = _group_bst(v, alpha * omega[g] / L_safe[g])
            new = jnp.where(L_ok[g], new, 0.0)
            new = jnp.where(msk, new, wg)
            delta = new - wg
            w = lax.dynamic_update_slice_in_dim(w, new, s, 0)
            return w, block_apply(aux, s, delta)

        return lax.fori_loop(0, k, body, carry)

    K = _ANDERSON_K

    def anderson(hist, w, aux):
        U = hist[1:] - hist[:-1]  # (K, P)
        UU = U @ U.T
        reg = 1e-10 * jnp.trace(UU) + jnp.finfo(dtype).tiny
        chol = jax.scipy.linalg.cho_factor(UU + reg * jnp.eye(K, dtype=dtype))
        z = jax.scipy.linalg.cho_solve(chol, jnp.ones((K,), dtype))
        c = z / jnp.sum(z)
        w_ex = c @ hist[1:]
        ok = jnp.all(jnp.isfinite(w_ex))
        w_ex = jnp.where(ok, w_ex, w)
        aux_ex = aux_of(w_ex)
        better = ok & (primal(w_ex, aux_ex) < primal(w, aux))
        return jnp.where(better, w_ex, w), jnp.where(better, aux_ex, aux)

    def cond(state):
        w, aux, it, pobj, gap, _ = state
        return (gap > tol * p0) & (it < max_iter) & jnp.isfinite(gap)

    def body(state):
        w, aux, it, _, _, scores = state
        n_ep = jnp.minimum(K, max_iter - it)
        hist = jnp.zeros((K + 1, P), dtype).at[0].set(w)
        ws, k = working_set(w, scores)

        def ep(j, c):
            w, aux, hist = c
            w, aux = epoch((w, aux), ws, k)
            return w, aux, hist.at[j + 1].set(w)

        w, aux, hist = lax.fori_loop(0, n_ep, ep, (w, aux, hist))
        w, aux = lax.cond(n_ep == K, anderson, lambda h, w, a: (w, a), hist, w, aux)
        aux = aux_of(w)  # refresh (no drift from incremental updates)
        pobj, gap, scores = gap_of(w, aux)
        return w, aux, it + n_ep, pobj, gap, scores

    aux = aux_of(w)
    pobj, gap, scores = gap_of(w, aux)
    it0 = jnp.zeros((), jnp.int32)
    w, aux, it, pobj, gap, _ = lax.while_loop(cond, body, (w, aux, it0, pobj, gap, scores))
    coef = jnp.zeros((p,), dtype).at[perm].set(w[:p])
    intercept = y_mean - jnp.dot(x_mean, coef)  # 0 without intercept
    return SparseResult(coef, intercept, pobj, gap, it, gap <= tol * p0)


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------


def _engine_group_lasso(X, y, alpha, glist, omega, w0, *, fit_intercept, tol, max_iter):
    """:func:`group_lasso` by the GLM engine (blocks = the groups), differentiable with
    respect to ``X``, ``y``, ``alpha`` and ``weights``. ``max_iter`` bounds the epochs of
    each working-set iteration (``max_iter=0``: the start, certified)."""
    group_of = np.empty(X.shape[1], np.int32)
    for g, idx in enumerate(glist):
        group_of[idx] = g
    penalty = FeatureGroupsL2(alpha * jnp.asarray(omega)[group_of])
    return engine_least_squares(
        jnp.asarray(X), jnp.asarray(y), penalty, w0, fit_intercept=fit_intercept, tol=tol,
        max_iter=max(max_iter, 1), max_outer=_ENGINE_MAX_OUTER if max_iter else 0, groups=glist)


def group_lasso_alpha_max(X, y, groups, *, weights=None, fit_intercept: bool = False):
    r"""The smallest ``alpha`` for which the group lasso solution is ``w = 0``.

    ``alpha_max = max_g ||X_g^T y_c||_2 / (n omega_g)`` (``y_c``, ``X`` centered
    when ``fit_intercept``): for ``alpha >= alpha_max``, ``0`` satisfies the
    optimality condition ``||X_g^T (y - X w)|| / n <= alpha omega_g`` of every group.

    Example::

        >>> import numpy as np, gradopt
        >>> X = np.eye(3); y = np.array([3.0, 4.0, 1.0])
        >>> float(gradopt.group_lasso_alpha_max(X, y, [[0, 1], [2]]))  # doctest: +ELLIPSIS
        1.178...
    """
    X, y, dtype = _group_check_data(X, y)
    layout = _group_layout(_group_parse(groups, X.shape[1]), X.shape[1])
    omega = _group_weights(weights, layout.sizes, dtype)
    return _group_alpha_max(X, y, layout, omega, fit_intercept)


def _group_alpha_max(X, y, layout, omega, fit_intercept):
    n, p = X.shape
    xp = _group_xp(X, y, omega)
    if fit_intercept:
        X = X - xp.mean(X, axis=0)
        y = y - xp.mean(y)
    corr = (_sharding.dot(X.T, y) / n)[layout.perm]
    G = layout.sizes.size
    if xp is np:
        norms = np.sqrt(np.bincount(layout.seg[:p], weights=corr * corr, minlength=G))
    else:
        norms = jnp.sqrt(jax.ops.segment_sum(corr * corr, jnp.asarray(layout.seg[:p]), num_segments=G))
    return xp.max(norms / omega)


def group_lasso(
    X: Any,
    y: Any,
    alpha: Any,
    groups: Any,
    *,
    weights: Any = None,
    fit_intercept: bool = False,
    tol: float = 1e-6,
    max_iter: int = 1000,
    init: Any = None,
) -> SparseResult:
    r"""Group lasso: ``min_{w,b} 1/(2n) ||y - Xw - b||^2 + alpha sum_g omega_g ||w_g||_2``.

    Solved by cyclic block coordinate descent (one proximal step per group
    with the group Lipschitz constant ``||X_g||_2^2 / n``, block soft
    thresholding) with Anderson extrapolation every 5 epochs, using the Gram
    matrix when ``n >= p``. Stops when the duality gap (dual point by residual
    rescaling with the dual norm ``max_g ||X_g^T theta||_2 / omega_g``) is
    ``<= tol * P(0)``. See the module docstring for the formulas and references.

    Args:
      X: ``(n, p)`` design (NumPy or JAX array; scipy.sparse is densified with
        a warning).
      y: ``(n,)`` targets.
      alpha: regularization strength ``> 0`` (may be traced under jit/vmap).
        For ``alpha >= group_lasso_alpha_max(X, y, groups)`` the solution is
        exactly ``w = 0``; a ``UserWarning`` says so when ``alpha`` and the
        data are concrete.
      groups: a partition of the features, either a list of integer index
        arrays (disjoint, covering every feature exactly once; a feature in no
        group is an error: put it in a singleton group), or an array of one
        label per feature (groups ordered by sorted label). Static: changing
        the grouping recompiles.
      weights: ``(G,)`` group weights ``omega_g > 0`` in the order of
        ``groups`` (sorted labels); default ``sqrt(|g|)``.
      fit_intercept: fit an unpenalized intercept (by centering X and y).
      tol: stop when ``duality_gap <= tol * P(0)``.
      max_iter: maximum number of epochs (passes over all groups).
      init: ``(p,)`` initial coefficients (warm start).

    Returns:
      :class:`SparseResult` (``n_iter`` counts epochs; ``converged`` is the
      gap test). The solve runs in the dtype of the inputs (float32 stays
      float32; float64 needs ``jax_enable_x64``).

    Derivatives: when ``X``, ``y``, ``alpha``, ``weights`` or ``init`` is traced
    (``jax.grad``, ``jax.jvp``, ``jax.jit``, ``jax.vmap``...) the problem is solved
    by the GLM engine with the groups as its blocks and differentiated implicitly
    (the generalized Jacobian: 0 on groups out of the support; ``init`` gets 0).
    ``max_iter`` then bounds the epochs of each of at most 100 working-set
    iterations. A concrete ``X`` laid out over several devices (a global
    ``jax.Array``, rows sharded) takes the same engine route, run as one SPMD
    program where the rows lie (see :func:`gradopt.glm`); the result is replicated.

    Note:
      Cost per epoch is ``O(n G max|g|)`` (``O(p G max|g|)`` with the Gram
      matrix): groups of very unequal sizes pay for the largest one.

    Example::

        >>> import numpy as np, gradopt
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((50, 6)); w = np.array([1.0, -1.0, 0, 0, 0, 0])
        >>> y = X @ w + 0.01 * rng.standard_normal(50)
        >>> res = gradopt.group_lasso(X, y, 0.1, [[0, 1], [2, 3], [4, 5]])
        >>> [round(float(c), 1) + 0.0 for c in res.coef]  # + 0.0: no "-0.0"
        [0.9, -0.9, 0.0, 0.0, 0.0, 0.0]
    """
    _group_check_common(alpha, tol, max_iter)
    X, y, dtype = _group_check_data(X, y)
    n, p = X.shape
    glist = _group_parse(groups, p)
    layout = _group_layout(glist, p)
    omega = _group_weights(weights, layout.sizes, dtype)
    w0 = _group_check_init(init, p, dtype)
    if any_traced((X, y, alpha, omega, w0)):  # differentiable: the engine, implicit derivatives
        return _engine_group_lasso(X, y, alpha, glist, omega, w0, fit_intercept=fit_intercept,
                                   tol=tol, max_iter=max_iter)
    a = concrete_float(alpha)
    if a is not None and not is_traced(X) and not is_traced(y) and not is_traced(omega):
        amax = float(_group_alpha_max(X, y, layout, omega, fit_intercept))
        if a >= amax:
            warnings.warn(
                f"alpha={a:g} >= alpha_max={amax:g}: the group lasso solution is w = 0.",
                UserWarning,
                stacklevel=2,
            )
    if _sharding.is_sharded(X):  # the engine, one SPMD program where the rows lie
        return _engine_group_lasso(X, y, alpha, glist, omega, w0, fit_intercept=fit_intercept,
                                   tol=tol, max_iter=max_iter)
    # pad rows (masked out) and columns (zero features in singleton groups,
    # whose coefficients stay 0) to size buckets: fewer recompilations
    n_pad, p_pad = _group_padded_shape(n, p)
    if p_pad > p:
        glist = glist + [np.array([j]) for j in range(p, p_pad)]
        layout = _group_layout(glist, p_pad)
        omega = _group_xp(omega).concatenate([omega, np.ones((p_pad - p,), dtype)])
        w0 = _group_xp(w0).pad(w0, (0, p_pad - p))
    if n_pad > n or p_pad > p:
        X = _group_xp(X).pad(X, ((0, n_pad - n), (0, p_pad - p)))
        y = _group_xp(y).pad(y, (0, n_pad - n))
    row_mask = np.arange(n_pad) < n
    gram = n >= p_pad + layout.m
    res = _group_solve(
        X, y, row_mask, bool(fit_intercept), alpha, omega, w0, tol, jnp.asarray(max_iter, jnp.int32),
        layout.perm, layout.starts, layout.sizes, m=layout.m, gram=bool(gram),
    )
    return res._replace(coef=res.coef[:p])
