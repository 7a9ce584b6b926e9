r"""The lasso and the elastic net: fast solvers with duality-gap certificates,
regularization paths and batched (``vmap``) solves.

Objectives (scikit-learn's scaling, ``n`` samples)::

    lasso:        P(w, b) = 1/(2n) ||y - X w - b||^2 + alpha ||w||_1
    elastic net:  P(w, b) = 1/(2n) ||y - X w - b||^2 + alpha l1_ratio ||w||_1
                            + alpha (1 - l1_ratio)/2 ||w||^2

With ``fit_intercept=True`` the intercept ``b`` is unpenalized: ``X`` and ``y``
are centered, the centered problem is solved and ``b = mean(y) - mean(X) w``.

Certificate. With ``r`` the (centered) residual and ``g = X^T r / n``, the
dual point is the residual rescaled to be dual feasible, ``theta = mu r``
(Massias, Gramfort & Salmon 2018 "Celer"; Ndiaye et al. 2017 "Gap safe
screening rules"), see :func:`lasso_duality_gap`. ``gap = P(w) - D(theta)``
bounds the suboptimality ``P(w) - P*`` from above, so a result with
``gap <= tol * P(0)`` is certified ``tol``-optimal relative to ``P(0)``.

Solver: these are presets of :func:`gradopt.glm` (``quadratic()`` with
``l1`` / ``elastic_net``), solved by the GLM engine (``engine.py``, see
``docs/glm.md``): working-set coordinate descent with Anderson extrapolation
and active-set Newton steps, in residual form or on the Gram matrix when
``n >> p``. A solve is one compiled program per size bucket (``n`` and ``p``
padded with inert zeros), with no host round trip inside it; it runs unchanged
under ``jax.jit`` / ``jax.vmap``, on sharded data and on CPU, GPU and TPU.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from gradopt._validation import check_scalar, densify, is_scipy_sparse, is_traced
from gradopt.datafits import quadratic
from gradopt.problems import _inputs, _sharding, engine
from gradopt.problems._compile import jit
from gradopt.problems._gap import _dual_from_scalars
from gradopt.problems._result import SparseResult
from gradopt.problems.glm import (
    _columns,
    _per_feature,
    _prepare,
    _result as _glm_result,
    any_batched,
    any_traced,
    solve_glm,
)
from gradopt.problems.presets import _enet_or_l1, _path, _pure_l1
from gradopt.prox.sparse import elastic_net as _enet_penalty
from gradopt.prox.sparse import _check_positive
from gradopt.prox.sparse import l1 as _l1_penalty
from gradopt.solve.result import Status

__all__ = [
    "LassoPath",
    "elastic_net",
    "elastic_net_duality_gap",
    "lasso",
    "lasso_alpha_max",
    "lasso_batch",
    "lasso_duality_gap",
    "lasso_path",
]

DEFAULT_MAX_ITER = 10_000
DEFAULT_MAX_OUTER = 100  # as glm's max_iter and group_lasso's working-set iterations


# --------------------------------------------------------------------------- #
# input checks
# --------------------------------------------------------------------------- #


def _float_dtype(*arrays) -> jnp.dtype:
    """float64 when x64 is enabled and an input is float64; float32 otherwise."""
    kinds = [np.dtype(a.dtype) for a in arrays if hasattr(a, "dtype")]
    want64 = any(k == np.float64 for k in kinds) or any(
        np.issubdtype(k, np.integer) or k == np.bool_ for k in kinds
    )
    if want64 and jax.config.jax_enable_x64:
        return jnp.dtype(jnp.float64)
    return jnp.dtype(jnp.float32)


def _as_array(name: str, a: Any):
    """NumPy / JAX array from ``a``; scipy.sparse is densified with a warning."""
    a = densify(name, a, stacklevel=4)
    if isinstance(a, jax.Array) or is_traced(a):
        arr = a
    else:
        arr = np.asarray(a)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.floating)
        or np.issubdtype(arr.dtype, np.integer)
        or arr.dtype == np.bool_
    ):
        raise TypeError(f"{name} must be an array of real numbers, got dtype {arr.dtype}.")
    return arr


def _host_or_device(a, dtype):
    """``a`` cast to ``dtype``: a NumPy array for host (NumPy) input, a JAX array otherwise."""
    if isinstance(a, jax.Array) or is_traced(a):
        return jnp.asarray(a, dtype)
    return np.asarray(a, dtype=np.dtype(dtype))


def _check_data(X, y, *, batched: bool = False, finite: bool = True):
    """Validate shapes and (``finite``) finiteness; return (X, y) as arrays (not yet cast).
    ``finite=False`` where the engine's preparation (``glm._prepare``) checks it anyway."""
    X = _as_array("X", X)
    y = _as_array("y", y)
    xdim, ydim = (2, 1) if not batched else (X.ndim, y.ndim)
    if not batched:
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D array (n_samples, n_features), got shape {X.shape}.")
        if y.ndim != 1:
            raise ValueError(f"y must be a 1-D array (n_samples,), got shape {y.shape}.")
    else:
        if xdim not in (2, 3):
            raise ValueError(
                f"X must have shape (n, p) or (batch, n, p), got shape {X.shape}."
            )
        if ydim not in (1, 2):
            raise ValueError(f"y must have shape (n,) or (batch, n), got shape {y.shape}.")
    if X.shape[-2] != y.shape[-1]:
        raise ValueError(
            f"X and y must have the same number of samples: X has {X.shape[-2]} rows, "
            f"y has {y.shape[-1]} entries."
        )
    if X.shape[-2] < 1 or X.shape[-1] < 1:
        raise ValueError(f"X must have at least one sample and one feature, got shape {X.shape}.")
    if finite:
        _inputs.check_finite("X", X)
        _inputs.check_finite("y", y)
    return X, y


