"""A lasso with 1,000,000 features: columns sharded over 8 virtual CPU devices (issue 12).

``X`` is ``n x p`` = 100 x 1,000,000, float64 (800 MB), standard normal, with a sparse
truth (20 non-zeros, values +-1 to +-2) and noise 0.1; ``alpha = 0.1 alpha_max``, no
intercept; target: a certified duality gap ``<= 1e-6 P(0)`` (``P(0) = ||y||^2 / (2n)``).

* gradopt: ``X`` as a global ``jax.Array`` laid out ``P(None, "model")`` over 8 virtual
  CPU devices (a subprocess with ``--xla_force_host_platform_device_count=8``), each
  device built from its own columns of a memory-mapped ``.npy`` (the data never pass
  through one array); ``gradopt.lasso(tol=1e-6)``, timed on the first call (compilation
  and the on-device transpose included) and on a second call.
* skglm ``Lasso`` and celer ``Lasso`` (single process), on the same ``.npy``, in the
  Python given by ``--peers-python`` (default ``/tmp/bovenv/bin/python``; a missing peer
  is reported as such). Their first call on a small problem (numba compilation) is not
  timed. celer's ``tol`` is relative to ``||y||^2 / n`` (``2 P(0)``): ``tol = 5e-7``;
  skglm's stops on the largest optimality violation, ``tol = 1e-8`` here.

Every solver's duality gap is recomputed here by one NumPy function (:func:`certify`,
the lasso's rescaled-residual dual point, as ``gradopt.lasso_duality_gap``), streamed
over column chunks. The data are generated chunk by chunk into a memory map, so the
driver never holds ``X``.

Run:  python benchmarks/million_features.py [--p 1000000] [--n 100] [--no-write]
Writes the "million_features" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _report import fmt_time, git_revision, machine, write_section  # noqa: E402

CHUNK = 125_000  # columns per chunk when generating and certifying (100 MB at n = 100)
TOL = 1e-6
DEVICES = 8


def make_data(folder: Path, n: int, p: int, nnz: int, seed: int = 0):
    """``X.npy`` (memory-mapped, written in column chunks), ``y.npy``, ``truth.npy``."""
    rng = np.random.default_rng(seed)
    support = np.sort(rng.choice(p, nnz, replace=False))
    truth = np.zeros(p)
    truth[support] = rng.choice([-1.0, 1.0], nnz) * rng.uniform(1.0, 2.0, nnz)
    X = np.lib.format.open_memmap(folder / "X.npy", mode="w+", dtype=np.float64, shape=(n, p))
    Xw = np.zeros(n)
    for start in range(0, p, CHUNK):
        block = rng.standard_normal((n, min(CHUNK, p - start)))
        X[:, start:start + block.shape[1]] = block
        Xw += block @ truth[start:start + block.shape[1]]
    X.flush()
    del X
    y = Xw + 0.1 * rng.standard_normal(n)
    np.save(folder / "y.npy", y)
    np.save(folder / "truth.npy", truth)


def _chunks(X):
    for start in range(0, X.shape[1], CHUNK):
        yield start, np.asarray(X[:, start:start + CHUNK])


def alpha_max(X, y) -> float:
    return max(float(np.max(np.abs(block.T @ y))) for _, block in _chunks(X)) / X.shape[0]


def certify(X, y, w, alpha) -> tuple[float, float]:
    """``(P(w), gap)``: ``theta = mu r``, ``mu`` the best scaling with ``|mu| ||X^T r/n||_inf
    <= alpha``; ``D = mu r.y/n - mu^2 ||r||^2/(2n)`` (``gradopt.lasso_duality_gap``)."""
    n = X.shape[0]
    r = y - sum(block @ w[s:s + block.shape[1]] for s, block in _chunks(X))
    g = max(float(np.max(np.abs(block.T @ r))) for _, block in _chunks(X)) / n
    rr = float(r @ r)
    mu = float(r @ y) / rr if rr > 0 else 0.0
    if g > 0:
        mu = float(np.clip(mu, -alpha / g, alpha / g))
    P = 0.5 * rr / n + alpha * float(np.sum(np.abs(w)))
    D = mu * float(r @ y) / n - 0.5 * mu * mu * rr / n
    return P, P - D


# --------------------------------------------------------------------------- #
# gradopt, in a subprocess with 8 virtual devices
# --------------------------------------------------------------------------- #

_WORKER = """
import json, re, sys, time
from collections import Counter
import jax
jax.config.update("jax_enable_x64", True)
import numpy as np
import gradopt
from gradopt import datafits, prox
from gradopt.problems import engine
from jax.sharding import NamedSharding, PartitionSpec as P

