"""gradopt.fit: every sample once per epoch, shuffling, full batch = descent, weighted epoch means."""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradopt

RNG = np.random.RandomState(4)
N, D = 10, 3
X = RNG.randn(N, D)
W_TRUE = RNG.randn(D)
Y = X @ W_TRUE + 0.1 * RNG.randn(N)


@pytest.mark.parametrize("batch_size", [1, 4, 10])
def test_every_sample_used_exactly_once_per_epoch(batch_size):
    # loss(p, idx) = sum(p[idx]) has gradient 1 on the batch's samples: with
    # descent(1.0), each visit subtracts exactly 1 from that sample's entry.
    loss = lambda p, idx: jnp.sum(p[idx])
    epochs = 3
    res = gradopt.fit(loss, jnp.zeros(N), gradopt.descent(1.0), jnp.arange(N),
                      batch_size=batch_size, epochs=epochs, key=jax.random.key(0))
    np.testing.assert_array_equal(res.params, np.full(N, -float(epochs)))


class RecorderState(NamedTuple):
    count: jax.Array
    log: jax.Array  # (total steps, n): row k = the samples of step k's batch


def recorder(total_steps: int) -> optax.GradientTransformation:
    """Logs which samples each step used (the gradient of the probe leaf is their
    indicator), then zeroes the probe's update so that the probe stays at 0."""

    def init(params):
        return RecorderState(jnp.zeros([], jnp.int32), jnp.zeros((total_steps, N)))

    def update(updates, state, params=None):
        log = state.log.at[state.count].set(updates["probe"])
        updates = {**updates, "probe": jnp.zeros_like(updates["probe"])}
        return updates, RecorderState(state.count + 1, log)

    return optax.GradientTransformation(init, update)


def mse_with_probe(p, batch):
    x, y, idx = batch
    return jnp.mean((x @ p["w"] - y) ** 2) + jnp.sum(p["probe"][idx])


@functools.lru_cache(maxsize=None)  # one optimizer object per setting: fit compiles once
def recorded_optimizer(total_steps, lr):
    return gradopt.chain(recorder(total_steps), gradopt.descent(lr))


