"""Lasso benchmark: gradopt vs scikit-learn, skglm, celer and jaxopt (CPU, float64).

Problems: benchopt's simulated lasso grid, (n, p) in {(100, 10000), (500, 600),
(10000, 100), (1000, 5000)}, Toeplitz correlation rho in {0, 0.6} (columns of an
AR(1) process: X rows ~ N(0, Sigma), Sigma_ij = rho^|i-j|), y = X w* + noise with
20 % of w* non-zero and ||X w*|| / ||noise|| = 3 (as benchopt's
``make_correlated_data``), lambda = reg * lambda_max, reg in {0.1, 0.01}; plus
scikit-learn's diabetes data set. Objective (scikit-learn's scaling, no
intercept)::

    P(w) = 1/(2n) ||y - X w||^2 + lambda ||w||_1

Every solver is run on a ladder of increasing effort (its own tolerance, or
``maxiter`` for jaxopt) and the duality gap of what it returns is computed by
ONE function, :func:`gradopt.lasso_duality_gap` (dual point: rescaled residual).
"Time to target" is the median time of the first rung whose gap is
``<= 1e-6 * P(0)`` (after a warm-up call with the same shapes, so no compilation
is timed; gradopt's first-call time, compilation included, is reported
separately). A solver that does not reach the target within the time cap is
reported as "> cap" with the gap it reached.

Second table: a path of 100 alphas (gradopt.lasso_path vs sklearn lasso_path),
and 256 independent small problems (gradopt.lasso_batch, one vmapped call, vs
sklearn's Lasso in a Python loop).

Wide grid (``--wide SEED``): 30 points drawn from the printed seed, n in [50, 5000],
p in [50, 20000] (log-uniform, n p <= 1e7), rho in {0, 0.5, 0.9, 0.99}, reg in
{0.3, 0.1, 0.01, 0.001}; gradopt.lasso (a preset of the GLM engine) against
scikit-learn, skglm and celer, cap 10 s per solver and point.

Run:  python benchmarks/lasso.py [--quick] [--cap SECONDS]
      python benchmarks/lasso.py --wide SEED
Writes the "lasso" (or "lasso_wide") section of benchmarks/RESULTS.md and
benchmarks/results/lasso_*.png.
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

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import RESULTS_DIR, fmt_time, git_revision, machine, write_section  # noqa: E402

import gradopt  # noqa: E402

TARGET = 1e-6  # relative duality gap, gap <= TARGET * P(0)
warnings.filterwarnings("ignore")


# --------------------------------------------------------------------------- data


def correlated_data(n, p, rho, seed=0, density=0.2, snr=3.0):
    """benchopt-style simulated regression (AR(1) columns, sparse w*, SNR 3)."""
    rng = np.random.RandomState(seed)
    if rho:
        X = np.empty((n, p), order="F")
        u = rng.randn(n)
        X[:, 0] = u
        s = math.sqrt(1 - rho * rho)
        for j in range(1, p):
            u = rho * u + s * rng.randn(n)
            X[:, j] = u
    else:
        X = rng.randn(n, p)
    w = np.zeros(p)
    nnz = int(density * p)
    w[rng.choice(p, nnz, replace=False)] = rng.randn(nnz)
    y = X @ w
    noise = rng.randn(n)
    y += noise / np.linalg.norm(noise) * np.linalg.norm(y) / snr
    return X, y


def problems(quick):
    grid = [(100, 10000), (500, 600), (10000, 100), (1000, 5000)]
    out = []
    for n, p in grid:
        for rho in (0.0, 0.6):
            X, y = correlated_data(n, p, rho)
            for reg in (0.1, 0.01):
                if quick and not ((n, p) in [(500, 600), (100, 10000)] and rho == 0.6):
                    continue
                out.append((f"{n}×{p} ρ={rho:g} reg={reg:g}", X, y, reg))
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    for reg in (0.1, 0.01):
        if quick and reg == 0.1:
            continue
        out.append((f"diabetes 442×10 reg={reg:g}", X, y, reg))
    return out


WIDE_RHO = (0.0, 0.5, 0.9, 0.99)
WIDE_REG = (0.3, 0.1, 0.01, 0.001)
WIDE_CELLS = 10_000_000  # n * p at most (80 MB of float64): bounds one point's time


def wide_problems(seed, count=30):
    """``count`` points drawn from ``seed``: n log-uniform in [50, 5000], p log-uniform in
    [50, 20000] (redrawn while n p > WIDE_CELLS), rho and reg uniform over WIDE_RHO and
    WIDE_REG. Data are made when the point is run (one design in memory at a time)."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        n = int(round(math.exp(rng.uniform(math.log(50), math.log(5000)))))
        p = int(round(math.exp(rng.uniform(math.log(50), math.log(20000)))))
        if n * p > WIDE_CELLS:
            continue
        rho, reg = float(rng.choice(WIDE_RHO)), float(rng.choice(WIDE_REG))
        data_seed = int(rng.integers(2**31 - 1))
        out.append((f"{n}×{p} ρ={rho:g} reg={reg:g}",
                    lambda n=n, p=p, rho=rho, s=data_seed: correlated_data(n, p, rho, seed=s),
                    reg))
    return out


