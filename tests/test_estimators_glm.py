"""The estimators on gradopt.glm: MultiTaskLasso, SparseHuberRegressor, SparsePoissonRegressor,
GeneralizedLinearEstimator; scikit-learn's checks and agreement with scikit-learn / CVXPY."""

import warnings

import numpy as np
import pytest
import sklearn.linear_model as sklm
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from gradopt import datafits, prox
from gradopt.estimators import (
    GeneralizedLinearEstimator,
    Lasso,
    MultiTaskLasso,
    SparseHuberRegressor,
    SparsePoissonRegressor,
)
from _compat import enable_x64


@pytest.mark.slow  # ~6 min of CPU: every check's dataset shape compiles the engine
@parametrize_with_checks(
    [
        MultiTaskLasso(),
        SparseHuberRegressor(),
        SparsePoissonRegressor(),
        # GeneralizedLinearEstimator has no ``alpha`` attribute for scikit-learn's
        # check_regressors_train to lower to 0.01 (as it does for the others), so
        # the strength is given here; the default l1(1.0) zeroes w on that data.
        GeneralizedLinearEstimator(penalty=prox.l1(0.01)),
    ],
    expected_failed_checks=lambda est: {},  # every applicable check passes
)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        # alpha >= alpha_max on some of the checks' tiny datasets: the zero
        # solution is correct and the warning saying so is expected
        warnings.filterwarnings("ignore", message=r".*alpha_max", category=UserWarning)
        check(estimator)


def _multitask(n=60, p=12, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    W = np.zeros((p, k))
    W[:3] = rng.standard_normal((3, k))
    return X, X @ W + 0.3 * rng.standard_normal((n, k)) + np.arange(k)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_multitask_lasso_matches_sklearn(fit_intercept):
    X, Y = _multitask()
    ours = MultiTaskLasso(alpha=0.1, fit_intercept=fit_intercept, tol=1e-12).fit(X, Y)
    ref = sklm.MultiTaskLasso(alpha=0.1, fit_intercept=fit_intercept, tol=1e-12,
                              max_iter=100000).fit(X, Y)
    assert ours.coef_.shape == ref.coef_.shape == (3, 12)
    assert np.shape(ours.intercept_) == np.shape(ref.intercept_) == ((3,) if fit_intercept else ())
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-6)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), atol=1e-6)
    assert ours.converged_ and ours.duality_gap_ >= 0
    # rows are selected for every task or none
    rows = np.abs(ours.coef_).sum(0) > 0
    assert np.all((ours.coef_[:, ~rows] == 0)) and np.all(ours.coef_[:, rows] != 0)
    assert ours.score(X, Y) == pytest.approx(ref.score(X, Y), abs=1e-8)


@pytest.mark.parametrize("alpha", [0.05, 1.0])
def test_poisson_ridge_is_sklearns_poisson_regressor_with_the_same_alpha(alpha):
    # sklearn: 1/(2n) sum deviance + alpha/2 ||w||^2; ours: 1/n sum (exp(z) - y z)
    # + alpha/2 ||w||^2 (l1_ratio=0). Half the mean deviance is our datafit plus a
    # constant, so the same alpha gives the same solution.
    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, 6))
    y = rng.poisson(np.exp(0.4 * X[:, 0] - 0.3 * X[:, 1] + 0.5))
    ours = SparsePoissonRegressor(alpha=alpha, l1_ratio=0.0, tol=1e-12).fit(X, y)
    ref = sklm.PoissonRegressor(alpha=alpha, tol=1e-12, max_iter=10000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-6)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-6)
    # score is D^2 (deviance explained), PoissonRegressor's convention
    assert ours.score(X, y) == pytest.approx(ref.score(X, y), abs=1e-7)
    # and twice the alpha is a different problem (the factor is 1, not 2)
    other = SparsePoissonRegressor(alpha=2 * alpha, l1_ratio=0.0, tol=1e-12).fit(X, y)
    assert np.abs(other.coef_ - ref.coef_).max() > 1e-3


