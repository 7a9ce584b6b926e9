"""One engine, six models: robust, count, multitask, sparse and group-sparse logistic regression, ridge.

A sparse truth (5 of 200 features) generates four kinds of targets from the
same design, and each is solved by ``gradopt.glm`` with the matching datafit
and an l1-type penalty:

* least squares vs **Huber** on targets with 5 % gross outliers: the lasso's
  support is polluted by the outliers, Huber's is not;
* **Poisson** counts (log link), checked against a CVXPY solve when CVXPY is
  installed;
* **multitask** targets (3 tasks sharing a support), against scikit-learn's
  ``MultiTaskLasso``;
* **logistic** labels, against scikit-learn's ``LogisticRegression`` (saga);
* the same labels with a **group** penalty over 40 groups of 5 consecutive
  features (``prox.group_l2(alpha, groups=...)``, the groups as the engine's
  blocks): whole groups enter or leave; checked against CVXPY when installed;
* a **ridge** (``prox.l2_squared``) on the first 50 rows, more features than
  samples, against scikit-learn's ``Ridge``: gradopt starts a least-squares
  ridge from its direct solution and certifies it (its support is every
  feature).

The table prints, for each model, the time of the solve (after its one
compilation), the certificate (duality gap, or KKT violation for Huber and
Poisson), the support found and the distance to the reference. A figure of
the true and estimated coefficients is saved to
``examples/output/glm_models.png``.

Run: ``MPLBACKEND=Agg python examples/glm_models.py``
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression, MultiTaskLasso, Ridge  # noqa: E402

import gradopt  # noqa: E402
from gradopt import datafits, prox  # noqa: E402

OUT = Path(__file__).resolve().parent / "output"


def timed(fn):
    fn()  # compile
    t = time.perf_counter()
    res = fn()
    jax.block_until_ready(res.coef)
    return res, time.perf_counter() - t


def main():
    rng = np.random.default_rng(0)
    n, p = 400, 200
    X = rng.standard_normal((n, p))
    w_true = np.zeros(p)
    w_true[[3, 40, 77, 120, 180]] = [1.5, -1.0, 0.8, -1.2, 1.0]
    z = X @ w_true
    support = set(np.flatnonzero(w_true).tolist())
    rows = []

    # least squares vs Huber on targets with outliers
    y = z + 0.3 * rng.standard_normal(n)
    out = rng.choice(n, n // 20, replace=False)
    y[out] += rng.choice([-1, 1], out.size) * 30.0
    # strengths: a fraction of each model's alpha_max (the smallest alpha giving w = 0)
    a_ls = 0.2 * float(gradopt.glm_alpha_max(X, y, datafits.quadratic(), fit_intercept=True))
    a_hb = 0.2 * float(gradopt.glm_alpha_max(X, y, datafits.huber(1.0), fit_intercept=True))
    ls, t_ls = timed(lambda: gradopt.glm(X, y, datafits.quadratic(), prox.l1(a_ls), fit_intercept=True))
    hb, t_hb = timed(lambda: gradopt.huber_regression(X, y, a_hb, delta=1.0, fit_intercept=True))
    for name, r, t in [("lasso (outliers)", ls, t_ls), ("huber (outliers)", hb, t_hb)]:
        rows.append((name, t, r, np.linalg.norm(np.asarray(r.coef) - w_true), "truth"))

    # Poisson counts
    yc = rng.poisson(np.exp(0.5 * z / np.abs(z).max() * 2 + 0.5)).astype(float)
    w_scaled = w_true * (1.0 / np.abs(z).max())
    a_po = 0.1 * float(gradopt.glm_alpha_max(X, yc, datafits.poisson(), fit_intercept=True))
    po, t_po = timed(lambda: gradopt.poisson_regression(X, yc, a_po, fit_intercept=True))
    ref = "truth (scaled)"
    dist = np.linalg.norm(np.asarray(po.coef) - w_scaled)
    try:
        import cvxpy as cp

        w, b = cp.Variable(p), cp.Variable()
        zz = X @ w + b
        cp.Problem(cp.Minimize(cp.sum(cp.exp(zz) - cp.multiply(yc, zz)) / n + a_po * cp.norm1(w))).solve()
        dist, ref = np.linalg.norm(np.asarray(po.coef) - w.value), "CVXPY"
    except Exception as e:  # CVXPY missing or its solver failed: compare with the truth
        print(f"(CVXPY reference skipped: {type(e).__name__})")
    rows.append(("poisson", t_po, po, dist, ref))

    # multitask: three tasks sharing the support
    Y = np.stack([z, 0.5 * z, -z], axis=1) + 0.3 * rng.standard_normal((n, 3))
    a_mt = 0.1 * float(gradopt.glm_alpha_max(X, Y, datafits.quadratic(), fit_intercept=True))
    mt, t_mt = timed(lambda: gradopt.multitask_lasso(X, Y, a_mt, fit_intercept=True))
    sk = MultiTaskLasso(alpha=a_mt, tol=1e-10, max_iter=100_000).fit(X, Y)
    rows.append(("multitask lasso", t_mt, mt, np.abs(np.asarray(mt.coef) - sk.coef_.T).max(),
                 "sklearn"))

    # logistic labels
    yl = (z + 0.5 * rng.standard_normal(n) > 0).astype(int)
    a_lg = 0.1 * float(gradopt.sparse_logistic_alpha_max(X, yl))
    lg, t_lg = timed(lambda: gradopt.sparse_logistic(X, yl, a_lg))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        skl = LogisticRegression(l1_ratio=1.0, C=1 / (a_lg * n), solver="saga", tol=1e-10,
                                 max_iter=100_000).fit(X, yl)
    rows.append(("sparse logistic", t_lg, lg, np.abs(np.asarray(lg.coef) - skl.coef_[0]).max(),
                 "sklearn"))

    # the same labels, 40 groups of 5 consecutive features: whole groups enter or leave
    labels = np.arange(p) // 5
    a_gr = 2.0 * a_lg  # a group of 5 unit-weight features: up to sqrt(5) x the l1 scale
    gr, t_gr = timed(lambda: gradopt.glm(X, yl, datafits.logistic(),
                                         prox.group_l2(a_gr, groups=labels)))
    dist, ref = np.nan, "-"
    try:
        import cvxpy as cp

        w = cp.Variable(p)
        s = 2 * yl - 1
        objective = cp.sum(cp.logistic(-cp.multiply(s, X @ w))) / n + a_gr * cp.sum(
            cp.norm(cp.reshape(w, (p // 5, 5), order="C"), 2, axis=1))
        cp.Problem(cp.Minimize(objective)).solve()
        dist, ref = np.abs(np.asarray(gr.coef) - w.value).max(), "CVXPY"
    except Exception as e:  # CVXPY missing or its solver failed
        print(f"(CVXPY reference for the group penalty skipped: {type(e).__name__})")
    rows.append(("group logistic", t_gr, gr, dist, ref))

    # a ridge with more features than samples: solved directly, then certified
    a_rg, Xw, yw = 0.01, X[:50], y[:50]
    rg, t_rg = timed(lambda: gradopt.glm(Xw, yw, datafits.quadratic(), prox.l2_squared(a_rg),
                                         fit_intercept=True))
    skr = Ridge(alpha=a_rg * len(yw)).fit(Xw, yw)  # its objective: ||y - Xw||^2 + alpha ||w||^2
    rows.append(("ridge (50 x 200)", t_rg, rg, np.abs(np.asarray(rg.coef) - skr.coef_).max(),
                 "sklearn"))

    print(f"{'model':18s} {'time':>9s} {'status':>9s} {'gap':>9s} {'support found':28s} "
          f"{'vs reference':>22s}")
    for name, t, r, d, ref in rows:
        c = np.asarray(r.coef)
        found = np.flatnonzero(np.abs(c).sum(axis=1) if c.ndim == 2 else c)
        sup = str(found.tolist()) if found.size <= 6 else f"{found.size} features"
        mark = "" if set(found.tolist()) == support else " *"
        print(f"{name:18s} {1e3 * t:7.1f}ms {gradopt.Status(int(r.status)).name:>9s} "
              f"{float(r.duality_gap):9.1e} {sup + mark:28s} {d:10.2e} ({ref})")
    print("* support differs from the truth", sorted(support))

    OUT.mkdir(exist_ok=True)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5), sharex=True)
    axes[0].stem(w_true, linefmt="k-", markerfmt="ko", basefmt=" ", label="truth")
    axes[0].plot(np.asarray(ls.coef), "r.", label="lasso")
    axes[0].plot(np.asarray(hb.coef), "b.", label="huber")
    axes[0].set_title("targets with 5% outliers")
    axes[1].plot(np.asarray(mt.coef), ".")
    axes[1].set_title("multitask lasso (3 tasks)")
    axes[2].plot(np.asarray(lg.coef), "g.", label="sparse logistic")
    axes[2].plot(np.asarray(po.coef), "m.", label="poisson")
    axes[2].plot(np.asarray(gr.coef), "c+", label="group logistic")
    axes[2].set_title("logistic and Poisson")
    for ax in axes:
        ax.set_xlabel("feature")
        ax.legend(fontsize=8) if ax.get_legend_handles_labels()[0] else None
    fig.tight_layout()
    fig.savefig(OUT / "glm_models.png", dpi=110)
    print(f"saved {OUT / 'glm_models.png'}")


if __name__ == "__main__":
    main()
