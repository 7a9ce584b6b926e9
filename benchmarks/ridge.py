"""Ridge benchmark: gradopt's engine (direct start) vs scikit-learn and skglm (CPU, float64).

Problem (no intercept)::

    P(w) = 1/(2n) ||y - X w||^2 + alpha/2 ||w||^2

on benchopt-style data (``lasso.correlated_data``: AR(1) columns of correlation
rho, SNR 3): wide designs (p > n), correlated tall ones and uncorrelated tall
ones. Peers, side by side in one process:

* ``gradopt``: ``gradopt.glm(X, y, quadratic(), l2_squared(alpha))``, which starts
  a least-squares ridge from its solution by one Cholesky factorization and
  certifies it with the engine (docs/glm.md, "Ridge: a direct start");
* ``gradopt CD``: the same call with the direct start switched off (the engine's
  coordinate descent alone, as before 2026-12-06);
* ``sklearn``: ``Ridge(alpha * n, fit_intercept=False)`` (solver "auto":
  Cholesky of the primal or dual system);
* ``skglm``: ``GeneralizedLinearEstimator(Quadratic(), L1_plus_L2(alpha, 0))``
  (Anderson coordinate descent), when installed.

Accuracy: every solver's ``w`` is scored by ONE function, the suboptimality
``(P(w) - P*) / P(0)`` with ``P*`` from NumPy's float64 solve of the normal (or
dual) equations; the target is ``<= 1e-6``. Times: median of 5 calls after a
warm-up call (compilation excluded; gradopt's first call is reported apart),
one call for a solver whose warm-up took over 3 s.

Run:  python benchmarks/ridge.py
Writes the "ridge" section of benchmarks/RESULTS.md and results/ridge.png.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

PROBLEMS = [  # n, p, rho, alpha
    (100, 20000, 0.0, 1.0),
    (100, 20000, 0.0, 0.01),
    (300, 3000, 0.5, 1e-3),
    (1000, 500, 0.99, 1e-3),
    (1000, 500, 0.99, 1e-5),
    (600, 500, 0.9, 1e-4),
    (2000, 1000, 0.0, 1.0),
    (500, 600, 0.0, 0.1),
    (10000, 100, 0.0, 0.1),
]
TARGET = 1e-6
SLOW = 3.0  # seconds: a solver whose warm-up took longer is timed once
# skglm's coordinate descent on the 100×20000 ridges took 27-35 s a call (α = 1) and
# several minutes (α = 0.01) in a first run: not run on designs wider than this
SKGLM_MAX_P = 5000


def reference(X, y, alpha):
    n, p = X.shape
    if p <= n:
        return np.linalg.solve(X.T @ X + n * alpha * np.eye(p), X.T @ y)
    return X.T @ np.linalg.solve(X @ X.T + n * alpha * np.eye(n), y)


def objective(X, y, w, alpha):
    r = y - X @ w
    return 0.5 * r @ r / len(y) + 0.5 * alpha * w @ w


def solvers(alpha, n):
    import jax

    import gradopt

    glm_mod = importlib.import_module("gradopt.problems.glm")
    budgets = (glm_mod.DIRECT_RIDGE_FLOPS_WIDE, glm_mod.DIRECT_RIDGE_FLOPS_TALL)

    def gradopt_solve(direct):
        def run(X, y):
            if not direct:
                glm_mod.DIRECT_RIDGE_FLOPS_WIDE = glm_mod.DIRECT_RIDGE_FLOPS_TALL = 0
            try:
                res = gradopt.glm(X, y, gradopt.datafits.quadratic(), gradopt.prox.l2_squared(alpha))
                return np.asarray(jax.block_until_ready(res.coef))
            finally:
                glm_mod.DIRECT_RIDGE_FLOPS_WIDE, glm_mod.DIRECT_RIDGE_FLOPS_TALL = budgets
        return run

    out = {"gradopt": gradopt_solve(True), "gradopt CD": gradopt_solve(False)}
    from sklearn.linear_model import Ridge

    out["sklearn"] = lambda X, y: Ridge(alpha=alpha * n, fit_intercept=False).fit(X, y).coef_
    try:
        from skglm import GeneralizedLinearEstimator
        from skglm.datafits import Quadratic
        from skglm.penalties import L1_plus_L2
        from skglm.solvers import AndersonCD

        def skglm_solve(X, y):
            est = GeneralizedLinearEstimator(
                Quadratic(), L1_plus_L2(alpha, l1_ratio=0.0), AndersonCD(tol=1e-10, fit_intercept=False))
            return est.fit(X, y).coef_
        out["skglm"] = skglm_solve
    except ImportError:
        print("skglm not installed: skipped")
    return out


def main():
    import jax

    jax.config.update("jax_enable_x64", True)
    from _report import fmt_time, git_revision, machine, write_section
    from lasso import correlated_data

    warnings.filterwarnings("ignore")
    t_start = time.perf_counter()
    mach = machine()
    print(mach)
    rows, names = [], None
    for n, p, rho, alpha in PROBLEMS:
        X, y = correlated_data(n, p, rho)
        X, y = np.ascontiguousarray(X), np.asarray(y)
        w_star = reference(X, y, alpha)
        p_star, p0 = objective(X, y, w_star, alpha), objective(X, y, 0 * w_star, alpha)
        row = {"problem": f"{n}×{p} ρ={rho:g} α={alpha:g}"}
        table = solvers(alpha, n)
        names = list(table)
        for name, fn in table.items():
            if name == "skglm" and p > SKGLM_MAX_P:
                row[name] = None
                continue
            t0 = time.perf_counter()
            w = fn(X, y)
            first = time.perf_counter() - t0
            times = []
            for _ in range(1 if first > SLOW else 5):
                t0 = time.perf_counter()
                w = fn(X, y)
                times.append(time.perf_counter() - t0)
            sub = max(objective(X, y, w, alpha) - p_star, 0.0) / p0
            row[name] = (float(np.median(times)), sub, first)
        rows.append(row)
        print(row, flush=True)
    total = time.perf_counter() - t_start

    head = "| problem | " + " | ".join(names) + " | gradopt / sklearn | gradopt / gradopt CD |"
    lines = [head, "|---" * (len(names) + 3) + "|"]
    for row in rows:
        cells = []
        for name in names:
            if row[name] is None:
                cells.append(f"not run (p > {SKGLM_MAX_P})")
                continue
            t, sub, first = row[name]
            mark = "" if sub <= TARGET else f" (**{sub:.0e}**)"
            extra = f" (first call {fmt_time(first)})" if name == "gradopt" else ""
            cells.append(fmt_time(t) + mark + extra)
        ratio = row["gradopt"][0] / row["sklearn"][0]
        vs_cd = row["gradopt"][0] / row["gradopt CD"][0]
        lines.append(f"| {row['problem']} | " + " | ".join(cells) + f" | {ratio:.2f} | {vs_cd:.2f} |")
    body = "\n".join([
        "## Ridge: time to a suboptimality ≤ 1e-6 · P(0) (CPU, float64)",
        "",
        f"Machine: {mach}; git {git_revision()}; `python benchmarks/ridge.py` "
        f"({total / 60:.1f} min).",
        "",
        "P(w) = 1/(2n)‖y − Xw‖² + α/2‖w‖², no intercept, benchopt-style data (AR(1) columns "
        "of correlation ρ). Every solver's w is scored by one function, (P(w) − P*)/P(0) "
        "with P* from NumPy's float64 solve; a bold figure in parentheses is a solver that "
        "missed the 1e-6 target. Median of 5 calls after a warm-up (one call for a solver "
        "whose warm-up took over 3 s). 'gradopt' is `glm(X, y, quadratic(), "
        "l2_squared(α))`, which starts from the direct solution (docs/glm.md, 'Ridge: a "
        "direct start'); 'gradopt CD' the same call with that start switched off "
        "(coordinate descent alone, as before 2026-12-06); scikit-learn's `Ridge(α·n)` "
        "(solver 'auto'); skglm's `Quadratic() + L1_plus_L2(α, l1_ratio=0)` (`AndersonCD(tol=1e-10)`; its `L2` penalty has no coordinate prox for that solver).",
        "",
        *lines,
        "",
        "Observations: " + OBSERVATIONS,
    ])
    print(body)
    write_section("ridge", body)
    plot(rows, names)


def plot(rows, names):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot")
        return
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        ax.bar(np.arange(len(rows)) + i * width,
               [r[name][0] if r[name] else np.nan for r in rows], width, label=name)
    ax.set_xticks(np.arange(len(rows)) + 0.4 - width / 2)
    ax.set_xticklabels([r["problem"].replace(" ", "\n", 1) for r in rows], fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("seconds (median)")
    ax.set_title("Ridge, float64: time per solve")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(HERE, "results", "ridge.png")
    fig.savefig(path, dpi=110)
    print("wrote", path)


OBSERVATIONS = (
    "Observed 2026-12-06 (a slower day of the 2-core host). The direct start reaches the "
    "target on every problem; coordinate descent alone missed it on both 100×20000 ridges "
    "after its 100 outer iterations (13.1-13.8 s), and was 8-98× slower than the direct "
    "start on the correlated designs (300×3000 ρ=0.5: 2.90 s against 29.7 ms; 1000×500 "
    "ρ=0.99: 230-669 ms against 25-29 ms). Where the columns are uncorrelated and n ≥ p, "
    "coordinate descent converges in a few epochs and is faster (2000×1000: 53 against 107 "
    "ms; 500×600: 15.9 against 27.8 ms): the direct start is kept there as well, since the "
    "shape does not tell whether the columns are correlated. Against scikit-learn's Ridge "
    "(a Cholesky of the smaller system, as here): 0.44-0.69× on the correlated and the "
    "2000×1000 designs, 1.2-1.8× on 300×3000, 1000×500 ρ=0.99 α=1e-3 and 500×600, 2.0× on "
    "10000×100 and 2.2-4.2× on 100×20000 in this run; a second run minutes later (not "
    "recorded) gave 0.90-1.36× on the correlated designs, 0.70-1.50× on the uncorrelated "
    "tall ones and 2.2-2.6× on 100×20000: scikit-learn's times of 13-56 ms moved by up to "
    "2.3× between the runs, gradopt's by up to 38 %, skglm's by up to 30 % and coordinate "
    "descent alone's by less than 15 %. On 100×20000 scikit-learn's solve of a 100×100 system "
    "takes 13 ms and gradopt adds the padded transpose of X (20000 → 20480 features) and "
    "the engine's certificate (passes over X) to a similar solve. skglm's Anderson "
    "coordinate descent took 0.3-18 s on the correlated designs (not run on the 100×20000 "
    "ones, where a first run took 27-35 s a call). First calls (compilation) 2.6-3.5 s."
)

if __name__ == "__main__":
    main()