def test_sparse_poisson_l1_is_sparse_and_predicts_means():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((200, 8))
    y = rng.poisson(np.exp(0.6 * X[:, 0] + 1.0))
    est = SparsePoissonRegressor(alpha=0.02, tol=1e-10).fit(X, y)
    assert est.converged_ and abs(est.coef_[0] - 0.6) < 0.15 and np.sum(est.coef_ != 0) < 8
    np.testing.assert_allclose(est.predict(X), np.exp(X @ est.coef_ + est.intercept_), rtol=1e-12)
    # first-order optimality of 1/n sum (exp(z) - y z) + alpha ||w||_1 (independent check)
    mu = est.predict(X)
    g = X.T @ (mu - y) / len(y)
    nz = est.coef_ != 0
    np.testing.assert_allclose(g[nz], -0.02 * np.sign(est.coef_[nz]), atol=1e-6)
    assert np.all(np.abs(g[~nz]) <= 0.02 + 1e-8)
    assert abs(np.mean(mu - y)) < 1e-6  # intercept's condition


def _huber_problem():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 5))
    y = X @ np.array([1.5, -1.0, 0, 0, 0.5]) + 0.2 * rng.standard_normal(40) + 2.0
    y[:4] += 15.0  # outliers
    return X, y


def _check_huber_against_cvxpy(X, y, alpha, delta, l1_ratio):
    cp = pytest.importorskip("cvxpy")
    n, p = X.shape
    est = SparseHuberRegressor(alpha=alpha, delta=delta, l1_ratio=l1_ratio, tol=1e-12).fit(X, y)
    w, b = cp.Variable(p), cp.Variable()
    r = y - X @ w - b
    # cvxpy's huber(r, M) is 2 h_M(r)
    obj = (cp.sum(cp.huber(r, delta)) / (2 * n) + alpha * l1_ratio * cp.norm1(w)
           + alpha * (1 - l1_ratio) / 2 * cp.sum_squares(w))
    prob = cp.Problem(cp.Minimize(obj))
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    np.testing.assert_allclose(est.coef_, w.value, atol=1e-6)
    np.testing.assert_allclose(est.intercept_, b.value, atol=1e-6)
    assert est.objective_ == pytest.approx(prob.value, rel=1e-8)
    return est


def test_sparse_huber_matches_cvxpy():
    X, y = _huber_problem()
    est = _check_huber_against_cvxpy(X, y, alpha=0.05, delta=1.0, l1_ratio=1.0)
    # robustness: least squares is pulled by the outliers, Huber is not
    assert abs(est.intercept_ - 2.0) < 0.3 and abs(Lasso(alpha=0.05).fit(X, y).intercept_ - 2.0) > 1.0


def test_sparse_huber_elastic_net_matches_cvxpy():
    # regression: glm(huber(), elastic_net(a, r < 1), fit_intercept=True) used to stop at
    # n_iter=0 with w=0 and converged=True (an infinite gap passed the rounding floor)
    X, y = _huber_problem()
    _check_huber_against_cvxpy(X, y, alpha=0.05, delta=1.0, l1_ratio=0.5)


def test_generalized_linear_estimator_quadratic_l1_is_lasso():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((70, 15))
    y = X[:, :3] @ np.array([2.0, -1.0, 0.5]) + 0.3 * rng.standard_normal(70) + 1.0
    ref = sklm.Lasso(alpha=0.1, tol=1e-12, max_iter=100000).fit(X, y)
    for est in [GeneralizedLinearEstimator(penalty=prox.l1(0.1), tol=1e-12),
                GeneralizedLinearEstimator(datafits.quadratic(), prox.l1(0.1), tol=1e-12)]:
        est.fit(X, y)
        np.testing.assert_allclose(est.coef_, ref.coef_, atol=1e-6)
        np.testing.assert_allclose(est.intercept_, ref.intercept_, atol=1e-6)
        assert est.score(X, y) == pytest.approx(ref.score(X, y), abs=1e-8)
    # the default is l1(1.0): Lasso(alpha=1.0)
    np.testing.assert_allclose(GeneralizedLinearEstimator(tol=1e-12).fit(X, y).coef_,
                               sklm.Lasso(alpha=1.0, tol=1e-12).fit(X, y).coef_, atol=1e-6)
    # a positive l1 gives non-negative coefficients (sklearn's positive=True)
    pos = GeneralizedLinearEstimator(penalty=prox.l1(0.1, positive=True), tol=1e-12).fit(X, y)
    refp = sklm.Lasso(alpha=0.1, positive=True, tol=1e-12, max_iter=100000).fit(X, y)
    np.testing.assert_allclose(pos.coef_, refp.coef_, atol=1e-6)


