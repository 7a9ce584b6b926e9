"""Time to first result and memory, each measured in a FRESH Python process.

(a) ``gradopt.glm(X, y, quadratic(), l1(alpha))`` and ``gradopt.lasso`` on a
    first shape, then nearby new shapes in the same process (100×5000, then
    120×5000, 90×4500, 100×4000): wall time of each first call on its shape
    (compilation included) and of a second call on the same shape, with the
    number of XLA compilations (``/jax/core/compile/backend_compile_duration``
    events from ``jax.monitoring``) each call triggered: 0 means the program
    of a previous shape was reused. Float64, ``tol=1e-6``, alpha = 0.1·alpha_max.
(b) ``GridSearchCV(Lasso(), {"alpha": 10 values}, cv=5)`` on scikit-learn's
    diabetes data (50 fits + the refit) with gradopt's, scikit-learn's and
    skglm's ``Lasso``, each in its own fresh process, as a new user runs it:
    default JAX config (no ``jax_enable_x64``), default estimator arguments.
    The time counts from just before the ``fit`` call (compilation and numba
    included); the import time of the estimator's library is reported apart.
(c) (a) and (b) for gradopt again with JAX's persistent compilation cache on
    (``jax_compilation_cache_dir`` = a fresh temporary folder,
    ``jax_persistent_cache_min_compile_time_secs = 0``,
    ``jax_persistent_cache_min_entry_size_bytes = 0``): one process fills the
    cache, a SECOND fresh process is measured.
(d) Memory: peak RSS of a 20×100000 float64 lasso (X is 16 MB) through
    ``gradopt.glm`` and ``gradopt.lasso``, each in a fresh process. The peak
    (``VmHWM`` of /proc/self/status, reset with ``/proc/self/clear_refs``
    before each call) is reported above the RSS after ``import gradopt``
    (X and y included in the increase) and as a multiple of ``X.nbytes``;
    the issue's target is ≤ 4×. First call (compilation included) and a
    second call. Then, to separate what does not grow with X: ``gradopt.lasso``
    again in a process that finds its programs in a persistent cache filled by
    an earlier one (no compilation), and on a 100 times narrower X.

Run:  python benchmarks/first_result.py [--quick]
Writes the "first_result" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# the shapes, then one in the same size bucket as the first (gradopt pads to buckets)
SHAPES = [(100, 5000), (120, 5000), (90, 4500), (100, 4000), (105, 4700)]
# What the first run showed (loaded 2-core machine, 2026-12-02); the lead finalizes this.
OBSERVATIONS = (
    "Observed 2026-12-06 (this run; the engine's programs compiled with XLA's LLVM elemental "
    "fusion emitters, `problems/_compile.py`). The host ran slower this day than on 2026-12-05 "
    "(same CPU model): the engine's `jit(solve)` compiled in 1.93–2.22 s against 1.24–1.42 s "
    "then, and the engine of 2026-12-05, run beside this one the same day, was within 5 %. "
    "`gradopt.glm` and `gradopt.lasso` run the same program: 2.45–2.97 s on each new shape "
    "without the cache, under the issue's 3 s first-call target with little room on this "
    "day, and a process filling the cache took up to 2.92 s; the former lasso solver took "
    "4.5–4.9 s on every shape (2026-12-02). A new shape compiles 2 programs: the engine's and "
    "a small one for the result's slice and flags (`glm._unpadded`). 105×4700 reuses the size "
    "bucket of 100×5000 (31–48 ms, the small program's compile). JAX's persistent cache "
    "brings a second process's first calls to 0.63–1.0 s. GridSearchCV on diabetes (the "
    "`Lasso` estimator pads rows to a power of two, so the 353-row folds and the 442-row refit "
    "share one engine program) fits in 1.86 s, under the 2 s target (1.26 s on 2026-12-05): "
    "its program forms the 16×16 Gram before the first step and has no residual form "
    "(docs/glm.md, 'Gram form'); scikit-learn 0.12 s, skglm 5.5 s with numba's compilation; "
    "0.80 s from the cache. gradopt does not turn the cache on itself (docs/glm.md). Memory: "
    "the first call's peak is 10.4× X, above the 4× target, and the target is below what any "
    "compiled JAX solver of this problem takes: the last row, a plain-JAX ISTA of about ten "
    "operations on the same X (no padding, no transpose), peaks at 3.8× X, which is X itself, "
    "JAX's device copy of it (NumPy's data is 16-byte aligned, JAX copies what is not "
    "64-byte aligned) and the compilation of that small program. That leaves 0.2× X (3 MB) "
    "for everything a solver adds to ten operations, less than the padded transpose `XT` "
    "alone (1.15× X). Most of the engine's own part does not grow with X and is not "
    "compilation: a process that loads the programs from a warm persistent cache (nothing "
    "compiled) peaks as high (157 MB, 10.3×), and the same call on a 100 times narrower X "
    "(0.15 MB) peaks at 85 MB. About 15 MB of it is SciPy, which jaxlib imports to lower the "
    "engine's LAPACK calls (the LU of Anderson's small system, the Cholesky of the active-set "
    "Newton step): imported before the baseline, the peak is 143 MB (9.4×). The rest is the "
    "compiled programs as XLA's CPU runtime holds them (the engine's solve has about 210 "
    "kernels; docs/glm.md, 'Memory'). The solve itself (second call) peaked at 3.4–4.2× X "
    "(52–64 MB) in 83–126 ms on this day (35–47 MB and 71–77 ms on 2026-12-05)."
)
RAW = __import__('pathlib').Path(HERE) / "results" / "first_result.json"
QUICK_SHAPES = [(100, 2000), (120, 2000), (90, 1800), (104, 1900)]


# --------------------------------------------------------------------------- children


def _enable_cache(cache_dir):
    import jax

    jax.config.update("jax_compilation_cache_dir", cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


class _Compiles:
    """Counts XLA compilations and persistent-cache hits through jax.monitoring."""

    def __init__(self):
        import jax.monitoring as mon

        self.n = 0
        self.seconds = 0.0
        self.hits = 0
        self.programs = []  # (name, seconds) of every compile request
        mon.register_event_duration_secs_listener(self._duration)
        mon.register_event_listener(self._event)

    def _duration(self, event, duration, **kw):
        if event == "/jax/core/compile/backend_compile_duration":
            self.n += 1
            self.seconds += duration
            self.programs.append((str(kw.get("fun_name", "?")), duration))

    def _event(self, event, **kw):
        if event == "/jax/compilation_cache/cache_hits":
            self.hits += 1

    def snapshot(self):
        return self.n, self.seconds, self.hits


def child_shapes(api, shapes, cache_dir):
    t0 = time.perf_counter()
    import jax

    jax.config.update("jax_enable_x64", True)
    if cache_dir:
        _enable_cache(cache_dir)
    import numpy as np

    import gradopt

    t_import = time.perf_counter() - t0
    comp = _Compiles()
    out = []
    for n, p in shapes:
        rng = np.random.default_rng(n * 100_003 + p)
        X = rng.standard_normal((n, p))
        w = np.zeros(p)
        w[rng.choice(p, 10, replace=False)] = 1.0
        y = X @ w + 0.5 * rng.standard_normal(n)
        alpha = 0.1 * np.abs(X.T @ y).max() / n

        def call():
            if api == "glm":
                res = gradopt.glm(X, y, gradopt.datafits.quadratic(), gradopt.prox.l1(alpha), tol=1e-6)
            else:
                res = gradopt.lasso(X, y, alpha, tol=1e-6)
            jax.block_until_ready(res.coef)
            return res

        before = comp.snapshot()
        k0 = len(comp.programs)
        t = time.perf_counter()
        res = call()
        first = time.perf_counter() - t
        after = comp.snapshot()
        t = time.perf_counter()
        call()
        second = time.perf_counter() - t
        out.append(dict(shape=[n, p], first=first, second=second, compiles=after[0] - before[0],
                        compile_s=after[1] - before[1], cache_hits=after[2] - before[2],
                        converged=bool(res.converged),
                        largest=max(comp.programs[k0:], key=lambda q: q[1], default=None)))
    return dict(import_s=t_import, shapes=out)


def child_grid(lib, cache_dir):
    t0 = time.perf_counter()
    if lib == "gradopt" and cache_dir:
        _enable_cache(cache_dir)
    if lib == "gradopt":
        from gradopt.estimators import Lasso
    elif lib == "sklearn":
        from sklearn.linear_model import Lasso
    else:
        from skglm import Lasso
    import numpy as np
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import GridSearchCV

    t_import = time.perf_counter() - t0
    X, y = load_diabetes(return_X_y=True)
    amax = np.abs(X.T @ (y - y.mean())).max() / len(y)
    alphas = amax * np.geomspace(1e-3, 0.5, 10)
    comp = _Compiles() if lib == "gradopt" else None
    t = time.perf_counter()
    gs = GridSearchCV(Lasso(), {"alpha": alphas}, cv=5).fit(X, y)
    fit = time.perf_counter() - t
    out = dict(import_s=t_import, fit_s=fit, best_alpha=float(gs.best_params_["alpha"]),
               best_score=float(gs.best_score_))
    if comp is not None:
        out["compiles"], out["compile_s"], out["cache_hits"] = comp.snapshot()
    return out


def _status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(key)


def _reset_peak():
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def _minimal_ista(X, y, alpha, steps=300):
    """The smallest compiled JAX solver of the same lasso: ``steps`` ISTA steps of length
    ``1 / L``, ``L = ||X||_F^2 / n`` (a bound on the gradient's Lipschitz constant: valid, not
    tuned), in one ``while_loop`` on ``X`` as given (no padding, no transpose). It measures
    what any JAX program of this problem keeps, not a solver."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    @jax.jit
    def ista(X, y, alpha):
        n = X.shape[0]
        L = jnp.sum(X * X) / n

        def step(carry):
            i, w = carry
            z = w - X.T @ (X @ w - y) / (n * L)
            return i + 1, jnp.sign(z) * jnp.maximum(jnp.abs(z) - alpha / L, 0.0)

        return lax.while_loop(lambda c: c[0] < steps, step, (0, jnp.zeros(X.shape[1], X.dtype)))[1]

    return ista(X, y, alpha)