def _check_common(alpha, l1_ratio, tol, max_iter, max_outer=1, positive=False):
    check_scalar("alpha", alpha, low=0.0)
    _check_positive(positive)
    check_scalar("l1_ratio", l1_ratio, low=0.0, high=1.0)
    check_scalar("tol", tol, low=0.0)
    _inputs.check_count("max_iter", max_iter, 1)
    _inputs.check_count("max_outer", max_outer, 1)


# --------------------------------------------------------------------------- #
# duality gap (public)
# --------------------------------------------------------------------------- #


@functools.partial(jax.jit, static_argnames=("fit_intercept",))
def _gap_impl(X, y, w, b, a1, a2, fit_intercept):
    n = X.shape[0]
    r = y - X @ w - b
    P = 0.5 * (r @ r) / n + a1 * jnp.sum(jnp.abs(w)) + 0.5 * a2 * (w @ w)
    if fit_intercept:
        Xc = X - jnp.mean(X, axis=0)
        yc = y - jnp.mean(y)
        rc = r - jnp.mean(r)
    else:
        Xc, yc, rc = X, y, r
    g = (rc @ Xc) / n
    D = _dual_from_scalars((rc @ yc) / n, (rc @ rc) / n, jnp.abs(g), a1, a2)
    return P, D, jnp.maximum(P - D, 0.0)


def elastic_net_duality_gap(X, y, w, alpha, l1_ratio=0.5, b=0.0, *, fit_intercept=None):
    r"""Primal, dual and duality gap of the elastic net at ``(w, b)``.

    ``P(w, b) = 1/(2n) ||y - X w - b||^2 + a1 ||w||_1 + a2/2 ||w||^2`` with
    ``a1 = alpha l1_ratio``, ``a2 = alpha (1 - l1_ratio)``. With
    ``r = y - X w - b`` (centered, with the data, when ``fit_intercept``),
    ``g = X^T r / n`` and ``theta = mu r``, the dual value is::

        D(mu) = mu r.y/n - mu^2 ||r||^2/(2n) - sum_j (mu |g_j| - a1)_+^2 / (2 a2)

    For the lasso (``a2 = 0``) the last term is the constraint
    ``|mu| ||g||_inf <= a1``, and ``mu`` is the maximizer ``r.y / ||r||^2``
    clipped to it (at least as good as the usual ``min(1, a1 / ||g||_inf)``).
    For ``a2 > 0`` the better of ``mu = 1`` and that value is used. Every such
    ``theta`` is dual feasible, so ``D <= P* <= P(w, b)`` and
    ``gap = P - D >= P(w, b) - P*`` (Massias et al. 2018; Ndiaye et al. 2017).

    Args:
      X: ``(n, p)``. y: ``(n,)``. w: ``(p,)``. alpha: ``>= 0``.
      l1_ratio: in ``[0, 1]``. b: the intercept.
      fit_intercept: the problem has an unpenalized intercept (the dual point is
        then centered, as ``sum(theta) = 0`` is a dual constraint). Default:
        ``b != 0``.

    Returns:
      ``(primal, dual, gap)`` as scalars (float64 when x64 is on and the data
      are float64), ``gap >= 0``.

    Example::

        >>> import numpy as np, gradopt
        >>> X = np.array([[1.0, 0.0], [0.0, 1.0]]); y = np.array([1.0, 0.5])
        >>> P, D, gap = gradopt.lasso_duality_gap(X, y, np.array([0.8, 0.3]), 0.1)
        >>> round(float(gap), 6)
        0.0
    """
    X, y = _check_data(X, y)
    check_scalar("alpha", alpha, low=0.0)
    check_scalar("l1_ratio", l1_ratio, low=0.0, high=1.0)
    check_scalar("b", b)
    w = _as_array("w", w)
    if w.shape != (X.shape[1],):
        raise ValueError(f"w must have shape ({X.shape[1]},), got {w.shape}.")
    _inputs.check_finite("w", w)
    if fit_intercept is None:
        fit_intercept = not is_traced(b) and float(b) != 0.0
    dt = _float_dtype(X, y)
    a1 = alpha * l1_ratio
    a2 = alpha * (1.0 - l1_ratio)
    return _gap_impl(
        jnp.asarray(X, dt), jnp.asarray(y, dt), jnp.asarray(w, dt), jnp.asarray(b, dt),
        jnp.asarray(a1, dt), jnp.asarray(a2, dt), bool(fit_intercept),
    )


def lasso_duality_gap(X, y, w, alpha, b=0.0, *, fit_intercept=None):
    r"""Primal, dual and duality gap of the lasso at ``(w, b)``.

    ``P(w, b) = 1/(2n) ||y - X w - b||^2 + alpha ||w||_1``; dual point
    ``theta = mu r`` with ``r = y - X w - b`` and ``mu`` the best scaling with
    ``|mu| ||X^T r / n||_inf <= alpha`` (see :func:`elastic_net_duality_gap`,
    of which this is ``l1_ratio = 1``)::

        D = mu r.y/n - mu^2 ||r||^2 / (2n),     gap = P - D >= P(w, b) - P*

    Returns ``(primal, dual, gap)``.

    Example::

        >>> import numpy as np, gradopt
        >>> X = np.eye(2); y = np.array([1.0, 0.5])
        >>> [round(float(v), 4) for v in gradopt.lasso_duality_gap(X, y, np.zeros(2), 0.1)]
        [0.3125, 0.1125, 0.2]
    """
    return elastic_net_duality_gap(X, y, w, alpha, 1.0, b, fit_intercept=fit_intercept)


