"""Checking a hand-written backward pass with ``gradopt.check_grad``.

The classic NumPy warm-up: a two-layer network ``y_pred = relu(x W1) W2`` with the
squared loss ``sum((y_pred - y)^2)`` and its backward pass written by hand. Wrapped in
``jax.custom_vjp``, the hand-written backward pass is what ``jax.grad`` returns, so
``check_grad`` (central finite differences of the forward pass) tests it. Then one bug is
planted (the ReLU mask is forgotten in the backward pass) and the check catches it and
says where: in ``W1``, not in ``W2``.

The check runs in float64. ReLU has a kink at 0, and a central difference whose two
points straddle a kink measures an average slope, not the derivative: float32's default
step (about 5e-3) straddles kinks of this network now and then, float64's (about 6e-6)
practically never does.

Run: ``python examples/gradient_check.py``.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import gradopt

jax.config.update("jax_enable_x64", True)
OUT = Path(__file__).resolve().parent / "output"


def forward(params, x):
    h = x @ params["W1"]
    h_relu = jnp.maximum(h, 0.0)
    return h, h_relu, h_relu @ params["W2"]


def make_loss(buggy: bool):
    @jax.custom_vjp
    def loss(params, x, y):
        return jnp.sum((forward(params, x)[2] - y) ** 2)

    def loss_fwd(params, x, y):
        h, h_relu, y_pred = forward(params, x)
        return jnp.sum((y_pred - y) ** 2), (params, x, h, h_relu, y_pred - y)

    def loss_bwd(res, g):
        params, x, h, h_relu, diff = res
        grad_y_pred = 2.0 * diff * g
        grad_w2 = h_relu.T @ grad_y_pred
        grad_h_relu = grad_y_pred @ params["W2"].T
        if buggy:
            grad_h = grad_h_relu  # BUG: the ReLU mask (h > 0) is missing
        else:
            grad_h = grad_h_relu * (h > 0)
        grad_w1 = x.T @ grad_h
        grad_x = grad_h @ params["W1"].T
        return {"W1": grad_w1, "W2": grad_w2}, grad_x, -grad_y_pred

    loss.defvjp(loss_fwd, loss_bwd)
    return loss


def problem(n, d_in, hidden, d_out, seed):
    k = jax.random.split(jax.random.key(seed), 4)
    x = jax.random.normal(k[0], (n, d_in), jnp.float64)
    y = jax.random.normal(k[1], (n, d_out), jnp.float64)
    params = {"W1": jax.random.normal(k[2], (d_in, hidden), jnp.float64) / np.sqrt(d_in),
              "W2": jax.random.normal(k[3], (hidden, d_out), jnp.float64) / np.sqrt(hidden)}
    return params, x, y


def only(leaf_name, loss, params):
    """The loss as a function of one leaf (the others fixed): localizes a bug to a leaf."""
    return lambda leaf, x, y: loss({**params, leaf_name: leaf}, x, y)


rows = []
# Small network, every coordinate ("full" mode); the classic size (N=64, D_in=1000,
# H=100, D_out=10: 101,000 weights) with random directional derivatives ("random" mode).
for size, mode, dims in [("small", "full", (16, 20, 12, 5)), ("classic", "random", (64, 1000, 100, 10))]:
    params, x, y = problem(*dims, seed=0)
    for version, buggy in [("hand-written", False), ("planted bug", True)]:
        loss = make_loss(buggy)
        report = gradopt.check_grad(loss, params, x, y, mode=mode, n_directions=16)
        print(f"[{size} network, {version}] {report}")
        rows.append((size, mode, version, "all", report))
        for leaf in ("W1", "W2"):
            r = gradopt.check_grad(only(leaf, loss, params), params[leaf], x, y, mode=mode, n_directions=16)
            rows.append((size, mode, version, leaf, r))

print()
print(f"{'network':<9}{'mode':<8}{'backward':<14}{'params':<7}{'result':<10}{'max abs err':>12}"
      f"{'max rel err':>12}  worst at")
for size, mode, version, leaf, r in rows:
    where = r.worst_location.replace("params", leaf if leaf != "all" else "params", 1)
    print(f"{size:<9}{mode:<8}{version:<14}{leaf:<7}{'OK' if r.ok else 'MISMATCH':<10}"
          f"{r.max_abs_error:>12.2e}{r.max_rel_error:>12.2e}  {where}")

# The buggy gradient next to the true one, for the small network.
params, x, y = problem(16, 20, 12, 5, seed=0)
true = jax.grad(make_loss(False))(params, x, y)["W1"]
bad = jax.grad(make_loss(True))(params, x, y)["W1"]
OUT.mkdir(exist_ok=True)
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
for ax, img, title in zip(axes, [true, bad, bad - true], ["dL/dW1 (hand-written)", "dL/dW1 (planted bug)", "difference"]):
    im = ax.imshow(np.asarray(img), cmap="coolwarm")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, shrink=0.8)
fig.tight_layout()
fig.savefig(OUT / "gradient_check.png", dpi=120)
print(f"saved {OUT / 'gradient_check.png'}")
