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

Solver. A preset of the GLM engine (:func:`gradopt.glm`, ``docs/glm.md``)
with the groups as its blocks: cyclic block coordinate descent, each group
taking one proximal gradient step with its own Lipschitz constant
``L_g = ||X_g||_2^2 / n``, ``w_g <- BST(w_g - grad_g / L_g, alpha omega_g / L_g)``
with block soft thresholding ``BST(v, t) = max(0, 1 - t / ||v||) v`` (Tseng &
Yun 2009; Qin, Scheinberg & Goldfarb 2013), inside working sets (the non-zero
groups and the most violating others, Massias et al. 2018), with Anderson
extrapolation kept when it lowers the objective (Bertrand & Massias 2021).
The whole solve is one compiled program per size bucket.

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

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradopt._validation import check_scalar, densify, is_traced
from gradopt.problems import _inputs
from gradopt.problems._result import SparseResult
from gradopt.datafits import quadratic
from gradopt.problems.glm import DEFAULT_MAX_ITER as _ENGINE_MAX_OUTER, any_traced, glm_alpha_max
from gradopt.problems.lasso import engine_least_squares
from gradopt.prox.group import FeatureGroupsL2, group_l2
from gradopt.prox.group import parse_groups as _group_parse

__all__ = ["group_lasso", "group_lasso_alpha_max"]

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
        X, y, penalty, w0, fit_intercept=fit_intercept, tol=tol,
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
    glist = _group_parse(groups, X.shape[1])
    omega = _group_weights(weights, _group_layout(glist, X.shape[1]).sizes, dtype)
    return _alpha_max(X, y, glist, omega, fit_intercept)


def _alpha_max(X, y, glist, omega, fit_intercept):
    """:func:`gradopt.glm_alpha_max` with the groups as a penalty."""
    return glm_alpha_max(X, y, quadratic(), group_l2(1.0, groups=glist, weights=omega),
                         fit_intercept=fit_intercept)


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

    Solved by the GLM engine with the groups as blocks: block coordinate
    descent (one proximal step per group with the group Lipschitz constant
    ``||X_g||_2^2 / n``, block soft thresholding) in working sets, with
    Anderson extrapolation (see the module docstring). Stops when the duality gap (dual point by residual
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
      max_iter: maximum number of epochs (passes over the working set) of
        each of at most 100 working-set iterations (``0``: the start,
        certified).
      init: ``(p,)`` initial coefficients (warm start).

    Returns:
      :class:`SparseResult` (``n_iter`` counts epochs; ``converged`` is the
      gap test). The solve runs in the dtype of the inputs (float32 stays
      float32; float64 needs ``jax_enable_x64``).

    Derivatives: when ``X``, ``y``, ``alpha``, ``weights`` or ``init`` is traced
    (``jax.grad``, ``jax.jvp``, ``jax.jit``, ``jax.vmap``...) the solution is
    differentiated implicitly (the generalized Jacobian: 0 on groups out of the
    support; ``init`` gets 0). A concrete ``X`` laid out over several devices (a
    global ``jax.Array``, rows sharded) is solved as one SPMD program where the
    rows lie (see :func:`gradopt.glm`); the result is replicated.

    Note:
      Cost per epoch is ``O(n |ws| max|g|)``: groups of very unequal sizes pay
      for the largest one.

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
    w0 = _inputs.check_init(init, (p,), dtype)
    res = _engine_group_lasso(X, y, alpha, glist, omega, w0, fit_intercept=fit_intercept,
                              tol=tol, max_iter=max_iter)
    if not any_traced((X, y, omega)):
        _inputs.warn_if_null(res.coef, alpha, lambda: _alpha_max(X, y, glist, omega, fit_intercept),
                             "group lasso")
    return res
