"""minimize/fit keep a bounded number of compiled loops (issue 13 item 6).

Building a new optimizer for every call used to keep every compiled loop (and
the optimizer) alive forever: about 2.5 MB per call. The loops now live in a
small LRU; an evicted loop, its optimizer and its executable are released.
Measured by a script (minutes, not a test): 300 calls with a new ``nesterov``
each grew RSS by 22 MB; before, 100 calls grew it by 311 MB.
"""

import gc
import importlib
import weakref

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradopt
fit_mod = importlib.import_module("gradopt.solve.fit")  # the package exports the functions
minimize_mod = importlib.import_module("gradopt.solve.minimize")


@pytest.fixture
def small_caches(monkeypatch):
    monkeypatch.setattr(minimize_mod._LOOPS, "maxsize", 2)
    monkeypatch.setattr(fit_mod._LOOPS, "maxsize", 2)
    minimize_mod._LOOPS.clear()
    fit_mod._LOOPS.clear()
    yield
    minimize_mod._LOOPS.clear()
    fit_mod._LOOPS.clear()


def test_minimize_releases_evicted_optimizers_and_reuses_recent_ones(small_caches):
    traces = []

    def f(x, t):
        traces.append(1)
        return jnp.sum((x - t) ** 2)

    refs, opts = [], []
    for i in range(4):  # a new optimizer object (same hyperparameters) per call
        opt = gradopt.nesterov(0.1, 0.5)
        res = gradopt.minimize(f, jnp.zeros(2), opt, jnp.ones(2), max_steps=5)
        refs.append(weakref.ref(opt.update))
        opts.append(opt)
        del opt, res
    assert len(minimize_mod._LOOPS.entries) == 2
    # the last optimizer's loop is cached: same objects and new data do not retrace
    n = len(traces)
    res = gradopt.minimize(f, jnp.ones(2), opts[-1], jnp.asarray(np.full(2, 3.0)), max_steps=200, tol=1e-9)
    assert len(traces) == n
    np.testing.assert_allclose(res.params, 3.0, rtol=1e-8)
    del opts[:2]
    gc.collect()
    assert refs[0]() is None and refs[1]() is None  # evicted: nothing keeps them alive
    assert refs[2]() is not None


def test_fit_cache_is_bounded_and_releases_optimizers(small_caches):
    X = jnp.asarray(np.random.RandomState(0).randn(6, 2))
    y = X @ jnp.array([1.0, -1.0])
    mse = lambda w, b: jnp.mean((b[0] @ w - b[1]) ** 2)
    refs = []
    for _ in range(3):
        opt = gradopt.descent(0.1)
        gradopt.fit(mse, jnp.zeros(2), opt, (X, y), batch_size=3, epochs=2, key=jax.random.key(0))
        refs.append(weakref.ref(opt.update))
        del opt
    gc.collect()
    assert len(fit_mod._LOOPS.entries) == 2
    assert refs[0]() is None
