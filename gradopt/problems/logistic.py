r"""l1-penalized (sparse) logistic regression: a preset of :func:`gradopt.glm`.

Objective (labels ``y_i`` in ``{-1, +1}``; ``{0, 1}`` is mapped ``0 -> -1``)::

    P(w, b) = 1/n sum_i log(1 + exp(-y_i (x_i^T w + b))) + alpha ||w||_1

with the intercept ``b`` unpenalized. ``alpha = 1 / (C n)`` gives
scikit-learn's ``LogisticRegression(penalty="l1", C=C)`` (with an intercept,
compare with the ``saga`` solver: ``liblinear`` penalizes the intercept).

Certificate: the binary-entropy dual at the datafit's gradient, made feasible
by scaling the larger class down (``sum theta = 0``, the intercept's dual
constraint) and rescaling into ``||X^T theta||_inf <= alpha``
(``gradopt.datafits.logistic``). Solver: the GLM engine's proximal Newton
(Lee, Sun & Saunders 2014; Friedman, Hastie & Tibshirani 2010) with
working-set coordinate descent and a line search that never increases the
objective.
"""

from __future__ import annotations

from typing import Any

from gradopt._validation import check_scalar
from gradopt.datafits import logistic
from gradopt.problems import _inputs
from gradopt.problems._result import SparseResult
from gradopt.problems.glm import glm, glm_alpha_max
from gradopt.prox.sparse import l1

__all__ = ["sparse_logistic", "sparse_logistic_alpha_max"]


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
    return glm_alpha_max(X, y, logistic(), fit_intercept=fit_intercept)


def sparse_logistic(
    X: Any,
    y: Any,
    alpha: Any,
    *,
    fit_intercept: bool = True,
    tol: float = 1e-6,
    max_iter: int = 100,
    max_inner: int = 1000,
    init: Any = None,
) -> SparseResult:
    r"""Sparse logistic regression: ``min 1/n sum_i log(1 + exp(-y_i (x_i^T w + b))) + alpha ||w||_1``.

    ``glm(X, y, datafits.logistic(), prox.l1(alpha), ...)``: proximal Newton
    with working-set coordinate-descent inner solves and a backtracking line
    search; stops when the duality gap is ``<= tol * P(0)``. See the module
    docstring.

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
      max_inner: maximum coordinate-descent epochs per Newton iteration
        (``glm``'s ``max_epochs``).
      init: ``(p,)`` initial coefficients (warm start).

    Returns:
      :class:`SparseResult`; ``n_iter`` counts Newton iterations.

    Example::

        >>> import numpy as np, gradopt
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((200, 5))
        >>> y = (X[:, 0] - X[:, 1] + 0.5 * rng.standard_normal(200) > 0).astype(int)
        >>> res = gradopt.sparse_logistic(X, y, 0.02)
        >>> bool(res.converged), int(np.sum(np.asarray(res.coef) != 0)) <= 5
        (True, True)
    """
    check_scalar("alpha", alpha, low=0.0, low_inclusive=False)
    max_inner = _inputs.check_count("max_inner", max_inner, 1)
    _inputs.check_flag("fit_intercept", fit_intercept)
    X, y = _inputs.check_design(X, y)
    res = glm(X, y, logistic(), l1(alpha), fit_intercept=fit_intercept, tol=tol,
              max_iter=max_iter, max_epochs=max_inner, init=init)
    if not _inputs.is_traced(X) and not _inputs.is_traced(y):
        _inputs.warn_if_null(res.coef, alpha, lambda: sparse_logistic_alpha_max(
            X, y, fit_intercept=fit_intercept), "sparse logistic")
    return res
