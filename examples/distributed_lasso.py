"""A lasso whose rows are spread over devices and processes, solved where they lie.

The problem (float64): ``n = 4000`` samples, ``p = 500`` Gaussian features, 20 of
them in the true model (coefficients of magnitude 0.5 to 2, random signs), noise
of standard deviation 1; ``P(w) = 1/(2n) ||y - X w||^2 + alpha ||w||_1`` with
``alpha = 2 sqrt(log(p) / n)``. Every process builds **only its own rows**
(each block of 100 rows comes from its own seed, so the data do not depend on
the number of processes), and ``jax.make_array_from_process_local_data``
assembles the global arrays ``X`` (rows sharded over all devices,
``P("data", None)``) and ``y``. Then

1. ``gradopt.lasso`` on the row-sharded ``X``: one SPMD program of the GLM
   engine on the devices that hold the rows (an all-reduce of a ``p``-vector
   per outer iteration, one scalar per coordinate step; ``X`` never moves);
2. ``gradopt.lasso_path`` over 10 values of ``alpha`` (``alpha_max`` down to
   ``alpha_max / 100``), warm-started, on the same sharded data;
3. process 0 alone rebuilds the whole data set (possible here because it is
   small) and solves it on one device, with the same engine (``gradopt.glm``)
   and with ``gradopt.lasso``'s own single-device solvers.

Process 0 prints a table (devices, processes, median time of 3 solves after
compilation, duality gap, support recovered, largest coefficient difference
with the one-device engine) and saves the path and the coefficients to
``examples/output/distributed_lasso.png``.

Where it runs, unchanged:

* **One machine, no accelerator**: the script asks XLA for 8 virtual CPU devices
  (``XLA_FLAGS=--xla_force_host_platform_device_count=8``, set before jax is
  imported) unless you set ``XLA_FLAGS`` yourself, a distributed environment is
  present, or an accelerator is configured (``JAX_PLATFORMS`` naming a platform
  other than ``cpu``, or a CUDA / ROCm / TPU plugin installed with its device
  files present)::

      python examples/distributed_lasso.py             # 8 virtual CPU devices
      XLA_FLAGS=--xla_force_host_platform_device_count=4 python examples/distributed_lasso.py

  On a 2-core machine the virtual devices share the cores: the timings show the
  cost of partitioning, not a speedup.
* **Many processes**: ``jax.distributed.initialize()`` is called when one of
  these environments is present:

  - ``JAX_COORDINATOR_ADDRESS`` (``host:port`` of process 0; read by jax), with
    ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` (read by this script and passed
    to ``initialize``; optional inside SLURM / Open MPI, which provide them);
  - SLURM with more than one task (``SLURM_JOB_ID``, ``SLURM_STEP_NODELIST``,
    ``SLURM_NTASKS`` > 1, ``SLURM_PROCID``, ``SLURM_LOCALID``: jax's own
    detection), e.g. ``srun -N 2 --ntasks-per-node=1 python examples/distributed_lasso.py``;
  - Open MPI with more than one rank (``OMPI_MCA_orte_hnp_uri`` and
    ``OMPI_COMM_WORLD_SIZE`` > 1), e.g. ``mpirun -np 2 python examples/distributed_lasso.py``.

  On CPUs the processes exchange data with gloo
  (``jax_cpu_collectives_implementation="gloo"``, set by the script). Two
  processes of 4 virtual CPU devices each on one machine::

      export JAX_COORDINATOR_ADDRESS=localhost:12355 JAX_NUM_PROCESSES=2
      export XLA_FLAGS=--xla_force_host_platform_device_count=4
      JAX_PROCESS_ID=1 python examples/distributed_lasso.py > /dev/null &
      JAX_PROCESS_ID=0 python examples/distributed_lasso.py
      wait

* **GPUs**: with jax's CUDA (or ROCm) plugin the devices are the GPUs and the
  all-reduces go through NCCL (RCCL), with no change to the script; one process
  per GPU or per host, started by SLURM, Open MPI or the variables above.

Run: ``python examples/distributed_lasso.py [--n 4000] [--p 500] [--devices 8]``
(``--devices``: the number of virtual CPU devices when the script sets them).
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import os
import time
from pathlib import Path
from typing import NamedTuple

SLURM_VARS = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID",
              "SLURM_LOCALID")
ACCELERATOR_PLUGINS = ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_rocm60_plugin",
                       "jax_rocm7_plugin", "libtpu")
ACCELERATOR_DEVICES = ("/dev/nvidia[0-9]*", "/dev/kfd", "/dev/accel[0-9]*", "/dev/vfio/[0-9]*")


def cluster_environment() -> str | None:
    """The multi-process environment this script was started in (see the module
    docstring), or ``None`` for a single process."""
    env = os.environ
    if env.get("JAX_COORDINATOR_ADDRESS"):
        return "JAX_COORDINATOR_ADDRESS"
    if all(v in env for v in SLURM_VARS) and int(env["SLURM_NTASKS"]) > 1:
        return "SLURM"
    if "OMPI_MCA_orte_hnp_uri" in env and int(env.get("OMPI_COMM_WORLD_SIZE", "1")) > 1:
        return "Open MPI"
    return None


def accelerator_configured() -> bool:
    """Whether jax will (likely) start on an accelerator: ``JAX_PLATFORMS`` names a platform
    other than ``cpu``, or a GPU / TPU plugin is installed and its device files exist.
    Decided without importing jax, since the CPU device count must be set before that."""
    platforms = [s.strip() for s in os.environ.get("JAX_PLATFORMS", "").split(",") if s.strip()]
    if platforms:
        return any(s != "cpu" for s in platforms)
    plugin = any(importlib.util.find_spec(m) is not None for m in ACCELERATOR_PLUGINS)
    return plugin and any(glob.glob(pattern) for pattern in ACCELERATOR_DEVICES)


ARGS = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ARGS.add_argument("--n", type=int, default=4000, help="samples (rows)")
ARGS.add_argument("--p", type=int, default=500, help="features")
ARGS.add_argument("--devices", type=int, default=8,
                  help="virtual CPU devices, when the script sets them")
OPTIONS = ARGS.parse_args()
CLUSTER = cluster_environment()
ACCELERATOR = accelerator_configured()
if CLUSTER is None and not ACCELERATOR and "XLA_FLAGS" not in os.environ:
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={OPTIONS.devices}"

import jax  # noqa: E402  (after XLA_FLAGS)

jax.config.update("jax_enable_x64", True)
if CLUSTER is not None:
    if not ACCELERATOR:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    count, index = os.environ.get("JAX_NUM_PROCESSES"), os.environ.get("JAX_PROCESS_ID")
    jax.distributed.initialize(num_processes=None if count is None else int(count),
                               process_id=None if index is None else int(index))

import numpy as np  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P  # noqa: E402

import gradopt  # noqa: E402
from gradopt import datafits, prox  # noqa: E402

OUT = Path(__file__).resolve().parent / "output"
BLOCK = 100  # rows generated from one seed
SEED = 0
N_TRUE = 20  # features in the true model
TOL = 1e-8  # relative duality gap of every solve
N_ALPHAS = 10


def true_coef(p: int) -> np.ndarray:
    """The sparse truth, the same in every process."""
    rng = np.random.default_rng([SEED, 0])
    w = np.zeros(p)
    support = rng.choice(p, N_TRUE, replace=False)
    w[support] = rng.choice([-1.0, 1.0], N_TRUE) * rng.uniform(0.5, 2.0, N_TRUE)
    return w


def make_rows(start: int, stop: int, w: np.ndarray):
    """Rows ``[start, stop)`` of ``X`` and ``y``. Block ``b`` (rows ``b*BLOCK`` to
    ``(b+1)*BLOCK``) comes from the seed ``(SEED, 1, b)``: a process makes only the blocks
    its rows touch, and row ``i`` is the same whoever makes it."""
    p = w.shape[0]
    first, last = start // BLOCK, -(-stop // BLOCK)
    X = np.empty(((last - first) * BLOCK, p))
    noise = np.empty((last - first) * BLOCK)
    for k, b in enumerate(range(first, last)):
        rng = np.random.default_rng([SEED, 1, b])
        X[k * BLOCK:(k + 1) * BLOCK] = rng.standard_normal((BLOCK, p))
        noise[k * BLOCK:(k + 1) * BLOCK] = rng.standard_normal(BLOCK)
    X = X[start - first * BLOCK:stop - first * BLOCK]
    return X, X @ w + noise[start - first * BLOCK:stop - first * BLOCK]


def local_rows(sharding: NamedSharding, shape) -> slice:
    """The rows of a ``shape`` array that this process's devices hold under ``sharding``
    (one contiguous block when the mesh lists each process's devices together, as
    ``jax.devices()`` does)."""
    starts, stops = [], []
    for index in sharding.addressable_devices_indices_map(shape).values():
        rows = index[0]
        starts.append(rows.start or 0)
        stops.append(shape[0] if rows.stop is None else rows.stop)
    start, stop = min(starts), max(stops)
    covered = sum(b - a for a, b in set(zip(starts, stops)))
    if covered != stop - start:
        raise RuntimeError("this process's rows are not one block: build the mesh from "
                           "jax.devices(), which lists each process's devices together")
    return slice(start, stop)


class Row(NamedTuple):
    """One line of the table."""

    layout: str
    devices: int
    processes: int
    seconds: float
    gap: float
    coef: np.ndarray


def timed(fn, repeat: int = 3):
    """``(result, seconds)``: the median time of ``repeat`` calls of ``fn()`` after a first,
    compiling one (every process makes the same calls: the collectives pair up)."""
    out = jax.block_until_ready(fn())
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return out, float(np.median(times))


def main():
    n_devices, n_processes = jax.device_count(), jax.process_count()
    n = OPTIONS.n - OPTIONS.n % n_devices  # rows are not padded: a multiple of the devices
    p = OPTIONS.p
    w_true = true_coef(p)
    support = set(np.flatnonzero(w_true).tolist())
    lead = jax.process_index() == 0

    # every process makes only its own rows; the global arrays are assembled from them
    mesh = Mesh(np.array(jax.devices()), ("data",))
    X_rows = NamedSharding(mesh, P("data", None))
    y_rows = NamedSharding(mesh, P("data"))
    mine = local_rows(X_rows, (n, p))
    X_local, y_local = make_rows(mine.start, mine.stop, w_true)
    X = jax.make_array_from_process_local_data(X_rows, X_local, (n, p))
    y = jax.make_array_from_process_local_data(y_rows, y_local, (n,))
    del X_local

    alpha = 2.0 * np.sqrt(np.log(p) / n)
    alpha_max = gradopt.lasso_alpha_max(X, y)  # computed where the rows lie
    res, t_sharded = timed(lambda: gradopt.lasso(X, y, alpha, tol=TOL))
    path, t_path = timed(lambda: gradopt.lasso_path(X, y, n_alphas=N_ALPHAS, eps=1e-2, tol=TOL))
    sharded = Row("lasso, rows sharded", n_devices, n_processes, t_sharded,
                  float(res.duality_gap), np.asarray(res.coef))
    if not lead:
        return

    # process 0: the whole data set on one device, for reference
    X_all, y_all = make_rows(0, n, w_true)
    device = jax.local_devices()[0]
    Xd, yd = jax.device_put(X_all, device), jax.device_put(y_all, device)
    engine, t_engine = timed(lambda: gradopt.glm(Xd, yd, datafits.quadratic(), prox.l1(alpha),
                                                 tol=TOL))
    own, t_own = timed(lambda: gradopt.lasso(X_all, y_all, alpha, tol=TOL))
    ref_path, t_ref_path = timed(lambda: gradopt.lasso_path(X_all, y_all, alphas=path.alphas,
                                                            tol=TOL))
    rows = [
        Row("glm (same engine)", 1, 1, t_engine, float(engine.duality_gap), np.asarray(engine.coef)),
        Row("lasso (one-device solvers)", 1, 1, t_own, float(own.duality_gap), np.asarray(own.coef)),
        sharded,
    ]
    ref = rows[0].coef
    print(f"lasso, n = {n}, p = {p}, {N_TRUE} true features, alpha = {alpha:.4g} "
          f"(alpha_max = {alpha_max:.4g}), float64, tol = {TOL:g} (gap / P(0))")
    print(f"backend: {jax.default_backend()}; {n_devices} devices in {n_processes} process(es); "
          f"distributed environment: {CLUSTER or 'none'}")
    print()
    header = (f"{'solve':28s} {'devices':>7s} {'processes':>9s} {'time':>9s} {'gap':>9s} "
              f"{'support recovered':>20s} {'max |coef diff|':>16s}")
    print(header)
    for row in rows:
        found = set(np.flatnonzero(row.coef).tolist())
        recovered = f"{len(found & support)}/{N_TRUE}, {len(found - support)} extra"
        print(f"{row.layout:28s} {row.devices:7d} {row.processes:9d} {1e3 * row.seconds:7.1f}ms "
              f"{row.gap:9.1e} {recovered:>20s} {np.max(np.abs(row.coef - ref)):16.1e}")
    print("(time: median of 3 solves after compilation; coef diff: against the one-device engine)")
    print()
    diff = np.max(np.abs(np.asarray(path.coefs) - np.asarray(ref_path.coefs)))
    print(f"lasso_path, {N_ALPHAS} alphas from alpha_max to alpha_max/100: rows sharded "
          f"{1e3 * t_path:.1f} ms, one device {1e3 * t_ref_path:.1f} ms; all converged: "
          f"{bool(np.all(path.converged))}; max |coef diff| {diff:.1e} "
          f"(different solvers, each to tol {TOL:g})")
    if n_devices > 1 and jax.default_backend() == "cpu" and os.cpu_count() < n_devices:
        print(f"({n_devices} devices on {os.cpu_count()} CPU cores: the times measure the cost of "
              f"partitioning, not a speedup)")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no figure")
        return
    OUT.mkdir(exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    la = np.log10(np.asarray(path.alphas))
    coefs = np.asarray(path.coefs)
    for j in range(p):
        true = j in support
        axes[0].plot(la, coefs[:, j], color="C0" if true else "0.7", lw=1.2 if true else 0.6,
                     zorder=2 if true else 1)
    axes[0].axvline(np.log10(alpha), color="k", ls="--", lw=1, label=f"alpha = {alpha:.3g}")
    axes[0].invert_xaxis()
    axes[0].set_xlabel("log10(alpha)")
    axes[0].set_ylabel("coefficient")
    axes[0].set_title(f"lasso_path on rows sharded over {n_devices} devices\n"
                      f"(blue: the {N_TRUE} true features)")
    axes[0].legend(fontsize=8)
    true_j = np.flatnonzero(w_true)
    axes[1].vlines(true_j, 0, w_true[true_j], color="0.6", lw=1)
    axes[1].plot(true_j, w_true[true_j], "o", color="0.6", label="truth")
    found = np.flatnonzero(sharded.coef)
    axes[1].plot(found, sharded.coef[found], "r.", ms=9,
                 label=f"{n_devices} devices, {n_processes} process(es)")
    found = np.flatnonzero(ref)
    axes[1].plot(found, ref[found], "bx", ms=6, label="one device")
    axes[1].axhline(0, color="k", lw=0.5)
    axes[1].set_xlabel("feature")
    axes[1].set_title("non-zero coefficients at alpha (the lasso shrinks them)")
    axes[1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(OUT / "distributed_lasso.png", dpi=110)
    print(f"saved {OUT / 'distributed_lasso.png'}")


if __name__ == "__main__":
    main()
