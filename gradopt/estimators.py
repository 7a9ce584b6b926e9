r"""scikit-learn estimators backed by gradopt's lasso-family solvers.

``Lasso``, ``ElasticNet`` and ``GroupLasso`` are regressors, ``SparseLogisticRegression``
a binary classifier. They follow scikit-learn's API (constructor stores the
parameters only; ``fit`` validates with ``sklearn.utils.validation.validate_data``;
learned attributes end in ``_``; ``get_params``/``set_params``; usable in
``Pipeline`` and ``GridSearchCV``) and pass ``sklearn.utils.estimator_checks``
(see ``docs/estimators.md`` for the check list and the precision rules).

Objectives (``n`` samples, intercept ``b`` unpenalized when ``fit_intercept``):

* ``Lasso``:       ``1/(2n) ||y - Xw - b||^2 + alpha ||w||_1`` (= ``sklearn.linear_model.Lasso``)
* ``ElasticNet``:  ``1/(2n) ||y - Xw - b||^2 + alpha l1_ratio ||w||_1
  + alpha (1 - l1_ratio)/2 ||w||^2`` (= ``sklearn.linear_model.ElasticNet``)
* ``GroupLasso``:  ``1/(2n) ||y - Xw - b||^2 + alpha sum_g omega_g ||w_g||_2``
* ``SparseLogisticRegression``: ``sum_i log(1 + exp(-y_i (x_i^T w + b))) + 1/C ||w||_1``,
  i.e. ``gradopt.sparse_logistic`` with ``alpha = 1/(C n)``
  (= ``LogisticRegression(l1_ratio=1, C=C, solver="saga")``; not ``liblinear``,
  which penalizes the intercept).

Precision: ``X`` and ``y`` are converted to float64 when JAX's x64 mode is
enabled (``jax.config.update("jax_enable_x64", True)``), to float32 otherwise,
and the solve runs in that dtype; ``coef_`` has it too. ``tol`` is relative:
the solver stops when the duality gap is ``<= tol * P(0)`` (scikit-learn's
``Lasso(tol=t)`` stops at ``gap <= t ||y_c||^2 / n = 2 t P(0)``, so our default
``1e-4`` is a little tighter than its ``1e-4``; it is also reachable in float32,
where a relative gap much below ``1e-5`` is not). scipy.sparse input
is not supported (dense solvers): it raises scikit-learn's standard
``TypeError``.
"""

from __future__ import annotations

import warnings

import jax
import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_expit
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, d2_tweedie_score
from sklearn.utils import ClassifierTags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from gradopt._validation import check_int, check_scalar
from gradopt import prox
from gradopt.datafits import Datafit, Huber, Logistic, Poisson, huber, poisson, quadratic
from gradopt.problems import _inputs
from gradopt.problems._inputs import INT32_MAX
from gradopt.problems.glm import glm
from gradopt.prox.group import group_l2
from gradopt.problems.group import group_lasso
from gradopt.problems.logistic import sparse_logistic, sparse_logistic_alpha_max

# Lasso / ElasticNet pad up to this many rows to a power of two, so that cross-validation
# folds and the refit share one compiled program (larger data: the solve outweighs a compile)
ROW_PAD_MAX = 4096

__all__ = [
    "ElasticNet",
    "GeneralizedLinearEstimator",
    "GroupLasso",
    "Lasso",
    "MultiTaskLasso",
    "SparseHuberRegressor",
    "SparseLogisticRegression",
    "SparsePoissonRegressor",
]


def _solve_dtype():
    """float64 when JAX's x64 mode is on, else float32 (what JAX computes in)."""
    return np.float64 if jax.config.jax_enable_x64 else np.float32


class _SparseLinearBase(BaseEstimator):
    """Shared fit machinery: validation, warm start, storing the certificate."""

    def _check_common(self):
        """Check ``tol``, ``max_iter``, ``fit_intercept``; return ``max_iter`` as an int.

        The solvers count iterations in int32, so ``max_iter`` above ``2**31 - 1``
        is a ``ValueError`` here (not an ``OverflowError`` from inside JAX).
        """
        check_scalar("tol", self.tol, low=0.0)
        max_iter = check_int("max_iter", self.max_iter, 0, INT32_MAX)
        if not isinstance(self.fit_intercept, (bool, np.bool_)):
            raise TypeError(f"fit_intercept must be a bool, got {self.fit_intercept!r}.")
        return max_iter

    def _warm_init(self, p):
        coef = getattr(self, "coef_", None)
        if self.warm_start and coef is not None and np.size(coef) == p:
            return np.ravel(coef)
        return None

    def _store(self, res, what):
        coef = np.asarray(res.coef)
        self.intercept_ = float(res.intercept) if self.fit_intercept else 0.0
        self.n_iter_ = int(res.n_iter)
        self.duality_gap_ = float(res.duality_gap)
        self.objective_ = float(res.objective)
        self.converged_ = bool(res.converged)
        self._warn_if_not_converged(what)
        return coef

    def _warn_if_not_converged(self, what):
        if not self.converged_:
            crit = (
                f"duality gap {self.duality_gap_:.3g} > tol * P(0)"
                if np.isfinite(self.duality_gap_)
                else "the optimality violation is above tol times its value at w = 0"
            )
            warnings.warn(
                f"{what} did not converge in max_iter={self.max_iter} iterations: {crit}. "
                "Increase max_iter or tol.",
                ConvergenceWarning,
                stacklevel=4,
            )