def test_generalized_linear_estimator_poisson_and_logistic():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((120, 5))
    y = rng.poisson(np.exp(0.5 * X[:, 1]))
    gle = GeneralizedLinearEstimator(datafits.poisson(), prox.elastic_net(0.05, 0.5), tol=1e-10)
    named = SparsePoissonRegressor(alpha=0.05, l1_ratio=0.5, tol=1e-10)
    gle.fit(X, y), named.fit(X, y)
    np.testing.assert_allclose(gle.coef_, named.coef_, atol=1e-10)
    np.testing.assert_allclose(gle.predict(X), named.predict(X), rtol=1e-9)
    assert gle.score(X, y) == pytest.approx(named.score(X, y))
    # logistic datafit: a binary classifier with scikit-learn's saga solution
    labels = np.where(X[:, 0] + 0.5 * rng.standard_normal(120) > 0, "yes", "no")
    C = 0.5
    clf = GeneralizedLinearEstimator(datafits.logistic(), prox.l1(1 / (C * 120)), tol=1e-12)
    clf.fit(X, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = sklm.LogisticRegression(l1_ratio=1.0, C=C, solver="saga", tol=1e-12,
                                      max_iter=100000).fit(X, labels)
    np.testing.assert_array_equal(clf.classes_, ref.classes_)
    np.testing.assert_allclose(clf.coef_, ref.coef_[0], atol=1e-5)
    np.testing.assert_allclose(clf.decision_function(X), ref.decision_function(X), atol=1e-4)
    np.testing.assert_array_equal(clf.predict(X), ref.predict(X))
    assert clf.score(X, labels) == pytest.approx(ref.score(X, labels))
    assert not hasattr(GeneralizedLinearEstimator(), "decision_function")


def test_grid_search_over_penalties_matches_sklearn_lasso():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((90, 10)) * rng.uniform(0.5, 3, 10)
    y = X[:, :2] @ np.array([1.0, -0.5]) + rng.standard_normal(90)
    alphas = [0.01, 0.1, 0.5]
    cv = KFold(3, shuffle=True, random_state=0)
    ours = GridSearchCV(
        make_pipeline(StandardScaler(), GeneralizedLinearEstimator(tol=1e-10)),
        {"generalizedlinearestimator__penalty": [prox.l1(a) for a in alphas]}, cv=cv,
    ).fit(X, y)
    ref = GridSearchCV(make_pipeline(StandardScaler(), sklm.Lasso(tol=1e-12, max_iter=100000)),
                       {"lasso__alpha": alphas}, cv=cv).fit(X, y)
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"],
                               ref.cv_results_["mean_test_score"], rtol=1e-6)
    assert ours.best_index_ == ref.best_index_
    # the multitask and Huber estimators in a pipeline + grid search
    Xm, Y = _multitask(seed=7)
    s = GridSearchCV(make_pipeline(StandardScaler(), MultiTaskLasso()),
                     {"multitasklasso__alpha": [0.01, 0.1, 10.0]}, cv=3).fit(Xm, Y)
    assert s.best_params_["multitasklasso__alpha"] != 10.0 and s.best_score_ > 0.5