folder, alpha, tol = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
glm_mod = sys.modules["gradopt.problems.glm"]
X = np.load(folder + "/X.npy", mmap_mode="r")
y = np.load(folder + "/y.npy")
mesh = jax.make_mesh((len(jax.devices()),), ("model",))
columns = NamedSharding(mesh, P(None, "model"))
t0 = time.perf_counter()
Xs = jax.make_array_from_callback(X.shape, columns, lambda idx: np.array(X[idx]))
Xs.block_until_ready()
t_put = time.perf_counter() - t0
out = {"devices": len(jax.devices()), "put_s": t_put,
       "x_bytes_per_device": sorted({s.data.nbytes for s in Xs.addressable_shards})}

def run():
    t0 = time.perf_counter()
    res = gradopt.lasso(Xs, y, alpha, tol=tol)
    res.coef.block_until_ready()
    return res, time.perf_counter() - t0

res, out["first_s"] = run()
res, out["second_s"] = run()
out.update(gap=float(res.duality_gap), objective=float(res.objective), converged=bool(res.converged),
           epochs=int(res.n_iter), nnz=int(np.count_nonzero(np.asarray(res.coef))),
           coef_replicated=bool(res.coef.sharding.is_fully_replicated))
np.save(folder + "/coef_gradopt.npy", np.asarray(res.coef))

# the compiled engine solve that lasso ran: its memory and its collectives
data, W0, _ = glm_mod._prepare(Xs, y, datafits.quadratic(), None, multitask=False)
cols = glm_mod._columns(data)
pen = glm_mod._per_feature(prox.l1(alpha), data.XT.shape[0], data.XT.dtype)
out["xt_bytes_per_device"] = sorted({s.data.nbytes for s in data.XT.addressable_shards})
out["capacity"] = cols.capacity
compiled = engine.solve.lower(datafits.quadratic(), pen, data, W0, tol, 50, 10_000,
                              fit_intercept=False, columns=cols).compile()
try:
    m = compiled.memory_analysis()
    out["memory"] = {k: int(getattr(m, k)) for k in (
        "argument_size_in_bytes", "output_size_in_bytes", "temp_size_in_bytes",
        "generated_code_size_in_bytes") if hasattr(m, k)}
except Exception as e:  # not every backend / jax version reports it
    out["memory"] = {"unavailable": repr(e)[:100]}
text = compiled.as_text()
ops = re.findall(r"= (\\([^)]*\\)|\\S+) (all-gather|all-reduce|reduce-scatter|all-to-all|"
                 r"collective-permute)(?:-start)?\\(", text)
out["collectives"] = sorted(Counter(f"{k} {re.sub(r'[{][^}]*[}]', '', s)}" for s, k in ops).items())
del Xs, data, compiled, text

# the same lasso on one device from NumPy X (gradopt's specialized working-set solver)
Xn = np.load(folder + "/X.npy")
for key in ("one_first_s", "one_second_s"):
    t0 = time.perf_counter()
    one = gradopt.lasso(Xn, y, alpha, tol=tol)
    one.coef.block_until_ready()
    out[key] = time.perf_counter() - t0
