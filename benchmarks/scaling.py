"""Scaling out: the communication of the sharded programs, and strong / weak scaling.

Two measurements, both on virtual CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=D``, one subprocess per device
count, since the flag must be set before jax starts):

1. **Bytes communicated, read from the compiled programs.** The compiled HLO text
   (``jax.jit(...).lower(...).compile().as_text()``) of

   * a row-sharded lasso solve (the GLM engine's ``solve`` with quadratic + l1, as
     ``gradopt.lasso`` / ``gradopt.glm`` run it on ``X`` sharded as ``P("data", None)``)
     for a few ``(n, p)``, 8 devices, float64;
   * data-parallel ``gradopt.fit`` (an MLP 64-128-10 in float32, rows sharded, parameters
     replicated), 8 devices;

   is parsed for every collective (all-reduce, all-gather, reduce-scatter,
   collective-permute, all-to-all): its result shapes and dtypes give its bytes, and the
   ``while`` loops that enclose it give how often it runs. A collective's bytes are the
   size of the buffer it reduces or exchanges on each device: the result for all-reduce,
   all-gather (the gathered array), all-to-all and collective-permute, the operand
   (result x group size) for reduce-scatter. (A ring all-reduce of ``B`` bytes over
   ``D`` devices moves about ``2 B (D - 1) / D`` bytes in and out of each device.) The
   loops are named by their depth in the program: for the engine, depth 0 runs once per
   solve, depth 1 once per outer (working-set) iteration, depth 2 once per inner epoch
   (coordinate-descent pass over the working set), depth 3 once per coordinate step;
   loops XLA knows the trip count of (fixed-length ``fori_loop`` loops) are marked
   ``x N``. For ``fit``: depth 0 once per call, 1 per epoch, 2 per step.

2. **Strong and weak scaling** on 1, 2, 4 and 8 devices (each its own subprocess): the
   row-sharded lasso (``gradopt.glm`` quadratic + l1, ``alpha = 0.05 alpha_max``,
   float64, ``tol = 1e-8``; on one device the same call on a single-device array) and
   ``fit`` (the MLP above, nesterov, 3 epochs). Strong: a fixed problem; weak: a fixed
   number of rows per device (and, for ``fit``, a fixed batch per device). The weak
   lasso's data are ``D`` copies of one block of 1000 rows: its objective, a mean over
   rows, is then the same at every ``D`` (same solution, iterations and working sets),
   so only the rows per device are fixed and nothing else changes. Median of repeated
   runs after compilation, in two rounds; the ratios are to one device.

On a machine with fewer cores than virtual devices (this 2-core one), the devices share
the cores: the timings measure the cost of partitioning (more, smaller programs, the
collectives, thread hand-offs) and check correctness (each run is compared with one
device), not a speedup.

Run:  python benchmarks/scaling.py [--quick] [--report-only]
Writes the "scaling" section of benchmarks/RESULTS.md, benchmarks/results/scaling.png and the
raw measurements, benchmarks/results/scaling.json (``--report-only`` rewrites the report and
the plot from them without measuring; ``--quick``, a smoke run, writes nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from typing import NamedTuple

HERE = os.path.dirname(os.path.abspath(__file__))
DEVICE_COUNTS = (1, 2, 4, 8)
HLO_SIZES = ((2000, 250), (2000, 500), (2000, 1000), (8000, 500))  # (n, p) of the lasso HLO
LASSO_STRONG = (4000, 500)  # (n, p)
LASSO_WEAK_ROWS = 1000  # rows per device
FIT_STRONG = (16384, 1024)  # (n, batch)
FIT_WEAK = (4096, 256)  # (rows, batch) per device
MLP = (64, 128, 10)
FIT_EPOCHS = 3
LATENCY_STEPS = 2000  # dependent scalar all-reduces timed in one loop
ROUNDS = {False: 2, True: 1}  # timing rounds over all device counts (full run, --quick)
LASSO_REPEAT = {False: 11, True: 3}  # timed solves per round
FIT_REPEAT = {False: 5, True: 2}  # timed fit calls per round
COLLECTIVES = ("all-reduce", "all-gather", "reduce-scatter", "collective-permute", "all-to-all")
DTYPE_BYTES = {"f64": 8, "f32": 4, "bf16": 2, "f16": 2, "s64": 8, "u64": 8, "s32": 4, "u32": 4,
               "s16": 2, "u16": 2, "s8": 1, "u8": 1, "pred": 1, "c64": 8, "c128": 16}
# What the recorded run showed (filled in from that run's tables; empty: nothing recorded yet)
OBSERVATIONS = (
    "Observed in the recorded run (2-core machine, 2026-12-03). Communication: the only "
    "collectives of the row-sharded lasso are all-reduces; per outer iteration they carry the "
    "correlation vector `X^T u` (`f64[p_pad, 1]`) and a few scalars, 2.0, 4.0 and 8.0 KiB for "
    "p = 250, 500 and 1000 and the same 4.0 KiB for n = 2000 and 8000: O(p), independent of "
    "n; per coordinate step one `f64[1,1]` (8 bytes), per inner epoch 40 bytes of objective "
    "values. `lasso_batch` on a shared row-sharded X with 8 targets moves the 8 columns at "
    "once (`f64[512,8,1]`, 32 KiB per outer iteration; 64 bytes per coordinate step). `fit` "
    "all-reduces its gradient and loss once per step (9610 float32 parameters + the loss: "
    "37.5 KiB). Timings: the strong-scaling lasso (4000 x 500, 10 non-zeros) ran 0.82x the "
    "one-device time on 2 devices (the two cores in use), 1.18x on 4 and 1.70x on 8; the "
    "weak-scaling lasso (1000 rows per device, 34 non-zeros, 12 epochs) took 9.5x, 14.7x and "
    "23x the one-device time on 2, 4 and 8 devices, while its work per device is fixed: "
    "the measured scalar all-reduce costs 67, 81 and 161 µs on 2, 4 and 8 virtual devices, "
    "and this solve takes hundreds of coordinate steps (12 epochs over working sets of up "
    "to 2 x 34 features), each waiting for one: it is latency-bound; the strong case takes "
    "fewer (10 non-zeros, 6 epochs). `fit` ran 1.16-2.10x (strong) and 2.7-9.2x (weak, "
    "the total work growing D times on 2 cores). Every sharded result equals the one-device "
    "one: 3.3e-16 at most for the lasso, 9e-8 for `fit` in float32.")
NOTE = ("On this 2-core CPU the virtual devices share the two cores: these timings measure "
        "partitioning overhead and check correctness, not speedup.")


# --------------------------------------------------------------------------- HLO parsing


class Collective(NamedTuple):
    """One collective instruction of a compiled program."""

    kind: str  # all-reduce, all-gather, ...
    shapes: tuple  # ((dtype, dims), ...) of its result buffers
    nbytes: int  # bytes it reduces / exchanges per device (see the module docstring)
    group: int  # devices in each replica group (0: not parsed)
    loops: tuple  # ((while name, known trip count or None), ...), outermost first
    where: str  # the innermost gradopt function it comes from (else the innermost frame)


def _shapes(text: str) -> tuple:
    return tuple((dt, tuple(int(d) for d in dims.split(",") if d))
                 for dt, dims in re.findall(r"\b([a-z]+[0-9]*)\[([0-9,]*)\]", text)
                 if dt in DTYPE_BYTES)


def _nbytes(shapes) -> int:
    total = 0
    for dt, dims in shapes:
        size = DTYPE_BYTES[dt]
        for d in dims:
            size *= d
        total += size
    return total


def _group_size(line: str) -> int:
    """Devices per replica group, from the three spellings XLA prints."""
    m = re.search(r"replica_groups=mesh\[([^\]]*)\] \{([^}]*)\}", line)
    if m:
        sizes = dict((k.strip("'"), int(v)) for k, v in re.findall(r"('[^']*')=(\d+)", m.group(1)))
        size = 1
        for axis in re.findall(r"'[^']*'", m.group(2)):
            size *= sizes[axis.strip("'")]
        return size
    m = re.search(r"replica_groups=\[(\d+),(\d+)\]<=", line)
    if m:
        return int(m.group(2))
    m = re.search(r"replica_groups=\{\{([0-9,]*)\}", line)
    if m:
        return len(m.group(1).split(","))
    return 0


def _frames(text: str):
    """``stack_frame_id -> "function (file:line)"`` of the innermost gradopt frame. jax >= 0.7
    prints tables of stack frames at the top of the HLO text (older versions put
    ``source_file`` / ``source_line`` in each instruction's metadata)."""
    def table(name):
        m = re.search(rf"^{name}\n(.*?)(?:\n\n|\n(?=[A-Z]))", text, re.S | re.M)
        return m.group(1).splitlines() if m else []

    def quoted(name):
        return dict(m.groups() for m in map(re.compile(r'(\d+) "(.*)"').match, table(name)) if m)

    names, files = quoted("FunctionNames"), quoted("FileNames")
    locations, frames = {}, {}
    for line in table("FileLocations"):
        m = re.match(r"(\d+) \{file_name_id=(\d+) function_name_id=(\d+) line=(\d+)", line)
        if m:
            locations[m.group(1)] = (files.get(m.group(2), ""), names.get(m.group(3), "?"),
                                     m.group(4))
    for line in table("StackFrames"):
        m = re.match(r"(\d+) \{file_location_id=(\d+) parent_frame_id=(\d+)", line)
        if m:
            frames[m.group(1)] = (locations.get(m.group(2), ("", "?", "")), m.group(3))

    def where(frame_id):
        seen, first = set(), ""
        while frame_id in frames and frame_id not in seen:
            seen.add(frame_id)
            (path, fn, line), frame_id = frames[frame_id]
            here = f"{fn} ({os.path.basename(path)}:{line})"
            if "gradopt" in path:
                return here
            first = first or here
        return first

    return where


def parse_collectives(text: str) -> list[Collective]:
    """Every collective of a compiled HLO module, with the loops that enclose it."""
    computations, current, entry = {}, None, None
    for line in text.splitlines():
        m = re.match(r"^(ENTRY )?%(\S+) .*\{\s*$", line)
        if m:
            current = m.group(2)
            computations[current] = []
            if m.group(1):
                entry = current
            continue
        if line.startswith("}"):
            current = None
        elif current is not None:
            computations[current].append(line)
    # edges: a while's body and condition run once per iteration; other callees inherit
    callers = {}
    for name, lines in computations.items():
        for line in lines:
            m = re.match(r"\s*(?:ROOT )?%(\S+) = .*? while\(", line)
            trip = re.search(r'"known_trip_count":\{"n":"(\d+)"\}', line)
            loop = (m.group(1), int(trip.group(1)) if trip else None) if m else None
            for attr, callee in re.findall(r"\b(condition|body|calls|to_apply|true_computation|"
                                           r"false_computation)=%([\w.\-]+)", line):
                callers.setdefault(callee, (name, loop if attr in ("condition", "body") else None))
            for group in re.findall(r"branch_computations=\{([^}]*)\}", line):
                for callee in re.findall(r"%([\w.\-]+)", group):
                    callers.setdefault(callee, (name, None))

    def loops_of(name):
        out, seen = [], set()
        while name != entry and name in callers and name not in seen:
            seen.add(name)
            name, loop = callers[name]
            if loop is not None:
                out.append(loop)
        return tuple(reversed(out))

    where_of = _frames(text)
    found = []
    pattern = re.compile(r"\s*(?:ROOT )?%\S+ = (.*?) (" + "|".join(COLLECTIVES) + r")(-start)?\(")
    for name, lines in computations.items():
        for line in lines:
            m = pattern.match(line)
            if not m:
                continue
            kind = m.group(2)
            shapes = _shapes(m.group(1))
            if m.group(3) and kind == "all-gather" and len(shapes) > 1:  # (operand, result)
                shapes = shapes[-1:]
            group = _group_size(line)
            nbytes = _nbytes(shapes) * (group if kind == "reduce-scatter" and group else 1)
            frame = re.search(r"stack_frame_id=(\d+)", line)
            source = re.search(r'source_file="([^"]*)" source_line=(\d+)', line)
            if frame:
                where = where_of(frame.group(1))
            elif source:
                where = f"{os.path.basename(source.group(1))}:{source.group(2)}"
            else:
                where = ""
            found.append(Collective(kind, shapes, nbytes, group, loops_of(name), where))
    return found


def shape_text(shapes) -> str:
    parts = [f"{dt}[{','.join(map(str, dims))}]" for dt, dims in shapes]
    return parts[0] if len(parts) == 1 else "(" + ", ".join(parts) + ")"


ENGINE_LEVELS = ("once per solve", "per outer iteration", "per inner epoch",
                 "per coordinate step", "deeper")
FIT_LEVELS = ("once per call", "per epoch", "per step", "deeper")


def level_of(c: Collective, levels, fixed_levels: bool = False) -> str:
    """The name of the loop level ``c`` runs at. By default the levels are the loops of
    unknown trip count (``lax.while_loop``) and fixed-length loops are marked ``x N``; with
    ``fixed_levels`` every loop is a level (``fit``'s scans over epochs and steps), and the
    label says how often it runs per call."""
    if fixed_levels:
        label = levels[min(len(c.loops), len(levels) - 1)]
        trips = [t for _, t in c.loops]
        if trips and all(t is not None for t in trips):
            total = 1
            for t in trips:
                total *= t
            label += f" ({total} per call)"
        return label
    unknown = [trip for _, trip in c.loops if trip is None]
    label = levels[min(len(unknown), len(levels) - 1)]
    fixed = [trip for _, trip in c.loops if trip is not None]
    return label + "".join(f" x {t}" for t in fixed)


# --------------------------------------------------------------------------- workers


def _worker_setup(devices: int):
    flags = " ".join(f for f in os.environ.get("XLA_FLAGS", "").split()
                     if "host_platform_device_count" not in f)
    return dict(os.environ, JAX_PLATFORMS="cpu",
                XLA_FLAGS=f"{flags} --xla_force_host_platform_device_count={devices}".strip())


def run_worker(task: str, devices: int, quick: bool) -> dict:
    """Run ``task`` in a subprocess with ``devices`` CPU devices; its JSON result."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", task, "--devices", str(devices)]
    if quick:
        cmd.append("--quick")
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=_worker_setup(devices), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"worker {task} on {devices} devices failed:\n{r.stdout}\n{r.stderr}")
    line = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")][-1]
    out = json.loads(line[len("RESULT "):])
    out["wall"] = time.perf_counter() - t0
    return out


def _lasso_data(n, p, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    w = np.zeros(p)
    w[rng.choice(p, 10, replace=False)] = rng.choice([-1.0, 1.0], 10)
    return X, X @ w + rng.standard_normal(n)


def _mlp_data(n, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    d, _, k = MLP
    X = rng.standard_normal((n, d)).astype(np.float32)
    labels = np.argmax(X @ rng.standard_normal((d, k)), axis=1)
    return X, np.eye(k, dtype=np.float32)[labels]


def _mlp_params(seed=0):
    import numpy as np

    rng = np.random.default_rng(seed + 1)
    d, h, k = MLP
    return {"W1": (rng.standard_normal((d, h)) / np.sqrt(d)).astype(np.float32),
            "b1": np.zeros(h, np.float32),
            "W2": (rng.standard_normal((h, k)) / np.sqrt(h)).astype(np.float32),
            "b2": np.zeros(k, np.float32)}


def _mlp_loss(params, batch):
    import jax
    import jax.numpy as jnp

    X, Y = batch
    hidden = jnp.tanh(X @ params["W1"] + params["b1"])
    logits = hidden @ params["W2"] + params["b2"]
    return -jnp.mean(jnp.sum(Y * jax.nn.log_softmax(logits), axis=1))


def worker(task: str, devices: int, quick: bool) -> dict:
    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

    import gradopt
    from gradopt import datafits, prox

    assert jax.device_count() == devices, (jax.device_count(), devices)
    mesh = Mesh(np.array(jax.devices()), ("data",))
    lasso_mod = sys.modules["gradopt.problems.lasso"]
    glm_mod = sys.modules["gradopt.problems.glm"]
    fit_mod = sys.modules["gradopt.solve.fit"]
    from gradopt.problems import engine

    def place(a):
        """Rows sharded over the mesh (D > 1), or one device."""
        if devices == 1:
            return jax.device_put(a, jax.devices()[0])
        spec = P("data", *([None] * (a.ndim - 1)))
        return jax.make_array_from_callback(a.shape, NamedSharding(mesh, spec), lambda i: a[i])

    def samples(fn, repeat):
        """``repeat`` wall times of ``fn()`` after a first, compiling call."""
        jax.block_until_ready(fn())
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            times.append(time.perf_counter() - t0)
        return times

    def fit_args(n, batch):
        X, Y = _mlp_data(n)
        params = jax.device_put(_mlp_params(), NamedSharding(mesh, P()))
        return params, (place(X), place(Y)), X, Y

    opt = gradopt.nesterov(0.05, 0.9)
    out = {"devices": devices}
    if task == "hlo":
        sizes = HLO_SIZES[1:2] if quick else HLO_SIZES
        programs = []
        for n, p in sizes:
            X, y = _lasso_data(n, p)
            data, W0, _ = glm_mod._prepare(place(X), place(y), datafits.quadratic(), None,
                                           multitask=False)
            pen = glm_mod._per_feature(prox.l1(0.1), data.XT.shape[0], data.XT.dtype)
            t0 = time.perf_counter()
            text = engine.solve.lower(datafits.quadratic(), pen, data, W0, 1e-8, 100, 1000,
                                      fit_intercept=False).compile().as_text()
            programs.append(dict(name="lasso", n=n, p=p, p_pad=int(data.XT.shape[0]),
                                 compile=time.perf_counter() - t0,
                                 collectives=[c._asdict() for c in parse_collectives(text)]))
        # lasso_batch on a shared row-sharded X (8 targets): the engine vmapped
        n, p = HLO_SIZES[1]
        X, y = _lasso_data(n, p)
        Y = np.stack([y + 0.1 * k for k in range(8)])
        call = lasso_mod._batch_call(place(X), Y, 0.1, l1_ratio=1.0, fit_intercept=False,
                                     tol=1e-8, max_iter=1000, ws_size=None, max_outer=100)
        text = call.fn.lower(*call.args, **call.static).compile().as_text()
        programs.append(dict(name="lasso_batch (8 targets, shared X)", n=n, p=p,
                             p_pad=int(glm_mod.bucket(p)), compile=None,
                             collectives=[c._asdict() for c in parse_collectives(text)]))
        n, batch = FIT_STRONG
        params, data, _, _ = fit_args(n, batch)
        loop = fit_mod._LOOPS(_mlp_loss, opt, batch, FIT_EPOCHS, False)
        text = loop.lower(params, data, jax.random.key(0),
                          jax.numpy.asarray(-1, jax.numpy.int32)).compile().as_text()
        n_params = sum(int(np.prod(v.shape)) for v in jax.tree.leaves(params))
        programs.append(dict(name="fit", n=n, p=n_params, p_pad=None, compile=None,
                             collectives=[c._asdict() for c in parse_collectives(text)]))
        out["programs"] = programs
        return out

    repeat = LASSO_REPEAT[quick]
    # the lasso: strong (fixed n) and weak (fixed rows per device)
    for mode in ("strong", "weak"):
        p = LASSO_STRONG[1]
        if mode == "strong":
            X, y = _lasso_data(LASSO_STRONG[0], p)
        else:  # D copies of one block: the same objective (a mean over rows) at every D
            X, y = _lasso_data(LASSO_WEAK_ROWS, p)
            X, y = np.tile(X, (devices, 1)), np.tile(y, devices)
        n = X.shape[0]
        alpha = 0.05 * float(gradopt.lasso_alpha_max(X, y))
        Xs, ys = place(X), place(y)
        # gradopt.glm's solve, whose engine solution also counts the epochs
        kw = dict(fit_intercept=False, tol=1e-8, max_iter=100, max_epochs=1000, init=None)
        solve = lambda: glm_mod.solve_glm(Xs, ys, datafits.quadratic(), prox.l1(alpha),  # noqa: E731
                                          **kw)[0]
        sol = solve()
        ref = gradopt.glm(X, y, datafits.quadratic(), prox.l1(alpha), tol=1e-8)  # one device
        coef = np.asarray(sol.iterate.W)[:p, 0]
        out[f"lasso_{mode}"] = dict(
            n=n, p=p, times=samples(solve, repeat), outer=int(sol.n_iter),
            epochs=int(sol.n_epochs), gap=float(sol.cert.gap), nnz=int(np.count_nonzero(coef)),
            diff=float(np.max(np.abs(coef - np.asarray(ref.coef)))))
    # the latency of one scalar all-reduce: a loop of dependent sums over sharded rows (each
    # iteration reduces x * c over the devices; on one device, the same loop without one)
    x = place(np.linspace(1.0, 2.0, 64 * devices))

    @jax.jit
    def chain(x):
        body = lambda i, c: c + 1e-20 * jax.numpy.sum(x * c)  # noqa: E731
        return jax.lax.fori_loop(0, LATENCY_STEPS, body, jax.numpy.ones((), x.dtype))

    probe = [c for c in parse_collectives(chain.lower(x).compile().as_text())
             if c.kind == "all-reduce"]
    out["allreduce_loop"] = dict(times=samples(lambda: chain(x), repeat), diff=0.0,
                                 in_loop=sum(1 for c in probe if c.loops))
    # fit: strong (fixed n and batch) and weak (fixed rows and batch per device)
    for mode, (n, batch) in (("strong", FIT_STRONG),
                             ("weak", (FIT_WEAK[0] * devices, FIT_WEAK[1] * devices))):
        params, data, X, Y = fit_args(n, batch)
        key = jax.random.key(0)
        run = lambda: gradopt.fit(_mlp_loss, params, opt, data, batch_size=batch,  # noqa: E731
                                  epochs=FIT_EPOCHS, key=key)
        res = run()
        one = gradopt.fit(_mlp_loss, _mlp_params(), opt, (X, Y), batch_size=batch,
                          epochs=FIT_EPOCHS, key=key)
        diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                   for a, b in zip(jax.tree.leaves(res.params), jax.tree.leaves(one.params)))
        out[f"fit_{mode}"] = dict(n=n, batch=batch, times=samples(run, FIT_REPEAT[quick]),
                                  epochs=FIT_EPOCHS, diff=diff,
                                  loss=float(np.asarray(res.losses)[-1]))
    return out


# --------------------------------------------------------------------------- report


def summarize_program(prog, levels, fixed_levels=False):
    """``{level: {kind: bytes}}`` and the distinct collectives per level (for the tables)."""
    per_level = defaultdict(lambda: defaultdict(int))  # level -> kind -> bytes (and "count")
    rows = defaultdict(lambda: defaultdict(int))  # (level, kind, shape, where) -> count
    for c in prog["collectives"]:
        c = Collective(**{**c, "shapes": tuple((dt, tuple(d)) for dt, d in c["shapes"]),
                          "loops": tuple(tuple(l) for l in c["loops"])})
        level = level_of(c, levels, fixed_levels)
        per_level[level][c.kind] += c.nbytes
        per_level[level]["count"] += 1
        rows[(level, c.kind, shape_text(c.shapes), c.where)]["count"] += 1
        rows[(level, c.kind, shape_text(c.shapes), c.where)]["bytes"] = c.nbytes
    return per_level, rows


def fmt_bytes(b: float) -> str:
    if b < 1024:
        return f"{b:.0f} B"
    if b < 1024 ** 2:
        return f"{b / 1024:.1f} KiB"
    return f"{b / 1024 ** 2:.2f} MiB"


def _level_order(levels):
    return lambda key: (next(i for i, l in enumerate(levels) if key.startswith(l)), key)


def report(measured: dict):
    """The RESULTS.md section (markdown) and the lasso's bytes per level for the plot."""
    hlo, timings, quick = measured["hlo"], measured["timings"], measured["quick"]
    lines = []
    add = lines.append
    add("## Scaling out: communication per iteration, strong and weak scaling")
    add("")
    add(f"Machine: {measured['machine']}")
    if measured.get("load") is not None:
        add(f"1-minute load average at the end of the run: {measured['load']:.1f}.")
    add("")
    add(f"**{NOTE}**")
    add("")
    add("### Bytes communicated, read from the compiled programs (8 devices)")
    add("")
    add("Every collective of the compiled HLO, its result shapes and dtypes -> bytes per "
        "device (the buffer it reduces or exchanges), attributed to the `while` loop level it "
        "runs in. Lasso: the GLM engine's `solve` (quadratic + l1, float64) on `X` sharded "
        "`P(\"data\", None)`; `p` is padded to a size bucket (`p_pad`). No program has an "
        "all-gather, reduce-scatter, all-to-all or collective-permute unless listed.")
    add("")
    add("| program | n x p (p_pad) | level | collectives | bytes per device |")
    add("|---|---|---|---|---|")
    plot_bytes = []
    for prog in hlo["programs"]:
        levels = FIT_LEVELS if prog["name"] == "fit" else ENGINE_LEVELS
        per_level, _ = summarize_program(prog, levels, prog["name"] == "fit")
        size = (f"{prog['n']} rows, {prog['p']} parameters" if prog["name"] == "fit"
                else f"{prog['n']} x {prog['p']} ({prog['p_pad']})")
        for level in sorted(per_level, key=_level_order(levels)):
            kinds = dict(per_level[level])
            count = kinds.pop("count")
            what = ", ".join(f"{k} {fmt_bytes(b)}" for k, b in sorted(kinds.items()))
            add(f"| {prog['name']} | {size} | {level} | {count}: {what} | "
                f"{fmt_bytes(sum(kinds.values()))} |")
        if prog["name"] == "lasso":
            outer = sum(v for k, v in per_level.get("per outer iteration", {}).items()
                        if k != "count")
            coord = sum(v for k, v in per_level.get("per coordinate step", {}).items()
                        if k != "count")
            plot_bytes.append((prog["n"], prog["p"], prog["p_pad"], outer, coord))
    add("")
    # the distinct collectives of one lasso program and of fit, with where they come from
    lasso_progs = [p for p in hlo["programs"] if p["name"] == "lasso"]
    shown = [p for p in lasso_progs if (p["n"], p["p"]) == HLO_SIZES[1]] or lasso_progs[:1]
    for prog in shown + [p for p in hlo["programs"] if p["name"] != "lasso"]:
        levels = FIT_LEVELS if prog["name"] == "fit" else ENGINE_LEVELS
        _, rows = summarize_program(prog, levels, prog["name"] == "fit")
        add(f"Collectives of `{prog['name']}`"
            + (f" ({prog['n']} x {prog['p']}, p_pad {prog['p_pad']})" if prog["p_pad"] else
               f" ({prog['n']} rows, {prog['p']} parameters)") + ":")
        add("")
        add("| level | kind | result | bytes | count | from (innermost gradopt frame, else innermost) |")
        add("|---|---|---|---|---|---|")
        for (level, kind, shape, where), v in sorted(
                rows.items(), key=lambda kv: (_level_order(levels)(kv[0][0]), kv[0][1:])):
            add(f"| {level} | {kind} | `{shape}` | {v['bytes']} | {v['count']} | {where} |")
        add("")
    if plot_bytes:
        add("Per outer iteration the lasso moves O(p) bytes and nothing that grows with n; "
            "per coordinate step a few scalars: "
            + "; ".join(f"{n} x {p}: {fmt_bytes(o)} per outer iteration, {c} B per coordinate "
                        f"step" for n, p, _, o, c in plot_bytes) + ".")
        add("")

    add("### Strong and weak scaling (virtual CPU devices)")
    add("")
    add(f"Median of {ROUNDS[quick]} x {LASSO_REPEAT[quick]} solves (lasso) or {ROUNDS[quick]} x "
        f"{FIT_REPEAT[quick]} calls (fit, {FIT_EPOCHS} epochs) after compilation: one subprocess "
        f"per device count and round, the rounds in opposite orders of device counts (the "
        f"machine's load drifts); "
        "ratio = time / time on 1 device (ideal: 1/D for strong scaling, 1 for weak scaling). "
        "The weak lasso solves D copies of one 1000-row block (the same objective at every D, "
        "so the same iterations). max |diff| compares with the same call on one device.")
    add("")
    add("| benchmark | devices | problem | median | ratio to 1 device | per epoch (ratio) "
        "| max \\|diff\\| vs 1 device |")
    add("|---|---|---|---|---|---|---|")
    base = {k: timings[0][k]["seconds"] for k in timings[0] if isinstance(timings[0][k], dict)}
    for key, label in (("lasso_strong", "lasso, strong"), ("lasso_weak", "lasso, weak"),
                       ("fit_strong", "fit, strong"), ("fit_weak", "fit, weak")):
        for t in timings:
            r = t[key]
            if key.startswith("lasso"):
                problem = (f"{r['n']} x {r['p']}, {r['nnz']} non-zeros, {r['outer']} outer it., "
                           f"{r['epochs']} epochs, gap {r['gap']:.1e}")
                per_epoch = r["seconds"] / r["epochs"]
                ratio = per_epoch / (base[key] / timings[0][key]["epochs"])
                per = f"{fmt_time(per_epoch)} ({ratio:.2f})"
            else:
                problem = f"n {r['n']}, batch {r['batch']}, {r['epochs']} epochs"
                per_epoch = r["seconds"] / r["epochs"]
                per = f"{fmt_time(per_epoch)} ({r['seconds'] / base[key]:.2f})"
            add(f"| {label} | {t['devices']} | {problem} | {fmt_time(r['seconds'])} | "
                f"{r['seconds'] / base[key]:.2f} | {per} | {r['diff']:.1e} |")
    add("")
    add(f"The latency of one scalar all-reduce on these devices: a `fori_loop` of "
        f"{LATENCY_STEPS} dependent steps `c += 1e-20 * sum(x * c)` over `x` sharded by rows "
        f"(64 rows per device), whose compiled loop body holds one all-reduce of an `f64[]` "
        f"(none on one device); the extra time per step over one device is the all-reduce's "
        f"cost, which every coordinate step of the row-sharded lasso pays.")
    add("")
    add("| devices | all-reduces in the loop body | time per step | extra per step vs 1 device |")
    add("|---|---|---|---|")
    one = timings[0]["allreduce_loop"]["seconds"] / LATENCY_STEPS
    for t in timings:
        r = t["allreduce_loop"]
        step = r["seconds"] / LATENCY_STEPS
        add(f"| {t['devices']} | {r['in_loop']} | {fmt_time(step)} | {fmt_time(step - one)} |")
    add("")
    cores = os.cpu_count() or 1
    add(NOTE + f" With {cores} cores, at most {cores} devices compute at once: the best possible "
        f"ratio is 1/min(D, {cores}) for strong scaling and max(1, D/{cores}) for weak "
        "scaling. Beyond that, more devices only add the cost of partitioning: smaller "
        "per-device programs, collectives through shared memory, thread hand-offs; each "
        "coordinate step of the lasso waits for a scalar all-reduce across all D devices, "
        "each step of `fit` for one all-reduce of the gradient. On accelerators (one device "
        "per chip) the same programs run; whether they pay depends on the rows per device "
        "against the latency of those all-reduces.")
    if OBSERVATIONS and not quick:
        add("")
        add(OBSERVATIONS)
    return "\n".join(lines), plot_bytes


def pool(runs: list[dict]) -> dict:
    """One device count's rounds as one record: ``seconds`` the median of all their timed
    runs, the other fields (problem, iterations, differences) from the first round, the
    largest difference of any round."""
    out = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, dict) and "times" in value:
            times = [t for run in runs for t in run[key]["times"]]
            out[key] = dict(value, seconds=statistics.median(times), runs=len(times),
                            diff=max(run[key]["diff"] for run in runs))
    return out


