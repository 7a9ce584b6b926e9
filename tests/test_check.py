"""gradopt.check_grad: passes true gradients, catches and locates wrong custom_vjp gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gradopt
from gradopt import GradientCheckError

RNG = np.random.RandomState(5)


def mlp_loss(p, x, y):
    h = jnp.tanh(x @ p["W1"] + p["b1"])
    z = h @ p["W2"]
    return jnp.mean(jax.nn.logsumexp(z, axis=1) - z[jnp.arange(z.shape[0]), y])


def rosenbrock_and_friends(p):
    x = p["x"]
    return (jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
            + jnp.sin(p["y"][0]) @ p["y"][1])


def softplus_cubic(x):
    return jax.nn.logsumexp(3.0 * x) + jnp.sum(x**3) / 10 + jnp.sum(jax.nn.softplus(x))


def problems(dtype):
    x = jnp.asarray(RNG.randn(20, 4), dtype)
    y = jnp.asarray(RNG.randint(0, 3, 20))
    mlp_params = {"W1": jnp.asarray(RNG.randn(4, 6) / 2, dtype), "b1": jnp.zeros(6, dtype),
                  "W2": jnp.asarray(RNG.randn(6, 3) / 2, dtype)}
    rosen_params = {"x": jnp.asarray(RNG.rand(5) * 1.5, dtype),
                    "y": [jnp.asarray(RNG.randn(3), dtype), jnp.asarray(RNG.randn(3), dtype)]}
    return [
        (mlp_loss, mlp_params, (x, y)),
        (rosenbrock_and_friends, rosen_params, ()),
        (softplus_cubic, jnp.asarray(RNG.randn(8) * 2, dtype), ()),
    ]


@pytest.mark.parametrize("mode", ["full", "random"])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_correct_gradients_pass_with_default_tolerances(dtype, mode):
    for fun, params, args in problems(dtype):
        report = gradopt.check_grad(fun, params, *args, mode=mode)
        assert report.ok, (fun.__name__, str(report))
        n = sum(np.size(l) for l in jax.tree_util.tree_leaves(params))
        assert report.n_checked == (n if mode == "full" else 8)
        # the errors are those of the method (O(eps^2) + rounding), far below the tolerances
        assert report.max_abs_error < (1e-6 if dtype == jnp.float64 else 0.1)


def test_large_magnitude_float32_loss_near_its_minimum_passes():
    # |f| ~ 1e4 while the gradient is ~ 0: float32 central differences cannot
    # resolve it better than ~ u |f| / h, which the default atol allows for.
    a = RNG.randn(40, 5)
    b = RNG.randn(40) * 30
    w = jnp.asarray(np.linalg.lstsq(a, b, rcond=None)[0], jnp.float32)
    f = lambda w: 0.5 * jnp.sum((jnp.asarray(a, jnp.float32) @ w - jnp.asarray(b, jnp.float32)) ** 2)
    report = gradopt.check_grad(f, w)
    assert report.ok and report.noise_floor > 0, report
    # the same point fails when atol is fixed explicitly (no rounding floor)
    assert not gradopt.check_grad(f, w, atol=1e-3).ok


@jax.custom_vjp
def scaled_square(p):
    """sum(w^2) + sum(b^2), with a hand-written backward pass that is wrong for b[1]."""
    return jnp.sum(p["w"] ** 2) + jnp.sum(p["b"] ** 2)


def _fwd(p):
    return scaled_square(p), p


def _bwd(p, g):
    gb = 2 * p["b"]
    gb = gb.at[1].multiply(1.5)  # the bug
    return ({"w": 2 * g * p["w"], "b": g * gb},)


scaled_square.defvjp(_fwd, _bwd)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_wrong_custom_vjp_is_flagged_and_located(dtype):
    params = {"w": jnp.asarray(RNG.randn(2, 3), dtype), "b": jnp.asarray([0.5, -1.0, 2.0], dtype)}
    full = gradopt.check_grad(scaled_square, params)
    assert not full.ok
    assert full.worst_location == "params['b'][1]"
    np.testing.assert_allclose(full.analytic, 1.5 * 2 * -1.0, rtol=1e-6)
    np.testing.assert_allclose(full.numerical, 2 * -1.0, rtol=1e-2)
    random = gradopt.check_grad(scaled_square, params, mode="random", n_directions=4,
                                key=jax.random.key(3))
    assert not random.ok and random.worst_location.startswith("direction ")
    with pytest.raises(GradientCheckError, match="MISMATCH"):
        gradopt.check_grad(scaled_square, params, raise_on_error=True)
    # with the bug removed, the same check passes
    correct = lambda p: jnp.sum(p["w"] ** 2) + jnp.sum(p["b"] ** 2)
    assert gradopt.check_grad(correct, params, raise_on_error=True).ok


def test_chunked_and_unchunked_full_mode_agree():
    f = softplus_cubic
    x = jnp.asarray(RNG.randn(7))
    a = gradopt.check_grad(f, x, batch_size=None)
    b = gradopt.check_grad(f, x, batch_size=3)
    assert a.ok and b.ok
    assert a.max_abs_error == b.max_abs_error and a.worst_location == b.worst_location


def test_nan_gradient_is_a_mismatch():
    f = lambda x: jnp.sum(jnp.sqrt(jnp.abs(x)))  # grad at 0 is inf; finite difference is not
    report = gradopt.check_grad(f, jnp.array([0.0, 1.0]), atol=1e-3)
    assert not report.ok and report.worst_location == "params[0]"


@pytest.mark.parametrize(
    "kwargs, exc, name",
    [
        (dict(mode="central"), ValueError, "mode"),
        (dict(eps=0.0), ValueError, "eps"),
        (dict(rtol=-1.0), ValueError, "rtol"),
        (dict(atol=float("nan")), ValueError, "atol"),
        (dict(mode="random", n_directions=0), ValueError, "n_directions"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(params=jnp.arange(3)), TypeError, "floating"),
        (dict(fun="f"), TypeError, "fun"),
    ],
)
def test_bad_arguments(kwargs, exc, name):
    args = dict(fun=lambda x: jnp.sum(x**2), params=jnp.ones(3))
    args.update(kwargs)
    with pytest.raises(exc, match=name):
        gradopt.check_grad(args.pop("fun"), args.pop("params"), **args)


# ------------------------------------------------- mixed precision, jit, inputs (issue 13)


def mixed_loss(p):
    # Each leaf enters in its own precision; the sum is float64 when a
    # float64 leaf is present (x64 is on in the suite), float32 otherwise.
    return jnp.sum(jnp.sin(p["a"]) * p["a"]) + jnp.sum(jnp.tanh(p["b"]) ** 2)


@pytest.mark.parametrize("other", [jnp.bfloat16, jnp.float16, jnp.float64])
@pytest.mark.parametrize("mode", ["full", "random"])
def test_mixed_precision_pytree_passes_with_each_leafs_tolerance(other, mode):
    # The old check raveled both leaves into one dtype and used its step and
    # tolerance for all: float64's 6e-6 step on a float32-computed term, or
    # float32's tolerance on a bfloat16 gradient, reported correct gradients
    # as wrong.
    p = {"a": jnp.asarray(RNG.randn(5), jnp.float32), "b": jnp.asarray(RNG.randn(4), other)}
    report = gradopt.check_grad(mixed_loss, p, mode=mode)
    assert report.ok, report


def test_mixed_precision_still_catches_small_errors_in_the_float64_leaf():
    # Per-leaf tolerances are not one loose tolerance: a 1e-3 relative error in
    # a float64 leaf (of a float64 loss) is far above float64's 1e-5 and fails,
    # while the float32 leaf next to it is judged with float32's 2e-2.
    @jax.custom_vjp
    def cube(x):
        return jnp.sum(x**3)

    cube.defvjp(lambda x: (cube(x), x), lambda x, g: (g * 3 * x**2 * (1 + 1e-3),))
    p = {"a": jnp.asarray(RNG.randn(3), jnp.float32), "b": jnp.asarray(RNG.randn(3) + 2.0, jnp.float64)}
    loss = lambda q: jnp.sum(jnp.sin(q["a"])) + cube(q["b"])
    report = gradopt.check_grad(loss, p)
    assert not report.ok and report.worst_location.startswith("params['b']"), report
    assert report.rtol == 1e-5
    ok = gradopt.check_grad(lambda q: jnp.sum(jnp.sin(q["a"])) + jnp.sum(q["b"] ** 3), p)
    assert ok.ok, ok


def test_float64_params_of_a_float32_loss_use_float32_settings():
    x = jnp.asarray(RNG.randn(6), jnp.float64)
    report = gradopt.check_grad(lambda v: jnp.sum(jnp.cos(v.astype(jnp.float32)) ** 2), x)
    assert report.ok, report
    assert report.rtol == 2e-2 and report.eps == pytest.approx(float(jnp.finfo(jnp.float32).eps) ** (1 / 3))


def test_check_grad_under_jit_says_why_not():
    with pytest.raises(TypeError, match="cannot run under jax.jit"):
        jax.jit(lambda p: gradopt.check_grad(lambda x: jnp.sum(x**2), p).ok)(jnp.ones(3))
    # The supported way: fun may itself be jitted.
    assert gradopt.check_grad(jax.jit(lambda x: jnp.sum(jnp.sin(x))), jnp.ones(3)).ok


@pytest.mark.parametrize(
    "params, args, match",
    [
        ({"w": jnp.ones(2), "n": jnp.arange(2)}, (), r"params.*\['n'\].*int"),
        (np.ma.array([1.0, 2.0], mask=[0, 1]), (), "masked array"),
        (jnp.ones(2), (np.ma.array([1.0, 2.0], mask=[0, 1]),), "masked array"),
    ],
)
def test_integer_leaves_and_masked_arrays_are_refused(params, args, match):
    fun = lambda p, *a: sum(jnp.sum(jnp.asarray(x, jnp.float64) ** 2) for x in jax.tree_util.tree_leaves((p, a)))
    with pytest.raises(TypeError, match=match):
        gradopt.check_grad(fun, params, *args)


def test_raise_on_error_must_be_a_bool_and_fun_a_scalar():
    with pytest.raises(TypeError, match="raise_on_error"):
        gradopt.check_grad(lambda x: jnp.sum(x**2), jnp.ones(3), raise_on_error="yes")
    with pytest.raises(TypeError, match="scalar"):
        gradopt.check_grad(lambda x: x**2, jnp.ones(3))