np.save(folder + "/coef_gradopt_one.npy", np.asarray(one.coef))
print("RESULT " + json.dumps(out))
"""


def run_gradopt(folder: Path, alpha: float) -> dict:
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"--xla_force_host_platform_device_count={DEVICES}")
    r = subprocess.run([sys.executable, "-c", _WORKER, str(folder), repr(alpha), repr(TOL)],
                       env=env, capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        raise RuntimeError(f"gradopt worker failed:\n{r.stdout}\n{r.stderr[-4000:]}")
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


# --------------------------------------------------------------------------- #
# skglm and celer, in their own Python (single process)
# --------------------------------------------------------------------------- #

_PEERS = """
import json, sys, time, warnings
import numpy as np
folder, alpha = sys.argv[1], float(sys.argv[2])
X = np.asfortranarray(np.load(folder + "/X.npy"))  # column-major: what both solvers read
y = np.load(folder + "/y.npy")
small = np.random.default_rng(1).standard_normal((20, 50)); ys = small[:, 0]
out = {}
solvers = {}
try:
    import skglm
    solvers["skglm"] = lambda: skglm.Lasso(alpha=alpha, fit_intercept=False, tol=1e-8)
    out["skglm_version"] = skglm.__version__
except ImportError as e:
    out["skglm_missing"] = str(e)
try:
    import celer
    solvers["celer"] = lambda: celer.Lasso(alpha=alpha, fit_intercept=False, tol=5e-7)
    out["celer_version"] = celer.__version__
except ImportError as e:
    out["celer_missing"] = str(e)
for name, make in solvers.items():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        make().fit(small, ys)  # numba compilation, not timed
        t0 = time.perf_counter()
        est = make().fit(X, y)
        out[name + "_s"] = time.perf_counter() - t0
    np.save(folder + f"/coef_{name}.npy", np.asarray(est.coef_, dtype=np.float64))
