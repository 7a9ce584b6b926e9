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
from scipy.special import expit, log_expit
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from gradopt._validation import check_int, check_scalar
from gradopt.problems.group import _group_padded_shape, group_lasso
from gradopt.problems.logistic import sparse_logistic, sparse_logistic_alpha_max

__all__ = ["ElasticNet", "GroupLasso", "Lasso", "SparseLogisticRegression"]


def _solve_dtype():
    """float64 when JAX's x64 mode is on, else float32 (what JAX computes in)."""
    return np.float64 if jax.config.jax_enable_x64 else np.float32


class _SparseLinearBase(BaseEstimator):
    """Shared fit machinery: validation, warm start, storing the certificate."""

    def _check_common(self):
        check_scalar("tol", self.tol, low=0.0)
        check_int("max_iter", self.max_iter, 0)
        if not isinstance(self.fit_intercept, (bool, np.bool_)):
            raise TypeError(f"fit_intercept must be a bool, got {self.fit_intercept!r}.")

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
        if not self.converged_:
            warnings.warn(
                f"{what} did not converge in max_iter={self.max_iter} iterations: duality gap "
                f"{self.duality_gap_:.3g} > tol * P(0). Increase max_iter or tol.",
                ConvergenceWarning,
                stacklevel=3,
            )
        return coef


class _RegressorBase(RegressorMixin, _SparseLinearBase):
    def _validate_fit(self, X, y):
        return validate_data(self, X, y, dtype=_solve_dtype(), y_numeric=True, accept_sparse=False)

    def _fit_enet(self, X, y, l1_ratio):
        """Lasso / elastic net on data padded to a size bucket (fewer compilations).

        The data are centered here when ``fit_intercept``; ``k`` zero rows are
        appended and ``alpha`` is scaled by ``n / (n + k)``, which multiplies the
        objective by ``n / (n + k)`` and leaves the solution unchanged; zero
        columns get coefficient 0. Gap and objective are scaled back.
        """
        from gradopt.problems.lasso import elastic_net

        n, p = X.shape
        if self.fit_intercept:
            x_mean, y_mean = X.mean(axis=0), y.mean()
            X, y = X - x_mean, y - y_mean
        if l1_ratio > 0:
            amax = float(np.max(np.abs(X.T @ y))) / (n * l1_ratio)
            if self.alpha >= amax:
                warnings.warn(
                    f"alpha={self.alpha:g} >= alpha_max={amax:g}: the solution is w = 0.",
                    UserWarning,
                    stacklevel=3,
                )
        n_pad, p_pad = _group_padded_shape(n, p)
        Xp = np.zeros((n_pad, p_pad), X.dtype)
        Xp[:n, :p] = X
        yp = np.zeros(n_pad, y.dtype)
        yp[:n] = y
        init = self._warm_init(p)
        if init is not None:
            init = np.pad(init, (0, p_pad - p))
        with warnings.catch_warnings():  # said above, for the unpadded problem
            warnings.filterwarnings("ignore", message=r"alpha=.*alpha_max", category=UserWarning)
            res = elastic_net(
                Xp, yp, self.alpha * n / n_pad, l1_ratio, fit_intercept=False, tol=self.tol,
                max_iter=self.max_iter, init=init,
            )
        coef = np.asarray(res.coef)[:p]
        b = float(y_mean - x_mean @ coef) if self.fit_intercept else 0.0
        scale = n_pad / n
        return res._replace(
            coef=coef, intercept=b, objective=res.objective * scale,
            duality_gap=res.duality_gap * scale,
        )

    def predict(self, X):
        """``X @ coef_ + intercept_``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=_solve_dtype(), accept_sparse=False)
        return X @ self.coef_ + self.intercept_

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

    def __init__(self, alpha=1.0, *, fit_intercept=True, tol=1e-4, max_iter=1000, warm_start=False):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start

    def fit(self, X, y):
        """Fit on ``X (n, p)``, ``y (n,)``; returns ``self``."""
        check_scalar("alpha", self.alpha, low=0.0, low_inclusive=False)
        self._check_common()
        X, y = self._validate_fit(X, y)
        return self._finish(self._fit_enet(X, y, 1.0), X)


class ElasticNet(_RegressorBase):
    r"""Elastic net: ``1/(2n) ||y - Xw - b||^2 + alpha l1_ratio ||w||_1 + alpha (1 - l1_ratio)/2 ||w||^2``.

    Solved by :func:`gradopt.elastic_net`; the objective of
    ``sklearn.linear_model.ElasticNet``.

    Parameters:
      alpha: ``> 0``.
      l1_ratio: in ``[0, 1]`` (1 is the lasso, 0 ridge).
      fit_intercept, tol, max_iter, warm_start: as in :class:`Lasso`.

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
        self, alpha=1.0, l1_ratio=0.5, *, fit_intercept=True, tol=1e-4, max_iter=1000, warm_start=False
    ):
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start

    def fit(self, X, y):
        """Fit on ``X (n, p)``, ``y (n,)``; returns ``self``."""
        check_scalar("alpha", self.alpha, low=0.0, low_inclusive=False)
        check_scalar("l1_ratio", self.l1_ratio, low=0.0, high=1.0)
        self._check_common()
        X, y = self._validate_fit(X, y)
        return self._finish(self._fit_enet(X, y, self.l1_ratio), X)


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
        self._check_common()
        X, y = self._validate_fit(X, y)
        groups = np.arange(X.shape[1]) if self.groups is None else self.groups
        res = group_lasso(
            X, y, self.alpha, groups, weights=self.weights, fit_intercept=self.fit_intercept,
            tol=self.tol, max_iter=self.max_iter, init=self._warm_init(X.shape[1]),
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
        self._check_common()
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
                max_iter=self.max_iter, init=self._warm_init(X.shape[1]),
            )
        amax = float(sparse_logistic_alpha_max(X, y_idx, fit_intercept=self.fit_intercept))
        if alpha >= amax:
            warnings.warn(
                f"C={self.C:g} <= C_min={1.0 / (n * amax):g}: every coefficient is zero "
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