def _check_numeric_target(y, name="y"):
    """Regression targets must be numbers: strings get a ``ValueError`` naming ``y``.

    (``validate_data(..., y_numeric=True)`` converts object arrays only; a
    NumPy string array would otherwise reach the solver and fail there with an
    unrelated NumPy error.)
    """
    if y is None or hasattr(y, "iloc"):  # pandas: validate_data checks its dtypes
        return
    arr = np.asarray(y) if not isinstance(y, np.ndarray) else y
    is_str = arr.dtype.kind in "US" or (
        arr.dtype == object and any(isinstance(v, (str, bytes)) for v in arr.ravel())
    )
    if is_str:
        sample = next(iter(arr.ravel()), "")
        sample = sample.item() if isinstance(sample, np.generic) else sample
        raise ValueError(
            f"{name} must hold numbers (this is a regressor), got strings such as {sample!r} "
            f"(dtype {arr.dtype}). Convert {name} to floats, or use a classifier "
            "(SparseLogisticRegression) for class labels."
        )


class _RegressorBase(RegressorMixin, _SparseLinearBase):
    def _validate_fit(self, X, y, multi_output=False):
        _check_numeric_target(y)
        X, y = validate_data(
            self, X, y, dtype=_solve_dtype(), y_numeric=True, accept_sparse=False,
            multi_output=multi_output,
        )
        # y in X's precision: a float32 y was centred in float32 under float64 X (objective_
        # off by about 1e-8 relative, beyond the reported gap)
        return X, np.asarray(y, dtype=X.dtype)

    def _fit_enet(self, X, y, l1_ratio, max_iter):
        """Lasso / elastic net by :func:`gradopt.elastic_net` on rows padded to a power of two.

        The engine pads ``n`` to buckets 25 % apart; cross-validation folds and the
        refit (e.g. 353 and 442 rows) fall in different ones, and each costs a
        compilation of the engine (about 2 s). Here the data are centered when
        ``fit_intercept``, ``k`` zero rows are appended to reach a power of two and
        ``alpha`` is scaled by ``n / (n + k)``, which multiplies the objective by
        ``n / (n + k)`` and leaves the solution unchanged; gap and objective are
        scaled back.
        """
        from gradopt.problems.lasso import elastic_net, top_correlation

        n, p = X.shape
        if self.fit_intercept:
            x_mean, y_mean = X.mean(axis=0), y.mean()
            X, y = X - x_mean, y - y_mean
        if l1_ratio > 0:
            amax = float(top_correlation(X, y, False, self.positive)) / (n * l1_ratio)
            _inputs.warn_alpha_max(self.alpha, amax, type(self).__name__)
        n_pad = 1 << max(n - 1, 1).bit_length() if n <= ROW_PAD_MAX else n
        Xp = np.zeros((n_pad, p), X.dtype)
        Xp[:n] = X
        yp = np.zeros(n_pad, y.dtype)
        yp[:n] = y
        with warnings.catch_warnings():  # said above, for the unpadded problem
            warnings.filterwarnings("ignore", message=r"alpha=.*alpha_max", category=UserWarning)
            res = elastic_net(Xp, yp, self.alpha * n / n_pad, l1_ratio, fit_intercept=False,
                              tol=self.tol, max_iter=max_iter, init=self._warm_init(p),
                              positive=self.positive)
        coef = np.asarray(res.coef)
        b = float(y_mean - x_mean @ coef) if self.fit_intercept else 0.0
        scale = n_pad / n
        return res._replace(coef=coef, intercept=b, objective=res.objective * scale,
                            duality_gap=res.duality_gap * scale)

    def predict(self, X):
        """``X @ coef_.T + intercept_`` (``coef_`` is ``(p,)``, or ``(n_tasks, p)``)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_solve_dtype(), accept_sparse=False)
        return X @ self.coef_.T + self.intercept_

    def _finish(self, res, X):
        self.coef_ = self._store(res, type(self).__name__)
        return self


class Lasso(_RegressorBase):
    r"""Lasso: ``min 1/(2n) ||y - Xw - b||^2 + alpha ||w||_1`` (scikit-learn's scaling).

    Solved by :func:`gradopt.lasso` (coordinate descent with a duality-gap
    stopping test). Same objective and parameters as
    ``sklearn.linear_model.Lasso`` except ``tol`` (relative duality gap, see
    the module docstring).

    Parameters:
      alpha: ``> 0``.
      fit_intercept: fit an unpenalized intercept.
      tol: stop when the duality gap is ``<= tol * P(0)``.
      max_iter: maximum solver iterations.
      warm_start: start from the previous ``coef_``.
      positive: constrain the coefficients to be ``>= 0`` (as scikit-learn's).

    Attributes:
      coef_, intercept_, n_iter_, duality_gap_ (a certificate:
      ``objective_ - P* <= duality_gap_``), objective_, converged_,
      n_features_in_, feature_names_in_ (when X has string column names).

    Example::

        >>> import numpy as np
        >>> from gradopt.estimators import Lasso
        >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [3.0, 1.0]])
        >>> y = np.array([0.5, 1.0, 3.1, 3.4])
        >>> [round(float(c), 3) for c in Lasso(alpha=0.1).fit(X, y).coef_]  # = sklearn's
        [0.922, 0.389]
    """

    def __init__(self, alpha=1.0, *, fit_intercept=True, tol=1e-4, max_iter=1000, warm_start=False,
                 positive=False):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.positive = positive

    def fit(self, X, y):
        """Fit on ``X (n, p)``, ``y (n,)``; returns ``self``."""
        check_scalar("alpha", self.alpha, low=0.0, low_inclusive=False)
        max_iter = self._check_common()
        X, y = self._validate_fit(X, y)
        return self._finish(self._fit_enet(X, y, 1.0, max_iter), X)


class ElasticNet(_RegressorBase):
    r"""Elastic net: ``1/(2n) ||y - Xw - b||^2 + alpha l1_ratio ||w||_1 + alpha (1 - l1_ratio)/2 ||w||^2``.

    Solved by :func:`gradopt.elastic_net`; the objective of
    ``sklearn.linear_model.ElasticNet``.

    Parameters:
      alpha: ``> 0``.
      l1_ratio: in ``[0, 1]`` (1 is the lasso, 0 ridge).
      fit_intercept, tol, max_iter, warm_start, positive: as in :class:`Lasso`.

    Attributes: as :class:`Lasso`.

    Example::

        >>> import numpy as np
        >>> from gradopt.estimators import ElasticNet
        >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0], [3.0, 1.0]])
        >>> y = np.array([0.5, 1.0, 3.1, 3.4])
        >>> [round(float(c), 3) for c in ElasticNet(alpha=0.1, l1_ratio=0.5).fit(X, y).coef_]
        [0.914, 0.448]
    """

    def __init__(
        self, alpha=1.0, l1_ratio=0.5, *, fit_intercept=True, tol=1e-4, max_iter=1000, warm_start=False,
        positive=False,
    ):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.positive = positive

    def fit(self, X, y):
        """Fit on ``X (n, p)``, ``y (n,)``; returns ``self``."""
        check_scalar("alpha", self.alpha, low=0.0, low_inclusive=False)
        check_scalar("l1_ratio", self.l1_ratio, low=0.0, high=1.0)
        max_iter = self._check_common()
        X, y = self._validate_fit(X, y)
        return self._finish(self._fit_enet(X, y, self.l1_ratio, max_iter), X)


class GroupLasso(_RegressorBase):
    r"""Group lasso: ``1/(2n) ||y - Xw - b||^2 + alpha sum_g omega_g ||w_g||_2``.

    Solved by :func:`gradopt.group_lasso` (block coordinate descent with
    Anderson acceleration and a duality-gap stopping test).

    Parameters:
      alpha: ``> 0``.
      groups: a partition of the features: a list of index arrays or one
        label per feature (see :func:`gradopt.group_lasso`). ``None`` (default)
        puts every feature in its own group, which is the lasso.
      weights: group weights ``omega_g > 0`` (default ``sqrt(|g|)``).
      fit_intercept, tol, max_iter, warm_start: as in :class:`Lasso`
        (``max_iter`` counts epochs).

    Attributes: as :class:`Lasso`.

    Example::

        >>> import numpy as np
        >>> from gradopt.estimators import GroupLasso
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((40, 4)); y = X[:, 0] + X[:, 1]
        >>> est = GroupLasso(alpha=0.05, groups=[[0, 1], [2, 3]]).fit(X, y)
        >>> bool(np.all(est.coef_[2:] == 0)), bool(np.all(est.coef_[:2] > 0.8))
        (True, True)
    """

    def __init__(
        self, alpha=1.0, *, groups=None, weights=None, fit_intercept=True, tol=1e-4,
        max_iter=1000, warm_start=False,
    ):
        self.alpha = alpha
        self.groups = groups
        self.weights = weights
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start

    def fit(self, X, y):
        """Fit on ``X (n, p)``, ``y (n,)``; returns ``self``."""
        check_scalar("alpha", self.alpha, low=0.0, low_inclusive=False)
        max_iter = self._check_common()
        X, y = self._validate_fit(X, y)
        groups = np.arange(X.shape[1]) if self.groups is None else self.groups
        res = group_lasso(
            X, y, self.alpha, groups, weights=self.weights, fit_intercept=self.fit_intercept,
            tol=self.tol, max_iter=max_iter, init=self._warm_init(X.shape[1]),
        )
        return self._finish(res, X)


class SparseLogisticRegression(ClassifierMixin, _SparseLinearBase):
    r"""l1-penalized binary logistic regression, scikit-learn's ``C`` convention.

    Minimizes ``sum_i log(1 + exp(-y_i (x_i^T w + b))) + (1/C) ||w||_1`` (``b``
    unpenalized), i.e. :func:`gradopt.sparse_logistic` with ``alpha = 1/(C n)``:
    the objective of ``LogisticRegression(l1_ratio=1, C=C, solver="saga")``.
    Labels may be any two classes (``classes_[1]`` is the positive one);
    multiclass targets raise ``ValueError``.

    Parameters:
      C: inverse regularization strength ``> 0``.
      fit_intercept: fit an unpenalized intercept.
      tol: stop when the duality gap is ``<= tol * P(0)`` (``P`` in the
        ``1/n`` scaling of :func:`gradopt.sparse_logistic`).
      max_iter: maximum proximal Newton iterations.
      warm_start: start from the previous ``coef_``.

    Attributes:
      classes_ (2,), coef_ (1, p), intercept_ (1,), n_iter_, duality_gap_
      (``1/n``-scaled objective), objective_, converged_, n_features_in_,
      feature_names_in_.

    Example::

        >>> import numpy as np
        >>> from gradopt.estimators import SparseLogisticRegression
        >>> X = np.array([[-2.0], [-1.0], [1.0], [2.0]]); y = np.array(["a", "a", "b", "b"])
        >>> SparseLogisticRegression(C=10.0).fit(X, y).predict([[-3.0], [3.0]]).tolist()
        ['a', 'b']
    """

    def __init__(self, C=1.0, *, fit_intercept=True, tol=1e-4, max_iter=100, warm_start=False):
        self.C = C
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def fit(self, X, y):
        """Fit on ``X (n, p)`` and binary labels ``y (n,)``; returns ``self``."""
        check_scalar("C", self.C, low=0.0, low_inclusive=False)
        max_iter = self._check_common()
        X, y = validate_data(self, X, y, dtype=_solve_dtype(), accept_sparse=False)
        check_classification_targets(y)
        y_type = type_of_target(y, input_name="y", raise_unknown=True)
        if y_type != "binary":
            raise ValueError(
                "Only binary classification is supported. The type of the target "
                f"is {y_type}."
            )
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if self.classes_.size < 2:
            raise ValueError(
                f"y has one class ({self.classes_[0]!r}); SparseLogisticRegression "
                "needs samples of two classes."
            )
        n = X.shape[0]
        alpha = 1.0 / (self.C * n)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"alpha=.*alpha_max", category=UserWarning)
            res = sparse_logistic(
                X, y_idx, alpha, fit_intercept=self.fit_intercept, tol=self.tol,
                max_iter=max_iter, init=self._warm_init(X.shape[1]),
            )
        # alpha_max only when w = 0 (a second pass over X otherwise); it is 0 when no
        # feature correlates with the null model's residual (constant columns with an
        # intercept), and then no C selects a feature
        if not np.any(np.asarray(res.coef)):
            amax = float(sparse_logistic_alpha_max(X, y_idx, fit_intercept=self.fit_intercept))
            if alpha >= amax:
                c_min = 1.0 / (n * amax) if amax > 0 else np.inf
                warnings.warn(
                    f"C={self.C:g} <= C_min={c_min:g}: every coefficient is zero "
                    "(only the intercept is fitted).",
                    UserWarning,
                    stacklevel=2,
                )
        self.coef_ = self._store(res, type(self).__name__)[None, :]
        self.intercept_ = np.array([self.intercept_], dtype=self.coef_.dtype)
        return self

    def decision_function(self, X):
        """``X @ coef_[0] + intercept_[0]``: the log-odds of ``classes_[1]``, shape ``(n,)``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_solve_dtype(), accept_sparse=False)
        return X @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X):
        """``[[1 - s, s]]`` with ``s = sigmoid(decision_function(X))``, shape ``(n, 2)``."""
        d = self.decision_function(X)
        return np.stack([expit(-d), expit(d)], axis=1)

    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`, computed stably."""
        d = self.decision_function(X)
        return np.stack([log_expit(-d), log_expit(d)], axis=1)

    def predict(self, X):
        """``classes_[1]`` where ``decision_function(X) > 0``, else ``classes_[0]``."""
        d = self.decision_function(X)
        return self.classes_[(d > 0).astype(int)]


class _GLMRegressorBase(_RegressorBase):
    """Estimators fitted by :func:`gradopt.glm` (which pads to size buckets itself)."""

    def _warm_init_shaped(self, shape):
        """The previous ``coef_`` in ``glm``'s layout (``(p,)`` or ``(p, k)``) for a warm start."""
        coef = getattr(self, "coef_", None)
        if not self.warm_start or coef is None:
            return None
        init = np.asarray(coef).T if len(shape) == 2 else np.ravel(coef)
        return init if init.shape == tuple(shape) else None

    def _fit_glm(self, X, y, datafit, penalty, max_iter, *, amax_weight=None):
        """Solve, warn when ``alpha * amax_weight >= alpha_max`` (the l1 part zeroes ``w``),
        store the attributes; ``coef_`` is ``(p,)``, or ``(k, p)`` for a 2-D ``y``."""
        if amax_weight:
            amax = _alpha_max_np(X, y, datafit, self.fit_intercept)
            _inputs.warn_alpha_max(self.alpha * amax_weight, amax, type(self).__name__,
                                   stacklevel=3)
        shape = (X.shape[1],) + tuple(np.shape(y)[1:])
        res = glm(X, y, datafit, penalty, fit_intercept=self.fit_intercept, tol=self.tol,
                  max_iter=max_iter, init=self._warm_init_shaped(shape))
        self.n_iter_ = int(res.n_iter)
        self.duality_gap_ = float(res.duality_gap)
        self.objective_ = float(res.objective)
        self.converged_ = bool(res.converged)
        coef = np.asarray(res.coef)
        b = np.asarray(res.intercept)
        if coef.ndim == 2:  # multitask: scikit-learn's (n_tasks, n_features) layout
            self.coef_ = coef.T
            self.intercept_ = b if self.fit_intercept else 0.0  # as scikit-learn's
        else:
            self.coef_ = coef
            self.intercept_ = float(b) if self.fit_intercept else 0.0
        self._warn_if_not_converged(type(self).__name__)
        return self


def _alpha_max_np(X, y, datafit, fit_intercept):
    """``max_j ||X_j^T grad F(b_0)||`` at the null model, in NumPy (what
    :func:`gradopt.glm_alpha_max` computes, without compiling a program per shape; only
    for the warning). ``quadratic`` (1-D or multitask ``y``), ``huber``, ``poisson``."""
    X = np.asarray(X, np.float64)
    y = np.asarray(y, np.float64)
    n = X.shape[0]
    if isinstance(datafit, Poisson):
        b0 = np.log(max(y.mean(), np.finfo(np.float64).tiny)) if fit_intercept else 0.0
        u = np.exp(b0) - y
    elif isinstance(datafit, Huber):
        d = float(datafit.delta)
        b0 = 0.0
        if fit_intercept and np.ptp(y) > 0:
            b0 = minimize_scalar(
                lambda b: np.sum(np.where(np.abs(y - b) < d, (y - b) ** 2 / 2,
                                          d * np.abs(y - b) - d * d / 2)),
                bounds=(y.min(), y.max()), method="bounded", options={"xatol": 1e-10},
            ).x
        elif fit_intercept:
            b0 = y[0]
        u = -np.clip(y - b0, -d, d)
    else:  # quadratic
        u = (y - y.mean(axis=0)) if fit_intercept else y
    g = X.T @ u / n
    return float(np.max(np.sqrt(np.sum(g.reshape(X.shape[1], -1) ** 2, axis=1))))


class MultiTaskLasso(_GLMRegressorBase):
    r"""Multitask lasso: ``1/(2n) ||Y - XW - 1 b^T||_F^2 + alpha sum_j ||W_j||_2`` (rows of ``W``).

    scikit-learn's ``MultiTaskLasso`` objective: ``Y`` is ``(n, n_tasks)``, and
    a feature is selected for every task or for none. Solved by
    :func:`gradopt.multitask_lasso` (``glm(X, Y, quadratic(),
    group_l2(alpha, axis=1))``: block coordinate descent with a duality-gap
    stopping test). ``Y`` must be 2-D (for one task use :class:`Lasso`).

    Parameters:
      alpha: ``> 0``.
      fit_intercept: fit an unpenalized intercept per task.
      tol: stop when the duality gap is ``<= tol * P(0)``.
      max_iter: maximum outer (working-set) iterations.
      warm_start: start from the previous ``coef_``.

    Attributes:
      coef_ ``(n_tasks, n_features)``, intercept_ ``(n_tasks,)`` (``0.0``
      without intercept, as scikit-learn's), n_iter_, duality_gap_, objective_, converged_,
      n_features_in_, feature_names_in_.

    Example::

        >>> import numpy as np
        >>> from gradopt.estimators import MultiTaskLasso
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((50, 6)); Y = X[:, :2] @ np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 1.0]])
        >>> est = MultiTaskLasso(alpha=0.1).fit(X, Y)
        >>> est.coef_.shape, np.flatnonzero(np.abs(est.coef_).sum(0)).tolist()
        ((3, 6), [0, 1])
    """

    def __init__(self, alpha=1.0, *, fit_intercept=True, tol=1e-4, max_iter=100, warm_start=False):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        return tags

    def fit(self, X, y):
        """Fit on ``X (n, p)``, ``Y (n, n_tasks)``; returns ``self``."""
        check_scalar("alpha", self.alpha, low=0.0, low_inclusive=False)
        max_iter = self._check_common()
        X, y = self._validate_fit(X, y, multi_output=True)
        if y.ndim != 2:
            raise ValueError(
                f"y must be 2-D (n_samples, n_tasks) for MultiTaskLasso, got shape {y.shape}; "
                "for one task use Lasso (or pass y.reshape(-1, 1))."
            )
        return self._fit_glm(X, y, quadratic(), group_l2(self.alpha, axis=1), max_iter,
                             amax_weight=1.0)


class SparseHuberRegressor(_GLMRegressorBase):
    r"""Robust sparse regression: ``1/n sum_i h_delta(y_i - x_i^T w - b) + alpha (l1_ratio ||w||_1
    + (1 - l1_ratio)/2 ||w||^2)``.

    ``h_delta`` is Huber's loss (``r^2/2`` for ``|r| < delta``, ``delta |r| -
    delta^2/2`` beyond), so outliers in ``y`` pull the fit linearly, not
    quadratically. Solved by :func:`gradopt.huber_regression`. Unlike
    scikit-learn's ``HuberRegressor`` (l2 penalty, and a scale ``sigma``
    estimated jointly so that ``epsilon`` is in units of ``sigma``), ``delta``
    is in the units of ``y`` and no scale is estimated; standardize ``y`` (or
    choose ``delta`` for its scale) accordingly.

    Parameters:
      alpha: ``> 0``.
      delta: ``> 0``, where the loss turns from quadratic to linear.
      l1_ratio: in ``[0, 1]`` (1: l1 only, 0: ridge).
      fit_intercept, tol, warm_start: as in :class:`Lasso`; ``tol`` bounds the
        largest optimality violation relative to its value at ``w = 0`` (the
        Huber datafit has no duality-gap certificate here; ``duality_gap_``
        may be ``inf``).
      max_iter: maximum outer (working-set) iterations.

    Attributes: as :class:`Lasso`. ``score`` is R².

    Example::

        >>> import numpy as np
        >>> from gradopt.estimators import SparseHuberRegressor
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((100, 5)); y = X @ np.array([1.0, -1.0, 0, 0, 0])
        >>> y[:5] += 50.0   # outliers
        >>> est = SparseHuberRegressor(alpha=0.01, delta=1.0).fit(X, y)
        >>> np.round(est.coef_[:2], 1).tolist(), bool(np.abs(est.coef_[2:]).max() < 0.05)
        ([1.0, -1.0], True)
    """

    def __init__(
        self, alpha=1.0, *, delta=1.35, l1_ratio=1.0, fit_intercept=True, tol=1e-4,
        max_iter=100, warm_start=False,
    ):
        self.alpha = alpha
        self.delta = delta
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start

    def fit(self, X, y):
        """Fit on ``X (n, p)``, ``y (n,)``; returns ``self``."""
        check_scalar("alpha", self.alpha, low=0.0, low_inclusive=False)
        check_scalar("delta", self.delta, low=0.0, low_inclusive=False)
        check_scalar("l1_ratio", self.l1_ratio, low=0.0, high=1.0)
        max_iter = self._check_common()
        X, y = self._validate_fit(X, y)
        return self._fit_glm(X, y, huber(float(self.delta)),
                             _enet_penalty(self.alpha, self.l1_ratio), max_iter,
                             amax_weight=float(self.l1_ratio))


class SparsePoissonRegressor(_GLMRegressorBase):
    r"""Sparse Poisson regression (log link): ``1/n sum_i (exp(z_i) - y_i z_i) + alpha (l1_ratio
    ||w||_1 + (1 - l1_ratio)/2 ||w||^2)``, ``z = Xw + b``.

    For counts or rates ``y >= 0``. Solved by
    :func:`gradopt.poisson_regression` (proximal Newton). The datafit is the
    mean Poisson negative log-likelihood up to a constant, i.e. half
    scikit-learn's mean Poisson deviance, so with ``l1_ratio=0`` this is
    exactly ``sklearn.linear_model.PoissonRegressor(alpha=alpha)`` (whose
    objective is ``1/(2n) sum deviance + alpha/2 ||w||^2``): same ``alpha``.

    Parameters:
      alpha: ``> 0``.
      l1_ratio: in ``[0, 1]`` (1: l1 only, 0: ridge, as ``PoissonRegressor``).
      fit_intercept, tol, warm_start: as in :class:`SparseHuberRegressor`.
      max_iter: maximum proximal Newton (outer) iterations.

    Attributes: as :class:`Lasso`. ``predict`` returns the mean
    ``exp(X coef_ + intercept_)``; ``score`` is D², the fraction of Poisson
    deviance explained (``PoissonRegressor.score``'s convention, computed by
    ``sklearn.metrics.d2_tweedie_score(power=1)``).

    Example::

        >>> import numpy as np
        >>> from gradopt.estimators import SparsePoissonRegressor
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((500, 4)); y = rng.poisson(np.exp(0.5 * X[:, 0] + 1.0))
        >>> est = SparsePoissonRegressor(alpha=0.01).fit(X, y)
        >>> round(float(est.intercept_), 1), bool(est.predict(X[:3]).min() > 0)
        (1.0, True)
    """

    def __init__(self, alpha=1.0, *, l1_ratio=1.0, fit_intercept=True, tol=1e-4, max_iter=100,
                 warm_start=False):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = True
        return tags

    def fit(self, X, y):
        """Fit on ``X (n, p)`` and counts ``y (n,) >= 0``; returns ``self``."""
        check_scalar("alpha", self.alpha, low=0.0, low_inclusive=False)
        check_scalar("l1_ratio", self.l1_ratio, low=0.0, high=1.0)
        max_iter = self._check_common()
        X, y = self._validate_fit(X, y)
        return self._fit_glm(X, y, poisson(), _enet_penalty(self.alpha, self.l1_ratio), max_iter,
                             amax_weight=float(self.l1_ratio))

    def predict(self, X):
        """The predicted mean ``exp(X @ coef_ + intercept_)``."""
        return np.exp(super().predict(X))

    def score(self, X, y, sample_weight=None):
        """D²: ``1 - deviance(y, predict(X)) / deviance(y, mean(y))`` (Poisson deviance)."""
        return d2_tweedie_score(y, self.predict(X), sample_weight=sample_weight, power=1)


def _enet_penalty(alpha, l1_ratio):
    """``l1(alpha)`` for ``l1_ratio == 1`` (one program shared with the lasso-type fits),
    else ``elastic_net(alpha, l1_ratio)``."""
    if float(l1_ratio) == 1.0:
        return prox.l1(float(alpha))
    return prox.elastic_net(float(alpha), float(l1_ratio))


class GeneralizedLinearEstimator(_GLMRegressorBase):
    r"""Any :mod:`gradopt.datafits` datafit with any block penalty of :mod:`gradopt.prox`.

    Minimizes ``F(X w + b) + G(w)`` with :func:`gradopt.glm` (skglm's
    ``GeneralizedLinearEstimator`` design). The penalty's strengths are part
    of the penalty object (``prox.l1(0.1)``), so a grid search varies
    ``penalty`` itself (``{"penalty": [prox.l1(a) for a in alphas]}``).

    ``predict`` follows the datafit: ``X w + b`` for ``quadratic`` and
    ``huber``, ``exp(X w + b)`` for ``poisson``; for ``logistic`` the
    estimator is a binary classifier (any two labels, ``classes_[1]`` the
    positive one; ``predict`` returns labels, ``decision_function`` the
    log-odds). ``score`` is R² (quadratic, huber), D² (poisson, fraction of
    Poisson deviance explained) or accuracy (logistic). Single-output only:
    for several tasks use :class:`MultiTaskLasso`.

    Parameters:
      datafit: a :mod:`gradopt.datafits` datafit; ``None`` (default) is
        ``datafits.quadratic()``.
      penalty: a block penalty (``prox.l1``, ``prox.elastic_net``,
        ``prox.l2_squared``, weighted or ``positive``); ``None`` (default) is
        ``prox.l1(1.0)``, which with the default datafit is :class:`Lasso`
        ``(alpha=1.0)``. Any other :mod:`gradopt.prox` penalty (``linf``,
        ``box``, ``simplex``...) is solved by :func:`gradopt.glm`'s
        accelerated proximal gradient (``duality_gap_`` is then ``inf`` and
        ``n_iter_`` counts steps).
      fit_intercept: fit an unpenalized intercept.
      tol: as :func:`gradopt.glm`'s (relative duality gap, or relative
        optimality violation for datafits without a certificate).
      max_iter: maximum outer (working-set / proximal Newton) iterations.
      warm_start: start from the previous ``coef_``.

    Attributes: as :class:`Lasso` (``coef_`` is ``(p,)``, ``intercept_`` a
    float); with the logistic datafit also ``classes_``.

    Example::

        >>> import numpy as np
        >>> from gradopt import datafits, prox
        >>> from gradopt.estimators import GeneralizedLinearEstimator
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((100, 6)); y = X[:, 0] - 2 * X[:, 1]
        >>> est = GeneralizedLinearEstimator(datafits.huber(1.0), prox.l1(0.05)).fit(X, y)
        >>> np.flatnonzero(est.coef_).tolist()
        [0, 1]
    """

    def __init__(self, datafit=None, penalty=None, *, fit_intercept=True, tol=1e-4,
                 max_iter=100, warm_start=False):
        self.datafit = datafit
        self.penalty = penalty
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start

    def _datafit(self):
        return quadratic() if self.datafit is None else self.datafit

    def _is_classifier(self):
        return isinstance(self.datafit, Logistic)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if self._is_classifier():
            tags.estimator_type = "classifier"
            tags.classifier_tags = ClassifierTags(multi_class=False)
            tags.regressor_tags = None
        elif isinstance(self.datafit, Poisson):
            tags.target_tags.positive_only = True
        return tags

    def fit(self, X, y):
        """Fit on ``X (n, p)``, ``y (n,)``; returns ``self``."""
        datafit = self._datafit()
        if not isinstance(datafit, Datafit):
            raise TypeError(
                "datafit must be a gradopt.datafits datafit (quadratic(), logistic(), huber(), "
                f"poisson()) or None, got {type(datafit).__name__}."
            )
        penalty = prox.l1(1.0) if self.penalty is None else self.penalty
        max_iter = self._check_common()
        if self._is_classifier():
            X, y = validate_data(self, X, y, dtype=_solve_dtype(), accept_sparse=False)
            check_classification_targets(y)
            y_type = type_of_target(y, input_name="y", raise_unknown=True)
            if y_type != "binary":
                raise ValueError(
                    "Only binary classification is supported (logistic datafit). The type of "
                    f"the target is {y_type}."
                )
            self.classes_, y = np.unique(y, return_inverse=True)
        else:
            X, y = self._validate_fit(X, y)
        return self._fit_glm(X, y, datafit, penalty, max_iter)

    @available_if(lambda self: self._is_classifier())
    def decision_function(self, X):
        """Logistic datafit only: the log-odds of ``classes_[1]``, ``X @ coef_ + intercept_``."""
        return _RegressorBase.predict(self, X)

    def predict(self, X):
        """``X @ coef_ + intercept_``; ``exp`` of it (poisson); labels (logistic)."""
        z = _RegressorBase.predict(self, X)
        if self._is_classifier():
            return self.classes_[(z > 0).astype(int)]
        if isinstance(self.datafit, Poisson):
            return np.exp(z)
        return z

    def score(self, X, y, sample_weight=None):
        """Accuracy (logistic), D² (poisson) or R² (quadratic, huber)."""
        if self._is_classifier():
            return accuracy_score(y, self.predict(X), sample_weight=sample_weight)
        if isinstance(self.datafit, Poisson):
            return d2_tweedie_score(y, self.predict(X), sample_weight=sample_weight, power=1)
        return super().score(X, y, sample_weight=sample_weight)
