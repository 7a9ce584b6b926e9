"""gradopt.momentum / nesterov against torch.optim.SGD's documented algorithm, optax.sgd and torch."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradopt

RNG = np.random.RandomState(1)
A = RNG.randn(7, 5)
B = RNG.randn(7)
X0 = RNG.randn(5)


def quad_grad(x):
    return A.T @ (A @ x - B)


def torch_sgd_reference(x0, steps, lr, momentum=0.0, dampening=0.0, nesterov=False,
                        weight_decay=0.0, grad=quad_grad):
    """torch.optim.SGD's algorithm as documented (pseudo-code of its docs page), in NumPy.

    ``lr`` may be a function of the step count k = 0, 1, ...
    """
    x, buf, traj = np.array(x0, dtype=np.float64), None, []
    for k in range(steps):
        d = grad(x)
        if weight_decay != 0:
            d = d + weight_decay * x
        if momentum != 0:
            if buf is None:
                buf = d.copy()  # first step: the buffer is the gradient, no dampening
            else:
                buf = momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        eta = lr(k) if callable(lr) else lr
        x = x - eta * d
        traj.append(x)
    return np.stack(traj)


def run(opt, x0, steps, grad=quad_grad):
    """Eager loop; the gradient is computed in NumPy so both sides see the same bits."""
    x = jnp.asarray(x0)
    state = opt.init(x)
    traj = []
    for _ in range(steps):
        u, state = opt.update(jnp.asarray(grad(np.asarray(x))), state, x)
        x = gradopt.apply_updates(x, u)
        traj.append(np.asarray(x))
    return np.stack(traj), state


CASES = [
    dict(momentum=0.9),
    dict(momentum=0.9, dampening=0.3),
    dict(momentum=0.8, dampening=1.0),
    dict(momentum=0.5, nesterov=True),
    dict(momentum=0.9, nesterov=True, weight_decay=0.01),
    dict(momentum=0.7, dampening=0.5, weight_decay=0.05),
    dict(momentum=0.0, weight_decay=0.1),
    dict(momentum=0.0, nesterov=True),
    dict(momentum=0.0, dampening=0.5),  # torch ignores dampening without momentum
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_trajectory_equals_torch_sgd_algorithm(case):
    lr = 0.03
    ours, state = run(gradopt.momentum(lr, **case), X0, 20)
    ref = torch_sgd_reference(X0, 20, lr, **case)
    np.testing.assert_array_equal(ours, ref)  # eager float64: bit for bit
    # the step count is kept exactly when the first-step test needs it
    needs_count = case.get("dampening", 0.0) != 0.0 and case["momentum"] != 0.0
    assert (state.count is not None) == needs_count
    if needs_count:
        assert int(state.count) == 20


def test_first_step_uses_gradient_without_dampening():
    g = jnp.array([1.0, -2.0, 4.0])
    opt = gradopt.momentum(0.5, 0.9, dampening=0.75)
    u, state = opt.update(g, opt.init(g), g)
    np.testing.assert_array_equal(state.trace, g)  # b_0 = g_0, not (1 - 0.75) g_0
    np.testing.assert_array_equal(u, -0.5 * g)
    u, state = opt.update(g, state, g)
    np.testing.assert_array_equal(state.trace, 0.9 * g + 0.25 * g)


@pytest.mark.parametrize("mu, nesterov", [(0.9, False), (0.9, True), (0.0, False), (0.5, True)])
def test_identical_to_optax_sgd_under_jit(mu, nesterov):
    x0 = jnp.asarray(X0)
    a, b = jnp.asarray(A), jnp.asarray(B)

    def trajectory(opt):
        def body(carry, _):
            x, s = carry
            u, s = opt.update(a.T @ (a @ x - b), s, x)
            x = optax.apply_updates(x, u)
            return (x, s), x

        return jax.jit(lambda x: jax.lax.scan(body, (x, opt.init(x)), None, length=40)[1])(x0)

    ours = trajectory(gradopt.momentum(0.02, mu, nesterov=nesterov))
    ref = trajectory(optax.sgd(0.02, momentum=mu, nesterov=nesterov))
    np.testing.assert_array_equal(ours, ref)


def test_nesterov_is_momentum_with_nesterov_true():
    a, _ = run(gradopt.nesterov(0.02, 0.8, weight_decay=0.1), X0, 15)
    b, _ = run(gradopt.momentum(0.02, 0.8, nesterov=True, weight_decay=0.1), X0, 15)
    np.testing.assert_array_equal(a, b)
    ref = torch_sgd_reference(X0, 15, 0.02, 0.8, nesterov=True, weight_decay=0.1)
    np.testing.assert_array_equal(a, ref)


def test_schedule_uses_step_count_from_zero():
    sched = optax.piecewise_constant_schedule(0.05, {3: 0.5, 7: 0.2})
    ours, state = run(gradopt.momentum(sched, 0.9, dampening=0.1), X0, 12)
    assert int(state.count) == 12
    rates = [float(sched(jnp.asarray(k, jnp.int32))) for k in range(12)]
    ref = torch_sgd_reference(X0, 12, lambda k: rates[k], 0.9, dampening=0.1)
    np.testing.assert_array_equal(ours, ref)
    assert rates[2] != rates[3] != rates[7]  # the schedule really changes inside the run
    # optax with the same schedule (dampening 0)
    ours, _ = run(gradopt.nesterov(sched, 0.9), X0, 12)
    theirs, _ = run(optax.sgd(sched, 0.9, nesterov=True), X0, 12)
    np.testing.assert_array_equal(ours, theirs)


# torch refuses nesterov=True with momentum 0 (gradopt accepts it: it is plain SGD)
TORCH_CASES = [c for c in CASES if not (c.get("nesterov") and c["momentum"] == 0)]


@pytest.mark.parametrize("case", TORCH_CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_against_real_torch_sgd(case):
    torch = pytest.importorskip("torch")
    w = torch.tensor(X0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.03, **case)
    traj = []
    for _ in range(20):
        w.grad = torch.tensor(quad_grad(w.detach().numpy()))
        opt.step()
        traj.append(w.detach().numpy().copy())
    ours, _ = run(gradopt.momentum(0.03, **case), X0, 20)
    # torch may fuse multiply-adds: agreement to a few ulps, not bit for bit
    np.testing.assert_allclose(ours, np.stack(traj), rtol=1e-12, atol=1e-13)


def test_vmap_over_traced_learning_rate_and_momentum_compiles_once():
    traces = []
    x0 = jnp.asarray(X0)
    a, b = jnp.asarray(A), jnp.asarray(B)

    @jax.jit
    @jax.vmap
    def sweep(lr, mu):
        traces.append(1)
        opt = gradopt.momentum(lr, mu, dampening=0.2)
        x, s = x0, opt.init(x0)
        for _ in range(6):
            u, s = opt.update(a.T @ (a @ x - b), s, x)
            x = gradopt.apply_updates(x, u)
        return x

    lrs = jnp.array([0.01, 0.02, 0.05])
    mus = jnp.array([0.0, 0.5, 0.9])
    out = sweep(lrs, mus)
    sweep(lrs / 2, mus / 2)
    assert len(traces) == 1
    for i in range(3):
        ref = torch_sgd_reference(X0, 6, float(lrs[i]), float(mus[i]), dampening=0.2)
        np.testing.assert_allclose(out[i], ref[-1], rtol=1e-12)


@pytest.mark.parametrize("nesterov", [False, True])
def test_meta_gradients_closed_form(nesterov):
    # Two steps with fixed gradients g0, g1 (a linear loss):
    #   heavy ball: x2 = x0 - lr ((1 + mu) g0 + g1)
    #   nesterov:   x2 = x0 - lr ((1 + mu + mu^2) g0 + (1 + mu) g1)
    x0, g0, g1 = (jnp.asarray(RNG.randn(4)) for _ in range(3))

    def outer(lr, mu):
        opt = gradopt.momentum(lr, mu, nesterov=nesterov)
        s = opt.init(x0)
        u, s = opt.update(g0, s, x0)
        x1 = gradopt.apply_updates(x0, u)
        u, s = opt.update(g1, s, x1)
        x2 = gradopt.apply_updates(x1, u)
        return 0.5 * jnp.sum(x2 ** 2)

    lr, mu = 0.3, 0.6
    g0n, g1n = np.asarray(g0), np.asarray(g1)
    if nesterov:
        d = (1 + mu + mu**2) * g0n + (1 + mu) * g1n
        dd_dmu = (1 + 2 * mu) * g0n + g1n
    else:
        d = (1 + mu) * g0n + g1n
        dd_dmu = g0n
    x2 = np.asarray(x0) - lr * d
    dlr, dmu = jax.grad(outer, argnums=(0, 1))(lr, mu)
    np.testing.assert_allclose(dlr, x2 @ -d, rtol=1e-12)
    np.testing.assert_allclose(dmu, x2 @ (-lr * dd_dmu), rtol=1e-12)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64, jnp.bfloat16])
def test_dtypes_preserved(dtype):
    p = {"w": jnp.asarray([1.0, -2.0, 0.5], dtype), "b": jnp.asarray(0.25, dtype)}

    @jax.jit
    def two_steps(lr, mu, wd):  # float64 traced hyperparameters
        opt = gradopt.momentum(lr, mu, weight_decay=wd, dampening=0.1)
        s = opt.init(p)
        q = p
        for _ in range(2):
            u, s = opt.update(jax.tree_util.tree_map(lambda x: 2 * x, q), s, q)
            q = gradopt.apply_updates(q, u)
        return u, s, q

    u, s, q = two_steps(jnp.float64(0.1), jnp.float64(0.9), jnp.float64(0.01))
    for tree in (u, s.trace, q):
        assert all(leaf.dtype == dtype for leaf in jax.tree_util.tree_leaves(tree))
    ref = torch_sgd_reference(
        np.array([1.0, -2.0, 0.5, 0.25]), 2, 0.1, 0.9, dampening=0.1, weight_decay=0.01,
        grad=lambda x: 2 * x,
    )[-1]
    got = np.concatenate([np.asarray(q["w"], np.float64), [float(q["b"])]])
    rtol = {jnp.float32: 1e-6, jnp.float64: 1e-15, jnp.bfloat16: 2e-2}[dtype]
    np.testing.assert_allclose(got, ref, rtol=rtol)


class Layer(NamedTuple):
    kernel: jax.Array
    bias: jax.Array


@pytest.mark.parametrize(
    "tree",
    [
        {"x": np.arange(3.0), "y": {"z": np.ones((2, 2))}},
        [np.arange(3.0), (np.ones(2), np.full((1, 2), 2.0))],
        Layer(np.arange(6.0).reshape(3, 2), np.ones((2,))),
        {"params": {"Dense_0": {"kernel": np.linspace(-1, 1, 6).reshape(3, 2), "bias": np.zeros(2)},
                    "Dense_1": {"kernel": np.ones((2, 1)), "bias": np.zeros(1)}}},
    ],
    ids=["dict", "list", "namedtuple", "flax"],
)
def test_nested_pytrees_match_leafwise_recurrence(tree):
    params = jax.tree_util.tree_map(jnp.asarray, tree)
    opt = gradopt.nesterov(0.1, 0.9, weight_decay=0.01)
    state = opt.init(params)
    grad = lambda t: jax.tree_util.tree_map(lambda x: jnp.cos(x) + x, t)
    for _ in range(4):
        u, state = opt.update(grad(params), state, params)
        params = gradopt.apply_updates(params, u)
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(
        jax.tree_util.tree_map(jnp.asarray, tree))
    for leaf0, leaf in zip(jax.tree_util.tree_leaves(tree), jax.tree_util.tree_leaves(params)):
        ref = torch_sgd_reference(np.ravel(leaf0), 4, 0.1, 0.9, nesterov=True, weight_decay=0.01,
                                  grad=lambda x: np.cos(x) + x)[-1]
        np.testing.assert_allclose(np.ravel(leaf), ref, rtol=1e-13, atol=1e-15)


def test_chains_with_optax():
    g = {"a": jnp.array([3.0, -4.0]), "b": jnp.array([12.0])}
    ours = gradopt.chain(optax.clip_by_global_norm(1.0), gradopt.nesterov(0.1, 0.9))
    ref = optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(0.1, 0.9, nesterov=True))
    so, sr = ours.init(g), ref.init(g)
    for _ in range(3):
        uo, so = ours.update(g, so, g)
        ur, sr = ref.update(g, sr, g)
        for x, y in zip(jax.tree_util.tree_leaves(uo), jax.tree_util.tree_leaves(ur)):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize(
    "kwargs, exc, name",
    [
        (dict(learning_rate=-1.0), ValueError, "learning_rate"),
        (dict(learning_rate=float("nan")), ValueError, "learning_rate"),
        (dict(learning_rate=float("inf")), ValueError, "learning_rate"),
        (dict(momentum=-0.1), ValueError, "momentum"),
        (dict(momentum=1.0), ValueError, "momentum"),
        (dict(momentum=float("nan")), ValueError, "momentum"),
        (dict(dampening=-0.1), ValueError, "dampening"),
        (dict(dampening=1.5), ValueError, "dampening"),
        (dict(nesterov=True, dampening=0.1), ValueError, "dampening"),
        (dict(weight_decay=-1e-3), ValueError, "weight_decay"),
        (dict(weight_decay="0.1"), TypeError, "weight_decay"),
        (dict(nesterov="yes"), TypeError, "nesterov"),
    ],
)
def test_bad_arguments(kwargs, exc, name):
    args = dict(learning_rate=0.1, momentum=0.9)
    args.update(kwargs)
    with pytest.raises(exc, match=name):
        gradopt.momentum(args.pop("learning_rate"), **args)


@pytest.mark.parametrize("kwargs, name", [(dict(momentum=1.2), "momentum"),
                                          (dict(weight_decay=-1.0), "weight_decay"),
                                          (dict(learning_rate=-0.5), "learning_rate")])
def test_nesterov_bad_arguments(kwargs, name):
    args = dict(learning_rate=0.1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        gradopt.nesterov(args.pop("learning_rate"), **args)


def test_structure_mismatch_and_missing_params():
    opt = gradopt.momentum(0.1, 0.9)
    params = {"a": jnp.ones(2), "b": jnp.ones(3)}
    with pytest.raises(ValueError, match="same pytree structure"):
        opt.update({"a": jnp.ones(2), "c": jnp.ones(3)}, opt.init(params), params)
    wd = gradopt.momentum(0.1, 0.9, weight_decay=0.1)
    with pytest.raises(ValueError, match="params"):
        wd.update(params, wd.init(params))