def child_memory(api, n, p, cache_dir=None):
    import jax

    jax.config.update("jax_enable_x64", True)
    if cache_dir:
        _enable_cache(cache_dir)
    import numpy as np

    import gradopt

    if api == "lasso+scipy":  # what jaxlib imports to lower a LAPACK call, in the baseline
        import scipy.linalg  # noqa: F401

    jax.block_until_ready(jax.numpy.zeros(3) + 1)  # backend initialized in the baseline
    base = _status("VmRSS")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, p))
    w = np.zeros(p)
    w[rng.choice(p, 10, replace=False)] = 1.0
    y = X @ w + 0.5 * rng.standard_normal(n)
    alpha = 0.1 * np.abs(X.T @ y).max() / n
    out = dict(x_bytes=X.nbytes, base_rss=base, rss_with_data=_status("VmRSS"), shape=[n, p])
    for k in ("first", "second"):
        out[k + "_rss_before"] = _status("VmRSS")
        _reset_peak()
        t = time.perf_counter()
        if api == "glm":
            res = gradopt.glm(X, y, gradopt.datafits.quadratic(), gradopt.prox.l1(alpha), tol=1e-6)
        elif api == "ista":
            res = types.SimpleNamespace(coef=_minimal_ista(X, y, alpha), converged=True)
        else:
            res = gradopt.lasso(X, y, alpha, tol=1e-6)
        jax.block_until_ready(res.coef)
        out[k + "_s"] = time.perf_counter() - t
        out[k + "_peak"] = _status("VmHWM")
        out[k + "_converged"] = bool(res.converged)
        del res
    return out


