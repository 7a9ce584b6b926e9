"""gradopt.minimize: closed-form solutions, stopping statuses, divergence, vmap, caching, bad input."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradopt
from gradopt import Status

RNG = np.random.RandomState(3)
M = RNG.randn(8, 5)
Q = M.T @ M + 0.5 * np.eye(5)  # strongly convex: mu = 0.5 + lambda_min(M^T M)
BVEC = RNG.randn(5)
X_STAR = np.linalg.solve(Q, BVEC)
L = np.linalg.eigvalsh(Q).max()


def quadratic(x, Q, b):
    return 0.5 * x @ Q @ x - b @ x


X0 = jnp.zeros(5)
ARGS = (jnp.asarray(Q), jnp.asarray(BVEC))


@pytest.mark.parametrize(
    "name, opt",
    [
        ("descent", gradopt.descent(1.0 / L)),
        ("momentum", gradopt.momentum(1.0 / L, 0.8)),
        ("nesterov", gradopt.nesterov(1.0 / L, 0.8)),
        ("clip+nesterov", gradopt.chain(gradopt.clip_by_global_norm(1.0), gradopt.nesterov(1.0 / L, 0.8))),
        ("adam", optax.adam(optax.exponential_decay(0.1, 200, 0.5))),
        ("lbfgs", optax.lbfgs()),
    ],
)
def test_quadratic_reaches_closed_form_solution(name, opt):
    res = gradopt.minimize(quadratic, X0, opt, *ARGS, max_steps=5000, tol=1e-9)
    assert res.status_name == "CONVERGED", (name, res)
    assert bool(res.converged) and not bool(res.diverged)
    np.testing.assert_allclose(res.params, X_STAR, rtol=1e-7, atol=1e-8)
    # the reported value and gradient norm are those of the returned point
    np.testing.assert_allclose(res.value, quadratic(X_STAR, Q, BVEC), rtol=1e-12)
    assert float(res.grad_norm) <= 1e-9
    np.testing.assert_allclose(res.grad_norm, np.linalg.norm(Q @ np.asarray(res.params) - BVEC), rtol=1e-5)
    assert 0 < int(res.steps) < 5000
    assert float(res.best_value) <= float(res.value) + 1e-15


def test_keyword_data_and_descent_step_count_matches_theory():
    # descent with step 1/L on a quadratic: the error contracts by at most (1 - mu/L) per step
    res = gradopt.minimize(lambda x, Q, b: quadratic(x, Q, b), X0, gradopt.descent(1.0 / L),
                           Q=ARGS[0], b=ARGS[1], max_steps=20000, tol=1e-8)
    mu = np.linalg.eigvalsh(Q).min()
    g0 = np.linalg.norm(BVEC)
    bound = np.ceil(np.log(1e-8 / g0) / np.log(1 - mu / L)) + 1
    assert res.status_name == "CONVERGED"
    assert int(res.steps) <= bound


def test_max_steps_status_and_params_equal_recurrence():
    lr = 0.5 / L
    res = gradopt.minimize(quadratic, X0, gradopt.descent(lr), *ARGS, max_steps=7, tol=1e-12)
    assert res.status_name == "MAX_STEPS" and int(res.status) == Status.MAX_STEPS
    assert int(res.steps) == 7
    x = np.zeros(5)
    for _ in range(7):
        x = x - lr * (Q @ x - BVEC)
    np.testing.assert_allclose(res.params, x, rtol=1e-12)
    np.testing.assert_allclose(res.value, quadratic(x, Q, BVEC), rtol=1e-12)
    np.testing.assert_allclose(res.grad_norm, np.linalg.norm(Q @ x - BVEC), rtol=1e-10)


def test_max_steps_zero_takes_no_step():
    res = gradopt.minimize(quadratic, X0, gradopt.descent(0.1), *ARGS, max_steps=0)
    assert res.status_name == "MAX_STEPS" and int(res.steps) == 0
    np.testing.assert_array_equal(res.params, X0)


def test_diverged_returns_last_finite_iterate():
    a = np.array([1.0, 2.0, 3.0])
    f = lambda x: 0.5 * jnp.sum(jnp.asarray(a) * x**2)
    lr = 4.0  # |1 - lr a_i| = 3, 7, 11 > 1: the iterates blow up geometrically
    x0 = np.array([1.0, -1.0, 0.5])
    res = gradopt.minimize(f, jnp.asarray(x0), gradopt.descent(lr), max_steps=10_000)
    # NumPy: iterate until the loss, gradient or parameters stop being finite
    x, k = x0, 0
    with np.errstate(over="ignore", invalid="ignore"):
        while True:
            nxt = x - lr * a * x
            k += 1
            if not (np.all(np.isfinite(nxt)) and np.isfinite(0.5 * np.sum(a * nxt**2))
                    and np.all(np.isfinite(a * nxt))):
                break
            x = nxt
    assert res.status_name == "DIVERGED" and bool(res.diverged)
    assert int(res.steps) == k
    assert np.all(np.isfinite(res.params)) and np.isfinite(float(res.value))
    np.testing.assert_allclose(res.params, x, rtol=1e-10)
    np.testing.assert_allclose(res.value, 0.5 * np.sum(a * x**2), rtol=1e-10)
    # the best point seen is the start (every step increased the loss)
    np.testing.assert_array_equal(res.best_params, x0)


def test_non_finite_start_is_diverged_at_step_zero():
    res = gradopt.minimize(lambda x: jnp.sum(jnp.log(x)), jnp.array([-1.0, 1.0]), gradopt.descent(0.1))
    assert res.status_name == "DIVERGED" and int(res.steps) == 0


def test_converged_at_step_zero_at_the_optimum():
    f = lambda x, t: jnp.sum((x - t) ** 2)
    t = jnp.array([3.0, -1.0])
    res = gradopt.minimize(f, t, gradopt.momentum(0.1, 0.9), t)
    assert res.status_name == "CONVERGED" and int(res.steps) == 0
    np.testing.assert_array_equal(res.params, t)
    assert float(res.grad_norm) == 0.0


def test_vmap_over_targets_and_learning_rates():
    f = lambda x, t: 0.5 * jnp.sum((x - t) ** 2)
    targets = jnp.asarray(RNG.randn(4, 3))
    lrs = jnp.array([0.1, 0.3, 0.5, 0.9])

    def solve(t, lr):
        return gradopt.minimize(f, jnp.zeros(3), gradopt.descent(lr), t, tol=1e-10, max_steps=500)

    res = jax.vmap(solve)(targets, lrs)
    np.testing.assert_allclose(res.params, targets, atol=1e-10)
    assert res.status_name == ",".join(["CONVERGED"] * 4)
    # each element stops at its own step: ||x_k - t|| = (1 - lr)^k ||t||
    for i in range(4):
        lr, nt = float(lrs[i]), float(np.linalg.norm(targets[i]))
        k = int(np.ceil(np.log(1e-10 / nt) / np.log(1 - lr)))
        assert abs(int(res.steps[i]) - k) <= 1
        single = solve(targets[i], lrs[i])
        assert int(single.steps) == int(res.steps[i])
        np.testing.assert_allclose(single.params, res.params[i], rtol=1e-12)


def test_jit_of_minimize_and_traced_tol_and_max_steps():
    f = lambda x: jnp.sum((x - 2.0) ** 2)
    opt = gradopt.descent(0.25)
    run = jax.jit(lambda tol, n: gradopt.minimize(f, jnp.zeros(2), opt, tol=tol, max_steps=n))
    loose, capped = run(1e-2, 100), run(1e-12, 3)
    assert loose.status_name == "CONVERGED" and capped.status_name == "MAX_STEPS"
    assert int(capped.steps) == 3 and int(loose.steps) < int(run(1e-8, 100).steps)


def test_no_recompilation_for_same_fun_and_optimizer():
    traces = []

    def fun(x, t):
        traces.append(1)
        return jnp.sum((x - t) ** 2)

    opt = gradopt.nesterov(0.1, 0.5)
    gradopt.minimize(fun, jnp.zeros(3), opt, jnp.ones(3))
    first = len(traces)
    assert first > 0
    r = gradopt.minimize(fun, jnp.ones(3), opt, jnp.asarray(np.full(3, 5.0)), tol=1e-9, max_steps=300)
    assert len(traces) == first  # new data, tol and max_steps: same compiled loop
    np.testing.assert_allclose(r.params, 5.0, rtol=1e-9)


class AverageState(NamedTuple):
    count: jax.Array
    iterate: jax.Array  # a field named ``iterate``: minimize reports it


def iterate_averaging() -> optax.GradientTransformation:
    """Polyak-Ruppert averaging of the points the loop visits (for the test)."""

    def init(params):
        return AverageState(jnp.zeros([], jnp.int32), params)

    def update(updates, state, params):
        new = params + updates
        k = state.count + 1
        return updates, AverageState(k, state.iterate + (new - state.iterate) / (k + 1))

    return optax.GradientTransformation(init, update)


def test_result_params_is_the_state_iterate_when_present():
    f = lambda x: 0.5 * jnp.sum(x**2)
    opt = gradopt.chain(gradopt.descent(0.5), iterate_averaging())
    res = gradopt.minimize(f, jnp.array([8.0]), opt, max_steps=3, tol=0.0)
    # visited points 8, 4, 2, 1; their average is 15/4
    np.testing.assert_allclose(res.params, [15 / 4])
    np.testing.assert_allclose(res.value, 0.5 * (15 / 4) ** 2)


def test_float32_params_stay_float32():
    res = gradopt.minimize(quadratic, jnp.zeros(5, jnp.float32), gradopt.nesterov(1.0 / L, 0.5),
                           jnp.asarray(Q, jnp.float32), jnp.asarray(BVEC, jnp.float32),
                           tol=1e-4, max_steps=3000)
    assert res.params.dtype == jnp.float32
    assert res.status_name == "CONVERGED"
    np.testing.assert_allclose(res.params, X_STAR, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs, exc, name",
    [
        (dict(max_steps=-1), ValueError, "max_steps"),
        (dict(max_steps=2.5), ValueError, "max_steps"),
        (dict(max_steps="10"), TypeError, "max_steps"),  # a string, even of digits
        (dict(max_steps="yes"), TypeError, "max_steps"),
        (dict(max_steps=True), TypeError, "max_steps"),
        (dict(max_steps=float("inf")), ValueError, "max_steps"),  # was OverflowError
        (dict(max_steps=2**31), ValueError, "max_steps"),  # int32 loop counter
        (dict(max_steps=np.float64("nan")), ValueError, "max_steps"),
        (dict(max_steps=None), TypeError, "max_steps"),
        (dict(tol=-1e-3), ValueError, "tol"),
        (dict(tol=float("nan")), ValueError, "tol"),
        (dict(fun=3.0), TypeError, "fun"),
        (dict(optimizer=optax.adam), TypeError, "optimizer"),
        (dict(optimizer="sgd"), TypeError, "optimizer"),
        (dict(params=jnp.arange(3)), TypeError, "params"),
        (dict(params={}), ValueError, "params"),
        (dict(penalty=0.1), TypeError, "penalty"),
        (dict(scale="abc"), TypeError, "keyword argument 'scale'"),
        (dict(progress="yes"), TypeError, "progress"),
        (dict(has_aux="yes"), TypeError, "has_aux"),
        (dict(scale=object()), TypeError, "keyword argument 'scale'"),
    ],
)
def test_bad_input(kwargs, exc, name):
    args = dict(fun=lambda x, scale=1.0: jnp.sum(x**2), params=jnp.ones(3),
                optimizer=gradopt.descent(0.1))
    args.update(kwargs)
    with pytest.raises(exc, match=name):
        gradopt.minimize(args.pop("fun"), args.pop("params"), args.pop("optimizer"), **args)


def test_string_positional_data_is_a_type_error_naming_args():
    with pytest.raises(TypeError, match=r"args\[1\]"):
        gradopt.minimize(lambda x, a, b: jnp.sum(x**2), jnp.ones(3), gradopt.descent(0.1),
                         jnp.ones(3), "abc")


def test_largest_int32_max_steps_is_accepted():
    res = gradopt.minimize(lambda x: jnp.sum(x**2), jnp.ones(3), gradopt.descent(0.25),
                           max_steps=2**31 - 1, tol=1e-3)
    assert res.status_name == "CONVERGED"


def quadratic_with_aux(x, Q, b):
    return quadratic(x, Q, b), {"residual": Q @ x - b, "sq_norm": x @ x}


def test_has_aux_returns_aux_of_the_returned_params():
    opt = gradopt.nesterov(0.5 / L, 0.5)
    res = gradopt.minimize(quadratic_with_aux, X0, opt, *ARGS, has_aux=True, max_steps=9, tol=0.0)
    plain = gradopt.minimize(quadratic, X0, opt, *ARGS, max_steps=9, tol=0.0)
    np.testing.assert_array_equal(res.params, plain.params)  # aux changes nothing else
    x = np.asarray(res.params)
    np.testing.assert_allclose(res.aux["residual"], Q @ x - BVEC, rtol=1e-12)
    np.testing.assert_allclose(res.aux["sq_norm"], x @ x, rtol=1e-12)
    np.testing.assert_allclose(res.value, quadratic(x, Q, BVEC), rtol=1e-12)
    assert plain.aux is None


def test_has_aux_with_fista_is_taken_at_the_iterate_not_the_extrapolated_point():
    g = gradopt.prox.l1(0.1)
    opt = gradopt.proximal_gradient(1.0 / L, g, accelerate=True)
    res = gradopt.minimize(quadratic_with_aux, X0, opt, *ARGS, penalty=g, has_aux=True,
                           max_steps=4, tol=0.0)
    x = np.asarray(res.params)
    np.testing.assert_array_equal(x, res.opt_state.iterate)
    np.testing.assert_allclose(res.aux["residual"], Q @ x - BVEC, rtol=1e-12)
    np.testing.assert_allclose(res.value, quadratic(x, Q, BVEC) + 0.1 * np.abs(x).sum(), rtol=1e-12)


def test_has_aux_diverged_keeps_aux_of_last_finite_iterate_and_vmaps():
    a = jnp.array([1.0, 2.0, 3.0])
    f = lambda x, s: (0.5 * jnp.sum(a * x**2), {"x2": x * 2.0, "s": s})
    res = gradopt.minimize(f, jnp.array([1.0, -1.0, 0.5]), gradopt.descent(4.0), jnp.array(7.0),
                           has_aux=True, max_steps=10_000)
    assert res.status_name == "DIVERGED"
    np.testing.assert_array_equal(res.aux["x2"], 2.0 * res.params)
    assert float(res.aux["s"]) == 7.0
    batched = jax.vmap(lambda s: gradopt.minimize(f, jnp.ones(3), gradopt.descent(0.5), s,
                                                  has_aux=True, max_steps=3, tol=0.0))(
        jnp.array([1.0, 2.0]))
    np.testing.assert_array_equal(batched.aux["s"], [1.0, 2.0])
    np.testing.assert_allclose(batched.aux["x2"], 2.0 * batched.params)


def test_result_positional_construction_still_works():
    r = gradopt.Result(*range(8))
    assert r.opt_state == 7 and r.aux is None


def test_has_aux_must_be_a_bool():
    with pytest.raises(TypeError, match="has_aux"):
        gradopt.minimize(quadratic_with_aux, X0, gradopt.descent(0.1), *ARGS, has_aux="yes")


def counted_quadratic(counter):
    def f(x, Q, b):
        jax.debug.callback(lambda: counter.append(1))
        return quadratic(x, Q, b)

    return f


@pytest.mark.parametrize(
    "make",
    [optax.lbfgs, lambda: optax.chain(optax.sgd(1.0 / L), optax.scale_by_backtracking_linesearch(
        max_backtracking_steps=15, store_grad=True))],
    ids=["lbfgs", "sgd+backtracking(store_grad)"],
)
def test_value_and_grad_from_the_line_search_state_are_reused(make):
    # issue 14: minimize re-evaluated f and grad f after optax's line search had
    # already computed them; a hand-written loop with optax.value_and_grad_from_state does not
    steps = 6
    hand_calls, ours_calls = [], []
    f = counted_quadratic(hand_calls)
    fn = lambda x: f(x, *ARGS)
    opt = make()
    value_and_grad = optax.value_and_grad_from_state(fn)

    def body(_, c):
        p, s = c
        v, g = value_and_grad(p, state=s)
        u, s = opt.update(g, s, p, value=v, grad=g, value_fn=fn)
        return optax.apply_updates(p, u), s

    hand, _ = jax.jit(lambda x0: jax.lax.fori_loop(0, steps, body, (x0, opt.init(x0))))(X0)
    jax.effects_barrier()
    res = gradopt.minimize(counted_quadratic(ours_calls), X0, opt, *ARGS, max_steps=steps, tol=0.0)
    jax.effects_barrier()
    assert int(res.steps) == steps
    np.testing.assert_allclose(res.params, hand, rtol=1e-12, atol=1e-15)
    # the same evaluations: the hand loop evaluates at x0 in its first step, minimize before it
    assert len(ours_calls) == len(hand_calls), (len(ours_calls), len(hand_calls))
    # and the reported value and gradient norm are those of the returned point
    x = np.asarray(res.params)
    np.testing.assert_allclose(res.value, quadratic(x, Q, BVEC), rtol=1e-12)
    np.testing.assert_allclose(res.grad_norm, np.linalg.norm(Q @ x - BVEC), rtol=1e-8)


def test_state_value_is_not_reused_when_a_later_transformation_changes_the_update():
    calls = []
    opt = optax.chain(optax.lbfgs(), optax.scale(0.5))  # the line search is not last
    res = gradopt.minimize(counted_quadratic(calls), X0, opt, *ARGS, max_steps=5, tol=0.0)
    x = np.asarray(res.params)
    np.testing.assert_allclose(res.value, quadratic(x, Q, BVEC), rtol=1e-12)
    np.testing.assert_allclose(res.grad_norm, np.linalg.norm(Q @ x - BVEC), rtol=1e-10)


def test_box_constrained_least_squares_float32_converges_relative_to_gradient_scale():
    # issue 14: accelerated proximal gradient with backtracking and a box penalty never
    # stopped: the unit-step gradient mapping stalls at ~eps * ||grad f|| (1e-5 .. 1e-3
    # here), far above tol, while f is already optimal to float32 precision
    from scipy.optimize import lsq_linear

    rng = np.random.RandomState(0)
    n, p = 100, 60
    Xb = rng.randn(n, p)
    yb = Xb @ rng.randn(p) + rng.randn(n)
    f = lambda w, X, y: 0.5 * jnp.sum((X @ w - y) ** 2)
    g = gradopt.prox.box(0.0, jnp.inf)
    opt = gradopt.proximal_gradient(None, g, accelerate=True)
    res = gradopt.minimize(f, jnp.zeros(p, jnp.float32), opt, jnp.asarray(Xb, jnp.float32),
                           jnp.asarray(yb, jnp.float32), penalty=g, max_steps=2000, tol=1e-6)
    ref = lsq_linear(Xb, yb, bounds=(0.0, np.inf), method="bvls", tol=1e-15)
    f_star = 0.5 * np.sum((Xb @ ref.x - yb) ** 2)
    assert res.status_name == "CONVERGED", res
    assert int(res.steps) < 1000
    w = np.asarray(res.params, np.float64)
    grad = Xb.T @ (Xb @ w - yb)
    assert float(res.grad_norm) <= 1e-6 * np.linalg.norm(grad) * 1.01  # the documented test
    assert float(res.grad_norm) > 1e-6  # the absolute test would not have stopped here
    assert abs(0.5 * np.sum((Xb @ w - yb) ** 2) - f_star) <= 1e-5 * f_star
    np.testing.assert_allclose(w, ref.x, atol=2e-4)


def test_array_like_data_of_every_kind_is_accepted():
    # keys, bfloat16 and NumPy scalars are data; only non-arrays (strings, objects) are refused
    def f(w, k, s=None, b=None):
        return jnp.sum((w - jax.random.normal(k, (3,))) ** 2) + 0.0 * s + 0.0 * jnp.sum(b)

    for key in (jax.random.key(0), jax.random.PRNGKey(0)):
        res = gradopt.minimize(f, jnp.zeros(3), gradopt.descent(0.25), key, s=np.float32(2.0),
                               b=jnp.ones(2, jnp.bfloat16), tol=1e-8)
        np.testing.assert_allclose(res.params, jax.random.normal(key, (3,)), atol=1e-8)


def test_diverged_accelerated_method_reports_its_last_finite_iterate():
    # FISTA keeps its iterate in the state (the loop evaluates f at the
    # extrapolated point): on divergence the reported point is the last finite
    # iterate, and the value is F there, not at the extrapolated point.
    a = jnp.array([1.0, 2.0, 3.0])
    f = lambda x: 0.5 * jnp.sum(a * x**2)
    pen = gradopt.prox.l1(0.01)
    opt = gradopt.proximal_gradient(4.0, pen, accelerate=True)  # step 4 > 2 / L: diverges
    res = gradopt.minimize(f, jnp.array([1.0, -1.0, 0.5]), opt, penalty=pen, max_steps=10_000)
    assert res.status_name == "DIVERGED"
    x = np.asarray(res.params)
    assert np.all(np.isfinite(x)) and np.abs(x).max() > 1e10  # it did run away
    np.testing.assert_allclose(res.value, 0.5 * np.sum(np.asarray(a) * x**2) + 0.01 * np.abs(x).sum(),
                               rtol=1e-12)
    # one more step from there is no longer finite (the state is that of the failed step)
    it = np.asarray(res.opt_state.iterate)
    with np.errstate(over="ignore", invalid="ignore"):
        assert not np.all(np.isfinite(it)) or not np.isfinite(0.5 * np.sum(np.asarray(a) * it**2))


@pytest.mark.parametrize("penalty", [None, gradopt.prox.l1(1.0)])
def test_huge_finite_gradient_is_neither_divergence_nor_convergence(penalty):
    """``||grad||²`` overflows float32 at ``||grad|| > 1.8e19``: an ``inf`` sum is not divergence,
    an infinite entry (``inf * 0`` is NaN in the sum) is."""
    f = lambda x: jnp.sum(1e25 * x + 0.5 * x * x)  # gradient 1e25 + x, finite
    res = gradopt.minimize(f, jnp.zeros(3, jnp.float32), gradopt.descent(1e-30), max_steps=2,
                           penalty=penalty)
    assert res.status_name == "MAX_STEPS"
    if penalty is None:
        np.testing.assert_allclose(res.grad_norm, 1e25 * np.sqrt(3), rtol=1e-6)
    bad = lambda x: jnp.sum(jnp.where(x > 0, jnp.inf, 1.0) * x)  # an infinite gradient entry
    res = gradopt.minimize(bad, jnp.array([0.0, 1.0]), gradopt.descent(0.1), max_steps=5,
                           penalty=penalty)
    assert res.status_name == "DIVERGED"


def test_max_steps_first_seen_under_jit_is_not_cached_as_a_tracer():
    """``max_steps``/``tol`` become device scalars made once per value; one made while a
    jit traces is that trace's tracer and must not be kept (a later call failed with
    "Execution supplied 1 arguments but compiled program expected 3")."""
    f = lambda w, lam: jnp.sum((w - 1.0) ** 2) + lam * w @ w
    outer = lambda lam: jnp.sum(gradopt.minimize(f, jnp.zeros(3), gradopt.descent(0.1), lam,
                                                 max_steps=77, tol=3.25e-7).params)
    # w* = 1 / (1 + lam) in each of 3 coordinates: sum 3 / (1 + lam), derivative -3 / (1 + lam)^2
    np.testing.assert_allclose(jax.jit(outer)(0.5), 2.0, rtol=1e-5)
    g = jax.jit(jax.grad(outer))
    np.testing.assert_allclose([g(0.5), g(0.5)], [-3 / 1.5 ** 2] * 2, rtol=1e-5)


@pytest.mark.parametrize("name", ["linf", "l1_ball", "simplex"])
def test_float32_params_with_sort_based_prox_under_x64(name):
    # optax's sort-based projections promote float32 to float64 inside under x64, and their
    # JVP rules then returned float32 tangents for float64 primals: the loop's implicit
    # derivative setup raised TypeError (gradopt.prox.sets._widened)
    from gradopt import prox
    X = jax.random.normal(jax.random.key(0), (20, 5), jnp.float32)
    y = X @ jnp.arange(5.0, dtype=jnp.float32)
    f = lambda w: 0.5 * jnp.mean((X @ w - y) ** 2)
    g = {"linf": prox.linf(0.2), "l1_ball": prox.l1_ball(1.0), "simplex": prox.simplex()}[name]
    res = gradopt.minimize(f, jnp.zeros(5, jnp.float32), gradopt.proximal_gradient(0.05, g),
                           penalty=g, max_steps=3000, tol=1e-5)
    assert res.params.dtype == jnp.float32 and int(res.status) == int(gradopt.Status.CONVERGED)
    ref = gradopt.minimize(f, jnp.zeros(5), gradopt.proximal_gradient(0.05, g), penalty=g,
                           max_steps=20000, tol=1e-12)
    np.testing.assert_allclose(res.params, ref.params, atol=1e-3)
