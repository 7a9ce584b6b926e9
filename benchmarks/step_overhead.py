"""Cost of gradopt's transformations in a jit-compiled training step, against optax and torch.

One training step of an MLP (tanh hidden layer, softmax cross-entropy, float32):

    loss, grads = value_and_grad(loss)(params, x, y)
    updates, state = tx.update(grads, state, params)
    params = apply_updates(params, updates)

with ``tx`` = ``gradopt.chain(gradopt.clip_by_global_norm(1.0), gradopt.nesterov(0.01, 0.9))``
against ``optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(0.01, momentum=0.9, nesterov=True))``
(both jit-compiled), and against eager PyTorch (``clip_grad_norm_`` + ``torch.optim.SGD(nesterov=True)``)
when torch is installed. The gradopt and optax steps are timed in alternation (blocks of
steps, the order flipped every repeat) so that machine noise hits both alike; the figure is
the median over repeats of the time per step, and the "paired" ratio is the median of the
per-repeat gradopt/optax ratios (robust to the machine slowing down or speeding up during
the run). torch is timed after the pair, not interleaved (its OpenMP threads spin after
each parallel region and would slow the next JAX block).

Run: ``python benchmarks/step_overhead.py`` (about a minute on a 2-core CPU).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gradopt  # noqa: E402
from _report import RESULTS_DIR, fmt_time, machine, write_section  # noqa: E402

SIZES = [(32, 64, 10, 64), (784, 512, 10, 256), (784, 2048, 10, 512)]
REPEATS = 101  # gradopt/optax pairs
TORCH_REPEATS = 21
BLOCK_SECONDS = 0.02  # each timed block runs about this long


def init_params(key, d_in, hidden, d_out):
    k1, k2 = jax.random.split(key)
    return {
        "W1": jax.random.normal(k1, (d_in, hidden), jnp.float32) / np.sqrt(d_in),
        "b1": jnp.zeros((hidden,), jnp.float32),
        "W2": jax.random.normal(k2, (hidden, d_out), jnp.float32) / np.sqrt(hidden),
        "b2": jnp.zeros((d_out,), jnp.float32),
    }


def loss_fn(params, x, y):
    h = jnp.tanh(x @ params["W1"] + params["b1"])
    logits = h @ params["W2"] + params["b2"]
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def make_step(tx):
    @jax.jit
    def step(params, state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    return step


def jax_runner(tx, params, x, y):
    step = make_step(tx)
    carry = [params, tx.init(params)]

    def run(n):
        p, s = carry
        for _ in range(n):
            p, s, loss = step(p, s, x, y)
        loss.block_until_ready()
        carry[:] = [p, s]

    return run


def torch_runner(params, x, y, threads):
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    w1 = torch.tensor(np.asarray(params["W1"]), requires_grad=True)
    b1 = torch.tensor(np.asarray(params["b1"]), requires_grad=True)
    w2 = torch.tensor(np.asarray(params["W2"]), requires_grad=True)
    b2 = torch.tensor(np.asarray(params["b2"]), requires_grad=True)
    ps = [w1, b1, w2, b2]
    opt = torch.optim.SGD(ps, lr=0.01, momentum=0.9, nesterov=True)
    xt = torch.tensor(np.asarray(x))
    yt = torch.tensor(np.asarray(y), dtype=torch.long)
    ce = torch.nn.CrossEntropyLoss()

    def run(n):
        torch.set_num_threads(threads)
        for _ in range(n):
            opt.zero_grad(set_to_none=True)
            loss = ce(torch.tanh(xt @ w1 + b1) @ w2 + b2, yt)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(ps, 1.0)
            opt.step()
        loss.item()

    return run


def block_size(run):
    """Steps per timed block so that a block lasts about BLOCK_SECONDS."""
    run(3)  # warm-up (compilation)
    t0 = time.perf_counter()
    run(5)
    per = (time.perf_counter() - t0) / 5
    return max(1, int(BLOCK_SECONDS / per))


def check_same_trajectory(params, x, y, ours, ref, steps=20):
    """The two transformations must produce the same parameters (they are the same
    algorithm); report the largest difference after a few steps."""
    outs = []
    for tx in (ours, ref):
        step, p, s = make_step(tx), params, tx.init(params)
        for _ in range(steps):
            p, s, _ = step(p, s, x, y)
        outs.append(p)
    return max(float(jnp.max(jnp.abs(a - b))) for a, b in
               zip(jax.tree_util.tree_leaves(outs[0]), jax.tree_util.tree_leaves(outs[1])))


def time_blocks(run, n, repeats):
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(n)
        out.append((time.perf_counter() - t0) / n)
    return out


def measure(d_in, hidden, d_out, batch, torch_threads):
    key = jax.random.key(0)
    params = init_params(key, d_in, hidden, d_out)
    x = jax.random.normal(jax.random.key(1), (batch, d_in), jnp.float32)
    y = jax.random.randint(jax.random.key(2), (batch,), 0, d_out)
    ours = gradopt.chain(gradopt.clip_by_global_norm(1.0), gradopt.nesterov(0.01, 0.9))
    ref = optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(0.01, momentum=0.9, nesterov=True))
    max_diff = check_same_trajectory(params, x, y, ours, ref)

    runners = {"gradopt": jax_runner(ours, params, x, y), "optax": jax_runner(ref, params, x, y)}
    n = min(block_size(runners["gradopt"]), block_size(runners["optax"]))  # same block for the pair
    times = {"gradopt": [], "optax": []}
    for r in range(REPEATS):  # gradopt and optax alternate, the order flipped every repeat
        for name in (["gradopt", "optax"] if r % 2 == 0 else ["optax", "gradopt"]):
            times[name] += time_blocks(runners[name], n, 1)
    med = {name: statistics.median(t) for name, t in times.items()}
    # paired ratio: the median of per-repeat ratios, robust to slow drifts of the machine
    paired = statistics.median(a / b for a, b in zip(times["gradopt"], times["optax"]))
    # torch afterwards, not interleaved: its OpenMP threads keep spinning for a while
    # after each parallel region and would slow the next JAX block.
    for threads in torch_threads:
        run = torch_runner(params, x, y, threads)
        med[f"torch{threads}"] = statistics.median(time_blocks(run, block_size(run), TORCH_REPEATS))
    return med, paired, max_diff


def main():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        import torch

        default_threads = torch.get_num_threads()
        torch_threads = sorted({default_threads, 1}, reverse=True)
        torch_note = f"torch {torch.__version__} eager (default {default_threads} threads, and 1 thread)"
    except ImportError:
        torch_threads, torch_note = [], None
        print("torch is not installed: the torch columns are skipped.")
    t_default = f"torch{torch_threads[0]}" if torch_threads else None

    rows = []
    print(f"{'model, batch':<20}{'gradopt':>9}{'optax':>9}{'torch':>9}{'torch 1t':>9}"
          f"{'gradopt/optax':>14}{'paired':>8}{'torch/optax':>12}{'max |dp|':>10}")
    for d_in, hidden, d_out, batch in SIZES:
        med, paired, max_diff = measure(d_in, hidden, d_out, batch, torch_threads)
        t_torch = med.get(t_default, float("nan")) if t_default else float("nan")
        t_torch1 = med.get("torch1", float("nan"))
        best_torch = min(t_torch, t_torch1) if torch_threads else float("nan")
        row = dict(name=f"{d_in}-{hidden}-{d_out}, {batch}", gradopt=med["gradopt"], optax=med["optax"],
                   torch=t_torch, torch1=t_torch1, ratio=med["gradopt"] / med["optax"], paired=paired,
                   torch_ratio=best_torch / med["optax"], diff=max_diff)
        rows.append(row)
        print(f"{row['name']:<20}{fmt_time(row['gradopt']):>9}{fmt_time(row['optax']):>9}"
              f"{fmt_time(row['torch']):>9}{fmt_time(row['torch1']):>9}{row['ratio']:>14.3f}"
              f"{row['paired']:>8.3f}{row['torch_ratio']:>12.2f}{row['diff']:>10.1e}")

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    worst = max(r["paired"] for r in rows)
    lines = [
        "## Training-step overhead: gradopt vs optax (jit) vs torch (eager)",
        "",
        f"Machine: {machine()}" + (f"; {torch_note}" if torch_note else "; torch not installed (skipped)"),
        f"1-minute load average at the end of the run: {load:.1f} (other jobs shared the machine).",
        "",
        "MLP with a tanh hidden layer, softmax cross-entropy, float32; one step = "
        "`value_and_grad` + `clip_by_global_norm(1.0)` + Nesterov SGD (lr 0.01, momentum 0.9) "
        "+ apply. gradopt and optax steps are jit-compiled and timed in alternating blocks "
        f"(order flipped every repeat); median time per step over {REPEATS} repeats. "
        "\"paired\" is the median of the per-repeat gradopt/optax ratios (robust to the "
        "machine's load changing during the run). torch is timed afterwards with its default "
        "thread count and with 1 thread; torch/optax uses the faster of the two. max |Δp| is "
        "the largest parameter difference between the gradopt and optax runs after 20 steps "
        "(same algorithm; the clip's 1e-6 epsilon makes them differ in the last bits).",
        "",
        "| model, batch | gradopt + jit | optax + jit | torch eager | torch, 1 thread | gradopt / optax | paired | torch / optax | max \\|Δp\\| |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['name']} | {fmt_time(r['gradopt'])} | {fmt_time(r['optax'])} | "
                     f"{fmt_time(r['torch'])} | {fmt_time(r['torch1'])} | {r['ratio']:.3f} | "
                     f"{r['paired']:.3f} | {r['torch_ratio']:.2f} | {r['diff']:.1e} |")
    lines += [
        "",
        f"Target gradopt/optax <= 1.02 (paired ratio): {'met' if worst <= 1.02 else 'NOT met'} "
        f"(worst {worst:.3f}; ratios of medians: "
        + ", ".join(f"{r['ratio']:.3f}" for r in rows) + "). "
        "The two compiled steps are the same XLA program up to the clip's formula (one norm "
        "reduction, then fused elementwise passes for clip, momentum and update); gradopt's "
        "momentum keeps no step counter when neither a schedule nor dampening needs one, "
        "like optax's sgd (with a counter the 32-64-10 step measured about 6% slower in an A/B run: one more "
        "input and output buffer per call). What is left is timing noise. Absolute times "
        "are inflated by the load; eager torch suffers most from it (with 2 threads on 2 "
        "busy cores each parallel op waits for a descheduled thread), hence the 1-thread "
        "column; ANCHORS.md has torch/optax 1.86, 1.11, 0.98 on a quiet machine.",
    ]
    write_section("step_overhead", "\n".join(lines))

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7.5, 4))
    xs = np.arange(len(rows))
    series = [("gradopt + jit", "gradopt"), ("optax + jit", "optax")]
    if torch_threads:
        series += [("torch eager", "torch"), ("torch eager, 1 thread", "torch1")]
    width = 0.8 / len(series)
    for i, (label, col) in enumerate(series):
        ax.bar(xs + (i - (len(series) - 1) / 2) * width, [r[col] * 1e3 for r in rows], width, label=label)
    ax.set_yscale("log")
    ax.set_xticks(xs, [r["name"] for r in rows])
    ax.set_ylabel("median time per step (ms)")
    ax.set_title("MLP training step: clip_by_global_norm + Nesterov SGD")
    ax.legend()
    fig.tight_layout()
    out = RESULTS_DIR / "step_overhead.png"
    fig.savefig(out, dpi=120)
    print(f"wrote {out} and the step_overhead section of benchmarks/RESULTS.md")


if __name__ == "__main__":
    main()