def fmt_time(s):
    """``_report.fmt_time``, with nanoseconds below a microsecond."""
    from _report import fmt_time as f

    return f"{s * 1e9:.0f} ns" if 0 <= s < 1e-6 else f(s)


def plot(timings, plot_bytes, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot")
        return None
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    devs = [t["devices"] for t in timings]
    for ax, prefix, title in ((axes[0], "lasso", "row-sharded lasso (glm; strong 4000 x 500,\n"
                               "weak 1000 rows per device)"),
                              (axes[1], "fit", "data-parallel fit (MLP 64-128-10; strong n 16384,\n"
                               "weak 4096 rows and batch 256 per device)")):
        for mode, style in (("strong", "o-"), ("weak", "s--")):
            t1 = timings[0][f"{prefix}_{mode}"]["seconds"]
            ax.plot(devs, [t[f"{prefix}_{mode}"]["seconds"] / t1 for t in timings], style,
                    label=f"{mode} scaling")
        ax.plot(devs, [1 / d for d in devs], "k:", lw=1, label="ideal strong (1/D)")
        cores = os.cpu_count() or 1
        ax.plot(devs, [1 / min(d, cores) for d in devs], "C0:", lw=1,
                label=f"best strong on {cores} cores")
        ax.plot(devs, [max(1, d / cores) for d in devs], "C1:", lw=1,
                label=f"best weak on {cores} cores")
        ax.axhline(1, color="k", lw=0.5)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(devs, [str(d) for d in devs])
        ax.set_xlabel("virtual CPU devices (2 cores)")
        ax.set_ylabel("time / time on 1 device")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7)
    if plot_bytes:
        fixed_n = [b for b in plot_bytes if b[0] == plot_bytes[0][0]]
        axes[2].plot([b[2] for b in fixed_n], [b[3] for b in fixed_n], "o-",
                     label=f"per outer iteration (n = {fixed_n[0][0]})")
        others = [b for b in plot_bytes if b[0] != plot_bytes[0][0]]
        if others:
            axes[2].plot([b[2] for b in others], [b[3] for b in others], "r^",
                         label=", ".join(f"n = {b[0]}" for b in others))
        axes[2].set_xlabel("p_pad (padded features)")
        axes[2].set_ylabel("bytes all-reduced per device")
        axes[2].set_title("lasso: communication per outer iteration (8 devices)", fontsize=10)
        axes[2].legend(fontsize=8)
    fig.suptitle("On a 2-core CPU: partitioning overhead and correctness, not speedup",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    ap.add_argument("--report-only", action="store_true",
                    help="no measurement: rewrite the report from results/scaling.json")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--devices", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker, args.devices, args.quick)))
        return

    sys.path.insert(0, HERE)
    from _report import RESULTS_DIR, git_revision, machine, write_section

    t_start = time.perf_counter()
    raw = RESULTS_DIR / "scaling.json"
    if args.report_only:
        measured = json.loads(raw.read_text())
    else:
        print(NOTE)
        hlo = run_worker("hlo", 8, args.quick)
        print(f"HLO of {len(hlo['programs'])} programs read in {hlo['wall']:.0f} s")
        rounds = {d: [] for d in DEVICE_COUNTS}
        for r in range(ROUNDS[args.quick]):
            for d in DEVICE_COUNTS[::-1] if r % 2 else DEVICE_COUNTS:
                rounds[d].append(run_worker("time", d, args.quick))
                print(f"round {r + 1}, {d} device(s): {rounds[d][-1]['wall']:.0f} s")
        # machine(): this process's jax, the same installation as the workers'
        measured = dict(hlo=hlo, timings=[pool(rounds[d]) for d in DEVICE_COUNTS],
                        machine=machine() + f"; commit {git_revision()}",
                        load=os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
                        quick=args.quick)
    body, plot_bytes = report(measured)
    print()
    print(body)
    if measured["quick"]:  # a smoke run: the recorded results stay as they are
        print("(--quick: nothing written)")
    else:
        RESULTS_DIR.mkdir(exist_ok=True)
        raw.write_text(json.dumps(measured, indent=1))
        if plot(measured["timings"], plot_bytes, RESULTS_DIR / "scaling.png"):
            body += "\n\n![scaling](results/scaling.png)"
            print(f"saved {RESULTS_DIR / 'scaling.png'}")
        write_section("scaling", body)
        print(f"wrote the 'scaling' section of benchmarks/RESULTS.md (raw numbers: {raw})")
    print(f"total {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
