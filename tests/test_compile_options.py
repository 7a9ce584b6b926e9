"""gradopt.problems._compile.jit: the problems layer's entry programs compile with the CPU
options at the top level, and run as plain jits inside a user's trace."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gradopt.problems import _compile


def _fresh():
    return _compile.jit(lambda x, k: jnp.sin(x) * k, static_argnums=(1,))


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the options are CPU-only")
def test_top_level_call_uses_the_options():
    f = _fresh()
    out = f(jnp.arange(3.0), 2)
    assert f._tuned._cache_size() == 1 and f._plain._cache_size() == 0
    np.testing.assert_allclose(out, np.sin(np.arange(3.0)) * 2, rtol=1e-6)
    # attributes (lower, _cache_size...) are the tuned variant's
    assert f._cache_size() == 1 and "sine" in f.lower(jnp.arange(3.0), 2).as_text()


@pytest.mark.parametrize("transform", ["jit", "vmap", "grad"])
def test_inside_a_trace_runs_the_plain_jit(transform):
    # jax 0.10's jax.jit refuses compiler options on a jit nested in a jit trace (jax 0.6
    # accepts them); the wrapper must not pass them there
    f = _fresh()
    x = jnp.arange(3.0)
    if transform == "jit":
        out = jax.jit(lambda x: f(x, 2) + 1)(x)
        np.testing.assert_allclose(out, np.sin(np.arange(3.0)) * 2 + 1, rtol=1e-6)
    elif transform == "vmap":
        out = jax.vmap(lambda x: f(x, 2))(x[None])
        np.testing.assert_allclose(out[0], np.sin(np.arange(3.0)) * 2, rtol=1e-6)
    else:
        g = jax.grad(lambda x: f(x, 2).sum())(x)
        np.testing.assert_allclose(g, np.cos(np.arange(3.0)) * 2, rtol=1e-6)
    assert f._tuned._cache_size() == 0


def test_engine_solve_with_and_without_the_options_matches_scikit_learn():
    # eager: the tuned program; inside a user's jax.jit: the plain one; both against
    # scikit-learn's coordinate descent on the same objective
    import gradopt
    from sklearn.linear_model import Lasso
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 12))
    y = X[:, 0] - 0.5 * X[:, 3] + 0.1 * rng.standard_normal(30)
    eager = gradopt.lasso(X, y, 0.05, tol=1e-10)
    traced = jax.jit(lambda X, y: gradopt.lasso(X, y, 0.05, tol=1e-10).coef)(X, y)
    ref = Lasso(alpha=0.05, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(X, y).coef_
    np.testing.assert_allclose(eager.coef, ref, atol=1e-7)
    np.testing.assert_allclose(traced, ref, atol=1e-7)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the options are CPU-only")
def test_when_decides_per_call():
    f = _compile.jit(lambda x, k: x * k, when=lambda x, k: k > 1, static_argnums=(1,))
    f(jnp.ones(2), 1)
    assert f._tuned._cache_size() == 0 and f._plain._cache_size() == 1
    f(jnp.ones(2), 2)
    assert f._tuned._cache_size() == 1


def test_which_solves_compile_with_the_options():
    # logistic / Poisson solves sweeping X in place ran 20-30 % slower with XLA's elemental
    # emitters; on a gathered working set (p >> n) they ran as fast and compiled 1.5 s faster
    from gradopt import datafits
    from gradopt.problems import engine
    gathered = engine.Columns(None, 64, None)
    sharded = engine.Columns(object(), 64, "x")
    assert engine.cpu_options(datafits.quadratic())
    assert engine.cpu_options(datafits.huber(1.0), None, columns=None)
    for df in (datafits.logistic(), datafits.poisson()):
        assert not engine.cpu_options(df)
        assert engine.cpu_options(df, None, columns=gathered)
        assert not engine.cpu_options(df, None, columns=sharded)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the options are CPU-only")
def test_when_sees_keyword_arguments():
    f = _compile.jit(lambda x, *, k: x * k, when=lambda x, *, k: k > 1, static_argnames=("k",))
    f(jnp.ones(2), k=1)
    f(jnp.ones(2), k=3)
    assert f._tuned._cache_size() == 1 and f._plain._cache_size() == 1