def test_float32_when_x64_is_disabled():
    X, Y = _multitask(seed=8)  # the default shape: the float64 references reuse compiled programs
    y = Y[:, 0]
    yc = np.random.default_rng(8).poisson(np.exp(0.3 * X[:, 0]))
    for est, target in [(MultiTaskLasso(alpha=0.1), Y), (SparseHuberRegressor(alpha=0.05), y),
                        (SparsePoissonRegressor(alpha=0.01), yc)]:
        ref = est.fit(X, target).coef_.copy()
        with enable_x64(False), warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            est.fit(X, target)
        assert est.coef_.dtype == np.float32 and est.converged_
        np.testing.assert_allclose(est.coef_, ref, atol=0.02 * np.abs(ref).max())


def test_warm_start_and_convergence_warning():
    X, Y = _multitask(n=20, p=200, seed=9)  # wide: the cold start needs several working sets
    est = MultiTaskLasso(alpha=0.05, warm_start=True, tol=1e-10).fit(X, Y)
    cold, coef = est.n_iter_, est.coef_.copy()
    est.fit(X, Y)
    assert est.n_iter_ < cold
    np.testing.assert_allclose(est.coef_, coef, atol=1e-8)
    with pytest.warns(ConvergenceWarning, match="SparsePoissonRegressor did not converge"):
        est = SparsePoissonRegressor(alpha=1e-3, max_iter=1, tol=1e-14).fit(
            X, np.random.default_rng(0).poisson(np.exp(X[:, 0])))
    assert not est.converged_


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_estimators_alpha_max_is_glms(fit_intercept):
    # the warning's NumPy alpha_max equals gradopt.glm_alpha_max (independent code path)
    import gradopt
    from gradopt.estimators import _alpha_max_np

    X, Y = _multitask(n=30, p=5, seed=12)
    y = Y[:, 0] + 3 * (np.arange(30) % 7 == 0)  # some large residuals for Huber
    counts = np.random.default_rng(12).poisson(np.exp(0.4 * X[:, 0]))
    for df, t in [(datafits.quadratic(), Y), (datafits.quadratic(), y),
                  (datafits.huber(0.7), y), (datafits.poisson(), counts)]:
        ref = float(gradopt.glm_alpha_max(X, t, df, fit_intercept=fit_intercept))
        # huber: glm's null intercept is 30 damped Newton steps, ours a bounded scalar solve
        rel = 1e-4 if isinstance(df, datafits.Huber) else 1e-7
        assert _alpha_max_np(X, t, df, fit_intercept) == pytest.approx(ref, rel=rel)


def test_alpha_max_warning():
    X, Y = _multitask(seed=10)
    with pytest.warns(UserWarning, match="alpha_max"):
        est = MultiTaskLasso(alpha=1e3).fit(X, Y)
    np.testing.assert_array_equal(est.coef_, 0.0)
    np.testing.assert_allclose(est.intercept_, Y.mean(0), atol=1e-8)
    with pytest.warns(UserWarning, match="alpha_max"):
        est = SparseHuberRegressor(alpha=1e3).fit(X, Y[:, 0])
    np.testing.assert_array_equal(est.coef_, 0.0)


def test_bad_inputs():
    X, Y = _multitask(n=20, p=4, seed=11)
    with pytest.raises(ValueError, match="2-D"):
        MultiTaskLasso().fit(X, Y[:, 0])
    with pytest.raises(ValueError, match="y must be >= 0"):
        SparsePoissonRegressor().fit(X, Y[:, 0] - 100)
    with pytest.raises(ValueError, match="delta"):
        SparseHuberRegressor(delta=0.0).fit(X, Y[:, 0])
    with pytest.raises(ValueError, match="l1_ratio"):
        SparsePoissonRegressor(l1_ratio=2.0).fit(X, Y[:, 0])
    with pytest.raises(TypeError, match="datafit must be a gradopt.datafits"):
        GeneralizedLinearEstimator(datafit="quadratic").fit(X, Y[:, 0])
    with pytest.raises(TypeError, match="penalty must be a gradopt.prox penalty"):
        GeneralizedLinearEstimator(penalty="l1").fit(X, Y[:, 0])
    with pytest.raises(ValueError, match="Only binary classification"):
        GeneralizedLinearEstimator(datafits.logistic()).fit(X, np.arange(20) % 3)
