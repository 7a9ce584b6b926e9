"""GLM benchmark: gradopt's engine vs skglm and scikit-learn (CPU, float64).

Five problems, no intercept, alpha = reg * alpha_max (reg = 0.1 by default):

==================  ===========================================  =================================
problem             objective P(w)                               peers
==================  ===========================================  =================================
huber + l1          1/n sum h_delta(y_i - x_i^T w) + a ||w||_1   skglm Huber + L1 (AndersonCD)
poisson + l1        1/n sum exp(x_i^T w) - y_i x_i^T w + a|w|_1  skglm Poisson + L1 (ProxNewton)
logistic + l1       1/n sum log(1 + exp(-y_i x_i^T w)) + a|w|_1  skglm Logistic + L1 (ProxNewton),
                                                                 sklearn LogisticRegression(saga,
                                                                 l1, C = 1/(a n))
multitask lasso     1/(2n) ||Y - XW||_F^2 + a sum_j ||W_j||_2    skglm QuadraticMultiTask + L2_1
                                                                 (MultiTaskBCD), sklearn
                                                                 MultiTaskLasso
group lasso         1/(2n) ||y - Xw||^2 + a sum_g w_g ||w_g||_2  skglm QuadraticGroup +
                                                                 WeightedGroupL2 (GroupBCD)
==================  ===========================================  =================================

(h_delta(r) = r^2/2 for |r| < delta, delta |r| - delta^2/2 beyond, delta = 1.35;
groups of 5 consecutive features with weights sqrt(5); these are skglm's
conventions, read from its source: ``Huber.value``, ``Poisson.value``,
``Logistic.value``, ``QuadraticMultiTask.value``, ``WeightedGroupL2.value``.)

One measurement for every solver: each one runs a ladder of its own tolerance
(the last rung is the tightest); the objective AND a Fenchel duality gap of
what it returns are computed here, in NumPy, by one function per problem
(:func:`objective_and_gap`, dual point = the negative datafit gradient
rescaled into the dual-norm ball; the conjugates are written out there), so
no solver's own stopping rule or certificate is trusted. "Time to target" is
the median time of the first rung whose gap is ``<= 1e-6 * P(0)``, after a
warm-up call with the same shapes (no compilation timed: JAX's and numba's
first call is reported separately). After the target rung, the tightest rung
is run once more so that every solver's best objective can be compared:
"objective agreement" is ``(P_best(solver) - P*) / |P*|`` with ``P*`` the
lowest objective any solver reached; the issue asks for ``<= 1e-7`` and
violations are flagged with "!".

Run:  python benchmarks/glm.py [--quick] [--cap SECONDS] [--reg R]
Writes the "glm" section of benchmarks/RESULTS.md and benchmarks/results/glm_*.png.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import warnings

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import RESULTS_DIR, fmt_time, git_revision, machine, write_section  # noqa: E402

import gradopt  # noqa: E402

TARGET = 1e-6  # gap <= TARGET * P(0)
AGREE = 1e-7  # objectives must agree to this relative difference
DELTA = 1.35  # Huber threshold
GROUP = 5  # group size
TASKS = 5  # multitask: number of tasks
warnings.filterwarnings("ignore")

# What the recorded run showed (2-core machine, quiet host, 2026-12-04).
OBSERVATIONS = (
    "Observed 2026-12-05 on a Zen 2 AMD EPYC host (family 23 model 49, AVX2; this run), "
    "slower than the host of the morning's runs (Python imports 1.5-1.8x, scikit-learn's "
    "GridSearchCV 1.8x, XLA compilations 1.3-1.5x longer): gradopt is faster than skglm on "
    "12 of 15 problems and within 4 % on two (huber 500×1000 1.04×, logistic 500×1000 "
    "0.99×); huber 200×5000 is 1.48× (404 against 273 ms; 1.01× on the morning's host, "
    "where skglm took the same time and gradopt 244 ms: XLA's kernels lose more than "
    "numba's on this CPU). Poisson 0.10–0.48×, logistic 0.27–0.99×, multitask 0.21–0.44×, "
    "group 0.50–0.91×. The logistic, multitask and group presets no longer compute "
    "alpha_max before every solve (only when the solution is w = 0; a sparse logistic "
    "500×600 at 0.1·α_max went 23–25 → 17 ms, docs/glm.md 'Fixed cost per call'). "
    "Differences below about 20 % are within this host's noise between runs (skglm's "
    "logistic 2000×500 took 66–80 ms in two runs of the same code). The engine's programs "
    "are compiled with XLA's LLVM elemental fusion emitters for the quadratic and Huber "
    "datafits and for every datafit on a gathered working set (`problems/_compile.py`); "
    "logistic and Poisson solves that sweep X in place keep XLA's default emitters, with "
    "the elemental ones they ran 20–30 % slower (docs/glm.md, 'Compile time'). "
    "scikit-learn's MultiTaskLasso (Cython cyclic block CD over all rows) is 1.9–2.1× "
    "faster than gradopt on multitask 500×1000 and 2000×500, and 0.52× on 200×5000. First "
    "calls compile one program per size bucket and datafit: 1.3–2.3 s here for quadratic "
    "and Huber, 2.6–2.9 s for logistic and Poisson, against numba's one-off compilation per "
    "problem type in skglm (3–7 s once, then only the solve time on new shapes). "
    "scikit-learn's saga (LogisticRegression, l1, tol ladder 1e-2 … 1e-10) does not reach "
    "the gap target within the cap on logistic 200×5000; its 'objective agreement' flag "
    "there is the solver stopping early, not a difference of conventions: wherever a solver "
    "reached the target, objectives agree to ≤ 1e-15 relative."
)

KINDS = ("huber", "poisson", "logistic", "multitask", "group")


# --------------------------------------------------------------------------- data


def design(n, p, rho, rng):
    """Gaussian design, AR(1) columns with correlation rho between neighbours."""
    X = np.empty((n, p))
    u = rng.standard_normal(n)
    X[:, 0] = u
    s = math.sqrt(1 - rho * rho)
    for j in range(1, p):
        u = rho * u + s * rng.standard_normal(n)
        X[:, j] = u
    return X


def make_problem(kind, n, p, reg, seed=0, rho=0.5):
    """Returns (X, y, alpha, extra) for a problem kind; extra = group weights or None."""
    rng = np.random.default_rng(seed)
    X = design(n, p, rho, rng)
    nnz = max(1, p // 20)
    w = np.zeros(p)
    w[rng.choice(p, nnz, replace=False)] = rng.standard_normal(nnz)
    z = X @ w
    z /= z.std()
    if kind == "huber":
        y = 3.0 * z + rng.standard_normal(n)
        out = rng.random(n) < 0.05  # 5 % gross outliers
        y[out] += 20.0 * rng.choice([-1.0, 1.0], out.sum())
    elif kind == "poisson":
        y = rng.poisson(np.exp(0.5 * z)).astype(np.float64)
    elif kind == "logistic":
        y = np.where(z + 0.5 * rng.standard_normal(n) > 0, 1.0, -1.0)
    elif kind == "multitask":
        W = np.zeros((p, TASKS))
        rows = rng.choice(p, nnz, replace=False)
        W[rows] = rng.standard_normal((nnz, TASKS))
        Y = X @ W
        noise = rng.standard_normal(Y.shape)
        y = Y + noise * np.linalg.norm(Y) / np.linalg.norm(noise) / 3.0
    elif kind == "group":
        G = p // GROUP
        wg = np.zeros(p)
        for g in rng.choice(G, max(1, G // 20), replace=False):
            wg[g * GROUP:(g + 1) * GROUP] = rng.standard_normal(GROUP)
        y0 = X @ wg
        noise = rng.standard_normal(n)
        y = y0 + noise * np.linalg.norm(y0) / np.linalg.norm(noise) / 3.0
    else:
        raise ValueError(kind)
    extra = np.full(p // GROUP, math.sqrt(GROUP)) if kind == "group" else None
    alpha = reg * alpha_max(kind, X, y, extra)
    return X, y, alpha, extra


# --------------------------------------------------------------------------- one objective, one gap


def _xlogx(u):
    return np.where(u > 0, u * np.log(np.where(u > 0, u, 1.0)), 0.0)


def _datafit(kind, y, z):
    """Per-sample losses f_i(z_i) and derivatives f_i'(z_i) (z = Xw)."""
    if kind in ("multitask", "group"):
        return 0.5 * (y - z) ** 2, z - y
    if kind == "huber":
        r = y - z
        a = np.abs(r)
        return np.where(a < DELTA, 0.5 * r * r, DELTA * a - 0.5 * DELTA ** 2), -np.clip(r, -DELTA, DELTA)
    if kind == "poisson":
        e = np.exp(z)
        return e - y * z, e - y
    if kind == "logistic":
        m = -y * z
        return np.logaddexp(0.0, m), -y * (0.5 * (1.0 + np.tanh(0.5 * m)))  # sigma(m) stably
    raise ValueError(kind)