def lasso_alpha_max(X, y, *, fit_intercept=False, l1_ratio=1.0, positive=False):
    """``||X^T (y - mean(y))||_inf / (n l1_ratio)``: the smallest ``alpha`` with solution 0.

    (``X`` centered too when ``fit_intercept``; ``l1_ratio`` for the elastic net.)
    With ``positive`` (coefficients ``>= 0``), ``max(0, max_j x_j^T (y - mean(y))) / (n
    l1_ratio)``: only a positive correlation can make a coefficient leave 0.
    This is :func:`gradopt.glm_alpha_max` with ``prox.elastic_net(1.0, l1_ratio,
    positive=positive)``, computed with NumPy for NumPy inputs (no compilation).
    """
    X, y = _check_data(X, y)
    check_scalar("l1_ratio", l1_ratio, low=0.0, high=1.0)
    _check_positive(positive)
    corr = float(top_correlation(X, y, fit_intercept, positive)) / X.shape[0]
    if l1_ratio == 0:
        return math.inf if corr > 0 else 0.0
    return corr / l1_ratio


# --------------------------------------------------------------------------- #
# solvers
# --------------------------------------------------------------------------- #


def top_correlation(X, y, fit_intercept: bool, positive: bool):
    """``max_j |x_j^T (y - ybar)|`` (``positive``: ``max(0, max_j x_j^T (y - ybar))``), as
    NumPy for NumPy inputs, else where the data lie; ``(X - 1 xbar)^T yc = X^T yc`` as
    ``sum(yc) = 0``, so ``X`` is not centred. ``alpha_max`` is this over ``n l1_ratio``."""
    xp = np if isinstance(X, np.ndarray) and isinstance(y, np.ndarray) else jnp
    yc = y - xp.mean(y) if fit_intercept else y
    corr = _sharding.dot(X.T, yc)
    return xp.maximum(xp.max(corr), 0.0) if positive else xp.max(xp.abs(corr))


def _check_solver(solver, ws_size, stacklevel: int = 5) -> None:
    """``solver`` is ``"auto"`` or ``"jax"`` (the same engine since every solve is pure JAX);
    ``ws_size`` no longer has an effect (the engine sizes its working sets itself)."""
    if solver not in ("auto", "jax"):
        raise ValueError(f"solver must be 'auto' or 'jax', got {solver!r}.")
    if ws_size is not None:
        if not isinstance(ws_size, (int, np.integer)) or ws_size < 1:
            raise ValueError(f"ws_size must be an integer >= 1, got {ws_size!r}.")
        warnings.warn("ws_size has no effect: the GLM engine sizes its working sets itself; "
                      "the argument will be removed.", FutureWarning, stacklevel=stacklevel)


def _enet(X, y, alpha, l1_ratio, **kw):
    res = _enet_solve(X, y, alpha, l1_ratio, **kw)
    if not any(is_traced(v) for v in (X, y, l1_ratio)) and l1_ratio > 0:
        _inputs.warn_if_null(res.coef, alpha, lambda: lasso_alpha_max(
            X.toarray() if is_scipy_sparse(X) else X, y, fit_intercept=kw["fit_intercept"],
            l1_ratio=l1_ratio, positive=kw["positive"]),
            "lasso" if l1_ratio == 1 else "elastic net", stacklevel=3)
    return res


def _enet_solve(X, y, alpha, l1_ratio, *, fit_intercept, tol, max_iter, init, solver, ws_size,
                max_outer, positive):
    _check_common(alpha, l1_ratio, tol, max_iter, max_outer, positive)
    X, y = _check_data(X, y, finite=False)  # engine_least_squares' glm._prepare checks it
    _check_solver(solver, ws_size)
    dt = _float_dtype(X, y)
    # NumPy inputs stay NumPy (padded on the host); JAX ones are cast where they lie. init is
    # checked and cast by the engine's preparation (glm._prepare)
    return engine_least_squares(
        _host_or_device(X, dt), _host_or_device(y, dt), _enet_or_l1(alpha, l1_ratio, positive),
        init,
        fit_intercept=fit_intercept, tol=tol, max_iter=max_iter, max_outer=max_outer)


def engine_least_squares(X, y, penalty, init, *, fit_intercept, tol, max_iter, max_outer,
                         groups=None) -> SparseResult:
    """``1/(2n) ||y - X w - b||^2 + penalty(w)`` solved by the GLM engine (:func:`gradopt.glm`),
    differentiable by implicit differentiation when an input is traced: the lasso family's
    solver. Each of at most ``max_outer`` working-set iterations runs at
    most ``max_iter`` coordinate-descent epochs; ``n_iter`` counts the epochs, all
    iterations together (scikit-learn's ``n_iter_``)."""
    sol, p, squeeze = solve_glm(X, y, quadratic(), penalty, fit_intercept=fit_intercept, tol=tol,
                                max_iter=max_outer, max_epochs=max_iter, init=init, groups=groups)
    return _glm_result(sol, p, squeeze)._replace(n_iter=sol.n_epochs)


