"""A small MLP on scikit-learn's digits, trained with ``gradopt.fit``.

Two optimizers on the same model, data and shuffles:

* ``gradopt.chain(gradopt.clip_by_global_norm(1.0), gradopt.nesterov(0.05, 0.9))``:
  PyTorch's ``clip_grad_norm_`` + ``SGD(nesterov=True)``, all gradopt;
* ``gradopt.chain(gradopt.clip_by_global_norm(1.0), optax.adam(1e-3))``: a gradopt
  transformation chained with optax's Adam (they are the same kind of object).

``fit`` shuffles every epoch, runs each epoch as one ``lax.scan`` and keeps the last,
smaller batch (1437 training samples = 22 batches of 64 + one of 29).

Run: ``python examples/mlp_training.py``.
"""

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import gradopt

OUT = Path(__file__).resolve().parent / "output"
HIDDEN, EPOCHS, BATCH = 128, 40, 64

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
scaler = StandardScaler().fit(X_train)
X_train = jnp.asarray(scaler.transform(X_train), jnp.float32)
X_test = jnp.asarray(scaler.transform(X_test), jnp.float32)
y_train, y_test = jnp.asarray(y_train), jnp.asarray(y_test)


def init(key):
    k1, k2 = jax.random.split(key)
    return {
        "hidden": {"w": jax.random.normal(k1, (64, HIDDEN)) / 8.0, "b": jnp.zeros(HIDDEN)},
        "out": {"w": jax.random.normal(k2, (HIDDEN, 10)) / np.sqrt(HIDDEN), "b": jnp.zeros(10)},
    }


def logits(params, x):
    h = jnp.tanh(x @ params["hidden"]["w"] + params["hidden"]["b"])
    return h @ params["out"]["w"] + params["out"]["b"]


def loss(params, batch):
    x, labels = batch
    return optax.softmax_cross_entropy_with_integer_labels(logits(params, x), labels).mean()


def accuracy(params, x, labels):
    return float(jnp.mean(jnp.argmax(logits(params, x), axis=1) == labels))


optimizers = {
    "clip + nesterov (gradopt)": gradopt.chain(gradopt.clip_by_global_norm(1.0),
                                               gradopt.nesterov(0.05, 0.9)),
    "clip (gradopt) + adam (optax)": gradopt.chain(gradopt.clip_by_global_norm(1.0),
                                                   optax.adam(1e-3)),
}

params0 = init(jax.random.key(0))
print(f"digits: {X_train.shape[0]} train / {X_test.shape[0]} test, MLP 64-{HIDDEN}-10 (tanh), "
      f"batch {BATCH}, {EPOCHS} epochs")
print(f"{'optimizer':<32}{'final loss':>11}{'train acc':>11}{'test acc':>10}{'time':>9}")
curves = {}
for name, opt in optimizers.items():
    t0 = time.perf_counter()
    params, losses, _ = gradopt.fit(loss, params0, opt, (X_train, y_train), batch_size=BATCH,
                                    epochs=EPOCHS, key=jax.random.key(1))
    jax.block_until_ready(params)
    elapsed = time.perf_counter() - t0
    curves[name] = np.asarray(losses)
    print(f"{name:<32}{float(losses[-1]):>11.4f}{accuracy(params, X_train, y_train):>11.3f}"
          f"{accuracy(params, X_test, y_test):>10.3f}{elapsed:>7.2f} s")
print("(time includes compilation; the loss is the sample-weighted mean over each epoch)")

OUT.mkdir(exist_ok=True)
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(figsize=(6, 4))
for name, losses in curves.items():
    ax.semilogy(np.arange(1, EPOCHS + 1), losses, label=name)
ax.set_xlabel("epoch")
ax.set_ylabel("mean training loss (cross-entropy)")
ax.set_title("MLP on digits with gradopt.fit")
ax.legend()
fig.tight_layout()
fig.savefig(OUT / "mlp_training_loss.png", dpi=120)
print(f"saved {OUT / 'mlp_training_loss.png'}")