# --------------------------------------------------------------------------- solvers


def gap_of(X, y, w, alpha):
    P, _, gap = gradopt.lasso_duality_gap(X, y, np.asarray(w, dtype=np.float64), alpha)
    return float(P), float(gap)


def solver_gradopt(X, y, alpha, tol):
    res = gradopt.lasso(X, y, alpha, tol=tol)
    return np.asarray(res.coef)


def solver_sklearn(X, y, alpha, tol):
    from sklearn.linear_model import Lasso

    return Lasso(alpha=alpha, fit_intercept=False, tol=tol, max_iter=1_000_000).fit(X, y).coef_


def solver_skglm(X, y, alpha, tol):
    from skglm import Lasso

    return Lasso(alpha=alpha, fit_intercept=False, tol=tol, max_iter=1000).fit(X, y).coef_


def solver_celer(X, y, alpha, tol):
    from celer import Lasso

    return Lasso(alpha=alpha, fit_intercept=False, tol=tol, max_iter=1000).fit(X, y).coef_


_JAXOPT_CACHE = {}


def solver_jaxopt(X, y, alpha, maxiter):
    """jaxopt.ProximalGradient (FISTA, step 1/L, tol 0 so it runs maxiter steps)."""
    import jaxopt

    key = (X.shape, maxiter)
    n = X.shape[0]
    if key not in _JAXOPT_CACHE:
        def fun(w, X, y):
            r = X @ w - y
            return 0.5 * jnp.mean(r * r)

        L = np.linalg.norm(X, 2) ** 2 / n
        pg = jaxopt.ProximalGradient(fun=fun, prox=jaxopt.prox.prox_lasso, stepsize=1.0 / L,
                                     maxiter=int(maxiter), tol=1e-30, acceleration=True,
                                     jit=True)
        _JAXOPT_CACHE[key] = pg
    pg = _JAXOPT_CACHE[key]
    w = pg.run(jnp.zeros(X.shape[1]), hyperparams_prox=alpha, X=jnp.asarray(X),
               y=jnp.asarray(y)).params
    return np.asarray(jax.block_until_ready(w))


def available():
    out = {"gradopt": solver_gradopt, "sklearn": solver_sklearn}
    for name, mod, fn in (("skglm", "skglm", solver_skglm), ("celer", "celer", solver_celer),
                          ("jaxopt", "jaxopt", solver_jaxopt)):
        try:
            __import__(mod)
            out[name] = fn
        except Exception as e:  # pragma: no cover
            print(f"{name}: skipped (not installed: {e})")
    return out