def _conjugate(kind, y, v):
    """f_i^*(v_i), finite on the points used below (|v| <= delta for Huber, etc.)."""
    if kind in ("multitask", "group"):  # f(z) = (y - z)^2/2
        return 0.5 * v * v + v * y
    if kind == "huber":  # f(z) = h(y - z): f*(v) = v y + v^2/2 for |v| <= delta
        return v * y + 0.5 * v * v
    if kind == "poisson":  # f(z) = e^z - y z: f*(v) = (v+y) log(v+y) - (v+y)
        t = v + y
        return _xlogx(t) - t
    if kind == "logistic":  # f(z) = log(1+e^{-yz}): u = -v y in [0, 1], f* = u log u + (1-u) log(1-u)
        u = -v * y
        return _xlogx(u) + _xlogx(1.0 - u)
    raise ValueError(kind)


def _penalty_and_dual_norm(kind, w, alpha, weights, Xtg):
    if kind == "multitask":
        return alpha * np.linalg.norm(w, axis=1).sum(), np.linalg.norm(Xtg, axis=1).max()
    if kind == "group":
        wg = w.reshape(-1, GROUP)
        gg = Xtg.reshape(-1, GROUP)
        return alpha * (weights * np.linalg.norm(wg, axis=1)).sum(), (np.linalg.norm(gg, axis=1) / weights).max()
    return alpha * np.abs(w).sum(), np.abs(Xtg).max()


