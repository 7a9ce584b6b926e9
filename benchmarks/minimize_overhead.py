"""Cost per step of ``gradopt.minimize`` with ``optax.lbfgs()`` and ``gradopt.lbfgsb`` against a hand-written optax loop.

The reference is the loop optax documents for its L-BFGS, compiled as one
``lax.fori_loop`` (the same number of steps as ``minimize`` took)::

    value_and_grad = optax.value_and_grad_from_state(f)
    v, g = value_and_grad(p, state=s)          # from the line search's state
    u, s = opt.update(g, s, p, value=v, grad=g, value_fn=f)
    p = optax.apply_updates(p, u)

against ``gradopt.minimize(f, p0, optax.lbfgs(), max_steps=K, tol=0.0)`` (its
while loop, stopping test, divergence check and best-iterate bookkeeping
included). A third column is the hand loop that calls ``jax.value_and_grad``
every step instead (what ``minimize`` cost before it took the value and
gradient from the line search's state), and a fourth the ``lax.while_loop`` that
optax's L-BFGS documentation writes (stopping on ``tree_norm(grad) < tol``). The same
loops run ``gradopt.lbfgsb(lower, upper)`` on two box-constrained problems (``minimize``
with ``penalty=gradopt.prox.box(lower, upper)``, whose stopping test is the projected
gradient's). Problems, float64: least squares
500x300, l2-regularized logistic regression 500x300, Rosenbrock in 300
dimensions. ``K`` is the number of steps ``minimize`` needs to reach
``tol=1e-8`` (capped at 500). The three programs are timed in alternation
(the order rotated every repeat) and the figure is the median over repeats;
the ratio is the median of the per-repeat ratios.

Run: ``python benchmarks/minimize_overhead.py`` (a minute or two on 2 cores).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gradopt  # noqa: E402
from _report import fmt_time, git_revision, machine, write_section  # noqa: E402

REPEATS = 25
N, P = 500, 300


def problems():
    rng = np.random.RandomState(0)
    X = jnp.asarray(rng.randn(N, P))
    y = jnp.asarray(X @ rng.randn(P) / np.sqrt(P) + 0.5 * rng.randn(N))
    labels = jnp.asarray((rng.rand(N) < 1 / (1 + np.exp(-np.asarray(y)))).astype(float))

    def least_squares(w):
        return 0.5 * jnp.mean((X @ w - y) ** 2)

    def logistic(w):
        z = X @ w
        return jnp.mean(jnp.logaddexp(0.0, z) - labels * z) + 1e-3 * 0.5 * w @ w

    def rosenbrock(w):
        return jnp.sum(100.0 * (w[1:] - w[:-1] ** 2) ** 2 + (1.0 - w[:-1]) ** 2)

    lbfgs = lambda: (optax.lbfgs(), None)

    def box(lo, hi):  # gradopt's L-BFGS-B, with the box as penalty= for the stopping test
        return lambda: (gradopt.lbfgsb(lo, hi), gradopt.prox.box(lo, hi))

    return [
        ("least squares 500x300", least_squares, jnp.zeros(P), lbfgs),
        ("logistic 500x300, l2 1e-3", logistic, jnp.zeros(P), lbfgs),
        ("Rosenbrock, 300 dims", rosenbrock, jnp.full(P, -0.5), lbfgs),
        ("lbfgsb: least squares 500x300, box [-0.05, 0.05]", least_squares, jnp.zeros(P),
         box(-0.05, 0.05)),
        ("lbfgsb: Rosenbrock, 300 dims, box [-2, 0.8]", rosenbrock, jnp.full(P, -0.5),
         box(-2.0, 0.8)),
    ]


def hand_loop(f, opt, steps, from_state):
    vg_state = optax.value_and_grad_from_state(f)
    vg_plain = jax.value_and_grad(f)

    def body(_, c):
        p, s = c
        v, g = vg_state(p, state=s) if from_state else vg_plain(p)
        u, s = opt.update(g, s, p, value=v, grad=g, value_fn=f)
        return optax.apply_updates(p, u), s

    @jax.jit
    def run(p0):
        p, _ = jax.lax.fori_loop(0, steps, body, (p0, opt.init(p0)))
        return p, f(p)

    return run


def optax_docs_loop(f, opt, steps):
    """The loop optax's L-BFGS documentation writes: a ``lax.while_loop`` that stops on
    ``||grad|| < tol`` (here ``tol=0``, so it runs ``steps`` steps like the others)."""
    vg_state = optax.value_and_grad_from_state(f)

    def step(c):
        p, s = c
        v, g = vg_state(p, state=s)
        u, s = opt.update(g, s, p, value=v, grad=g, value_fn=f)
        return optax.apply_updates(p, u), s

    def continuing(c):
        _, s = c
        k = optax.tree_utils.tree_get(s, "count")
        err = optax.tree_utils.tree_norm(optax.tree_utils.tree_get(s, "grad"))
        return (k == 0) | ((k < steps) & (err >= 0.0))

    @jax.jit
    def run(p0):
        p, _ = jax.lax.while_loop(continuing, step, (p0, opt.init(p0)))
        return p, f(p)

    return run


def time_once(fn, x0):
    t0 = time.perf_counter()
    jax.block_until_ready(fn(x0))
    return time.perf_counter() - t0


def measure(name, f, x0, make):
    opt, penalty = make()
    probe = gradopt.minimize(f, x0, opt, max_steps=500, tol=1e-8, penalty=penalty)
    steps = int(probe.steps)
    ours = lambda p0: gradopt.minimize(f, p0, opt, max_steps=steps, tol=0.0, penalty=penalty)
    hand = hand_loop(f, opt, steps, from_state=True)
    naive = hand_loop(f, opt, steps, from_state=False)
    docs = optax_docs_loop(f, opt, steps)
    res = ours(x0)
    p_hand, v_hand = hand(x0)
    naive(x0)
    p_docs, _ = docs(x0)
    np.testing.assert_allclose(np.asarray(p_docs), np.asarray(p_hand), rtol=1e-12, atol=1e-12)
    assert int(res.steps) == steps, (name, res)
    gap = abs(float(res.value) - float(v_hand)) / max(1.0, abs(float(v_hand)))
    runs = {"minimize": ours, "hand": hand, "naive": naive, "docs": docs}
    times = {k: [] for k in runs}
    order = list(runs)
    for r in range(REPEATS):
        order = order[1:] + order[:1]
        for k in order:
            times[k].append(time_once(runs[k], x0))
    ratio = statistics.median(a / b for a, b in zip(times["minimize"], times["hand"]))
    ratio_naive = statistics.median(a / b for a, b in zip(times["naive"], times["hand"]))
    ratio_docs = statistics.median(a / b for a, b in zip(times["minimize"], times["docs"]))
    med = {k: statistics.median(v) / steps for k, v in times.items()}
    print(f"{name}: {steps} steps ({probe.status_name}); per step minimize {fmt_time(med['minimize'])}, "
          f"hand {fmt_time(med['hand'])}, hand+recompute {fmt_time(med['naive'])}; "
          f"optax-docs loop {fmt_time(med['docs'])}; minimize/hand {ratio:.2f}x, "
          f"minimize/docs-loop {ratio_docs:.2f}x, recompute/hand {ratio_naive:.2f}x; |dF|/F {gap:.1e}",
          flush=True)
    return name, steps, med, ratio, ratio_naive, ratio_docs, gap


def main():
    rows = [measure(*prob) for prob in problems()]
    lines = [
        "## minimize overhead: `optax.lbfgs()` and `gradopt.lbfgsb` through `minimize` vs a hand-written optax loop",
        "",
        f"Machine: {machine()}; gradopt {git_revision()}.",
        "",
        "Per-step time (median of the whole run / steps, float64), same number of steps `K` for all",
        "three. *hand*: `lax.fori_loop` with `optax.value_and_grad_from_state`; *recompute*: the same",
        "loop calling `jax.value_and_grad` every step (what `minimize` cost before it reused the line",
        "search's value and gradient). Ratios are medians of per-repeat ratios, runs interleaved.",
        "",
        "*optax-docs loop*: the `lax.while_loop` optax's L-BFGS documentation writes, which stops on",
        "`optax.tree_utils.tree_norm(grad) < tol` (run here with `tol=0` for the same `K` steps):",
        "a hand-written loop with a stopping test, as `minimize` has one.",
        "",
        "| problem | K | minimize | hand | optax-docs loop | recompute | minimize / hand | "
        "minimize / optax-docs loop | recompute / hand |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, steps, med, ratio, ratio_naive, ratio_docs, _ in rows:
        lines.append(
            f"| {name} | {steps} | {fmt_time(med['minimize'])} | {fmt_time(med['hand'])} | "
            f"{fmt_time(med['docs'])} | {fmt_time(med['naive'])} | {ratio:.2f}x | {ratio_docs:.2f}x | "
            f"{ratio_naive:.2f}x |"
        )
    worst_hand = max(r[3] for r in rows)
    worst_docs = max(r[5] for r in rows)
    lines += [
        "",
        f"Target (issue 14): `minimize` <= 1.1x a hand-written loop. This run: at most "
        f"{worst_docs:.2f}x the loop optax documents for L-BFGS (a `while_loop` with a "
        f"gradient-norm stopping test, as `minimize` has), at most {worst_hand:.2f}x the bare "
        "`fori_loop`, which has no stopping test at all. The cheapest problem is the hardest: on",
        "Rosenbrock an evaluation is a few passes over 300 numbers (about 18 µs a step), and in",
        "a compiled loop on the CPU every extra kernel is a fixed cost of a few tenths of a",
        "microsecond. What `minimize` adds per step: one fused reduction for the stopping test",
        "and the finiteness of the gradient and the parameters (`||grad f||²` plus `g * 0 + p * 0`,",
        "see docs/guide.md, \"Performance\"; before, the overflow-safe norm and two finiteness",
        "tests took nine kernels), a select of p numbers each for the best and for the last finite",
        "iterate, and a few scalar selects; with `penalty=` (the `lbfgsb` rows) also the",
        "gradient mapping `x - prox(x - grad f)` and its sum of squares (the projected-gradient",
        "stopping test) and the penalty's value for the best-iterate bookkeeping, which the",
        "hand loops do not compute; per call, the input checks, the initial",
        "`value_and_grad` and 19 output buffers (about 0.15 ms). It does not copy the",
        "optimizer state every step. The stopping test is most of the difference to the bare",
        "loop: with it removed (an experiment, 2026-12-04: the measure replaced by constants,",
        "the selects kept) Rosenbrock ran at 1.01x the `fori_loop`, against 1.08-1.12x with it",
        "in the same session; removing the selects instead changed nothing measurable. A loop",
        "that reports why it stopped pays for one reduction per step, as the optax-docs loop",
        "does. On this shared 2-core VM ratios move by about +-0.05 from run to run (least",
        "squares measured 1.10x and 1.16x the `fori_loop` in two runs an hour apart, same",
        "code); rerun `python benchmarks/minimize_overhead.py` for fresh figures.",
    ]
    write_section("minimize_overhead", "\n".join(lines))
    print("wrote the minimize_overhead section of benchmarks/RESULTS.md")


if __name__ == "__main__":
    main()