def run_recorded(batch_size, epochs, key, lr=0.05):
    steps_per_epoch = -(-N // batch_size)
    opt = recorded_optimizer(epochs * steps_per_epoch, lr)
    params = {"w": jnp.zeros(D), "probe": jnp.zeros(N)}
    res = gradopt.fit(mse_with_probe, params, opt, (jnp.asarray(X), jnp.asarray(Y), jnp.arange(N)),
                      batch_size=batch_size, epochs=epochs, key=key)
    log = np.asarray(res.opt_state[0].log)
    return res, log.reshape(epochs, steps_per_epoch, N)


def test_epoch_losses_are_sample_weighted_means_python_recomputation():
    batch_size, epochs, lr = 4, 3, 0.05  # batches of 4, 4 and a last one of 2
    res, log = run_recorded(batch_size, epochs, jax.random.key(1), lr)
    w = np.zeros(D)
    for e in range(epochs):
        np.testing.assert_array_equal(log[e].sum(axis=0), np.ones(N))  # each sample once
        np.testing.assert_array_equal(log[e].sum(axis=1), [4, 4, 2])  # last batch partial
        total, naive = 0.0, []
        for row in log[e]:
            idx = np.flatnonzero(row)
            r = X[idx] @ w - Y[idx]
            batch_loss = np.mean(r**2)
            total += len(idx) * batch_loss
            naive.append(batch_loss)
            w = w - lr * (2.0 / len(idx)) * X[idx].T @ r
        np.testing.assert_allclose(res.losses[e], total / N, rtol=1e-12)
        assert abs(np.mean(naive) - total / N) > 1e-6  # the weighting matters here
    np.testing.assert_allclose(res.params["w"], w, rtol=1e-12)
    np.testing.assert_array_equal(res.params["probe"], np.zeros(N))


def test_batches_are_stratified_over_gcd_groups():
    # the documented scheme: G = gcd(10, 4) = 2 contiguous groups {0..4}, {5..9};
    # each full batch takes 4 / 2 = 2 samples of each, the last batch 1 of each.
    # This is what lets data sharded over D | G devices be batched locally.
    _, log = run_recorded(4, 3, jax.random.key(9))
    for e in range(3):
        np.testing.assert_array_equal(log[e][:, :5].sum(axis=1), [2, 2, 1])
        np.testing.assert_array_equal(log[e][:, 5:].sum(axis=1), [2, 2, 1])
    # within a group the order is random: not the identity, and different per epoch
    firsts = [tuple(np.flatnonzero(log[e][0][:5])) for e in range(3)]
    assert len(set(firsts)) > 1


def test_shuffling_differs_between_epochs_and_depends_on_key():
    _, log_a = run_recorded(1, 3, jax.random.key(7))
    _, log_a2 = run_recorded(1, 3, jax.random.key(7))
    _, log_b = run_recorded(1, 3, jax.random.key(8))
    orders = [np.argmax(log_a[e], axis=1) for e in range(3)]  # SGD: one sample per step
    for order in orders:
        np.testing.assert_array_equal(np.sort(order), np.arange(N))  # a permutation
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
    np.testing.assert_array_equal(log_a, log_a2)  # same key, same shuffles
    assert not np.array_equal(log_a, log_b)


def test_full_batch_equals_gradient_descent_trajectory():
    lr, epochs = 0.05, 6
    mse = lambda w, batch: jnp.mean((batch[0] @ w - batch[1]) ** 2)
    res = gradopt.fit(mse, jnp.zeros(D), gradopt.descent(lr), (jnp.asarray(X), jnp.asarray(Y)),
                      batch_size=N, epochs=epochs, key=jax.random.key(2))
    w, losses = np.zeros(D), []
    for _ in range(epochs):
        r = X @ w - Y
        losses.append(np.mean(r**2))
        w = w - lr * (2.0 / N) * X.T @ r
    np.testing.assert_allclose(res.losses, losses, rtol=1e-12)
    np.testing.assert_allclose(res.params, w, rtol=1e-12)
    assert np.all(np.diff(res.losses) < 0)


def test_momentum_training_reduces_loss_float32_and_keeps_dtype():
    data = (jnp.asarray(X, jnp.float32), jnp.asarray(Y, jnp.float32))
    mse = lambda w, b: jnp.mean((b[0] @ w - b[1]) ** 2)
    res = gradopt.fit(mse, jnp.zeros(D, jnp.float32), gradopt.nesterov(0.02, 0.9), data,
                      batch_size=3, epochs=60, key=jax.random.key(3))
    assert res.params.dtype == jnp.float32
    w_ls = np.linalg.lstsq(X, Y, rcond=None)[0]
    np.testing.assert_allclose(res.params, w_ls, atol=0.05)
    assert float(res.losses[-1]) < 0.1 * float(res.losses[0])


@pytest.mark.parametrize(
    "kwargs, exc, name",
    [
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(batch_size=N + 1), ValueError, "batch_size"),
        (dict(batch_size=2.5), ValueError, "batch_size"),
        (dict(epochs=0), ValueError, "epochs"),
        (dict(epochs=-2), ValueError, "epochs"),
        (dict(key=None), TypeError, "key"),
        (dict(data=(np.ones((N, 2)), np.ones(N - 1))), ValueError, "leading size"),
        (dict(data=()), ValueError, "data"),
        (dict(loss="mse"), TypeError, "loss"),
        (dict(optimizer=optax.sgd), TypeError, "optimizer"),
        (dict(params=jnp.zeros(D, jnp.int32)), TypeError, "params"),
        (dict(batch_size=True), TypeError, "batch_size"),
        (dict(batch_size="yes"), TypeError, "batch_size"),
        (dict(batch_size="2"), TypeError, "batch_size"),
        (dict(epochs=True), TypeError, "epochs"),
        (dict(epochs="yes"), TypeError, "epochs"),
        (dict(epochs=float("inf")), ValueError, "epochs"),
        (dict(epochs=2**31), ValueError, "epochs"),
        (dict(data=(X.tolist(), Y.tolist())), TypeError, "data"),
        (dict(data=[[1.0, 2.0, 3.0]] * N), TypeError, "data"),
        (dict(data=(X, np.array(["a"] * N))), TypeError, "data"),
        (dict(key=0), TypeError, "key"),
        (dict(progress="yes"), TypeError, "progress"),
        (dict(key="seed"), TypeError, "key"),
        (dict(key=np.arange(3)), TypeError, "key"),
        (dict(key=jnp.zeros(2)), TypeError, "key"),
        (dict(key=jax.random.split(jax.random.key(0), 3)), TypeError, "key"),
    ],
)
def test_bad_input(kwargs, exc, name):
    args = dict(loss=lambda w, b: jnp.mean((b[0] @ w - b[1]) ** 2), params=jnp.zeros(D),
                optimizer=gradopt.descent(0.1), data=(X, Y), batch_size=2, epochs=1,
                key=jax.random.key(0))
    args.update(kwargs)
    with pytest.raises(exc, match=name):
        gradopt.fit(args.pop("loss"), args.pop("params"), args.pop("optimizer"), args.pop("data"),
                    **args)


