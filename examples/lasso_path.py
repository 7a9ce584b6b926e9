"""The lasso regularization path of the diabetes data, with certificates and CV.

Data: scikit-learn's diabetes dataset (442 patients, 10 standardized baseline
variables; target: disease progression after one year). Objective
(scikit-learn's ``Lasso`` scaling, intercept fitted)::

    P(w, b) = 1/(2n) ||y - X w - b||^2 + alpha ||w||_1

1. ``gradopt.lasso_path`` solves it on scikit-learn's default grid (100 values
   of alpha from alpha_max down to 1e-3 alpha_max, warm-started): the classic
   coefficient-path figure (coefficients vs log alpha) is saved to
   ``examples/output/lasso_path.png``; a table prints, for a few alphas, the
   duality gap (a certificate: P - P* <= gap), the number of non-zeros and the
   largest difference with ``sklearn.linear_model.lasso_path``.
2. Cross-validation: ``GridSearchCV`` over alpha on
   ``gradopt.estimators.Lasso`` (inside a ``StandardScaler`` pipeline), compared
   with scikit-learn's ``LassoCV`` and with ``GridSearchCV`` on
   ``sklearn.linear_model.Lasso`` over the same folds and grid.

Run: ``MPLBACKEND=Agg python examples/lasso_path.py``
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_diabetes  # noqa: E402
from sklearn.linear_model import Lasso as SkLasso  # noqa: E402
from sklearn.linear_model import LassoCV  # noqa: E402
from sklearn.linear_model import lasso_path as sk_lasso_path  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import gradopt  # noqa: E402
from gradopt.estimators import Lasso  # noqa: E402

OUT = Path(__file__).resolve().parent / "output"
TOL = 1e-8  # relative duality gap of every point of the path


def main():
    data = load_diabetes()
    X = StandardScaler().fit_transform(data.data)
    y = data.target.astype(float)
    names = data.feature_names
    n, p = X.shape

    # ---------------------------------------------------------------- the path
    path = gradopt.lasso_path(X, y, n_alphas=100, eps=1e-3, fit_intercept=True, tol=TOL)
    jax.block_until_ready(path.coefs)  # the first call compiles
    t0 = time.perf_counter()
    path = gradopt.lasso_path(X, y, n_alphas=100, eps=1e-3, fit_intercept=True, tol=TOL)
    jax.block_until_ready(path.coefs)
    t_ours = time.perf_counter() - t0
    alphas = np.asarray(path.alphas)
    coefs = np.asarray(path.coefs)  # (n_alphas, p)
    gaps = np.asarray(path.duality_gaps)

    # scikit-learn's path on centered data (its lasso_path has no intercept)
    Xc, yc = X - X.mean(0), y - y.mean()
    t0 = time.perf_counter()
    sk_alphas, sk_coefs, _ = sk_lasso_path(Xc, yc, alphas=alphas, tol=1e-12, max_iter=100_000)
    t_sk = time.perf_counter() - t0
    sk_coefs = sk_coefs.T  # (n_alphas, p)
    p0 = 0.5 * np.mean(yc**2)  # P(0): the gaps are certified relative to it

    print(f"diabetes: n={n}, p={p}; path of {len(alphas)} alphas, alpha_max={alphas[0]:.4g}")
    print(f"gradopt.lasso_path: {t_ours * 1e3:.1f} ms (tol {TOL:g} relative gap);"
          f" sklearn lasso_path (tol 1e-12): {t_sk * 1e3:.1f} ms")
    print(f"all converged: {bool(np.all(np.asarray(path.converged)))}")
    print()
    print(f"{'alpha':>10} {'gap':>10} {'gap/P(0)':>10} {'nnz':>4} {'max|w - w_sk|/max|w_sk|':>24}")
    for k in [0, 10, 25, 50, 75, 99]:
        diff = np.abs(coefs[k] - sk_coefs[k]).max() / max(np.abs(sk_coefs[k]).max(), 1e-300)
        print(f"{alphas[k]:10.4g} {gaps[k]:10.2e} {gaps[k] / p0:10.2e} "
              f"{int(np.sum(coefs[k] != 0)):4d} {diff:24.2e}")

    OUT.mkdir(exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for j in range(p):
        ax.plot(np.log10(alphas), coefs[:, j], label=names[j])
    ax.invert_xaxis()
    ax.set_xlabel("log10(alpha)")
    ax.set_ylabel("coefficient")
    ax.set_title("Lasso path, diabetes (gradopt.lasso_path)")
    ax.axhline(0, color="k", lw=0.5)

    # ------------------------------------------------------ cross-validated alpha
    cv = KFold(5, shuffle=True, random_state=0)
    grid = {"lasso__alpha": alphas[::4]}
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        # the grid starts at alpha_max of the full data: on some folds w = 0,
        # which the estimator reports with a UserWarning
        warnings.filterwarnings("ignore", message=".*alpha_max", category=UserWarning)
        ours = GridSearchCV(make_pipeline(StandardScaler(), Lasso(tol=1e-8)), grid, cv=cv)
        ours.fit(data.data, y)
    t_cv = time.perf_counter() - t0
    ref = GridSearchCV(
        make_pipeline(StandardScaler(), SkLasso(tol=1e-10, max_iter=100_000)), grid, cv=cv
    ).fit(data.data, y)
    lcv = make_pipeline(StandardScaler(), LassoCV(alphas=alphas[::4], cv=cv, tol=1e-10, max_iter=100_000))
    lcv.fit(data.data, y)
    a_ours = ours.best_params_["lasso__alpha"]
    a_ref = ref.best_params_["lasso__alpha"]
    a_lcv = lcv[-1].alpha_
    print()
    print(f"{'5-fold CV over 25 alphas':<34} {'best alpha':>10} {'CV R^2':>8}")
    print(f"{'GridSearchCV(gradopt Lasso)':<34} {a_ours:10.4g} {ours.best_score_:8.4f}  ({t_cv:.1f} s)")
    print(f"{'GridSearchCV(sklearn Lasso)':<34} {a_ref:10.4g} {ref.best_score_:8.4f}")
    print(f"{'sklearn LassoCV (MSE criterion)':<34} {a_lcv:10.4g} {'':>8}")
    print(f"same alpha as sklearn's GridSearchCV: {a_ours == a_ref}; "
          f"max |mean CV score difference|: "
          f"{np.abs(ours.cv_results_['mean_test_score'] - ref.cv_results_['mean_test_score']).max():.1e}")

    ax.axvline(np.log10(a_ours), color="k", ls="--", lw=1, label=f"CV alpha = {a_ours:.3g}")
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    fig.tight_layout()
    fig.savefig(OUT / "lasso_path.png", dpi=120)
    print(f"\nsaved {OUT / 'lasso_path.png'}")


if __name__ == "__main__":
    main()
