"""Tune the lasso's alpha, and per-feature weights, by gradient descent on a validation loss.

The derivative of a lasso solution with respect to its hyperparameters comes
from implicit differentiation (``jax.grad`` through ``gradopt.glm``; see
``docs/glm.md``, "Derivatives of the solution"): on the support,
``dw_S/dalpha = -n (X_S^T X_S)^{-1} sign(w_S)``. With it the validation loss

    V(theta) = 1/(2 n_val) ||y_val - X_val w*(theta)||^2,
    w*(theta) = argmin_w 1/(2n) ||y - X w||^2 + sum_j lambda_j(theta) |w_j|

is minimized by gradient descent (Adam on log-strengths, 40 steps) for

1. one strength, ``lambda_j = exp(theta)`` (the lasso), compared with a grid
   search of 60 alphas scored on the same split (scikit-learn's ``Lasso``) and
   with ``LassoCV`` (5-fold cross-validation, its own criterion);
2. one strength per feature, ``lambda_j = exp(theta_j)`` (a weighted lasso, 200
   hyperparameters: a grid search cannot do this).

Data: a simulated sparse regression (n = 200 train, 200 validation, 1000 test
samples, p = 200 features, 10 of them relevant, correlated design). The
figure (``examples/output/hyperparameter_tuning.png``) draws the validation
loss against alpha with the gradient path on it. A table prints each method's
alpha, validation and test error, support size and time.

Run: ``MPLBACKEND=Agg python examples/hyperparameter_tuning.py``
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from sklearn.linear_model import Lasso as SkLasso  # noqa: E402
from sklearn.linear_model import LassoCV  # noqa: E402

import gradopt  # noqa: E402
from gradopt import datafits, prox  # noqa: E402

OUT = Path(__file__).parent / "output"
P, K, RHO = 200, 10, 0.5
TOL = 1e-10  # derivatives are exact at an exact solution


def simulate(n, seed):
    rng = np.random.default_rng(seed)
    X = np.empty((n, P))
    X[:, 0] = rng.standard_normal(n)
    for j in range(1, P):  # AR(1) columns, correlation RHO between neighbours
        X[:, j] = RHO * X[:, j - 1] + np.sqrt(1 - RHO**2) * rng.standard_normal(n)
    return X


rng = np.random.default_rng(0)
w_true = np.zeros(P)
w_true[rng.choice(P, K, replace=False)] = rng.choice([-1.0, 1.0], K) * rng.uniform(0.5, 2.0, K)
X_all = simulate(1400, 1)
y_all = X_all @ w_true + 1.5 * rng.standard_normal(1400)
Xtr, ytr = X_all[:200], y_all[:200]
Xval, yval = X_all[200:400], y_all[200:400]
Xte, yte = X_all[400:], y_all[400:]
alpha_max = float(np.abs(Xtr.T @ ytr).max()) / len(ytr)


def mse(X, y, w):
    return 0.5 * float(np.mean((y - X @ np.asarray(w)) ** 2))


def val_loss(log_strength):
    """Validation loss of the lasso fitted on the training set (strength exp(log_strength))."""
    w = gradopt.glm(Xtr, ytr, datafits.quadratic(), prox.l1(jnp.exp(log_strength)), tol=TOL).coef
    return 0.5 * jnp.mean((yval - Xval @ w) ** 2), w


def descend(theta0, steps=40, lr=0.1):
    """Adam on the validation loss; returns the path of (theta, loss)."""
    grad_fn = jax.value_and_grad(val_loss, has_aux=True)
    opt = optax.adam(lr)
    theta = jnp.asarray(theta0)
    state = opt.init(theta)
    path = []
    for _ in range(steps):
        (loss, w), g = grad_fn(theta)
        path.append((np.asarray(theta), float(loss), w))
        updates, state = opt.update(g, state)
        theta = optax.apply_updates(theta, updates)
    return path


rows = []

# 1. one alpha: gradient descent from alpha_max / 2
t0 = time.perf_counter()
path1 = descend(np.log(0.5 * alpha_max), lr=0.2)
t_gd = time.perf_counter() - t0
best1 = min(path1, key=lambda r: r[1])
rows.append(("gradient descent, 1 alpha (40 steps)", float(np.exp(best1[0])), best1[1],
             mse(Xte, yte, best1[2]), int(np.sum(np.asarray(best1[2]) != 0)), t_gd))

# the same criterion on a grid, with scikit-learn's Lasso
alphas = alpha_max * np.geomspace(1.0, 1e-3, 60)
t0 = time.perf_counter()
grid = []
for a in alphas:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = SkLasso(alpha=a, fit_intercept=False, tol=1e-10, max_iter=100_000).fit(Xtr, ytr).coef_
    grid.append(mse(Xval, yval, w))
t_grid = time.perf_counter() - t0
i = int(np.argmin(grid))
w_grid = SkLasso(alpha=alphas[i], fit_intercept=False, tol=1e-10, max_iter=100_000).fit(Xtr, ytr).coef_
rows.append(("grid search, sklearn Lasso (60 alphas)", float(alphas[i]), grid[i],
             mse(Xte, yte, w_grid), int(np.sum(w_grid != 0)), t_grid))

t0 = time.perf_counter()
cv = LassoCV(alphas=alphas, fit_intercept=False, cv=5, tol=1e-8, max_iter=100_000).fit(Xtr, ytr)
t_cv = time.perf_counter() - t0
rows.append(("LassoCV (5 folds, its own criterion)", float(cv.alpha_), mse(Xval, yval, cv.coef_),
             mse(Xte, yte, cv.coef_), int(np.sum(cv.coef_ != 0)), t_cv))

# 2. one strength per feature (a weighted lasso), from the best single alpha
t0 = time.perf_counter()
path2 = descend(np.full(P, best1[0]), steps=40, lr=0.2)
t_w = time.perf_counter() - t0
best2 = min(path2, key=lambda r: r[1])
rows.append(("gradient descent, 200 weights (40 steps)", float(np.exp(np.median(best2[0]))),
             best2[1], mse(Xte, yte, best2[2]), int(np.sum(np.asarray(best2[2]) != 0)), t_w))
support = np.flatnonzero(w_true)
w_oracle = np.zeros(P)
w_oracle[support] = np.linalg.lstsq(Xtr[:, support], ytr, rcond=None)[0]
rows.append(("oracle: least squares on the true support", float("nan"), mse(Xval, yval, w_oracle),
             mse(Xte, yte, w_oracle), K, float("nan")))

print(f"lasso hyperparameters on a {Xtr.shape[0]}x{P} training set ({K} true features); "
      f"alpha_max = {alpha_max:.4f}; losses are 1/2 mean squared error")
print(f"{'method':44s} {'alpha':>9s} {'val loss':>9s} {'test loss':>9s} {'nnz':>4s} {'time':>8s}")
for name, a, v, te, nnz, t in rows:
    print(f"{name:44s} {a:9.4f} {v:9.4f} {te:9.4f} {nnz:4d} {t:7.2f}s")
print("(the weighted lasso's alpha column is the median strength; the times of the "
      "gradient descents include JAX's compilation)")

OUT.mkdir(exist_ok=True)
fig, ax = plt.subplots(figsize=(7, 4.2))
ax.semilogx(alphas, grid, color="0.4", label="validation loss (grid, sklearn Lasso)")
a_path = np.exp([r[0] for r in path1])
ax.plot(a_path, [r[1] for r in path1], "o-", ms=3, color="C3",
        label="gradient descent on log alpha (gradopt, implicit derivative)")
ax.plot(a_path[0], path1[0][1], "s", color="C3")
ax.axvline(cv.alpha_, ls=":", color="C0", label="LassoCV's alpha")
ax.axhline(best2[1], ls="--", color="C2", label="weighted lasso (200 strengths), best")
ax.set_xlabel("alpha")
ax.set_ylabel("validation loss")
ax.legend(fontsize=8)
ax.set_title("Lasso hyperparameters by gradient descent")
fig.tight_layout()
fig.savefig(OUT / "hyperparameter_tuning.png", dpi=120)
print(f"figure: {OUT / 'hyperparameter_tuning.png'}")
