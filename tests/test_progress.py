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


def test_minimize_progress_inside_outer_jit_draws_at_run_time(capsys):
    # issue 13 item 7: the bar was opened and closed while tracing, so the compiled
    # program's callbacks found no bar ("0/1000 steps loss=nan", never updated)
    opt = gradopt.nesterov(0.1, 0.5)
    solve = jax.jit(lambda t, n: gradopt.minimize(fun, jnp.zeros(3), opt, A, t, max_steps=n,
                                                  tol=1e-10, progress=True))
    outs = []
    for t in (T, 2.0 * T):  # two runs of one compiled program: one finished bar each
        res = solve(t, 1000)
        jax.effects_barrier()
        outs.append((res, capsys.readouterr().err))
    for res, err in outs:
        last = err.strip().split("\r")[-1]
        assert f"{int(res.steps)}/1000 steps" in last, err
        loss = float(re.search(r"loss=(\S+)", last).group(1))
        np.testing.assert_allclose(loss, float(res.value), rtol=1e-5)
        assert err.endswith("\n") and err.count("\n") == 1  # closed once
    assert int(outs[0][0].steps) != 0


def test_fit_progress_inside_outer_jit_and_vmap(capsys):
    X = jnp.asarray(np.random.RandomState(0).randn(12, 3))
    mse = lambda w, b: jnp.mean((b[0] @ w - b[1]) ** 2)
    opt = gradopt.descent(0.1)

    def train(w_true):
        return gradopt.fit(mse, jnp.zeros(3), opt, (X, X @ w_true), batch_size=5, epochs=4,
                           key=jax.random.key(0), progress=True).losses

    losses = jax.jit(train)(jnp.asarray([1.0, 0.0, -1.0]))
    jax.effects_barrier()
    last = capsys.readouterr().err.strip().split("\r")[-1]
    assert "4/4 epochs" in last
    np.testing.assert_allclose(float(re.search(r"loss=(\S+)", last).group(1)), float(losses[-1]),
                               rtol=1e-5)
    jax.vmap(train)(jnp.eye(3))
    jax.effects_barrier()
    assert "4/4 epochs" in capsys.readouterr().err
