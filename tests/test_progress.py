"""progress=True: a throttled text bar from inside the compiled loops; results unchanged."""

import re

import jax
import jax.numpy as jnp
import numpy as np

import gradopt
from gradopt.solve import progress as progress_mod

A = jnp.asarray(np.diag([1.0, 2.0, 5.0]))
T = jnp.asarray([1.0, -2.0, 0.5])


def fun(x, a, t):
    return 0.5 * (x - t) @ a @ (x - t) + 1.0


def test_minimize_progress_bar_shows_final_step_and_loss(capsys, monkeypatch):
    calls = []
    original = progress_mod._Bar.update
    monkeypatch.setattr(progress_mod._Bar, "update",
                        lambda self, *a, **k: (calls.append(a), original(self, *a, **k))[1])
    opt = gradopt.nesterov(0.1, 0.5)
    on = gradopt.minimize(fun, jnp.zeros(3), opt, A, T, max_steps=1000, tol=1e-10, progress=True)
    err = capsys.readouterr().err
    off = gradopt.minimize(fun, jnp.zeros(3), opt, A, T, max_steps=1000, tol=1e-10)
    steps = int(on.steps)
    last = err.strip().split("\r")[-1]
    assert f"{steps}/1000 steps" in last, err
    loss = float(re.search(r"loss=(\S+)", last).group(1))
    np.testing.assert_allclose(loss, float(on.value), rtol=1e-5)
    # identical results with the bar on and off
    for a, b in zip(jax.tree_util.tree_leaves(on), jax.tree_util.tree_leaves(off)):
        np.testing.assert_array_equal(a, b)
    # throttled in the compiled loop: one callback every max_steps // 200 = 5 steps
    assert 1 <= len(calls) <= steps // 5 + 3


def test_fit_progress_bar_shows_epochs_and_final_mean_loss(capsys):
    X = jnp.asarray(np.random.RandomState(0).randn(12, 3))
    y = X @ jnp.asarray([1.0, 0.0, -1.0])
    mse = lambda w, b: jnp.mean((b[0] @ w - b[1]) ** 2)
    kw = dict(batch_size=5, epochs=4, key=jax.random.key(0))
    on = gradopt.fit(mse, jnp.zeros(3), gradopt.descent(0.1), (X, y), progress=True, **kw)
    err = capsys.readouterr().err
    off = gradopt.fit(mse, jnp.zeros(3), gradopt.descent(0.1), (X, y), **kw)
    last = err.strip().split("\r")[-1]
    assert "4/4 epochs" in last, err
    loss = float(re.search(r"loss=(\S+)", last).group(1))
    np.testing.assert_allclose(loss, float(on.losses[-1]), rtol=1e-5)
    np.testing.assert_array_equal(on.params, off.params)
    np.testing.assert_array_equal(on.losses, off.losses)


def test_no_output_when_off(capsys):
    gradopt.minimize(fun, jnp.zeros(3), gradopt.descent(0.1), A, T, max_steps=20)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