TOL_LADDERS = {
    "gradopt": [1e-2, 1e-3, 1e-4, 1e-5, 1e-6],
    "sklearn": [1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9],
    "skglm": [1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9],
    "celer": [1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9],
    "jaxopt": [10, 100, 1000, 10_000, 100_000],
}


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run_ladder(name, fn, X, y, alpha, p0, cap, repeats):
    """Ladder of efforts; returns (points [(t, P, gap)], time_to_target or None, last gap)."""
    points = []
    fn(X, y, alpha, TOL_LADDERS[name][0])  # warm-up (compilation, numba)
    for level in TOL_LADDERS[name]:
        if name == "jaxopt":
            fn(X, y, alpha, level)  # compile this maxiter
        w, t = timed(lambda: fn(X, y, alpha, level))
        P, gap = gap_of(X, y, w, alpha)
        points.append((t, P, gap))
        if gap <= TARGET * p0:
            reps = repeats if t < 1.0 else (2 if t < 5.0 else 1)
            ts = [t] + [timed(lambda: fn(X, y, alpha, level))[1] for _ in range(reps - 1)]
            return points, statistics.median(ts), gap
        if t > cap / (20 if name == "jaxopt" else 3):
            break  # the next rung (10x more iterations for jaxopt) would blow the cap
    return points, None, points[-1][2]


# --------------------------------------------------------------------------- main


def fmt_result(t, gap, p0, cap_time):
    if t is None:
        return f"> {fmt_time(cap_time)} (gap {gap / p0:.0e})"
    return fmt_time(t)


def grid_benchmark(quick, cap, jaxopt_cap, points=None, skip=(), extra=None):
    """Every solver on every point: ``points`` (label, X, y, reg) or (label, make, reg) with
    ``make() -> (X, y)``; the benchopt grid by default. ``skip``: solver names left out;
    ``extra``: more solvers ``{name: fn}``, run after gradopt."""
    solvers = {k: v for k, v in available().items() if k not in skip}
    if extra:
        solvers = {"gradopt": solvers.pop("gradopt"), **extra, **solvers}
    rows = []
    curves = {}
    for point in (problems(quick) if points is None else points):
        if len(point) == 3:
            label, make, reg = point
            X, y = make()
        else:
            label, X, y, reg = point
        n, p = X.shape
        alpha = reg * np.abs(X.T @ y).max() / n
        p0 = (y @ y) / (2 * n)
        # gradopt's first call for these shapes (compilation included)
        _, first = timed(lambda: solver_gradopt(X, y, alpha, TARGET))
        res = {}
        for name, fn in solvers.items():
            pts, t, gap = run_ladder(name, fn, X, y, alpha, p0,
                                     jaxopt_cap if name == "jaxopt" else cap,
                                     repeats=2 if quick else (5 if name == "gradopt" else 3))
            res[name] = (t, gap, max(pt[0] for pt in pts))
            curves.setdefault(label, {})[name] = pts
        rows.append((label, first, res, p0))
        line = " | ".join(f"{k} {fmt_result(v[0], v[1], p0, v[2])}" for k, v in res.items())
        print(f"{label}: first call {fmt_time(first)} | {line}", flush=True)
    return rows, curves, list(solvers)


def ratio(a, b):
    if a is None or b is None:
        return "n/a"
    return f"{a / b:.2f}"