def run_child(*args, timeout=900):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t = time.perf_counter()
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", json.dumps(args)],
                       capture_output=True, text=True, env=env, timeout=timeout)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        print(r.stderr[-3000:])
        raise RuntimeError(f"child {args} failed ({r.returncode})")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    res["process_s"] = wall  # interpreter start to exit, as seen by the parent
    return res


# --------------------------------------------------------------------------- parent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller shapes (p = 2000), a 20×20000 memory problem")
    ap.add_argument("--no-write", action="store_true", help="do not write RESULTS.md or results/first_result.json")
    ap.add_argument("--from-json", help="only rewrite the report from a saved results/first_result.json")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = json.loads(args.child)
        fn = {"shapes": child_shapes, "grid": child_grid, "memory": child_memory}[kind]
        print(json.dumps(fn(*rest)))
        return

    if args.from_json:
        report(json.loads(open(args.from_json).read()), write=not args.no_write)
        return
    sys.path.insert(0, HERE)
    from _report import git_revision, machine

    t_start = time.perf_counter()
    mach = machine()
    print(mach)
    shapes = QUICK_SHAPES if args.quick else SHAPES
    mem_shape = (20, 20_000) if args.quick else (20, 100_000)

    # (a) and (c): shapes, without and with the persistent cache
    shape_runs = {}
    for api in ("glm", "lasso"):
        shape_runs[f"{api}|no cache"] = run_child("shapes", api, shapes, None)
        print(api, "no cache", shape_runs[f"{api}|no cache"], flush=True)
        with tempfile.TemporaryDirectory(prefix="gradopt_jaxcache_") as d:
            shape_runs[f"{api}|cache, filling process"] = run_child("shapes", api, shapes, d)
            shape_runs[f"{api}|cache, second process"] = run_child("shapes", api, shapes, d)
            print(api, "cache", shape_runs[f"{api}|cache, second process"], flush=True)

    # (b) and (c): GridSearchCV
    grid = {}
    for lib in ("gradopt", "sklearn", "skglm"):
        try:
            grid[lib] = run_child("grid", lib, None)
        except Exception as e:  # pragma: no cover
            print(f"{lib}: {e}")
            continue
        print("grid", lib, grid[lib], flush=True)
    with tempfile.TemporaryDirectory(prefix="gradopt_jaxcache_") as d:
        grid["gradopt, cache filling process"] = run_child("grid", "gradopt", d)
        grid["gradopt, cache second process"] = run_child("grid", "gradopt", d)
        print("grid cache", grid["gradopt, cache second process"], flush=True)

    # (d) memory
    mem = {api: run_child("memory", api, *mem_shape) for api in ("glm", "lasso")}
    # what does not scale with X: the same call with a warm persistent cache (no compilation
    # in the measured process), and on a design 100 times smaller
    with tempfile.TemporaryDirectory(prefix="gradopt_jaxcache_") as d:
        run_child("memory", "lasso", *mem_shape, d)
        mem["lasso|cache, second process"] = run_child("memory", "lasso", *mem_shape, d)
    mem["lasso|small X"] = run_child("memory", "lasso", mem_shape[0], mem_shape[1] // 100)
    # the part of the fixed cost that is SciPy (imported by jaxlib to lower the engine's LAPACK
    # calls), and the floor: the smallest compiled JAX solver of the same problem
    mem["lasso+scipy|SciPy imported before the baseline"] = run_child("memory", "lasso+scipy", *mem_shape)
    mem["ista|floor: a minimal 300-step JAX ISTA, no padding"] = run_child("memory", "ista", *mem_shape)
    for api, m in mem.items():
        print("memory", api, m, flush=True)
    total = time.perf_counter() - t_start

    raw = dict(machine=mach, revision=git_revision(), quick=args.quick, shapes=shapes,
               mem_shape=mem_shape, shape_runs=shape_runs, grid=grid, mem=mem, total=total)
    if not args.no_write:  # a checked run leaves the recorded figures as they are
        raw_path = RAW.with_name("first_result_quick.json") if args.quick else RAW
        raw_path.parent.mkdir(exist_ok=True)
        raw_path.write_text(json.dumps(raw, indent=1))
    report(raw, write=not args.no_write)


def report(raw, write=True):
    sys.path.insert(0, HERE)
    from _report import fmt_time, write_section

    mach, shapes, mem_shape = raw["machine"], raw["shapes"], raw["mem_shape"]
    shape_runs, grid, mem, total = raw["shape_runs"], raw["grid"], raw["mem"], raw["total"]
    import importlib

    bucket = importlib.import_module("gradopt.problems.glm").bucket
    bucket_note = ", ".join(f"{n}×{p} → {bucket(n)}×{bucket(p)}" for n, p in shapes)
    b = [(bucket(n), bucket(p)) for n, p in shapes]
    same = [f"{n}×{p}" for (n, p), bb in zip(shapes[1:], b[1:]) if bb in b[:b.index(bb)] or bb == b[0]]
    same_note = (f"; {', '.join(same)} share(s) the bucket of an earlier shape" if same
                 else "; every shape here is in a new bucket")

    # ------------------------------------------------------------------ report
    lines = ["| call | process | " + " | ".join(f"{n}×{p}" for n, p in shapes) + " |",
             "|---|---|" + "---|" * len(shapes)]
    for key, r in shape_runs.items():
        api, mode = key.split("|")
        name = {"glm": "`gradopt.glm` (quadratic + l1)", "ista": "plain JAX"}.get(api, "`gradopt.lasso`")
        cells = []
        for s in r["shapes"]:
            c = f"{fmt_time(s['first'])} ({s['compiles']} compiles"
            if mode != "no cache":
                c += f", {s['cache_hits']} from the cache"
            if s.get("largest") and s["compiles"]:
                c += f"; largest `{s['largest'][0]}` {fmt_time(s['largest'][1])}"
            c += f"); again {fmt_time(s['second'])}"
            if not s["converged"]:
                c += " **not converged**"
            cells.append(c)
        lines.append(f"| {name} | {mode} (import {fmt_time(r['import_s'])}) | " + " | ".join(cells) + " |")

    glines = ["| estimator | process | import | GridSearchCV fit (compilation included) | "
              "whole process | XLA compile requests | best α |",
              "|---|---|---|---|---|---|---|"]
    for key, r in grid.items():
        lib = key.split(",")[0]
        mode = key.split(", ", 1)[1] if ", " in key else "fresh"
        comp = f"{r['compiles']} ({r['cache_hits']} from the cache)" if "compiles" in r else "—"
        glines.append(f"| {lib} Lasso | {mode} | {fmt_time(r['import_s'])} | {fmt_time(r['fit_s'])} | "
                      f"{fmt_time(r['process_s'])} | {comp} | {r['best_alpha']:.4g} |")

    mlines = ["| call | X | first call: peak − RSS after import | × X | first call time | "
              "RSS kept after the first call | second call: peak − RSS before it | × X | "
              "second call time |",
              "|---|---|---|---|---|---|---|---|---|"]
    mb = 1 << 20
    verdicts = []
    for key, m in mem.items():
        api, _, how = key.partition("|")
        name = {"glm": "`gradopt.glm` (quadratic + l1)", "ista": "plain JAX"}.get(api, "`gradopt.lasso`")
        name += f", {how}" if how else ""
        n_m, p_m = m.get("shape", mem_shape)
        d1 = m["first_peak"] - m["base_rss"]
        d2 = m["second_peak"] - m["second_rss_before"]
        kept = m["second_rss_before"] - m["rss_with_data"]
        xb = m["x_bytes"]
        conv = "" if m["first_converged"] and m["second_converged"] else " **not converged**"
        mlines.append(f"| {name} | {n_m}×{p_m} float64, {xb / mb:.2g} MB | "
                      f"{d1 / mb:.0f} MB | {d1 / xb:.1f} | {fmt_time(m['first_s'])}{conv} | "
                      f"{kept / mb:.0f} MB | {d2 / mb:.0f} MB | {d2 / xb:.1f} | {fmt_time(m['second_s'])} |")
        if how:
            continue
        verdicts.append(f"{api}: {d1 / xb:.1f}× on the first call "
                        f"({'meets' if d1 <= 4 * xb else 'misses'} the ≤ 4× target), "
                        f"{d2 / xb:.1f}× above its own starting RSS on the second call")

    go = grid.get("gradopt")
    sk = grid.get("sklearn")
    body = "\n".join([
        "## Time to first result and memory (fresh processes)",
        "",
        f"Machine: {mach}; git {raw['revision']}; `python benchmarks/first_result.py"
        f"{' --quick' if raw['quick'] else ''}` ({total / 60:.1f} min). Every row is its own "
        "fresh Python process started by the script.",
        "",
        "### A first shape, then nearby new shapes in the same process",
        "",
        "Float64, tol = 1e-6, α = 0.1·α_max, Gaussian X. Each cell: the first call on that "
        "shape (compilation included) with the number of XLA compile requests it made "
        "(`jax.monitoring` backend-compile events, which also fire when the persistent cache "
        "serves the program; 0 = a program of a previous shape was reused) and the longest "
        "one, then a second call on the same shape. gradopt pads n and p to size buckets "
        f"(`gradopt.problems.glm.bucket`: {bucket_note}){same_note}. 'cache' rows: JAX's persistent compilation cache in "
        "a fresh temporary folder (min compile time 0 s, min entry size 0 B); the "
        "'second process' row is a new process reading what the 'filling process' wrote.",
        "",
        *lines,
        "",
        "### GridSearchCV(Lasso(), 10 alphas, cv=5) on diabetes",
        "",
        "50 fits and the refit, α = α_max·geomspace(1e-3, 0.5, 10), default estimator "
        "arguments and default JAX config (float32 for gradopt: no `jax_enable_x64`, as a new "
        "user runs it); scikit-learn and skglm compute in float64. 'fit' counts from the "
        "`GridSearchCV.fit` call (JAX compilation and numba's included); 'whole process' is "
        "interpreter start to exit as seen by the parent. Target: ≤ 2 s for gradopt."
        + (f" Measured: gradopt {fmt_time(go['fit_s'])}, scikit-learn {fmt_time(sk['fit_s'])}."
           if go and sk else ""),
        "",
        *glines,
        "",
        "### Memory",
        "",
        "Peak RSS (VmHWM, reset through /proc/self/clear_refs before each call) minus the RSS "
        "after `import gradopt` and one tiny JAX op (so X and y themselves count in the "
        "increase), float64. The second call is measured from the RSS just before it, so it "
        "shows the solve's working memory without what the first call kept (compiled "
        "programs, XLA's allocator pools: the 'kept' column). " + "; ".join(verdicts) + ".",
        "",
        *mlines,
        "",
        "Observations: " + OBSERVATIONS,
    ])
    print(body)
    if write:
        write_section("first_result", body)


if __name__ == "__main__":
    main()
