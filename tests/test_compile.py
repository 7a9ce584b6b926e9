"""The problems layer's solver programs (``gradopt.problems._compile.program``).

At the top level they compile with XLA options (YNNPACK for matrix products only, where the
installed jaxlib knows the option); under any trace (jit, scan, vmap, grad) they are plain
``jax.jit`` functions, since a nested jit may not carry compiler options. Both must compute
the same values, and the solver entry points must work in every context.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradopt
from gradopt.problems import _compile, engine


@_compile.program(static_argnames=("power",))
def _weighted_sum(m, y, z, power=2):
    return jnp.sum(m[:, None] * (y - z) ** power)


def _args(n=4096, seed=0):
    rng = np.random.default_rng(seed)
    return (jnp.asarray((rng.random(n) < 0.9).astype(np.float32)),
            jnp.asarray(rng.standard_normal((n, 1)), jnp.float32),
            jnp.asarray(rng.standard_normal((n, 1)), jnp.float32))


def test_program_gives_the_plain_jit_values_in_every_context():
    m, y, z = _args()
    want = float(jnp.sum(m[:, None] * (y - z) ** 2))
    np.testing.assert_allclose(float(_weighted_sum(m, y, z)), want, rtol=1e-5)
    np.testing.assert_allclose(float(jax.jit(_weighted_sum)(m, y, z)), want, rtol=1e-5)
    np.testing.assert_allclose(float(jax.jit(lambda: _weighted_sum(m, y, z))()), want,
                               rtol=1e-5)  # concrete arguments, inside a trace
    batched = jax.vmap(_weighted_sum, in_axes=(None, None, 0))(m, y, jnp.stack([z, 2 * z]))
    np.testing.assert_allclose(float(batched[0]), want, rtol=1e-5)
    grad = jax.grad(lambda z: _weighted_sum(m, y, z))(z)
    np.testing.assert_allclose(grad, -2 * m[:, None] * (y - z), rtol=1e-5, atol=1e-6)
    _, scanned = jax.lax.scan(lambda c, s: (c, _weighted_sum(m, y, s * z)), 0.0,
                              jnp.ones(2, jnp.float32))
    np.testing.assert_allclose(scanned, [want, want], rtol=1e-5)
    assert float(_weighted_sum(m, y, z, power=1)) == pytest.approx(
        float(jnp.sum(m[:, None] * (y - z))), rel=1e-4, abs=1e-3)


def test_top_level_programs_keep_ynnpack_for_products_only():
    m, y, z = _args()
    text = _weighted_sum.lower(m, y, z).compile().as_text()
    plain = jax.jit(_weighted_sum.__wrapped__).lower(m, y, z).compile().as_text()
    if _compile.options() is None:  # a jaxlib without the option: the defaults
        assert text == plain
    else:  # the reduction is XLA's own loop, not a YNNPACK fusion
        assert "__ynn_fusion" not in text


def test_options_are_probed_once_and_accepted_or_none():
    opts = _compile.options()
    assert opts is None or opts == _compile.OPTIONS
    assert _compile.options() is opts  # cached
    if opts is not None:
        assert float(jax.jit(lambda x: x.sum(), compiler_options=opts)(jnp.ones(3))) == 3.0


def test_engine_entry_points_work_at_the_top_level_and_traced():
    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((30, 12)), rng.standard_normal(30)
    a = 0.1 * float(np.max(np.abs(X.T @ y)) / 30)
    top = gradopt.lasso(X, y, a, tol=1e-10)
    under_jit = jax.jit(lambda X, y: gradopt.lasso(X, y, a, tol=1e-10).coef)(X, y)
    np.testing.assert_allclose(under_jit, top.coef, atol=1e-9)
    path = gradopt.lasso_path(X, y, n_alphas=5, tol=1e-10)
    np.testing.assert_allclose(path.coefs[-1], gradopt.lasso(X, y, float(path.alphas[-1]),
                                                             tol=1e-10).coef, atol=1e-8)
    batch = gradopt.lasso_batch(X, np.stack([y, 2 * y]), a, tol=1e-10)
    np.testing.assert_allclose(batch.coef[0], top.coef, atol=1e-8)
    assert isinstance(engine.solve._cache_size(), int)