def test_fista_full_batch_reports_the_iterate_like_minimize():
    # issue 13 item 3: fit used to return FISTA's extrapolated point y_k, not x_k
    mse = lambda w, b: 0.5 * jnp.mean((b[0] @ w - b[1]) ** 2)
    g = gradopt.prox.l1(0.05)
    opt = gradopt.proximal_gradient(0.3, g, accelerate=True)
    data = (jnp.asarray(X), jnp.asarray(Y))
    res = gradopt.fit(mse, jnp.zeros(D), opt, data, batch_size=N, epochs=3, key=jax.random.key(0))
    ref = gradopt.minimize(lambda w, X, y: mse(w, (X, y)), jnp.zeros(D), opt, *data,
                           penalty=g, max_steps=3, tol=0.0)
    np.testing.assert_allclose(res.params, ref.params, rtol=1e-12)
    # NumPy FISTA (Beck & Teboulle 2009): x_k = prox(y_k - lr grad(y_k)), the iterate
    soft = lambda v, t: np.sign(v) * np.maximum(np.abs(v) - t, 0.0)
    x_old = y = np.zeros(D)
    t = 1.0
    for _ in range(3):
        x = soft(y - 0.3 * X.T @ (X @ y - Y) / N, 0.3 * 0.05)
        t_next = (1 + np.sqrt(1 + 4 * t * t)) / 2
        y, x_old, t = x + (t - 1) / t_next * (x - x_old), x, t_next
    np.testing.assert_allclose(res.params, x_old, rtol=1e-12)
    assert not np.allclose(y, x_old)  # the extrapolated point differs
    assert res.status_name == "MAX_STEPS" and int(res.status) == gradopt.Status.MAX_STEPS


def test_one_nan_sample_diverges_keeps_last_finite_params_and_state():
    Xn = X.copy()
    Xn[6] = np.nan
    mse = lambda w, b: jnp.mean((b[0] @ w - b[1]) ** 2)
    lr, bs = 0.05, 2
    opt = recorded_optimizer(3 * 5, lr)
    params = {"w": jnp.zeros(D), "probe": jnp.zeros(N)}
    loss = lambda p, b: mse(p["w"], b[:2]) + jnp.sum(p["probe"][b[2]])
    res = gradopt.fit(loss, params, opt, (jnp.asarray(Xn), jnp.asarray(Y), jnp.arange(N)),
                      batch_size=bs, epochs=3, key=jax.random.key(5))
    assert res.status_name == "DIVERGED" and bool(res.diverged)
    assert np.all(np.isnan(res.losses))  # sample 6 is in some batch of epoch 0
    # the recorder logs only the kept updates: replay them in NumPy
    log = np.asarray(res.opt_state[0].log)
    k = int(res.opt_state[0].count)
    assert 0 <= k < 5  # sample 6 is in one of epoch 0's 5 batches
    assert np.all(log[k:] == 0) and np.all(log[:k, 6] == 0)
    w = np.zeros(D)
    for row in log[:k]:
        idx = np.flatnonzero(row)
        assert len(idx) == bs
        w = w - lr * (2.0 / bs) * X[idx].T @ (X[idx] @ w - Y[idx])
    np.testing.assert_allclose(res.params["w"], w, rtol=1e-12)
    assert np.all(np.isfinite(res.params["w"]))


def test_too_large_learning_rate_diverges_with_history_then_nan():
    mse = lambda w, b: jnp.mean((b[0] @ w - b[1]) ** 2)
    lr = 40.0  # |1 - lr * 2 lambda_i / N| > 1: the full-batch iterates blow up
    res = gradopt.fit(mse, jnp.zeros(D), gradopt.descent(lr), (jnp.asarray(X), jnp.asarray(Y)),
                      batch_size=N, epochs=400, key=jax.random.key(2))
    w, losses = np.zeros(D), []
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(400):
            r = X @ w - Y
            loss = np.mean(r**2)
            new = w - lr * (2.0 / N) * X.T @ r
            if not (np.isfinite(loss) and np.all(np.isfinite(new))
                    and np.all(np.isfinite(2.0 / N * X.T @ r))):
                break
            losses.append(loss)
            w = new
    k = len(losses)
    assert 0 < k < 400
    assert res.status_name == "DIVERGED"
    np.testing.assert_allclose(res.losses[:k], losses, rtol=1e-10)
    assert np.all(np.isnan(res.losses[k:]))
    np.testing.assert_allclose(res.params, w, rtol=1e-10)
    assert np.all(np.isfinite(res.params))


def test_status_under_vmap_is_batched():
    mse = lambda w, b: jnp.mean((b[0] @ w - b[1]) ** 2)
    data = (jnp.asarray(X), jnp.asarray(Y))

    def train(lr):
        return gradopt.fit(mse, jnp.zeros(D), gradopt.descent(lr), data, batch_size=N,
                           epochs=300, key=jax.random.key(0))

    res = jax.vmap(train)(jnp.array([0.05, 40.0]))
    assert res.status_name == "MAX_STEPS,DIVERGED"
    np.testing.assert_allclose(res.params[0], train(0.05).params, rtol=1e-12)


def test_raw_uint32_key_is_accepted_and_equals_typed_key():
    mse = lambda w, b: jnp.mean((b[0] @ w - b[1]) ** 2)
    kw = dict(batch_size=3, epochs=2)
    a = gradopt.fit(mse, jnp.zeros(D), gradopt.descent(0.05), (X, Y), key=jax.random.PRNGKey(3), **kw)
    b = gradopt.fit(mse, jnp.zeros(D), gradopt.descent(0.05), (X, Y), key=jax.random.key(3), **kw)
    np.testing.assert_array_equal(a.params, b.params)
