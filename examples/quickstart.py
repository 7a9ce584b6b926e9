"""Quickstart: L2-regularized logistic regression on scikit-learn's breast cancer data.

    f(w, b) = mean_i log(1 + exp(-y_i (x_i . w + b))) + (lam / 2) ||w||^2,   y_i in {-1, +1}

solved with gradient descent, heavy-ball momentum and Nesterov momentum, each through
``gradopt.minimize`` (the whole loop is one compiled ``lax.while_loop``). The solution is
checked against scikit-learn's ``LogisticRegression`` (same objective with C = 1 / (n lam)).

Run: ``python examples/quickstart.py`` (or ``make demo``).
"""

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

import gradopt

OUT = Path(__file__).resolve().parent / "output"

# Data: 569 tumours, 30 features, standardized; labels in {-1, +1}.
X, y = load_breast_cancer(return_X_y=True)
X = StandardScaler().fit_transform(X)
y = 2.0 * y - 1.0
X, y = jnp.asarray(X, jnp.float32), jnp.asarray(y, jnp.float32)
n = X.shape[0]
lam = 1e-2


def loss(params, X, y):
    margins = y * (X @ params["w"] + params["b"])
    return jnp.mean(jnp.logaddexp(0.0, -margins)) + 0.5 * lam * jnp.sum(params["w"] ** 2)


params0 = {"w": jnp.zeros(X.shape[1]), "b": jnp.zeros(())}
# Step 1/L, with L = ||X~||^2 / (4n) + lam the gradient's Lipschitz constant (X~ = [X, 1]).
L = float(np.linalg.norm(np.c_[X, np.ones(n)], 2) ** 2 / (4 * n) + lam)
methods = {
    "descent": gradopt.descent(1.0 / L),
    "momentum 0.9": gradopt.momentum(1.0 / L, 0.9),
    "nesterov 0.9": gradopt.nesterov(1.0 / L, 0.9),
}

# Reference: scikit-learn with a tight tolerance.
sk = LogisticRegression(C=1.0 / (n * lam), tol=1e-10, max_iter=10_000).fit(X, y)
f_sklearn = float(loss({"w": jnp.asarray(sk.coef_[0]), "b": jnp.asarray(sk.intercept_[0])}, X, y))

print(f"breast cancer: n={n}, p={X.shape[1]}, lam={lam}, step 1/L={1 / L:.3f}")
print(f"{'method':<14}{'steps':>7}{'final loss':>14}{'loss - sklearn':>16}  {'status':<10}{'time':>9}  (compiled loop, best of 3)")
curves = {}
for name, opt in methods.items():
    res = gradopt.minimize(loss, params0, opt, X, y, max_steps=5000, tol=1e-5)  # compiles
    elapsed = float("inf")
    for _ in range(3):  # best of 3 runs of the compiled loop
        t0 = time.perf_counter()
        jax.block_until_ready(gradopt.minimize(loss, params0, opt, X, y, max_steps=5000, tol=1e-5))
        elapsed = min(elapsed, time.perf_counter() - t0)
    print(f"{name:<14}{int(res.steps):>7}{float(res.value):>14.7f}{float(res.value) - f_sklearn:>16.1e}"
          f"  {res.status_name:<10}{elapsed * 1e3:>7.1f} ms")
    # Convergence curve: the same compiled loop stopped after k steps (max_steps is traced,
    # so these calls do not recompile).
    ks = np.unique(np.geomspace(1, int(res.steps), 40).astype(int))
    curves[name] = (ks, [float(gradopt.minimize(loss, params0, opt, X, y, max_steps=int(k), tol=1e-5).value)
                         for k in ks])

OUT.mkdir(exist_ok=True)
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(figsize=(6, 4))
for name, (ks, values) in curves.items():
    ax.loglog(ks, np.maximum(np.array(values) - f_sklearn, 1e-8), label=name)
ax.set_xlabel("steps")
ax.set_ylabel("f(params) - f(sklearn solution)")
ax.set_title("Logistic regression, breast cancer (float32)")
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "quickstart_convergence.png", dpi=120)
print(f"saved {OUT / 'quickstart_convergence.png'}")