def path_and_batch(quick):
    from sklearn.linear_model import Lasso, lasso_path

    out = []
    datasets = [("diabetes 442×10", *__import__("sklearn.datasets", fromlist=["x"]).load_diabetes(
        return_X_y=True))]
    if not quick:
        datasets.append(("500×600 ρ=0.6", *correlated_data(500, 600, 0.6)))
        # tall designs (n >= 2p): the engine's Gram form
        datasets.append(("10000×100 ρ=0.6", *correlated_data(10000, 100, 0.6)))
        datasets.append(("2000×500 ρ=0.6", *correlated_data(2000, 500, 0.6)))
    for label, X, y in datasets:
        n = X.shape[0]
        p0 = (y @ y) / (2 * n)
        gradopt.lasso_path(X, y, n_alphas=100, tol=TARGET)  # warm-up
        t_go = statistics.median(
            timed(lambda: gradopt.lasso_path(X, y, n_alphas=100, tol=TARGET))[1] for _ in range(3))
        path = gradopt.lasso_path(X, y, n_alphas=100, tol=TARGET)
        go_gap = float(np.max(path.duality_gaps)) / p0
        # sklearn: tighten tol until every alpha of the path reaches the target
        for tol in (1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9):
            (alphas, coefs, _), t_sk = timed(lambda: lasso_path(X, y, alphas=100, eps=1e-3,
                                                                 tol=tol, max_iter=100_000))
            sk_gap = max(gap_of(X, y, coefs[:, k], a)[1] for k, a in enumerate(alphas)) / p0
            if sk_gap <= TARGET:
                break
        t_sk = statistics.median([t_sk] + [timed(lambda: lasso_path(
            X, y, alphas=100, eps=1e-3, tol=tol, max_iter=100_000))[1] for _ in range(2)])
        out.append((f"path, 100 α, {label}", t_go, go_gap, t_sk, sk_gap, f"sklearn tol={tol:g}"))
        print(out[-1], flush=True)

    # 256 independent small problems
    B, n, p = 256, 100, 50
    rng = np.random.default_rng(0)
    Xs = rng.standard_normal((B, n, p))
    W = rng.standard_normal((B, p)) * (rng.random((B, p)) < 0.2)
    Ys = np.einsum("bnp,bp->bn", Xs, W) + 0.5 * rng.standard_normal((B, n))
    alphas = 0.1 * np.abs(np.einsum("bnp,bn->bp", Xs, Ys)).max(1) / n
    p0s = np.einsum("bn,bn->b", Ys, Ys) / (2 * n)
    call = lambda: jax.block_until_ready(gradopt.lasso_batch(Xs, Ys, alphas, tol=TARGET))  # noqa
    _, first = timed(call)
    t_go = statistics.median(timed(call)[1] for _ in range(5))
    res = call()
    go_gap = max(gap_of(Xs[b], Ys[b], res.coef[b], alphas[b])[1] / p0s[b] for b in range(B))
    for tol in (1e-4, 1e-5, 1e-6, 1e-7, 1e-8):
        def loop():
            return [Lasso(alpha=alphas[b], fit_intercept=False, tol=tol).fit(Xs[b], Ys[b]).coef_
                    for b in range(B)]
        coefs, t_sk = timed(loop)
        sk_gap = max(gap_of(Xs[b], Ys[b], coefs[b], alphas[b])[1] / p0s[b] for b in range(B))
        if sk_gap <= TARGET:
            break
    t_sk = statistics.median([t_sk] + [timed(loop)[1] for _ in range(2)])

    def one_by_one():
        return [np.asarray(gradopt.lasso(Xs[b], Ys[b], alphas[b], tol=TARGET).coef)
                for b in range(B)]
    one_by_one()
    t_loop = timed(one_by_one)[1]
    out.append((f"{B} problems {n}×{p}, lasso_batch (one vmapped call; first call "
                f"{fmt_time(first)}; gradopt.lasso in a loop {fmt_time(t_loop)})",
                t_go, go_gap, t_sk, sk_gap, f"sklearn loop tol={tol:g}"))
    print(out[-1], flush=True)
    return out


