r"""l1-penalized (sparse) logistic regression with a duality-gap certificate.

Objective (labels ``y_i`` in ``{-1, +1}``; ``{0, 1}`` is mapped ``0 -> -1``)::

    P(w, b) = 1/n sum_i log(1 + exp(-y_i (x_i^T w + b))) + alpha ||w||_1

with the intercept ``b`` unpenalized. ``alpha = 1 / (C n)`` gives
scikit-learn's ``LogisticRegression(penalty="l1", C=C)`` (with an intercept,
compare with the ``saga`` solver: ``liblinear`` penalizes the intercept).

Dual and certificate. Write ``l(t) = log(1 + exp(-t))``; its Fenchel conjugate
is ``l^*(-u) = u log u + (1 - u) log(1 - u)`` on ``u in [0, 1]``. With
``theta_i = -y_i u_i / n`` the dual of the problem is::

    D(u) = 1/n sum_i h(u_i),   h(u) = -u log u - (1 - u) log(1 - u)  (binary entropy)
    subject to  u in [0, 1]^n,  ||X^T theta||_inf <= alpha,
                sum_i theta_i = 0   (only with an intercept: the dual of the
                                     unpenalized b is this equality)

The dual point is built from the gradient of the datafit,
``u_i = sigmoid(-y_i z_i)`` with ``z = X w + b`` (the probability of the
wrong label), made feasible in two steps that keep ``u in [0, 1]``:

1. (intercept only) the class with the larger ``sum_i u_i`` is scaled down so
   that ``sum_{y_i = +1} u_i = sum_{y_i = -1} u_i``, i.e. ``sum_i theta_i = 0``
   exactly (at an optimal ``b`` both sums are already equal);
2. ``u <- min(1, alpha / ||X^T theta||_inf) u`` (the residual rescaling of the
   lasso literature).

So ``duality_gap = P(w, b) - D(u) >= P(w, b) - P*``: a true certificate for
the full problem, unpenalized intercept included. The solver stops when
``gap <= tol * P(0)``, ``P(0)`` the objective of the null model (``w = 0``,
best intercept ``b = log(n_+ / n_-)``; ``log 2`` without intercept).

Solver. Proximal Newton (Lee, Sun & Saunders 2014; the GLMNET scheme of
Friedman, Hastie & Tibshirani 2010 and Yuan, Ho & Lin 2012): at ``(w, b)``
the smooth part is replaced by its second-order model with Hessian weights
``h_i = sigma(z_i y_i) sigma(-z_i y_i) / n``. The intercept step is eliminated
exactly from the model (what remains is the model in ``w`` with ``h``-weighted
centered columns ``x_j - mu_j``, ``mu = X^T h / sum(h)``), so features with a
large mean, nearly collinear with the intercept, do not slow coordinate
descent down. The model plus ``alpha ||.||_1`` is minimized by cyclic
coordinate descent (soft thresholding) over a working set (the
``max(10, 2 x #non-zeros)`` coordinates with the largest ``|grad_j|``,
non-zeros first) to relative accuracy ``1e-3``; a backtracking line search on
the true objective (Armijo condition with the l1 term, Tseng & Yun 2009) gives
the step. All inside one compiled ``lax.while_loop``.

References:
  J. Lee, Y. Sun, M. Saunders. Proximal Newton-type methods for minimizing
  composite functions. SIAM J. Optim. 24(3), 2014.
  J. Friedman, T. Hastie, R. Tibshirani. Regularization paths for generalized
  linear models via coordinate descent. J. Stat. Softw. 33(1), 2010.
  G.-X. Yuan, C.-H. Ho, C.-J. Lin. An improved GLMNET for L1-regularized
  logistic regression. JMLR 13, 2012.
  P. Tseng, S. Yun. A coordinate gradient descent method for nonsmooth
  separable minimization. Math. Program. 117, 2009.
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy.special import entr

from gradopt._validation import concrete_float, is_traced
from gradopt.problems._result import SparseResult
from gradopt.problems.group import (
    _group_check_common,
    _group_check_data,
    _group_check_init,
    _group_padded_shape,
    _group_xp,
)
from gradopt.prox.sparse import soft_threshold

__all__ = ["sparse_logistic", "sparse_logistic_alpha_max"]

_INNER_RTOL = 1e-3  # inner CD stops when its largest scaled step is 1e-3 x the first one
_WS_MIN = 10  # smallest working set of the inner coordinate descent


def _logistic_labels(y):
    """Labels as ``+1 / -1`` (``y > 0 -> +1``); concrete labels are validated."""
    xp = _group_xp(y)
    if not is_traced(y):
        vals = np.unique(np.asarray(y))
        if vals.size < 2:
            raise ValueError(
                f"y has one class ({vals.tolist()}); sparse logistic regression needs two classes."
            )
        if not (set(vals.tolist()) <= {0, 1} or set(vals.tolist()) <= {-1, 1}):
            raise ValueError(
                f"y must hold labels in {{0, 1}} or {{-1, 1}}; got the values {vals[:5].tolist()}"
                f"{'...' if vals.size > 5 else ''}."
            )
    return xp.where(y > 0, 1.0, -1.0).astype(y.dtype)


def sparse_logistic_alpha_max(X, y, *, fit_intercept: bool = True):
    r"""The smallest ``alpha`` for which the sparse logistic solution has ``w = 0``.

    At ``w = 0`` with the best intercept ``b_0 = log(n_+ / n_-)`` the gradient of
    the datafit is ``X^T (p - t) / n`` with ``t_i = (y_i + 1)/2 in {0, 1}`` and
    ``p = n_+ / n``, so ``alpha_max = ||X^T (t - mean(t))||_inf / n``; without
    intercept (``b = 0``, ``p = 1/2``) ``alpha_max = ||X^T y||_inf / (2n)``.
    scikit-learn's ``l1_min_c`` is ``1 / (n alpha_max)``.

    Example::

        >>> import numpy as np, gradopt
        >>> X = np.array([[1.0], [2.0], [-1.0], [-2.0]]); y = np.array([1, 1, 0, 0])
        >>> float(gradopt.sparse_logistic_alpha_max(X, y))
        0.75
    """
    X, y, dtype = _group_check_data(X, y)
    ys = _logistic_labels(y)
    xp = _group_xp(X, ys)
    n = X.shape[0]
    if fit_intercept:
        t = (ys + 1.0) / 2.0
        return xp.max(xp.abs(X.T @ (t - xp.mean(t)))) / n
    return xp.max(xp.abs(X.T @ ys)) / (2.0 * n)


@jax.jit
def _logistic_solve(X, y, row_mask, fit_intercept, alpha, w0, tol, max_iter, max_inner):
    # rows with row_mask == 0 are padding; fit_intercept is a traced bool
    n_rows, p = X.shape
    dtype = X.dtype
    alpha = jnp.asarray(alpha, dtype)
    tol = jnp.asarray(tol, dtype)
    msk = row_mask.astype(dtype)
    n = jnp.sum(msk)
    pos = (y > 0) & row_mask
    neg = (y <= 0) & row_mask
    XT = X.T  # (p, n): contiguous columns for coordinate descent
    col_zero = jnp.sum(XT * XT, axis=1) == 0

    npos = jnp.sum(pos.astype(dtype))
    frac = npos / n
    fi = jnp.asarray(fit_intercept)
    # null-model objective: binary entropy of n+/n with the best intercept, log 2 without
    p0 = jnp.where(fi, entr(frac) + entr(1.0 - frac), jnp.log(jnp.asarray(2.0, dtype)))
    b_init = jnp.where(fi, jnp.log(frac) - jnp.log1p(-frac), 0.0).astype(dtype)

    def primal(w, z):
        return jnp.sum(msk * jax.nn.softplus(-y * z)) / n + alpha * jnp.sum(jnp.abs(w))

    def gap_of(w, z):
        pobj = primal(w, z)
        u = jax.nn.sigmoid(-y * z) * msk  # prob. of the wrong label
        # with an intercept: scale the larger class down so that sum(theta) = 0
        sp = jnp.sum(jnp.where(pos, u, 0.0))
        sn = jnp.sum(jnp.where(neg, u, 0.0))
        c = jnp.where(
            pos,
            jnp.where(sp > sn, sn / jnp.where(sp > 0, sp, 1.0), 1.0),
            jnp.where(sn > sp, sp / jnp.where(sn > 0, sn, 1.0), 1.0),
        )
        c = jnp.where(fi, c, 1.0)
        theta = -y * c * u / n
        cn = jnp.max(jnp.abs(XT @ theta))
        s = jnp.where(cn > alpha, alpha / jnp.where(cn > 0, cn, 1.0), 1.0)
        c = s * c
        u_s = c * u
        one_minus = (jax.nn.sigmoid(y * z) + (1.0 - c) * u) * msk  # 1 - u_s, accurately
        dobj = jnp.sum(entr(u_s) + jnp.where(row_mask, entr(one_minus), 0.0)) / n
        return pobj, pobj - dobj

    def newton_step(w, b, z, pobj):
        yz = y * z
        pm = jax.nn.sigmoid(-yz)
        g = -y * pm * msk / n  # d loss / d z
        h = pm * jax.nn.sigmoid(yz) * msk / n  # d^2 loss / d z^2
        Hb = jnp.sum(h)
        Hb_safe = jnp.where(Hb > 0, Hb, 1.0)
        # The intercept step is eliminated exactly from the quadratic model
        # q(dw, db) = g.(X dw + db) + 1/2 sum h (X dw + db)^2: minimizing over db
        # leaves the model in dw with h-weighted centered columns
        # x_j - mu_j (mu = X^T h / sum h) and gradient g - h sum(g) / sum(h);
        # coordinate descent on it is insensitive to the offset of the columns
        # (an intercept and a feature of large mean are nearly collinear).
        mu = jnp.where(fi, (XT @ h) / Hb_safe, 0.0)
        gt = g - jnp.where(fi, h * (jnp.sum(g) / Hb_safe), 0.0)
        XTc = XT - mu[:, None]
        H = (XTc * XTc) @ h
        H_ok = H > 0
        H_safe = jnp.where(H_ok, H, 1.0)
        # working set: the n_ws coordinates with the largest |grad_j| (non-zeros
        # first), n_ws = 2 x the non-zeros, at least _WS_MIN; coordinates outside
        # it stay fixed this Newton step (the gap test is on all coordinates)
        nz = w != 0
        score = jnp.where(nz, jnp.inf, jnp.abs(XT @ gt))
        order = jnp.argsort(-score, stable=True).astype(jnp.int32)
        n_ws = jnp.clip(2 * jnp.sum(nz.astype(jnp.int32)), min(_WS_MIN, p), p)

        def coord(i, c):
            j = order[i]
            dw, vt, mx = c  # vt = (centered X) dw
            xj = XTc[j]
            gj = jnp.dot(xj, gt + h * vt)
            wj = w[j] + dw[j]
            new = soft_threshold(wj - gj / H_safe[j], alpha / H_safe[j])
            new = jnp.where(H_ok[j], new, jnp.where(col_zero[j], 0.0, wj))
            d = new - wj
            return dw.at[j].add(d), vt + d * xj, jnp.maximum(mx, jnp.abs(d) * jnp.sqrt(H[j]))

        def epoch(c):
            dw, vt, _, k, first = c
            dw, vt, mx = lax.fori_loop(0, n_ws, coord, (dw, vt, jnp.zeros((), dtype)))
            first = jnp.where(k == 0, mx, first)
            return dw, vt, mx, k + 1, first

        def epoch_cond(c):
            _, _, mx, k, first = c
            return (k < max_inner) & ((k == 0) | (mx > _INNER_RTOL * first))

        zero = jnp.zeros((), dtype)
        dw, vt, _, _, _ = lax.while_loop(
            epoch_cond, epoch, (jnp.zeros_like(w), jnp.zeros_like(z), zero, 0, zero)
        )
        # the eliminated intercept step, and the step in z = X w + b
        db = jnp.where(fi, -jnp.sum(g) / Hb_safe - jnp.dot(mu, dw), 0.0)
        v = vt + jnp.dot(mu, dw) + db
        # Armijo backtracking on F = f + alpha ||.||_1 (Tseng & Yun 2009)
        l1 = jnp.sum(jnp.abs(w))
        pred = jnp.dot(g, v) + alpha * (jnp.sum(jnp.abs(w + dw)) - l1)
        slack = 10.0 * jnp.finfo(dtype).eps * jnp.abs(pobj)

        def ls_cond(c):
            t, f = c
            return (f > pobj + 1e-4 * t * pred + slack) & (t > 1e-10)

        def ls_body(c):
            t, _ = c
            t = 0.5 * t
            return t, primal(w + t * dw, z + t * v)

        one = jnp.ones((), dtype)
        t, _ = lax.while_loop(ls_cond, ls_body, (one, primal(w + dw, z + v)))
        return w + t * dw, b + t * db, z + t * v

    def cond(state):
        _, _, _, it, _, gap = state
        return (gap > tol * p0) & (it < max_iter) & jnp.isfinite(gap)

    def body(state):
        w, b, z, it, pobj, _ = state
        w, b, z = newton_step(w, b, z, pobj)
        pobj, gap = gap_of(w, z)
        return w, b, z, it + 1, pobj, gap

    w = w0
    b = b_init
    z = XT.T @ w + b
    pobj, gap = gap_of(w, z)
    state = (w, b, z, jnp.zeros((), jnp.int32), pobj, gap)
    w, b, z, it, pobj, gap = lax.while_loop(cond, body, state)
    return SparseResult(w, b, pobj, gap, it, gap <= tol * p0)


def sparse_logistic(
    X: Any,
    y: Any,
    alpha: Any,
    *,
    fit_intercept: bool = True,
    tol: float = 1e-6,
    max_iter: int = 100,
    max_inner: int = 100,
    init: Any = None,
) -> SparseResult:
    r"""Sparse logistic regression: ``min 1/n sum_i log(1 + exp(-y_i (x_i^T w + b))) + alpha ||w||_1``.

    Proximal Newton with coordinate-descent inner solves and a backtracking
    line search; stops when the duality gap (binary-entropy dual, dual point
    from the datafit gradient made feasible for ``||X^T theta||_inf <= alpha``
    and, with an intercept, ``sum theta = 0``) is ``<= tol * P(0)``. See the
    module docstring for the formulas and references.

    Args:
      X: ``(n, p)`` design (NumPy or JAX array; scipy.sparse is densified with a
        warning).
      y: ``(n,)`` labels in ``{0, 1}`` or ``{-1, 1}`` (both classes present);
        ``0`` is mapped to ``-1``. Traced labels cannot be checked: any
        ``y > 0`` is read as ``+1``, the rest as ``-1``.
      alpha: ``> 0`` (may be traced). ``alpha = 1/(C n)`` matches
        ``LogisticRegression(penalty="l1", C=C, solver="saga")``. For
        ``alpha >= sparse_logistic_alpha_max(X, y)`` the solution is ``w = 0``
        (a ``UserWarning`` says so when concrete).
      fit_intercept: fit an unpenalized intercept ``b``.
      tol: stop when ``duality_gap <= tol * P(0)``.
      max_iter: maximum number of proximal Newton (outer) iterations.
      max_inner: maximum coordinate-descent epochs per Newton iteration.
      init: ``(p,)`` initial coefficients (warm start); the intercept starts
        at ``log(n_+ / n_-)``.

    Returns:
      :class:`SparseResult`; ``n_iter`` counts Newton iterations. The solve
      runs in the inputs' dtype (float32 reaches a relative gap of about 1e-6
      at best: use ``tol >= 1e-5`` there).

    Example::

        >>> import numpy as np, gradopt
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((200, 5))
        >>> y = (X[:, 0] - X[:, 1] + 0.5 * rng.standard_normal(200) > 0).astype(int)
        >>> res = gradopt.sparse_logistic(X, y, 0.02)
        >>> bool(res.converged), int(np.sum(np.asarray(res.coef) != 0)) <= 5
        (True, True)
    """
    _group_check_common(alpha, tol, max_iter)
    if not is_traced(max_inner) and (
        isinstance(max_inner, bool) or not isinstance(max_inner, (int, np.integer)) or max_inner < 1
    ):
        raise ValueError(f"max_inner must be an int >= 1, got {max_inner!r}.")
    X, y, dtype = _group_check_data(X, y)
    ys = _logistic_labels(y)
    n, p = X.shape
    w0 = _group_check_init(init, p, dtype)
    a = concrete_float(alpha)
    if a is not None and not is_traced(X) and not is_traced(y):
        amax = float(sparse_logistic_alpha_max(X, ys, fit_intercept=fit_intercept))
        if a >= amax:
            warnings.warn(
                f"alpha={a:g} >= alpha_max={amax:g}: the sparse logistic solution is w = 0.",
                UserWarning,
                stacklevel=2,
            )
    n_pad, p_pad = _group_padded_shape(n, p)
    if n_pad > n or p_pad > p:
        X = _group_xp(X).pad(X, ((0, n_pad - n), (0, p_pad - p)))
        ys = _group_xp(ys).pad(ys, (0, n_pad - n))
        w0 = _group_xp(w0).pad(w0, (0, p_pad - p))
    row_mask = np.arange(n_pad) < n
    res = _logistic_solve(
        X, ys, row_mask, bool(fit_intercept), alpha, w0, tol, jnp.asarray(max_iter, jnp.int32),
        jnp.asarray(max_inner, jnp.int32),
    )
    return res._replace(coef=res.coef[:p])