_SOLVER_DOC = """
    Precision: the solve runs in float64 when ``jax_enable_x64`` is on and
    ``X`` or ``y`` is float64 (or integer), in float32 otherwise; the results
    have that dtype. In float32 the attainable relative gap is about ``1e-5``
    (rounding of ``||r||^2``): use ``tol >= 1e-5`` there, or the result may
    report ``converged=False`` after ``max_iter`` epochs.

    Inputs: NumPy or JAX arrays. A ``scipy.sparse`` ``X`` is converted to a
    dense array with a ``UserWarning`` (the solvers are dense). NaN or inf in
    ``X`` or ``y``, wrong shapes, ``alpha < 0`` or non-finite, ``tol <= 0``,
    ``l1_ratio`` outside ``[0, 1]`` raise ``ValueError`` naming the argument
    (traced values under ``jit``/``vmap`` cannot be checked and are not).
    All-zero (or, with an intercept, constant) columns get coefficient 0; a
    constant ``y`` gives ``w = 0`` with gap 0.

    Solver: the GLM engine (:func:`gradopt.glm` with ``quadratic()``; see
    ``docs/glm.md``): working-set coordinate descent with Anderson
    extrapolation (Bertrand & Massias 2021) and active-set Newton steps, in
    residual form, switching to the Gram matrix ``X^T X / n`` once its work
    pays for it when ``n >= 2 p`` (``p <= 2048``). ``n`` and ``p`` are padded
    to size buckets with inert zeros, so a new shape near a compiled one
    reuses its program; the solve is one compiled program with no host round
    trip, so the same call works under ``jax.jit`` and ``jax.vmap`` (see
    :func:`lasso_batch`). ``solver="jax"`` is accepted and is the same solver;
    ``ws_size`` no longer has an effect (``FutureWarning``). ``max_iter``
    bounds the epochs of each of at most ``max_outer`` working-set iterations.

    Derivatives: when ``X``, ``y``, ``alpha``, ``l1_ratio`` or ``init`` is traced
    (``jax.grad``, ``jax.jvp``, ``jax.jit``, ``jax.vmap``...) the solution is
    differentiated implicitly: the generalized Jacobian, least squares' on the
    support and 0 off it (``init`` gets 0; ``docs/lasso.md``).

    Sharded data: a concrete ``X`` laid out over several devices (a global
    ``jax.Array``, rows sharded, or columns sharded for ``p >> n``) is solved
    as one SPMD program where the data lie (see :func:`gradopt.glm`); the
    result (``coef`` included) is replicated over the mesh.

    Returns:
      :class:`~gradopt.problems.SparseResult` with ``coef (p,)``,
      ``intercept``, ``objective`` ``P(w, b)``, ``duality_gap`` (a
      certificate: ``P(w, b) - P* <= duality_gap``), ``n_iter`` (coordinate
      descent epochs, summed over working sets, as scikit-learn's ``n_iter_``),
      ``converged`` (``duality_gap <= tol * P(0)``, where
      ``P(0) = ||y - mean(y)||^2 / (2n)`` with an intercept, ``||y||^2/(2n)``
      without) and ``status`` (``minimize``'s vocabulary).
"""


def lasso(X, y, alpha, *, fit_intercept=False, tol=1e-6, max_iter=DEFAULT_MAX_ITER, init=None,
          solver="auto", ws_size=None, max_outer=DEFAULT_MAX_OUTER,
          positive=False) -> SparseResult:
    """The lasso: minimize ``1/(2n) ||y - X w - b||^2 + alpha ||w||_1``.

    scikit-learn's ``Lasso(alpha)`` objective (same scaling, same ``alpha``).
    For ``alpha >= alpha_max = ||X^T (y - mean y)||_inf / n`` (see
    :func:`lasso_alpha_max`; uncentered without intercept) the solution is
    exactly ``w = 0``; it is returned with ``duality_gap == 0`` and
    ``converged=True`` at the first gap check, and a ``UserWarning`` says so
    (concrete inputs only).

    Args:
      X: ``(n, p)`` design. y: ``(n,)`` targets. alpha: ``>= 0``.
      fit_intercept: fit an unpenalized intercept (data centered).
      tol: stop when ``duality_gap <= tol * P(0)`` (relative to the objective
        at zero), ``>= 0`` (``0``: run until the gap reaches its rounding floor,
        ``32 eps |P|``, or the iteration limits).
      max_iter: maximum number of coordinate-descent epochs of one
        working-set iteration.
      init: optional ``(p,)`` warm start for ``w``.
      solver: ``"auto"`` or ``"jax"`` (the same pure-JAX solver; kept for
        compatibility).
      ws_size: no longer has an effect (``FutureWarning``); kept for
        compatibility.
      max_outer: maximum number of working-set iterations.
      positive: constrain the coefficients to be ``>= 0`` (scikit-learn's
        ``Lasso(positive=True)``; the penalty ``gradopt.prox.l1(alpha,
        positive=True)``). ``alpha_max`` is then the largest positive
        correlation (``lasso_alpha_max(..., positive=True)``).
    {doc}
    Example::

        >>> import numpy as np, gradopt
        >>> from sklearn.datasets import load_diabetes
        >>> X, y = load_diabetes(return_X_y=True)
        >>> res = gradopt.lasso(X, y, 0.1, fit_intercept=True, tol=1e-4)
        >>> bool(res.converged), int((res.coef != 0).sum())
        (True, 7)
    """
    return _enet(X, y, alpha, 1.0, fit_intercept=fit_intercept, tol=tol, max_iter=max_iter,
                 init=init, solver=solver, ws_size=ws_size, max_outer=max_outer,
                 positive=positive)


def elastic_net(X, y, alpha, l1_ratio=0.5, *, fit_intercept=False, tol=1e-6,
                max_iter=DEFAULT_MAX_ITER, init=None, solver="auto", ws_size=None,
                max_outer=DEFAULT_MAX_OUTER, positive=False) -> SparseResult:
    """The elastic net: ``1/(2n) ||y - X w - b||^2 + alpha l1_ratio ||w||_1 + alpha (1 - l1_ratio)/2 ||w||^2``.

    scikit-learn's ``ElasticNet(alpha, l1_ratio)`` objective. ``l1_ratio = 1``
    is the lasso, ``l1_ratio = 0`` ridge regression. For
    ``alpha >= ||X^T (y - mean y)||_inf / (n l1_ratio)`` the solution is
    exactly 0 (returned with gap 0). Coordinate descent update
    ``w_j <- S(x_j^T r/n + d_j w_j, alpha l1_ratio) / (d_j + alpha (1 - l1_ratio))``
    with ``d_j = ||x_j||^2/n``; the gap is :func:`elastic_net_duality_gap`.

    Args: as :func:`lasso` (``positive`` included), plus ``l1_ratio`` in ``[0, 1]``.
    {doc}
    Example::

        >>> import numpy as np, gradopt
        >>> X = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]); y = np.array([0.0, 1.0, 2.0])
        >>> res = gradopt.elastic_net(X, y, 0.1, 0.5, fit_intercept=True, tol=1e-4)
        >>> [round(float(c), 2) for c in res.coef]  # duplicated columns share the weight
        [0.45, 0.45]
    """
    return _enet(X, y, alpha, l1_ratio, fit_intercept=fit_intercept, tol=tol, max_iter=max_iter,
                 init=init, solver=solver, ws_size=ws_size, max_outer=max_outer,
                 positive=positive)