def plot(curves):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception:  # pragma: no cover
        print("matplotlib missing: no plots")
        return []
    RESULTS_DIR.mkdir(exist_ok=True)
    files = []
    for label, per_solver in curves.items():
        p_star = min(pt[1] for pts in per_solver.values() for pt in pts)
        p_scale = max(abs(p_star), 1e-300)
        fig, ax = plt.subplots(figsize=(5, 3.6))
        for name, pts in per_solver.items():
            t = [pt[0] for pt in pts]
            sub = [max((pt[1] - p_star) / p_scale, 1e-16) for pt in pts]
            ax.loglog(t, sub, "o-", label=name, ms=3)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("(P(w) - P*) / P*")
        ax.set_title(label, fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
        slug = (label.replace("×", "x").replace(" ", "_").replace("=", "").replace("ρ", "rho"))
        path = RESULTS_DIR / f"lasso_{slug}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append(path.name)
    return files


WHY = (
    'Why (analysis, see docs/lasso.md): gradopt.lasso is a preset of the GLM engine since 2026-'
    '12-04 (one compiled program per size bucket, no host round trip). A coordinate step costs '
    "a few kernels of XLA's CPU runtime: where the working set is gathered (p above n, and ever"
    'y square design) 16 coordinates per loop step, 0.16–0.64 µs per coordinate from n = 100 to'
    " n = 1000, about 1.4× a compiled Cython/Numba update there (skglm's 0.47 µs at n = 1000); "
    'in the Gram form and the plain sweep about 0.6–1 µs. Where n ≫ p it forms the Gram matrix '
    'of every feature once that pays, where the former host-driven solver formed the Gram of th'
    'e working set only. gradopt wins where it needs fewer coordinate updates (working sets aga'
    "inst scikit-learn's full sweeps, Newton steps) and loses where scikit-learn finishes in a "
    'few ms, or against skglm/celer, whose working sets and Anderson acceleration need about as'
    ' many updates at a lower cost per update.'
)


METHOD = (
    "Objective 1/(2n)‖y − Xw‖² + λ‖w‖₁, λ = reg·λmax. Every solver's output is certified "
    "by the same function (`gradopt.lasso_duality_gap`, rescaled-residual dual point); each "
    "solver runs a ladder of its own tolerance (jaxopt: `maxiter`, FISTA with step 1/L) and "
    "the time is the median of the first rung that reaches the target, after a warm-up call "
    "with the same shapes. '> t (gap g)': the target was not reached; t is the time of the "
    "last rung tried and g the relative gap it reached. 'gradopt first call' includes "
    "compilation. Ratios < 1: gradopt faster"
)


def where_we_lose(rows, peers):
    """Lines saying, per peer, on how many points gradopt is slower, and the worst one."""
    out = ["Where gradopt loses (measured above):", ""]
    missed = [label for label, _, res, _ in rows if res["gradopt"][0] is None]
    if missed:
        out.append(f"- gradopt did not reach the target gap within its cap on {', '.join(missed)}.")
    for s in peers:
        if s == "jaxopt":
            continue
        worse = [(res["gradopt"][0] / res[s][0], label) for label, _, res, _ in rows
                 if res["gradopt"][0] is not None and res[s][0] is not None
                 and res["gradopt"][0] > res[s][0]]
        if not worse:
            out.append(f"- {s}: gradopt is faster on every point.")
            continue
        r, label = max(worse)
        out.append(f"- {s}: slower on {len(worse)} of {len(rows)} points; worst {r:.2f}× "
                   f"({label}).")
    over = [label for label, _, res, _ in rows if "sklearn" in peers
            and res["gradopt"][0] is not None and res["sklearn"][0] is not None
            and res["gradopt"][0] > 3 * res["sklearn"][0]]
    out.append(f"- target 'no point slower than 3× scikit-learn': "
               + (f"missed on {', '.join(over)}." if over else "met on every point."))
    if "jaxopt" in peers:
        low = [label for label, _, res, _ in rows if res["gradopt"][0] is not None
               and res["jaxopt"][0] is not None
               and res["jaxopt"][0] < 20 * res["gradopt"][0]]
        out.append("- goal '≥ 20× faster than jaxopt' (where jaxopt reached the target): "
                   + (f"missed on {', '.join(low)}." if low else "met."))
    return out + ["", WHY]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a subset of the grid, fewer repeats")
    ap.add_argument("--cap", type=float, default=None,
                    help="time cap per solver and problem in seconds (default 60, quick 10)")
    ap.add_argument("--jaxopt-cap", type=float, default=None,
                    help="time cap for jaxopt per problem in seconds (default 30, quick 5)")
    ap.add_argument("--no-write", action="store_true", help="do not write RESULTS.md or the plots")
    ap.add_argument("--wide", type=int, default=None, metavar="SEED",
                    help="the wide grid: 30 points drawn from SEED (section lasso_wide)")
    args = ap.parse_args()
    if args.wide is not None:
        return wide(args)
    cap = args.cap if args.cap is not None else (10.0 if args.quick else 60.0)
    jaxopt_cap = args.jaxopt_cap if args.jaxopt_cap is not None else (5.0 if args.quick else 30.0)
    t_start = time.perf_counter()
    print(machine())
    rows, curves, names = grid_benchmark(args.quick, cap, jaxopt_cap)
    extra = path_and_batch(args.quick)
    files = [] if args.no_write else plot(curves)
    total = time.perf_counter() - t_start

    peers = [s for s in names if s != "gradopt"]
    lines = result_table(rows, peers)
    losses = where_we_lose(rows, peers)
    table2 = ["| task | gradopt | max gap (rel.) | sklearn | max gap (rel.) | sklearn / gradopt | note |",
              "|---|---|---|---|---|---|---|"]
    for task, t_go, g_go, t_sk, g_sk, note in extra:
        table2.append(f"| {task} | {fmt_time(t_go)} | {g_go:.0e} | {fmt_time(t_sk)} | {g_sk:.0e} | "
                      f"{t_sk / t_go:.2f} | {note} |")
    body = "\n".join([
        "## Lasso: time to a certified duality gap ≤ 1e-6 · P(0) (CPU, float64)",
        "",
        f"Machine: {machine()}; git {git_revision()}; `python benchmarks/lasso.py"
        f"{' --quick' if args.quick else ''}` ({total / 60:.1f} min).",
        "",
        "benchopt's simulated data (Toeplitz ρ, 20 % of w* non-zero, SNR 3) and "
        "scikit-learn's diabetes. " + METHOD + f" (caps: {cap:g} s, jaxopt {jaxopt_cap:g} s).",
        "",
        *lines,
        "",
        *losses,
        "",
        "### Paths and batches",
        "",
        *table2,
        "",
        "Suboptimality-vs-time plots (P* = best objective seen): "
        + ", ".join(f"`results/{f}`" for f in files) + ".",
    ])
    print(body)
    if not args.no_write:
        write_section("lasso", body)


WIDE_OBSERVATIONS = (
    "Observed 2026-12-05 on a Zen 2 AMD EPYC host (family 23 model 49, AVX2; this run, and "
    "in brackets an earlier run on the same host before the engine's rounding-floor "
    "changes, which leave these solves' epochs alone), slower than the host of the morning's "
    "three runs (XLA compilations 1.3–1.5× longer, Python imports 1.5–1.8×): "
    "gradopt.lasso reaches the target on every point. Against skglm 0.19–1.85× (faster on "
    "17 of 30) [0.27–1.91×]: every point under 2× in both runs; the slowest are 1152×259 "
    "ρ=0 reg=0.01 (10.1 vs 5.5 ms), 928×1996 ρ=0.9 reg=0.3 (1.76×) and 909×3360 ρ=0 "
    "reg=0.1 (1.60×; 1.96–2.12× in the morning's runs on the other host). Against "
    "scikit-learn 0.07–2.61× (faster on 19 of 29 where it reached the target). First calls "
    "take 2.3–3.5 s, solve included [2.3–3.5 s]; above 3 s on three points whose solve "
    "alone takes 0.6–0.9 s (173×1645 3.54 s, 4497×1250 3.26 s, 53×10392 3.07 s): without "
    "the solve, every first call is at most 2.75 s, under the issue's 3 s compile target "
    "(the morning's host: 1.5–2.7 s with the solve); two points reuse an earlier point's size bucket "
    "(39–54 ms). 1152×259 (n = 4.4 p, support 187 of 259 features at 0.01·α_max): about "
    "300 residual coordinate steps, the 320×1280 padded Gram (about 3 ms, 40 % of the "
    "solve, at XLA's 80–90 Gflop/s for that product) and about 3100 Gram-form steps, where "
    "scikit-learn runs 19 plain sweeps of 259 coordinates at about 0.45 µs each. What "
    "limits the engine: a coordinate step is several kernels of XLA's CPU runtime (a "
    "gathered working set: 0.16 µs at n = 100 to 0.64 µs at n = 1000, within 1.5× of two "
    "passes over the column; the Gram form and the plain sweep about 0.5–1.5 µs), and the "
    "Gram form holds every feature where a specialised solver forms the Gram of the "
    "working set only (docs/lasso.md)."
)


def wide(args):
    """The wide grid (``--wide SEED``): gradopt, scikit-learn, skglm and celer on 30 drawn
    points; writes the ``lasso_wide`` section."""
    cap = args.cap if args.cap is not None else 10.0
    t_start = time.perf_counter()
    print(machine(), f"wide grid, seed {args.wide}", flush=True)
    rows, _, names = grid_benchmark(False, cap, 0.0, wide_problems(args.wide), skip=("jaxopt",))
    total = time.perf_counter() - t_start
    peers = [s for s in names if s != "gradopt"]
    losses = where_we_lose(rows, peers)[:-2]  # the benchopt grid's 'why' does not apply
    if "skglm" in peers:
        over = [label for label, _, res, _ in rows if res["gradopt"][0] is not None
                and res["skglm"][0] is not None and res["gradopt"][0] > 2 * res["skglm"][0]]
        losses.append("- target 'no point slower than 2× skglm': "
                      + (f"missed on {len(over)} of {len(rows)} points ({', '.join(over)})."
                         if over else "met on every point."))
    body = "\n".join([
        "## Lasso, wide grid: 30 drawn points (CPU, float64)",
        "",
        f"Machine: {machine()}; git {git_revision()}; `python benchmarks/lasso.py --wide "
        f"{args.wide}` ({total / 60:.1f} min).",
        "",
        f"Points drawn from seed {args.wide}: n log-uniform in [50, 5000], p log-uniform in "
        f"[50, 20000] with n·p ≤ {WIDE_CELLS:.0e} (one point's time bounded), ρ uniform over "
        f"{WIDE_RHO}, reg over {WIDE_REG}; data as benchopt's (Toeplitz ρ, 20 % of w* "
        "non-zero, SNR 3). 'gradopt' is `gradopt.lasso`, a preset of the GLM engine "
        "(`gradopt.glm(X, y, quadratic(), l1(alpha))`). " + METHOD + f" (cap: {cap:g} s per solver and point).",
        "",
        *result_table(rows, peers),
        "",
        *losses,
        "",
        WIDE_OBSERVATIONS,
    ])
    print(body)
    if not args.no_write:
        write_section("lasso_wide", body)


def result_table(rows, peers):
    """The markdown table of a grid run: times, first call, ratios."""
    head = "| problem | gradopt | gradopt first call | " + " | ".join(peers) + " | " + " | ".join(
        f"gradopt / {s}" for s in peers if s != "jaxopt") + (" | jaxopt / gradopt |" if "jaxopt" in peers else " |")
    sep = "|" + "---|" * (head.count("|") - 1)
    lines = [head, sep]
    for label, first, res, p0 in rows:
        go = res["gradopt"][0]
        cells = [label, fmt_result(*res["gradopt"][:2], p0, res["gradopt"][2]), fmt_time(first)]
        cells += [fmt_result(res[s][0], res[s][1], p0, res[s][2]) for s in peers]
        cells += [ratio(go, res[s][0]) for s in peers if s != "jaxopt"]
        if "jaxopt" in peers:
            jt = res["jaxopt"][0]
            if jt is not None:
                cells.append(ratio(jt, go))
            elif go is not None and res["jaxopt"][2] > go:
                cells.append(f"> {res['jaxopt'][2] / go:.0f}")
            else:
                cells.append("not reached")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


if __name__ == "__main__":
    main()