print("RESULT " + json.dumps(out))
"""


def run_peers(folder: Path, alpha: float, python: str) -> dict:
    if not Path(python).exists():
        return {"skglm_missing": f"{python} not found", "celer_missing": f"{python} not found"}
    r = subprocess.run([python, "-c", _PEERS, str(folder), repr(alpha)], capture_output=True,
                       text=True, timeout=3600)
    if r.returncode != 0:
        return {"skglm_missing": f"peer run failed: {r.stderr[-300:]}",
                "celer_missing": f"peer run failed: {r.stderr[-300:]}"}
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def _mb(b) -> str:
    return f"{b / 2**20:.1f} MiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--p", type=int, default=1_000_000)
    ap.add_argument("--nnz", type=int, default=20)
    ap.add_argument("--reg", type=float, default=0.1)
    ap.add_argument("--peers-python", default="/tmp/bovenv/bin/python")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    folder = Path(tempfile.gettempdir()) / f"gradopt_million_features_{args.n}x{args.p}"
    folder.mkdir(exist_ok=True)
    if not (folder / "y.npy").exists():
        make_data(folder, args.n, args.p, args.nnz)
    X = np.load(folder / "X.npy", mmap_mode="r")
    y = np.load(folder / "y.npy")
    alpha = args.reg * alpha_max(X, y)
    p0 = 0.5 * float(y @ y) / args.n
    print(machine())
    print(f"lasso n={args.n} p={args.p} (X {_mb(X.nbytes)}), alpha = {args.reg} alpha_max "
          f"= {alpha:.4g}, target gap <= {TOL:g} P(0) = {TOL * p0:.3g}")

    g = run_gradopt(folder, alpha)
    peers = run_peers(folder, alpha, args.peers_python)

    rows = []
    P_g, gap_g = certify(X, y, np.load(folder / "coef_gradopt.npy"), alpha)
    rows.append((f"gradopt, {g['devices']} virtual devices (columns sharded)",
                 f"{fmt_time(g['first_s'])} / {fmt_time(g['second_s'])}", P_g, gap_g,
                 g["nnz"]))
    P1, gap1 = certify(X, y, np.load(folder / "coef_gradopt_one.npy"), alpha)
    rows.append(("gradopt, 1 device, NumPy `X` (its host-driven working-set solver)",
                 f"{fmt_time(g['one_first_s'])} / {fmt_time(g['one_second_s'])}", P1, gap1,
                 int(np.count_nonzero(np.load(folder / "coef_gradopt_one.npy")))))
    for name in ("skglm", "celer"):
        if name + "_s" not in peers:
            rows.append((f"{name}: not run ({peers.get(name + '_missing', '?')})", "", None, None,
                         None))
            continue
        w = np.load(folder / f"coef_{name}.npy")
        P, gap = certify(X, y, w, alpha)
        rows.append((f"{name} {peers[name + '_version']}, 1 process",
                     f"{fmt_time(peers[name + '_s'])}", P, gap, int(np.count_nonzero(w))))

    def fmt(row):
        name, t, P, gap, nnz = row
        if P is None:
            return f"| {name} | | | | |"
        return f"| {name} | {t} | {P:.10g} | {gap / p0:.2e} | {nnz} |"

    table = ["| solver | time (gradopt: first call / second) | P(w) | gap / P(0) | nnz |",
             "|---|---|---|---|---|"] + [fmt(r) for r in rows]
    mem = g["memory"]
    memline = ", ".join(f"{k.replace('_size_in_bytes', '')} {_mb(v)}" for k, v in mem.items()
                        if isinstance(v, int))
    colls = "; ".join(f"{c} x{k}" for c, k in g["collectives"])
    body = "\n".join([
        "## A lasso with 1,000,000 features, columns sharded (`benchmarks/million_features.py`)",
        "",
        f"Machine: {machine()}; git {git_revision()}.",
        "",
        f"`X` {args.n} x {args.p:,} float64 ({_mb(X.nbytes)}), standard normal, {args.nnz} "
        f"true non-zeros, noise 0.1; `alpha = {args.reg} alpha_max`, no intercept; target "
        f"`gap <= {TOL:g} P(0)`. Every gap below is recomputed by one NumPy certificate "
        "(the lasso's rescaled-residual dual point). gradopt's first call includes "
        "compilation and the on-device transpose of `X`; peers' numba compilation is not "
        "timed.",
        "",
        *table,
        "",
        f"gradopt: converged {g['converged']} (its own gap {g['gap'] / p0:.2e} P(0)), "
        f"{g['epochs']} coordinate-descent epochs, coef replicated: {g['coef_replicated']}; "
        f"building the global array from the memory map: {fmt_time(g['put_s'])}.",
        f"Per device: `X` {', '.join(_mb(b) for b in g['x_bytes_per_device'])} (its "
        f"addressable shard), the engine's padded transpose `XT` "
        f"{', '.join(_mb(b) for b in g['xt_bytes_per_device'])}; the compiled solve's "
        f"`memory_analysis()` (per device): {memline or mem}. Gathered working set: "
        f"{g['capacity']} columns.",
        f"Collectives in the compiled solve (kind, result, count in the program text): {colls}.",
        "",
        f"Limits: the {g['devices']} devices are virtual, on the machine's "
        f"{os.cpu_count()} cores, so gradopt's time is partitioning overhead plus the work of "
        "8 devices done by 2 cores, not a speedup; the peers run one process on those same "
        "cores. Inside the solve's loops no collective grows with p (the s32 all-gathers are "
        "the devices' working-set candidates, capacity x devices); the two p-sized "
        "all-gathers replicate the result, once (see docs/scaling.md).",
    ])
    print()
    print(body.split("\n\n", 3)[-1])
    if not args.no_write:
        write_section("million_features", body)


if __name__ == "__main__":
    main()