lasso.__doc__ = lasso.__doc__.replace("{doc}", _SOLVER_DOC)
elastic_net.__doc__ = elastic_net.__doc__.replace("{doc}", _SOLVER_DOC)


# --------------------------------------------------------------------------- #
# paths
# --------------------------------------------------------------------------- #


class LassoPath(NamedTuple):
    """A regularization path (``k`` values of ``alpha``, decreasing).

    Attributes:
      alphas: ``(k,)``. coefs: ``(k, p)`` (note: scikit-learn's ``lasso_path``
      returns the transpose, ``(p, k)``). intercepts, duality_gaps, n_iter,
      converged: ``(k,)``.
    """

    alphas: Any
    coefs: Any
    intercepts: Any
    duality_gaps: Any
    n_iter: Any
    converged: Any


def lasso_path(X, y, alphas=None, n_alphas=100, eps=1e-3, *, fit_intercept=False, tol=1e-6,
               max_iter=DEFAULT_MAX_ITER, l1_ratio=1.0, max_outer=DEFAULT_MAX_OUTER,
               positive=False) -> LassoPath:
    """Lasso (or elastic-net) solutions along a decreasing grid of ``alpha``, warm-started.

    Default grid (scikit-learn's ``lasso_path`` / ``enet_path``):
    ``n_alphas`` values log-spaced from ``alpha_max = ||X^T y||_inf / (n l1_ratio)``
    (data centered when ``fit_intercept``) down to ``eps * alpha_max``. Given
    ``alphas`` are sorted in decreasing order (as scikit-learn does). Each
    solve starts from the previous solution (warm start; Friedman, Hastie &
    Tibshirani 2010) and stops at ``duality_gap <= tol * P(0)``; the data are
    validated, cast and padded once, and the whole path is one compiled program
    (the GLM engine's warm-started ``lax.scan``, :func:`gradopt.glm_path`).

    Args: as :func:`elastic_net` (``l1_ratio=1``: the lasso). With ``positive`` the
    default grid starts at the positive lasso's ``alpha_max`` (the largest
    positive correlation, as scikit-learn's ``lasso_path(positive=True)``).

    Returns:
      :class:`LassoPath` ``(alphas, coefs (k, p), intercepts, duality_gaps,
      n_iter, converged)`` as NumPy arrays (JAX arrays when an input is traced).
      A row-sharded global ``X`` is solved as one SPMD program (see
      :func:`gradopt.glm`); its replicated results are returned as NumPy arrays
      in every process.

    Derivatives: when ``X``, ``y``, ``alphas`` or ``l1_ratio`` is traced the path
    is differentiated implicitly at every ``alpha`` (the generalized Jacobian on
    the support; the default grid is differentiated with the data).

    Example::

        >>> import numpy as np, gradopt
        >>> from sklearn.datasets import load_diabetes
        >>> X, y = load_diabetes(return_X_y=True)
        >>> path = gradopt.lasso_path(X, y, n_alphas=20, fit_intercept=True, tol=1e-4)
        >>> path.coefs.shape, bool(path.converged.all())
        ((20, 10), True)
    """
    check_scalar("eps", eps, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    _inputs.check_count("n_alphas", n_alphas, 1)
    _check_common(0.0, l1_ratio, tol, max_iter, max_outer, positive)
    X, y = _check_data(X, y)
    n, p = X.shape
    dt = _float_dtype(X, y)
    if alphas is None and not is_traced(l1_ratio) and l1_ratio == 0:
        raise ValueError("l1_ratio must be > 0 for the default alpha grid; pass alphas.")
    if alphas is not None:
        alphas = _check_alphas(alphas)
    path = _engine_path(_host_or_device(X, dt), _host_or_device(y, dt), alphas, n_alphas, eps,
                        l1_ratio, fit_intercept=fit_intercept, tol=tol, max_iter=max_iter,
                        max_outer=max_outer, positive=bool(positive))
    if any_traced((X, y, alphas, l1_ratio)):  # differentiable: JAX arrays
        return path
    return LassoPath(*(np.asarray(a) for a in path))  # replicated when sharded: readable everywhere


def _check_alphas(alphas):
    """Given ``alphas``, checked (when concrete) and sorted in decreasing order."""
    alphas = _inputs.as_real_array("alphas", alphas)
    if alphas.ndim != 1 or alphas.size == 0:
        raise ValueError(f"alphas must be a non-empty 1-D array, got shape {alphas.shape}.")
    if is_traced(alphas):
        return jnp.sort(alphas)[::-1]
    alphas = np.asarray(alphas, dtype=np.float64)
    if not np.all(np.isfinite(alphas)) or np.any(alphas < 0):
        raise ValueError("alphas must be finite and >= 0.")
    return np.sort(alphas)[::-1]


def _enet_pair(a):
    """The penalty of one step of the engine's path: ``a = (alpha, l1_ratio)``."""
    return _enet_penalty(a[0], a[1])


def _enet_pair_positive(a):
    """:func:`_enet_pair` with ``w >= 0``."""
    return _enet_penalty(a[0], a[1], positive=True)


def _engine_path(X, y, alphas, n_alphas, eps, l1_ratio, *, fit_intercept, tol, max_iter,
                 max_outer, positive=False) -> LassoPath:
    """:func:`lasso_path` by the GLM engine's warm-started path (``glm_path``'s ``lax.scan``),
    differentiable. The default grid is a function of the data, differentiated with them."""
    n = X.shape[0]
    traced = any_traced((X, y, alphas, l1_ratio))
    if alphas is None:
        xp = np if isinstance(X, np.ndarray) and isinstance(y, np.ndarray) else jnp
        amax = top_correlation(X, y, fit_intercept, positive) / (n * l1_ratio)
        alphas = amax * xp.geomspace(1.0, eps, num=n_alphas, dtype=X.dtype)
    alphas = jnp.asarray(alphas, X.dtype)
    pairs = jnp.stack([alphas, jnp.broadcast_to(jnp.asarray(l1_ratio, X.dtype), alphas.shape)], 1)
    data, W0, (_, p, _, _, _) = _prepare(X, y, quadratic(), None, multitask=False)
    pair = _enet_pair_positive if positive else _enet_pair
    sols = _path(quadratic(), pair, data, W0, pairs, tol, int(max_outer), int(max_iter),
                 bool(fit_intercept), traced, columns=_columns(data, quadratic()),
                 newton=not any_batched((data, pairs)))
    return LassoPath(alphas=alphas, coefs=sols.iterate.W[:, :p, 0],
                     intercepts=sols.iterate.b[:, 0], duality_gaps=sols.cert.gap,
                     n_iter=sols.n_epochs, converged=sols.status == Status.CONVERGED)


# --------------------------------------------------------------------------- #
# batches
# --------------------------------------------------------------------------- #


def lasso_batch(X, y, alpha, *, l1_ratio=1.0, fit_intercept=False, tol=1e-6,
                max_iter=DEFAULT_MAX_ITER, ws_size=None, max_outer=DEFAULT_MAX_OUTER,
                positive=False) -> SparseResult:
    """Many independent lasso / elastic-net problems in one compiled, vmapped call.

    Any of ``X`` ``(B, n, p)`` or ``(n, p)``, ``y`` ``(B, n)`` or ``(n,)`` and
    ``alpha`` ``(B,)`` or scalar may carry the batch axis (the others are
    shared): a stack of problems, one ``X`` with many ``y`` (e.g. many
    targets), or one problem with many ``alpha``. It is ``jax.vmap`` over
    :func:`lasso`'s solver (the GLM engine, without its active-set Newton
    steps, whose ``lax.cond`` a vmap would evaluate at every epoch), compiled
    once per size bucket::

        jax.vmap(lambda X, y, a: gradopt.lasso(X, y, a))(Xs, ys, alphas)

    does the same by hand; ``ws_size`` no longer has an effect. All problems
    iterate in lockstep until the slowest one has converged (each keeps its
    own certified solution). Returns a
    :class:`~gradopt.problems.SparseResult` whose fields have a leading batch
    axis. Objective, ``positive``, precision and input rules as :func:`elastic_net`.

    Derivatives: when an argument as passed is traced (``jax.grad``, ``jax.jit``
    or ``jax.vmap`` around the call), the batch is a ``jax.vmap`` of the GLM
    engine's differentiable solve (see :func:`lasso`).

    Sharded data (global ``jax.Array`` inputs on a mesh, one process or many):

    * **The batch axis sharded**: a batched argument (``X`` ``(B, n, p)``, ``y``
      ``(B, n)`` or ``alpha`` ``(B,)``) sharded along its leading axis only
      (``NamedSharding(mesh, P("batch"))``). Each of the ``D`` devices along the
      batch's mesh axes solves its own ``B / D`` problems with the vmapped
      solver above (``jax.shard_map``), in lockstep with its own problems only;
      there is no communication. The other batched arguments are placed with
      the same batch sharding and the shared ones are replicated on the mesh
      (NumPy values are cut on each process). **Result:** every field keeps
      the batch sharding, ``NamedSharding(mesh, P("batch"))`` on its leading
      axis; in a multi-process run each process holds its own problems'
      results (``addressable_shards``).
    * **A shared 2-D** ``X`` **whose rows are sharded** (``P("data", None)``)
      with a batch of ``y`` ``(B, n)`` and / or ``alpha`` ``(B,)``: the rows stay
      where they are and each problem is the GLM engine's SPMD solve (as
      :func:`lasso` on sharded ``X``), vmapped over the batch in one program:
      per iteration it all-reduces a ``(p, B)`` block of correlations ``X^T U``
      and never gathers ``X``. ``y`` is placed with ``X``'s row sharding,
      ``n_iter`` counts epochs and ``status`` is filled.
      **Result:** replicated over the mesh (readable in every process).
    * Other layouts (a replicated ``X``; a batched argument sharded along a
      non-batch axis only, e.g. ``X`` ``(B, n, p)`` as ``P(None, "data", None)``)
      take the single-program path above, where XLA's sharding propagation
      places the work. A batched argument sharded along its batch axis *and*
      another one, or batched arguments sharded differently, raise
      ``ValueError``.

    Example::

        >>> import numpy as np, gradopt
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((50, 8)); Y = rng.standard_normal((4, 50))
        >>> res = gradopt.lasso_batch(X, Y, 0.05, tol=1e-4)
        >>> res.coef.shape, bool(res.converged.all())
        ((4, 8), True)
    """
    return _batch_call(X, y, alpha, l1_ratio=l1_ratio, fit_intercept=fit_intercept, tol=tol,
                       max_iter=max_iter, ws_size=ws_size, max_outer=max_outer,
                       positive=positive)()


class _BatchCall(NamedTuple):
    """A planned :func:`lasso_batch`: ``fn(*args, **static)`` solves. ``fn`` is jitted when
    ``lowerable``, and ``fn.lower(*args, **static)`` is then the whole batch's program (the
    tests and ``benchmarks/scaling.py`` read its collectives from it)."""

    fn: Any
    args: tuple
    static: dict
    kind: str  # "local" (one program, NumPy / one device), "batch", "rows" or "traced"
    lowerable: bool = True

    def __call__(self) -> SparseResult:
        return self.fn(*self.args, **self.static)


def _batch_call(X, y, alpha, *, l1_ratio, fit_intercept, tol, max_iter, ws_size,
                max_outer, positive=False) -> _BatchCall:
    """:func:`lasso_batch`'s checks, and the program that solves the batch where it lies."""
    _check_common(0.0, l1_ratio, tol, max_iter, max_outer, positive)
    positive = bool(positive)
    X, y = _check_data(X, y, batched=True)
    alpha_arr = alpha if (isinstance(alpha, jax.Array) or is_traced(alpha)) else np.asarray(alpha)
    if alpha_arr.ndim > 1:
        raise ValueError(f"alpha must be a scalar or a 1-D array, got shape {alpha_arr.shape}.")
    if not is_traced(alpha_arr):
        if _sharding.is_sharded(alpha_arr):  # checked where it lies (maybe other processes)
            ok = bool(_sharding.reduce_on_device(
                lambda a: jnp.all(jnp.isfinite(a) & (a >= 0)), alpha_arr))
        else:
            a_np = np.asarray(alpha_arr, dtype=np.float64)
            ok = np.all(np.isfinite(a_np)) and not np.any(a_np < 0)
        if not ok:
            raise ValueError("alpha must be finite and >= 0.")
    sizes = {s for s, nd in ((X.shape[0], X.ndim == 3), (y.shape[0], y.ndim == 2),
                             (alpha_arr.shape[0] if alpha_arr.ndim else 0, alpha_arr.ndim == 1))
             if nd}
    if len(sizes) > 1:
        raise ValueError(f"batched arguments must share the batch size, got sizes {sorted(sizes)}.")
    if not sizes:
        raise ValueError("lasso_batch needs a batch axis on X, y or alpha; use lasso() otherwise.")
    _check_solver("auto", ws_size, stacklevel=4)
    dt = _float_dtype(X, y)
    in_axes = (0 if X.ndim == 3 else None, 0 if y.ndim == 2 else None,
               0 if alpha_arr.ndim == 1 else None)
    static = dict(in_axes=in_axes, fit_intercept=bool(fit_intercept), max_iter=int(max_iter),
                  max_outer=int(max_outer), pure_l1=_pure_l1(l1_ratio), positive=positive)
    # the arguments as passed: traced by an outer jax.grad / jit / vmap (the vmap below
    # traces them too, but only after this test)
    if any_traced((X, y, alpha_arr, l1_ratio, tol)):
        args = jnp.asarray(X, dt), jnp.asarray(y, dt), jnp.asarray(alpha_arr, dt)
        solve = jax.vmap(lambda X, y, a: engine_least_squares(
            X, y, _enet_or_l1(a, l1_ratio, positive), None, fit_intercept=fit_intercept, tol=tol,
            max_iter=max_iter, max_outer=max_outer), in_axes=in_axes)
        return _BatchCall(solve, args, {}, "traced", lowerable=False)
    plan = _batch_plan(X, y, alpha_arr, in_axes)
    if plan.kind == "rows":
        return _rows_call(X, y, alpha_arr, plan, dt, in_axes, l1_ratio=l1_ratio,
                          fit_intercept=bool(fit_intercept), tol=tol, max_iter=int(max_iter),
                          max_outer=int(max_outer), positive=positive)
    if plan.kind == "batch":
        batch = NamedSharding(plan.mesh, P(plan.axis))
        shared = NamedSharding(plan.mesh, P())
        args = tuple(_place(a, batch if ax == 0 else shared, dt)
                     for a, ax in zip((X, y, alpha_arr), in_axes))
        scalars = (np.asarray(l1_ratio, dt), np.asarray(tol, dt))
        return _BatchCall(_batch_shards_jit, args + scalars,
                          dict(static, mesh=plan.mesh, axis=plan.axis), "batch")
    args = jnp.asarray(X, dt), jnp.asarray(y, dt), jnp.asarray(alpha_arr, dt)
    return _BatchCall(_batch_jit, args + (jnp.asarray(l1_ratio, dt), jnp.asarray(tol, dt)),
                      static, "local")


class _BatchPlan(NamedTuple):
    """Where a batch is solved: ``kind`` ``"local"`` (one program over the whole batch: NumPy,
    one device, or a layout left to XLA's sharding propagation), ``"batch"`` (the batch axis
    sharded over ``mesh``'s axes ``axis``: each device solves its own problems) or ``"rows"``
    (a shared 2-D ``X`` whose rows are sharded over ``axis``: one engine SPMD solve per
    problem, vmapped)."""

    kind: str
    mesh: Any = None
    axis: Any = None


def _batch_plan(X, y, alpha, in_axes) -> _BatchPlan:
    """Read the layout of ``lasso_batch``'s arguments (see :class:`_BatchPlan`)."""
    if X.ndim == 2 and _sharding.row_sharded(X) and _sharding.spec_of(X)[0] is not None:
        return _BatchPlan("rows", X.sharding.mesh, _sharding.spec_of(X)[0])
    led = []  # batched arguments sharded along their leading (batch) axis
    for name, a, ax in zip(("X", "y", "alpha"), (X, y, alpha), in_axes):
        if ax != 0 or not _sharding.is_sharded(a) or not isinstance(a.sharding, NamedSharding):
            continue
        spec = _sharding.spec_of(a)
        if spec[0] is None:
            continue
        if any(s is not None for s in spec[1:]):
            raise ValueError(
                f"lasso_batch: {name} of shape {a.shape} is sharded as {a.sharding.spec}, along "
                f"its batch axis and another one. Shard a batch along its leading axis only "
                f"(P({spec[0]!r}): each device solves whole problems), or pass one 2-D X with "
                f"its rows sharded (P('data', None)) for problems that share X.")
        led.append((name, a.sharding.mesh, spec[0]))
    if not led:
        return _BatchPlan("local")
    name, mesh, axis = led[0]
    for other, m, ax in led[1:]:
        if m != mesh or ax != axis:
            raise ValueError(
                f"lasso_batch: the batched arguments are sharded differently ({name} over "
                f"{axis!r} of mesh {dict(mesh.shape)}, {other} over {ax!r} of mesh "
                f"{dict(m.shape)}); give them the same batch sharding.")
    return _BatchPlan("batch", mesh, axis)


def _place(a, sharding: NamedSharding, dtype):
    """``a`` as ``dtype`` laid out as ``sharding``: JAX arrays are cast and resharded on their
    devices, NumPy values are cut on each process (``make_array_from_callback``)."""
    if isinstance(a, jax.Array):
        a = a if a.dtype == dtype else a.astype(dtype)
        return a if a.sharding.is_equivalent_to(sharding, a.ndim) else jax.device_put(a, sharding)
    a = np.asarray(a, dtype)
    return jax.make_array_from_callback(a.shape, sharding, lambda index: a[index])


def _batch_penalty(a, l1_ratio, pure_l1: bool, positive: bool):
    """One batched problem's penalty (``pure_l1``: ``l1_ratio`` is a concrete 1)."""
    if pure_l1:
        return _l1_penalty(a, positive=positive)
    return _enet_penalty(a, l1_ratio, positive=positive)


def _batch_body(X, y, alpha, l1_ratio, tol, *, in_axes, fit_intercept, max_iter, max_outer,
                pure_l1, positive):
    """The GLM engine's solve vmapped over a batch (on one device, or on one device's block):
    each problem padded and solved as :func:`lasso` does, without Newton steps (a vmapped
    ``lax.cond`` runs both branches)."""
    def one(X, y, a):
        penalty = _batch_penalty(a, l1_ratio, pure_l1, positive)
        return engine_least_squares(X, y, penalty, None, fit_intercept=fit_intercept, tol=tol,
                                    max_iter=max_iter, max_outer=max_outer)

    return jax.vmap(one, in_axes=in_axes)(X, y, alpha)


_BATCH_STATIC = ("in_axes", "fit_intercept", "max_iter", "max_outer", "pure_l1", "positive")
_batch_jit = jit(_batch_body, static_argnames=_BATCH_STATIC)


@functools.partial(jit, static_argnames=_BATCH_STATIC + ("mesh", "axis"))
def _batch_shards_jit(X, y, alpha, l1_ratio, tol, *, in_axes, fit_intercept, max_iter, max_outer,
                      pure_l1, positive, mesh, axis):
    """:func:`_batch_body` on each device's block of the batch (``jax.shard_map`` over the
    batch's mesh axes ``axis``): no communication; results sharded like the batch."""
    specs = tuple(P(axis) if ax == 0 else P() for ax in in_axes) + (P(), P())
    local = functools.partial(_batch_body, in_axes=in_axes, fit_intercept=fit_intercept,
                              max_iter=max_iter, max_outer=max_outer, pure_l1=pure_l1,
                              positive=positive)
    # check_vma=False: the solver's loops carry values that start equal on every device
    return jax.shard_map(local, mesh=mesh, in_specs=specs, out_specs=P(axis),
                         check_vma=False)(X, y, alpha, l1_ratio, tol)


def _rows_call(X, y, alpha, plan: _BatchPlan, dt, in_axes, *, l1_ratio, fit_intercept, tol,
               max_iter, max_outer, positive) -> _BatchCall:
    """A batch of problems sharing a row-sharded ``X``: the engine's data prepared once (``X``
    transposed and feature-padded on its own devices), ``y`` placed like ``X``'s rows."""
    if X.dtype != dt:
        X = X.astype(dt)  # on X's devices, its sharding kept
    _, ax_y, ax_a = in_axes
    shared_y = y if ax_y is None else np.zeros(X.shape[0], dt)  # y of the prepared data
    data, W0, (_, p, _, _, _) = _prepare(X, shared_y, quadratic(), None, multitask=False)
    if ax_y is None:
        ys = None
    else:
        ys = _place(y, NamedSharding(plan.mesh, P(None, plan.axis)), dt)
    if ax_a is None:
        alphas = np.asarray(alpha, dt)
    else:
        alphas = _place(alpha, NamedSharding(plan.mesh, P()), dt)
    args = (data, W0, ys, alphas, np.asarray(l1_ratio, dt), np.asarray(tol, dt))
    static = dict(y_axis=ax_y, a_axis=ax_a, p=p, pure_l1=_pure_l1(l1_ratio), positive=positive,
                  fit_intercept=fit_intercept, max_iter=max_iter, max_outer=max_outer)
    return _BatchCall(_batch_rows_jit, args, static, "rows")


@functools.partial(jit, static_argnames=("y_axis", "a_axis", "p", "pure_l1", "positive",
                                             "fit_intercept", "max_iter", "max_outer"))
def _batch_rows_jit(data, W0, ys, alphas, l1_ratio, tol, *, y_axis, a_axis, p, pure_l1,
                    positive, fit_intercept, max_iter, max_outer):
    """The GLM engine's solve (:func:`engine_least_squares`' program) vmapped over a batch of
    targets and / or strengths, on data whose rows are sharded: one SPMD program."""

    def batch(data, W0, ys, alphas, l1_ratio, tol):
        p_pad = data.XT.shape[0]

        def one(y, a):
            d = data if y is None else data._replace(y=y[:, None])
            penalty = _batch_penalty(a, l1_ratio, pure_l1, positive)
            penalty = _per_feature(penalty, p_pad, data.XT.dtype)
            sol = engine.solve(quadratic(), penalty, d, W0, tol, max_outer, max_iter,
                               fit_intercept=fit_intercept, newton=False)  # vmapped
            return _glm_result(sol, p, True)._replace(n_iter=sol.n_epochs)

        return jax.vmap(one, in_axes=(y_axis, a_axis))(ys, alphas)

    mesh, _ = _sharding._explicit_spec(data.XT)
    explicit = () if mesh is None else _sharding.explicit_axes(mesh)
    if explicit:
        # on explicit axes, vmap turns the engine's lax.cond into selects whose batched
        # predicate has no sharding in its type, which JAX refuses: the solve runs with the
        # axes made auto (sharding propagation, as on an auto mesh); results replicated
        batch = jax.sharding.auto_axes(batch, axes=explicit, out_sharding=P())
    return batch(data, W0, ys, alphas, l1_ratio, tol)

