"""Fooling images: projected gradient on an l-infinity ball around a digit.

1. Train a small MLP (64-32-10, tanh) on scikit-learn's 8x8 digits with
   ``gradopt.fit`` (pixels scaled to [0, 1]).
2. Pick a correctly classified test image x0 and solve, by projected gradient
   (``gradopt.projected_gradient``, driven by ``gradopt.minimize``)::

       untargeted:  minimize  z_y(x) - max_{j != y} z_j(x)      (push the true label y down)
       targeted:    minimize  max_{j != t} z_j(x) - z_t(x)      (pull the target t up)
       subject to   ||x - x0||_inf <= eps,   0 <= x <= 1

   with z the logits (Carlini & Wagner's margin loss: unlike the cross-entropy
   of a confidently classified image, whose gradient vanishes as the softmax
   saturates, it keeps a gradient of order 1; ``jax.grad`` of the max gives a
   subgradient). The target t is the class the model finds least likely for
   x0; it is attacked with radius eps and 2 eps (eps is not always enough).

   The feasible set, an l-infinity ball intersected with the pixel box, is
   itself a box, ``[max(x0 - eps, 0), min(x0 + eps, 1)]``, so its projection is
   a clip: ``gradopt.prox.box(lower, upper)``. This is the optimization view
   of adversarial examples (Szegedy et al. 2014; Madry et al. 2018 use the
   same projected iteration, with sign-of-gradient steps; here the steps are
   plain gradient steps).

Prints predictions and probabilities before/after and saves the original,
perturbation and adversarial images to ``examples/output/adversarial_pgd.png``.

Run: ``MPLBACKEND=Agg python examples/adversarial_pgd.py``
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import optax
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import gradopt

OUT = Path(__file__).resolve().parent / "output"
EPS = 0.2  # l-infinity radius, in pixel units of [0, 1]
STEP = 0.02  # projected gradient step (the margin is in logit units)
STEPS = 100


def model(params, x):
    h = jnp.tanh(x @ params["W1"] + params["b1"])
    return h @ params["W2"] + params["b2"]


def cross_entropy(params, x, label):
    return optax.softmax_cross_entropy_with_integer_labels(model(params, x), label)


def margin(params, x, label):
    """``z_label - max_{j != label} z_j``: > 0 iff the model predicts ``label``."""
    z = model(params, x)
    others = jnp.where(jnp.arange(z.shape[-1]) == label, -jnp.inf, z)
    return z[label] - jnp.max(others)


def main():
    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)
    Xtr, Xte, ytr, yte = train_test_split(X, digits.target, test_size=0.3, random_state=0)

    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    params = {
        "W1": jax.random.normal(k1, (64, 32), jnp.float32) / 8.0,
        "b1": jnp.zeros(32, jnp.float32),
        "W2": jax.random.normal(k2, (32, 10), jnp.float32) / np.sqrt(32.0),
        "b2": jnp.zeros(10, jnp.float32),
    }
    loss = lambda p, batch: jnp.mean(cross_entropy(p, batch[0], batch[1]))
    params, losses, _ = gradopt.fit(loss, params, optax.adam(1e-2), (jnp.asarray(Xtr), jnp.asarray(ytr)),
                                    batch_size=64, epochs=40, key=k3)
    acc = float(jnp.mean(jnp.argmax(model(params, jnp.asarray(Xte)), -1) == jnp.asarray(yte)))
    print(f"MLP 64-32-10 trained with gradopt.fit (adam, 40 epochs): final train loss "
          f"{float(losses[-1]):.4f}, test accuracy {acc:.3f}\n")

    probs = lambda x: jax.nn.softmax(model(params, x))
    pred_te = np.asarray(jnp.argmax(model(params, jnp.asarray(Xte)), -1))
    i = int(np.flatnonzero(pred_te == yte)[0])  # first correctly classified test image
    x0, label = jnp.asarray(Xte[i]), int(yte[i])
    target = int(jnp.argmin(model(params, x0)))  # the class the model finds least likely

    def pgd(objective, eps):
        """Projected gradient on {x : ||x - x0||_inf <= eps, 0 <= x <= 1} (a box)."""
        feasible = gradopt.prox.box(jnp.maximum(x0 - eps, 0.0), jnp.minimum(x0 + eps, 1.0))
        opt = gradopt.projected_gradient(STEP, feasible)
        return gradopt.minimize(objective, x0, opt, max_steps=STEPS, tol=0.0).params

    untargeted = pgd(lambda x: margin(params, x, label), EPS)
    attacks = {
        "original": (x0, 0.0),
        "untargeted": (untargeted, EPS),
        f"targeted -> {target}": (pgd(lambda x: -margin(params, x, target), EPS), EPS),
        f"targeted -> {target}, 2 eps": (pgd(lambda x: -margin(params, x, target), 2 * EPS), 2 * EPS),
    }

    header = f"{'image':24s} {'prediction':>10s} {'p(true={})'.format(label):>11s} {'p(pred)':>8s} " \
             f"{'p(target={})'.format(target):>12s} {'||x - x0||_inf':>15s} {'CE(true)':>9s}"
    print(header)
    print("-" * len(header))
    for name, (x, _) in attacks.items():
        pr = np.asarray(probs(x))
        print(f"{name:24s} {int(np.argmax(pr)):10d} {pr[label]:11.4f} {pr.max():8.4f} {pr[target]:12.4f} "
              f"{float(jnp.max(jnp.abs(x - x0))):15.3f} {float(cross_entropy(params, x, label)):9.3f}")
    assert float(jnp.max(jnp.abs(untargeted - x0))) <= EPS + 1e-6  # feasible
    assert float(jnp.min(untargeted)) >= 0.0 and float(jnp.max(untargeted)) <= 1.0

    # How often does the untargeted attack succeed on the first 100 correct test images?
    correct = np.flatnonzero(pred_te == yte)[:100]

    def attack(x, y):
        box = gradopt.prox.box(jnp.maximum(x - EPS, 0.0), jnp.minimum(x + EPS, 1.0))
        o = gradopt.projected_gradient(STEP, box)
        r = gradopt.minimize(lambda z: margin(params, z, y), x, o, max_steps=STEPS, tol=0.0)
        return jnp.argmax(model(params, r.params)) != y

    fooled = jax.vmap(attack)(jnp.asarray(Xte[correct]), jnp.asarray(yte[correct]))
    print(f"\nuntargeted attack with eps = {EPS}: {int(jnp.sum(fooled))} of {len(correct)} correctly "
          "classified test digits fooled (vmap over images)")

    OUT.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(3, 3, figsize=(8, 8.2))
    for row, (name, (x, eps)) in enumerate(list(attacks.items())[1:]):
        pr = np.asarray(probs(x))
        panels = [(x0, f"original: {label} ({np.asarray(probs(x0))[label]:.2f})", "gray_r", (0, 1)),
                  (x - x0, f"perturbation (|.| <= {eps:g})", "RdBu", (-2 * EPS, 2 * EPS)),
                  (x, f"{name}: {int(np.argmax(pr))} ({pr.max():.2f})", "gray_r", (0, 1))]
        for ax, (img, title, cmap, lim) in zip(axes[row], panels):
            ax.imshow(np.asarray(img).reshape(8, 8), cmap=cmap, vmin=lim[0], vmax=lim[1])
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    fig.suptitle("Projected gradient on the l∞ ball ∩ [0, 1]^64 (prediction and its probability)")
    fig.tight_layout()
    path = OUT / "adversarial_pgd.png"
    fig.savefig(path, dpi=120)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
