r"""Named GLM problems as presets of :func:`gradopt.glm`, and regularization paths.

Each preset is a datafit x penalty pair (``docs/glm.md`` has the table):

==========================  =====================  ==================================
preset                      datafit                penalty
==========================  =====================  ==================================
``multitask_lasso``         ``quadratic()`` on Y   ``group_l2(alpha, axis=1)`` (rows)
``huber_regression``        ``huber(delta)``       ``elastic_net(alpha, l1_ratio)``
``poisson_regression``      ``poisson()``          ``elastic_net(alpha, l1_ratio)``
``sparse_logistic``         ``logistic()``         ``l1(alpha)``
==========================  =====================  ==================================

``lasso``, ``elastic_net`` (``quadratic()`` with ``l1`` / ``elastic_net``) and
``group_lasso`` (the group norms, groups as blocks) are presets too, in
``lasso.py`` and ``group.py`` with their certificates. ``glm_path`` solves one preset over a grid of
strengths with warm starts, in one compiled program.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gradopt._validation import check_scalar
from gradopt.datafits import huber, poisson, quadratic
from gradopt.problems import _inputs, engine
from gradopt.problems._compile import jit
from gradopt.problems._result import SparseResult
from gradopt.problems.glm import (
    DEFAULT_MAX_EPOCHS,
    DEFAULT_MAX_ITER,
    _check_penalty,
    _columns,
    _per_feature,
    _prepare,
    any_batched,
    any_traced,
    glm,
    glm_alpha_max,
)
from gradopt.prox.group import IndexGroupsL2, group_l2
from gradopt.prox.sparse import elastic_net, l1

__all__ = ["GLMPath", "glm_path", "huber_regression", "multitask_lasso", "poisson_regression"]


def _pure_l1(l1_ratio) -> bool:
    """Whether a concrete ``l1_ratio`` is 1 (the l1 penalty, not an elastic net)."""
    return not _inputs.is_traced(l1_ratio) and float(l1_ratio) == 1.0


def _enet_or_l1(alpha, l1_ratio, positive=False):
    """The penalty of ``lasso`` / ``elastic_net`` (``positive``: and ``w >= 0``), checked."""
    check_scalar("alpha", alpha, low=0.0)
    check_scalar("l1_ratio", l1_ratio, low=0.0, high=1.0)
    if _pure_l1(l1_ratio):
        return l1(alpha, positive=positive)
    return elastic_net(alpha, l1_ratio, positive=positive)


def multitask_lasso(X, Y, alpha, *, fit_intercept: bool = False, tol: float = 1e-6,
                    max_iter: int = DEFAULT_MAX_ITER, max_epochs: int = DEFAULT_MAX_EPOCHS,
                    init: Any = None) -> SparseResult:
    r"""Multitask lasso: ``min_W 1/(2n) ||Y - XW - 1 b^T||_F^2 + alpha sum_j ||W_j||_2``.

    scikit-learn's ``MultiTaskLasso(alpha)`` objective: ``Y`` is ``(n, k)``,
    ``W`` is ``(p, k)`` and the penalty is the sum of the Euclidean norms of
    its rows, so a feature is selected for all tasks or none (Obozinski,
    Taskar & Jordan 2010). ``glm(X, Y, quadratic(), group_l2(alpha, axis=1))``;
    the gap certificate is the residual dual point rescaled into
    ``max_j ||X_j^T R|| / n <= alpha``.

    Example::

        >>> import numpy as np, gradopt
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((50, 8)); Y = X[:, :2] @ np.ones((2, 3))
        >>> res = gradopt.multitask_lasso(X, Y, 0.1)
        >>> res.coef.shape, np.flatnonzero(np.abs(np.asarray(res.coef)).sum(1)).tolist()
        ((8, 3), [0, 1])
    """
    check_scalar("alpha", alpha, low=0.0)
    X, Y = _inputs.check_design(X, Y, y_name="Y", y_ndim=(2,))
    res = glm(X, Y, quadratic(), group_l2(alpha, axis=1), fit_intercept=fit_intercept, tol=tol,
              max_iter=max_iter, max_epochs=max_epochs, init=init)
    if not _inputs.is_traced(X) and not _inputs.is_traced(Y):
        _inputs.warn_if_null(res.coef, alpha, lambda: glm_alpha_max(
            X, Y, quadratic(), fit_intercept=fit_intercept), "multitask lasso")
    return res


def huber_regression(X, y, alpha, *, delta: float = 1.35, l1_ratio: float = 1.0,
                     fit_intercept: bool = False, tol: float = 1e-6,
                     max_iter: int = DEFAULT_MAX_ITER, max_epochs: int = DEFAULT_MAX_EPOCHS,
                     init: Any = None) -> SparseResult:
    r"""Sparse robust regression: ``min 1/n sum_i h_delta(y_i - x_i^T w - b) + alpha (l1_ratio ||w||_1
    + (1 - l1_ratio)/2 ||w||^2)``.

    ``h_delta`` is Huber's loss (quadratic for ``|r| < delta``, linear beyond;
    Huber 1964), so outliers in ``y`` pull the fit linearly instead of
    quadratically. ``delta`` is in the units of ``y`` (no scale is estimated,
    unlike scikit-learn's ``HuberRegressor``). Proximal coordinate descent
    with steps ``n / ||x_j||^2``; stops on the optimality violation (see
    :func:`gradopt.glm`'s ``tol``).

    Example::

        >>> import numpy as np, gradopt
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((100, 5)); y = X @ np.array([1.0, -1, 0, 0, 0])
        >>> y[:5] += 50.0   # outliers
        >>> res = gradopt.huber_regression(X, y, 0.01, delta=1.0)
        >>> np.round(np.asarray(res.coef), 1).tolist()[:2], bool(res.converged)
        ([1.0, -1.0], True)
    """
    return _sparse_regression(X, y, huber(delta), alpha, l1_ratio, "Huber regression",
                              fit_intercept=fit_intercept, tol=tol, max_iter=max_iter,
                              max_epochs=max_epochs, init=init)


def poisson_regression(X, y, alpha, *, l1_ratio: float = 1.0, fit_intercept: bool = False,
                       tol: float = 1e-6, max_iter: int = DEFAULT_MAX_ITER,
                       max_epochs: int = DEFAULT_MAX_EPOCHS, init: Any = None) -> SparseResult:
    r"""Sparse Poisson regression (log link): ``min 1/n sum_i exp(z_i) - y_i z_i + alpha (l1_ratio
    ||w||_1 + (1 - l1_ratio)/2 ||w||^2)``, ``z = Xw + b``.

    For counts ``y >= 0``. The datafit is the negative log-likelihood up to a
    constant (half scikit-learn's ``PoissonRegressor`` deviance, whose
    ``alpha`` is a ridge strength ``alpha/2 ||w||^2``: ``l1_ratio=0`` with the
    same ``alpha`` matches it). Proximal Newton with a line search; stops on the optimality
    violation.

    Example::

        >>> import numpy as np, gradopt
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((500, 4)); y = rng.poisson(np.exp(0.5 * X[:, 0] + 1.0))
        >>> res = gradopt.poisson_regression(X, y, 0.01, fit_intercept=True)
        >>> bool(res.converged), round(float(res.intercept), 1)
        (True, 1.0)
    """
    return _sparse_regression(X, y, poisson(), alpha, l1_ratio, "Poisson regression",
                              fit_intercept=fit_intercept, tol=tol, max_iter=max_iter,
                              max_epochs=max_epochs, init=init)


def _sparse_regression(X, y, datafit, alpha, l1_ratio, what: str, **kw) -> SparseResult:
    """``glm`` with the elastic-net penalty, warning as the lasso does when ``alpha >=
    alpha_max`` made the solution 0 (``alpha_max`` of ``elastic_net(1, l1_ratio)``,
    computed only then; a ridge, ``l1_ratio = 0``, has none)."""
    res = glm(X, y, datafit, _enet_or_l1(alpha, l1_ratio), **kw)
    if l1_ratio > 0 and not (_inputs.is_traced(X) or _inputs.is_traced(y)):
        _inputs.warn_if_null(res.coef, alpha, lambda: glm_alpha_max(
            X, y, datafit, _enet_or_l1(1.0, l1_ratio), fit_intercept=kw["fit_intercept"]),
            what, stacklevel=3)
    return res


@dataclasses.dataclass(frozen=True)
class _GroupBlocks:
    """``alpha -> penalty(alpha)``'s engine block penalty, for a ``penalty`` that returns
    ``group_l2(..., groups=...)``; hashed by ``penalty``, so a path's program is reused."""

    penalty: Callable[[Any], Any]
    p: int

    def __call__(self, alpha):
        return self.penalty(alpha).engine_blocks(self.p)[0]


class GLMPath(NamedTuple):
    """Solutions along a grid of strengths (leading axis: the grid)."""

    alphas: jax.Array
    coefs: jax.Array
    intercepts: jax.Array
    objectives: jax.Array
    duality_gaps: jax.Array
    n_iters: jax.Array
    converged: jax.Array


def glm_path(X, y, datafit, penalty: Callable[[Any], Any], alphas=None, *, n_alphas: int = 100,
             eps: float = 1e-3, fit_intercept: bool = False,
             tol: float = 1e-6, max_iter: int = DEFAULT_MAX_ITER,
             max_epochs: int = DEFAULT_MAX_EPOCHS) -> GLMPath:
    r"""Solve ``glm(X, y, datafit, penalty(alpha))`` for each ``alpha``, warm-starting each
    solve from the previous solution (one ``lax.scan``: one compiled program).

    Args:
      penalty: ``alpha -> penalty`` (e.g. ``gradopt.prox.l1``, or
        ``lambda a: gradopt.prox.elastic_net(a, 0.5)``); keep the same function
        object between calls to reuse the compiled program.
      alphas: 1-D strengths, solved in the given order (decreasing is the
        usual choice: each solution is then a good start for the next).
        Default: ``n_alphas`` values log-spaced from ``alpha_max =
        glm_alpha_max(X, y, datafit, penalty(1.0))`` (the strength whose
        solution is 0; :meth:`gradopt.prox.Penalty.alpha_max`) down to
        ``eps * alpha_max``, scikit-learn's path grid.
      n_alphas, eps: the default grid's size and ratio (used without ``alphas``).

    Example::

        >>> import numpy as np, gradopt
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((60, 10)); y = (X[:, 0] > 0).astype(int)
        >>> amax = float(gradopt.sparse_logistic_alpha_max(X, y, fit_intercept=False))
        >>> path = gradopt.glm_path(X, y, gradopt.datafits.logistic(), gradopt.prox.l1,
        ...                         amax * np.array([0.5, 0.2, 0.1]))
        >>> np.asarray(path.converged).tolist()
        [True, True, True]
    """
    if not callable(penalty):
        raise TypeError("penalty must be a function alpha -> penalty, e.g. gradopt.prox.l1.")
    _inputs.check_flag("fit_intercept", fit_intercept)
    _inputs.check_tol(tol)
    max_iter = _inputs.check_count("max_iter", max_iter, 0)
    max_epochs = _inputs.check_count("max_epochs", max_epochs, 1)
    if alphas is None:
        alphas = _default_grid(X, y, datafit, penalty, n_alphas, eps, fit_intercept)
    alphas_arr = _inputs.as_real_array("alphas", alphas)
    if alphas_arr.ndim != 1 or alphas_arr.shape[0] < 1:
        raise ValueError(f"alphas must be a non-empty 1-D array, got shape {alphas_arr.shape}.")
    _inputs.check_finite("alphas", alphas_arr)
    if not _inputs.is_traced(alphas_arr) and np.any(np.asarray(alphas_arr) < 0):
        raise ValueError("alphas must be >= 0.")
    first = penalty(float(alphas_arr[0]) if not _inputs.is_traced(alphas_arr) else 1.0)
    groups = None
    if isinstance(first, IndexGroupsL2):  # the index groups are the engine's blocks
        first, groups = first.engine_blocks(np.shape(X)[1] if np.ndim(X) == 2
                                            else len(first.labels))
        penalty = _GroupBlocks(penalty, len(first.reg))
    data, W0, (n, p, k, dtype, squeeze) = _prepare(X, y, datafit, None, multitask=False,
                                                   groups=groups)
    _check_penalty(first, p)
    sols = _path(datafit, penalty, data, W0, jnp.asarray(alphas_arr, dtype), tol, max_iter,
                 max_epochs, bool(fit_intercept), any_traced((data, alphas_arr)),
                 columns=_columns(data, datafit), newton=not any_batched((data, alphas_arr)))
    coef = sols.iterate.W[:, :p]
    b = sols.iterate.b
    if squeeze:
        coef, b = coef[..., 0], b[..., 0]
    return GLMPath(jnp.asarray(alphas_arr, dtype), coef, b, sols.cert.objective, sols.cert.gap,
                   sols.n_iter, sols.status == 0)


def _default_grid(X, y, datafit, penalty, n_alphas, eps, fit_intercept):
    """``alpha_max * geomspace(1, eps, n_alphas)``, ``alpha_max`` of ``penalty(1.0)``."""
    n_alphas = _inputs.check_count("n_alphas", n_alphas, 1)
    check_scalar("eps", eps, low=0.0, high=1.0, low_inclusive=False)
    unit = penalty(1.0)
    amax = glm_alpha_max(X, y, datafit, unit, fit_intercept=fit_intercept)
    if not _inputs.is_traced(amax) and not 0 < float(amax) < np.inf:
        raise ValueError(
            f"the default grid needs 0 < alpha_max < inf, got alpha_max={float(amax):g} for "
            f"{type(unit).__name__} (a ridge term never zeroes w; a zero gradient at "
            "the null model makes w = 0 optimal for every alpha): give alphas.")
    return amax * jnp.geomspace(1.0, eps, num=n_alphas, dtype=jnp.result_type(amax))


@functools.partial(jit, when=engine.cpu_options, static_argnums=(1, 8, 9),
                   static_argnames=("columns", "newton"))
def _path(datafit, penalty, data, W0, alphas, tol, max_iter, max_epochs, fit_intercept,
          differentiable, columns=None, newton=True):
    """The warm-started scan of solves (``columns``: glm's ``_columns``; ``newton``: the
    engine's active-set Newton steps, off under vmap). What the solves compute from the
    data alone (``engine.setup``: scales, curvatures and, in the Gram form, the quadratic
    datafit's Hessian) is computed once, before the scan; on feature-sharded data (a
    ``columns.mesh``) each solve computes it inside its own sharding context instead."""
    prepared = XW0 = None
    if columns is None or columns.mesh is None:
        prepared = lax.stop_gradient(engine.setup(datafit, data, fit_intercept, columns,
                                                  form_gram=True))
        XW0 = lax.stop_gradient(engine.predictions(data.XT, W0))

    def step(start, a):
        W, XW = start
        pen = _per_feature(penalty(a), data.XT.shape[0], data.XT.dtype)
        solve = engine.solve_differentiable if differentiable else engine.solve
        sol = solve(datafit, pen, data, W, tol, max_iter, max_epochs, fit_intercept=fit_intercept,
                    columns=columns, newton=newton, prepared=prepared, XW0=XW)
        it = lax.stop_gradient(sol.iterate)  # the warm start carries no derivative
        return (it.W, None if XW is None else it.Z - it.b), sol

    _, sols = lax.scan(step, (W0, XW0), alphas)
    return sols