def objective_and_gap(kind, X, y, w, alpha, weights=None):
    """P(w) and the duality gap P(w) - D(theta), theta = -s grad F(Xw), s = min(1, alpha / ||X^T grad F||_*).

    F(z) = 1/n sum_i f_i(z_i): D(theta) = -1/n sum_i f_i^*(s f_i'(z_i)) and
    theta is feasible for the penalty's dual-norm ball; D <= P* <= P.
    """
    n = X.shape[0]
    w = np.asarray(w, dtype=np.float64)
    z = X @ w
    loss, d = _datafit(kind, y, z)
    pen, dn = _penalty_and_dual_norm(kind, w, alpha, weights, X.T @ d / n)
    P = loss.sum() / n + pen
    s = 1.0 if dn <= alpha else alpha / dn
    D = -_conjugate(kind, y, s * d).sum() / n
    return float(P), float(P - D)


def alpha_max(kind, X, y, weights=None):
    n = X.shape[0]
    _, d = _datafit(kind, y, np.zeros_like(y))
    _, dn = _penalty_and_dual_norm(kind, np.zeros((X.shape[1],) + y.shape[1:]), 1.0, weights, X.T @ d / n)
    return float(dn)


# --------------------------------------------------------------------------- solvers


def groups_of(p):
    return [np.arange(g * GROUP, (g + 1) * GROUP) for g in range(p // GROUP)]


def gradopt_solver(kind):
    def solve(X, y, alpha, weights, tol):
        if kind == "huber":
            res = gradopt.huber_regression(X, y, alpha, delta=DELTA, tol=tol)
        elif kind == "poisson":
            res = gradopt.poisson_regression(X, y, alpha, tol=tol)
        elif kind == "logistic":
            res = gradopt.sparse_logistic(X, y, alpha, fit_intercept=False, tol=tol)
        elif kind == "multitask":
            res = gradopt.multitask_lasso(X, y, alpha, tol=tol)
        else:
            res = gradopt.group_lasso(X, y, alpha, groups_of(X.shape[1]), weights=weights, tol=tol)
        return np.asarray(jax.block_until_ready(res.coef)), float(res.objective)
    return solve


def skglm_solver(kind):
    from skglm import datafits as sd, penalties as sp, solvers as ss

    def solve(X, y, alpha, weights, tol):
        if kind == "huber":
            df, pen = sd.Huber(DELTA), sp.L1(alpha)
            sol = ss.AndersonCD(tol=tol, fit_intercept=False, max_iter=1000)
        elif kind == "poisson":
            df, pen = sd.Poisson(), sp.L1(alpha)
            sol = ss.ProxNewton(tol=tol, fit_intercept=False, max_iter=1000)
        elif kind == "logistic":
            df, pen = sd.Logistic(), sp.L1(alpha)
            sol = ss.ProxNewton(tol=tol, fit_intercept=False, max_iter=1000)
        elif kind == "multitask":
            df, pen = sd.QuadraticMultiTask(), sp.L2_1(alpha)
            sol = ss.MultiTaskBCD(tol=tol, fit_intercept=False, max_iter=1000)
        else:
            p = X.shape[1]
            ptr = np.arange(0, p + 1, GROUP, dtype=np.int32)
            idx = np.arange(p, dtype=np.int32)
            df = sd.QuadraticGroup(ptr, idx)
            pen = sp.WeightedGroupL2(alpha, weights, ptr, idx)
            sol = ss.GroupBCD(tol=tol, fit_intercept=False, max_iter=1000)
        w = sol.solve(X, y, df, pen)[0]
        return np.asarray(w)[:X.shape[1]], None
    return solve


def sklearn_solver(kind):
    def solve(X, y, alpha, weights, tol):
        if kind == "logistic":
            from sklearn.linear_model import LogisticRegression

            m = LogisticRegression(penalty="l1", C=1.0 / (alpha * X.shape[0]), solver="saga",
                                   fit_intercept=False, tol=tol, max_iter=100_000).fit(X, y)
            return m.coef_.ravel(), None
        from sklearn.linear_model import MultiTaskLasso

        m = MultiTaskLasso(alpha=alpha, fit_intercept=False, tol=tol, max_iter=1_000_000).fit(X, y)
        return m.coef_.T, None
    return solve


LADDERS = {
    "gradopt": [1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-10],
    "skglm": [1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-10],
    "sklearn": [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-10],
}


def solvers_for(kind):
    out = {"gradopt": gradopt_solver(kind)}
    try:
        import skglm  # noqa: F401

        out["skglm"] = skglm_solver(kind)
    except Exception as e:  # pragma: no cover
        print(f"skglm skipped: {e}")
    if kind in ("logistic", "multitask"):
        out["sklearn"] = sklearn_solver(kind)
    return out


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run_ladder(name, fn, kind, X, y, alpha, weights, p0, cap, repeats):
    """Returns dict(points=[(t, P, gap, tol)], t=time to target or None, first=first-call time,
    target_P, best_P, own_obj_err)."""
    ladder = LADDERS[name]
    _, first = timed(lambda: fn(X, y, alpha, weights, ladder[0]))  # compilation / numba
    points, t_target, target_P, own_err = [], None, None, float("nan")
    for tol in ladder:
        (w, own), t = timed(lambda: fn(X, y, alpha, weights, tol))
        P, gap = objective_and_gap(kind, X, y, w, alpha, weights)
        if own is not None:  # the solver's own objective vs ours
            own_err = abs(own - P) / abs(P)
        points.append((t, P, gap, tol))
        if gap <= TARGET * p0:
            reps = repeats if t < 1.0 else (2 if t < 5.0 else 1)
            ts = [t] + [timed(lambda: fn(X, y, alpha, weights, tol))[1] for _ in range(reps - 1)]
            t_target, target_P = statistics.median(ts), P
            if tol != ladder[-1] and t < cap / 3:  # the tightest rung, once, for the agreement
                (w, _), t2 = timed(lambda: fn(X, y, alpha, weights, ladder[-1]))
                P2, gap2 = objective_and_gap(kind, X, y, w, alpha, weights)
                points.append((t2, P2, gap2, ladder[-1]))
            break
        if t > cap / 3:
            break
    return dict(points=points, t=t_target, first=first, target_P=target_P,
                best_P=min(pt[1] for pt in points), last_gap=points[-1][2], own_err=own_err,
                tmax=max(pt[0] for pt in points))


# --------------------------------------------------------------------------- main


def sizes(quick):
    return [(300, 600)] if quick else [(500, 1000), (2000, 500), (200, 5000)]


def benchmark(quick, cap, reg, kinds):
    rows = []
    for kind in kinds:
        for n, p in sizes(quick):
            X, y, alpha, weights = make_problem(kind, n, p, reg)
            p0 = objective_and_gap(kind, X, y, np.zeros((p,) + y.shape[1:]), alpha, weights)[0]
            res = {}
            for name, fn in solvers_for(kind).items():
                res[name] = run_ladder(name, fn, kind, X, y, alpha, weights, p0, cap,
                                       repeats=2 if quick else (5 if name == "gradopt" else 3))
            p_star = min(r["best_P"] for r in res.values())
            label = f"{kind} {n}×{p}"
            rows.append((kind, label, p0, p_star, res))
            line = " | ".join(
                f"{k} {fmt_cell(v, p0)} (first {fmt_time(v['first'])}, agree "
                f"{(v['best_P'] - p_star) / abs(p_star):.1e})" for k, v in res.items())
            print(f"{label}: {line}", flush=True)
    return rows


def fmt_cell(r, p0):
    if r["t"] is None:
        return f"> {fmt_time(r['tmax'])} (gap {r['last_gap'] / p0:.0e})"
    return fmt_time(r["t"])


def plot(rows):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:  # pragma: no cover
        print("matplotlib missing: no plots")
        return []
    RESULTS_DIR.mkdir(exist_ok=True)
    files = []
    for kind in dict.fromkeys(r[0] for r in rows):
        sub = [r for r in rows if r[0] == kind]
        fig, axes = plt.subplots(1, len(sub), figsize=(4.2 * len(sub), 3.4), squeeze=False)
        for ax, (_, label, p0, p_star, res) in zip(axes[0], sub):
            for name, r in res.items():
                pts = sorted(r["points"], key=lambda pt: pt[3], reverse=True)
                ax.loglog([pt[0] for pt in pts], [max(pt[2] / p0, 1e-16) for pt in pts], "o-",
                          ms=3, label=name)
            ax.axhline(TARGET, color="grey", lw=0.8, ls="--")
            ax.set_xlabel("time (s)")
            ax.set_ylabel("duality gap / P(0)")
            ax.set_title(label, fontsize=9)
            ax.legend(fontsize=7)
            ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        path = RESULTS_DIR / f"glm_{kind}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append(path.name)
    return files


def ratio(a, b):
    return "n/a" if a is None or b is None else f"{a / b:.2f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="one small size (300×600), fewer repeats")
    ap.add_argument("--cap", type=float, default=None,
                    help="time cap per solver and problem in seconds (default 30, quick 10)")
    ap.add_argument("--reg", type=float, default=0.1, help="alpha = reg * alpha_max")
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated subset of " + ",".join(KINDS))
    ap.add_argument("--no-write", action="store_true", help="do not write RESULTS.md or the plots")
    args = ap.parse_args()
    cap = args.cap if args.cap is not None else (10.0 if args.quick else 30.0)
    kinds = [k for k in args.kinds.split(",") if k]
    t_start = time.perf_counter()
    print(machine())
    rows = benchmark(args.quick, cap, args.reg, kinds)
    files = [] if args.no_write else plot(rows)
    total = time.perf_counter() - t_start

    peers = ["skglm", "sklearn"]
    lines = ["| problem | gradopt | gradopt first call | skglm | skglm first call | sklearn | "
             "gradopt / skglm | gradopt / sklearn | objective agreement (gradopt, skglm, sklearn) |",
             "|---|---|---|---|---|---|---|---|---|"]
    flags, losses = [], []
    for kind, label, p0, p_star, res in rows:
        go = res["gradopt"]
        cells = [label, fmt_cell(go, p0), fmt_time(go["first"])]
        for s in peers:
            if s in res:
                cells.append(fmt_cell(res[s], p0))
                if s == "skglm":
                    cells.append(fmt_time(res[s]["first"]))
            else:
                cells += ["—", "—"] if s == "skglm" else ["—"]
        cells += [ratio(go["t"], res[s]["t"]) if s in res else "—" for s in peers]
        agree = []
        for s in ("gradopt", *peers):
            if s in res:
                d = (res[s]["best_P"] - p_star) / abs(p_star)
                bad = d > AGREE
                agree.append(f"{d:.0e}{' !' if bad else ''}")
                if bad:
                    flags.append(f"{label}: {s} best objective is {d:.1e} relative above P* "
                                 f"(tightest rung tried: tol {res[s]['points'][-1][3]:g}).")
            else:
                agree.append("—")
        cells.append(", ".join(agree))
        lines.append("| " + " | ".join(cells) + " |")
        for s in peers:
            if s in res and go["t"] is not None and res[s]["t"] is not None and go["t"] > res[s]["t"]:
                losses.append(f"- {label}: {go['t'] / res[s]['t']:.2f}× slower than {s}.")
            elif s in res and go["t"] is None and res[s]["t"] is not None:
                losses.append(f"- {label}: gradopt did not reach the target; {s} did.")
    own = [f"{label}: {r['gradopt']['own_err']:.0e}" for _, label, _, _, r in rows]
    body = "\n".join([
        "## GLM engine: time to a duality gap ≤ 1e-6 · P(0) (CPU, float64)",
        "",
        f"Machine: {machine()}; git {git_revision()}; `python benchmarks/glm.py"
        f"{' --quick' if args.quick else ''}` ({total / 60:.1f} min). "
        f"α = {args.reg:g}·α_max, no intercept, AR(1) designs ρ = 0.5, 5 % of w* non-zero.",
        "",
        "Objectives are skglm's conventions (huber δ = 1.35: 1/n Σ h_δ(yᵢ − xᵢᵀw); poisson: "
        "1/n Σ exp(xᵢᵀw) − yᵢxᵢᵀw; logistic: 1/n Σ log(1 + exp(−yᵢxᵢᵀw)); multitask: "
        f"1/(2n)‖Y − XW‖²_F + α Σⱼ‖Wⱼ‖ with {TASKS} tasks; group lasso: groups of {GROUP}, "
        f"weights √{GROUP}) plus α‖w‖₁ where not said. "
        "Every solver's output is certified by the same NumPy function in the script "
        "(objective and Fenchel duality gap with the rescaled negative gradient as dual "
        "point), so the same target is measured the same way for all solvers, including "
        "those with no gap of their own (skglm stops on a KKT violation, saga on the change "
        "of its iterate). Each solver runs a ladder of its own `tol` (gradopt and skglm "
        "1e-3 … 1e-10, sklearn 1e-2 … 1e-10); the time is the median of the first rung "
        "that reaches the target, after a warm-up call with the same shapes; '> t (gap g)': "
        f"not reached within the cap ({cap:g} s per solver: a ladder stops after a rung "
        "longer than cap/3). 'first call' is the warm-up call (the loosest rung; JAX "
        "compilation or numba's, included; numba specializes on dtypes, not shapes, so skglm "
        "compiles on the first size of each problem only, gradopt once per size bucket). "
        "After the target rung each solver runs its "
        "tightest rung once; 'objective agreement' is (P_best − P*)/|P*| with P* the "
        f"lowest objective of any solver; the issue asks ≤ {AGREE:g} ('!' marks a violation). "
        "Ratios < 1: gradopt faster.",
        "",
        *lines,
        "",
        "Objective agreement violations: " + ("none." if not flags else ""),
        *([f"- {f}" for f in flags] if flags else []),
        "",
        "gradopt's reported objective vs the NumPy one (relative): " + "; ".join(own) + ".",
        "",
        "Where gradopt loses (measured above): " + ("nowhere." if not losses else ""),
        *losses,
        "",
        "Why: " + OBSERVATIONS,
        "",
        "Gap-vs-time plots (every rung of every ladder): "
        + ", ".join(f"`results/{f}`" for f in files) + ".",
    ])
    print(body)
    if not args.no_write:
        write_section("glm", body)


if __name__ == "__main__":
    main()
