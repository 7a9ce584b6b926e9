"""Sparse regression with ISTA, FISTA, FISTA + restart and backtracking.

Data: scikit-learn's diabetes dataset (442 patients, 10 baseline variables)
expanded with all degree-2 products (64 strongly correlated features once the
duplicate sex^2 is dropped),
standardized; the target is standardized too. Objective (scikit-learn's
``Lasso`` scaling, no intercept since everything is centered)::

    F(w) = 1/(2n) ||y - X w||^2 + alpha ||w||_1

solved with ``gradopt.minimize(f, w0, optimizer, penalty=gradopt.prox.l1(alpha))``.
The reference F* is the best of scikit-learn's coordinate descent (tol 1e-14)
and a long FISTA run. Prints a table (steps and time to reach the stopping
tolerance, final gap) and the support found; saves the convergence plot
F(x_k) - F* to ``examples/output/lasso_fista.png``.

Run: ``MPLBACKEND=Agg python examples/lasso_fista.py``
"""

from __future__ import annotations

import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_diabetes  # noqa: E402
from sklearn.linear_model import Lasso  # noqa: E402
from sklearn.preprocessing import PolynomialFeatures, StandardScaler  # noqa: E402

import gradopt  # noqa: E402

OUT = Path(__file__).resolve().parent / "output"
ALPHA = 0.01
TOL = 1e-8  # stopping test of minimize: unit-step gradient-mapping norm
TRACE_STEPS = 1500


def load():
    data = load_diabetes()
    poly = PolynomialFeatures(2, include_bias=False)
    X = StandardScaler().fit_transform(poly.fit_transform(data.data))
    names = poly.get_feature_names_out(data.feature_names)
    # "sex" is binary, so sex^2 duplicates sex (up to sign after standardizing): drop
    # exact duplicates, which would make the lasso solution non-unique.
    corr = np.corrcoef(X, rowvar=False)
    keep = [j for j in range(X.shape[1]) if not np.any(np.abs(corr[j, :j]) > 1 - 1e-10)]
    y = (data.target - data.target.mean()) / data.target.std()
    return X[:, keep], y, names[keep]


def main():
    X_np, y_np, names = load()
    n, p = X_np.shape
    X, y = jnp.asarray(X_np), jnp.asarray(y_np)
    L = np.linalg.norm(X_np, 2) ** 2 / n  # Lipschitz constant of grad f

    def f(w):
        r = X @ w - y
        return 0.5 * jnp.dot(r, r) / n

    g = gradopt.prox.l1(ALPHA)
    F = lambda w: float(f(w) + g.value(w))

    # Reference optimum.
    sk = Lasso(alpha=ALPHA, fit_intercept=False, tol=1e-14, max_iter=1_000_000).fit(X_np, y_np)
    long = gradopt.minimize(f, jnp.zeros(p), gradopt.proximal_gradient(1 / L, g, accelerate=True,
                            restart="gradient"), penalty=g, max_steps=200_000, tol=1e-13)
    F_star = min(F(jnp.asarray(sk.coef_)), float(long.value))

    methods = {
        "ISTA, 1/L": gradopt.proximal_gradient(1 / L, g),
        "ISTA, backtracking": gradopt.proximal_gradient(None, g),
        "FISTA, 1/L": gradopt.proximal_gradient(1 / L, g, accelerate=True),
        "FISTA + function restart": gradopt.proximal_gradient(1 / L, g, accelerate=True, restart="function"),
        "FISTA + gradient restart": gradopt.proximal_gradient(1 / L, g, accelerate=True, restart="gradient"),
        "FISTA, backtracking + restart": gradopt.proximal_gradient(None, g, accelerate=True, restart="gradient"),
    }

    print(f"diabetes, degree-2 features: n = {n}, p = {p}, alpha = {ALPHA}, L = {L:.3f}")
    print(f"F* = {F_star:.12f} (scikit-learn CD: {F(jnp.asarray(sk.coef_)):.12f}, "
          f"long FISTA: {float(long.value):.12f})\n")
    header = f"{'method':32s} {'status':10s} {'steps':>7s} {'time':>9s} {'F - F*':>10s} {'nnz':>4s}"
    print(header)
    print("-" * len(header))
    results = {}
    for name, opt in methods.items():
        solve = lambda: gradopt.minimize(f, jnp.zeros(p), opt, penalty=g, max_steps=50_000, tol=TOL)
        jax.block_until_ready(solve())  # compile
        t0 = time.perf_counter()
        res = jax.block_until_ready(solve())
        dt = time.perf_counter() - t0
        w = np.asarray(res.params)  # for FISTA: the iterate x_k, not the extrapolated y_k
        results[name] = w
        print(f"{name:32s} {res.status_name:10s} {int(res.steps):7d} {dt * 1e3:7.1f} ms "
              f"{float(res.value) - F_star:10.2e} {int(np.sum(w != 0)):4d}")

    # Convergence traces: the same updates as minimize, recorded step by step.
    def trace(opt):
        def body(carry, _):
            w, s = carry
            v, grad = jax.value_and_grad(f)(w)
            u, s = opt.update(grad, s, w, value=v, grad=grad, value_fn=f)
            w = gradopt.apply_updates(w, u)
            x = gradopt.current_iterate(s, w)
            return (w, s), f(x) + g.value(x)

        w0 = jnp.zeros(p)
        return np.asarray(jax.jit(lambda: jax.lax.scan(body, (w0, opt.init(w0)), None, TRACE_STEPS)[1])())

    OUT.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, opt in methods.items():
        gap = np.maximum(trace(opt) - F_star, 1e-16)
        ax.loglog(np.arange(1, TRACE_STEPS + 1), gap, label=name)
    k = np.arange(1, TRACE_STEPS + 1)
    ax.loglog(k, 1.0 / k, "k:", lw=0.8, label="1/k")
    ax.loglog(k, 1.0 / k ** 2, "k--", lw=0.8, label="1/k²")
    ax.set_xlabel("iteration k")
    ax.set_ylabel("F(x_k) − F*")
    ax.set_ylim(1e-15, None)
    ax.set_title(f"Lasso on diabetes (degree 2, p = {p}), alpha = {ALPHA}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = OUT / "lasso_fista.png"
    fig.savefig(path, dpi=120)
    print(f"\nsaved {path}")

    w = results["FISTA + gradient restart"]
    support = np.flatnonzero(w)
    agree = np.array_equal(support, np.flatnonzero(sk.coef_))
    print(f"\nsupport ({len(support)} of {p} features; same as scikit-learn: {agree}):")
    order = support[np.argsort(-np.abs(w[support]))]
    for row in range(0, len(order), 4):
        print("  " + "   ".join(f"{names[j]:>9s} {w[j]:+.4f}" for j in order[row:row + 4]))
    print(f"max |w - w_sklearn| = {np.max(np.abs(w - sk.coef_)):.1e}")


if __name__ == "__main__":
    main()
