"""Derivatives of minimize's solution by implicit differentiation, against closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gradopt
from gradopt import prox

from _fd import central_difference

RNG = np.random.RandomState(0)
N, P = 30, 5
A = jnp.asarray(RNG.randn(N, P))
B = jnp.asarray(RNG.randn(N))
# One optimizer object each for the whole file: minimize compiles its loop once per
# (loss, optimizer) pair, so a new optimizer per call would compile every call.
LBFGS = optax.lbfgs()
# The ridge tests solve by gradient descent with step 1/L (L bounds the curvature for
# every lam used here): the derivative does not depend on the optimizer, and this loop
# compiles in a fraction of L-BFGS's time (the suite compiles it for each transform).
DESCENT = gradopt.descent(1.0 / (float(jnp.linalg.eigvalsh(A.T @ A).max()) + 3.0))


def ridge(w, A, b, lam):
    return 0.5 * jnp.sum((A @ w - b) ** 2) + 0.5 * lam * w @ w


def ridge_solution(lam, b=B, adjoint="auto", w0=None):
    w0 = jnp.zeros(P, jnp.result_type(b)) if w0 is None else w0
    return gradopt.minimize(ridge, w0, DESCENT, A.astype(w0.dtype), b, lam,
                            tol=1e-12, max_steps=2000, adjoint=adjoint).params


@pytest.mark.parametrize("adjoint", ["direct", "cg"])  # "auto" is "direct" here; GMRES: the lasso test
def test_ridge_closed_form_in_both_modes(adjoint):
    lam = 0.7
    H = A.T @ A + lam * jnp.eye(P)
    w = ridge_solution(lam, adjoint=adjoint)
    np.testing.assert_allclose(w, jnp.linalg.solve(H, A.T @ B), rtol=1e-10)
    dw_dlam = -jnp.linalg.solve(H, w)  # d/dlam of (A'A + lam I)^-1 A'b
    sol = lambda l: ridge_solution(l, adjoint=adjoint)
    np.testing.assert_allclose(jax.jacrev(sol)(lam), dw_dlam, rtol=1e-7, atol=1e-12)
    if adjoint in ("auto", "direct"):
        np.testing.assert_allclose(jax.jacfwd(sol)(lam), dw_dlam, rtol=1e-7, atol=1e-12)
    else:  # the iterative solvers are reverse mode only (documented)
        with pytest.raises(TypeError, match="forward-mode"):
            jax.jacfwd(sol)(lam)
    dw_db = jax.jacrev(lambda b: ridge_solution(lam, b, adjoint=adjoint))(B)
    np.testing.assert_allclose(dw_db, jnp.linalg.solve(H, A.T), rtol=1e-7, atol=1e-12)


def test_vjp_jvp_agree_and_vmap_of_grad_equals_a_loop():
    lam, u = 0.3, jnp.asarray(RNG.randn(P))
    sol_b = lambda b: ridge_solution(lam, b)
    _, vjp = jax.vjp(sol_b, B)
    db = jnp.asarray(RNG.randn(N))
    _, jvp = jax.jvp(sol_b, (B,), (db,))
    assert abs(float(vjp(u)[0] @ db) - float(u @ jvp)) <= 1e-10 * max(1.0, abs(float(u @ jvp)))
    lams = jnp.array([0.1, 3.0])
    g = lambda l: jnp.sum(ridge_solution(l) ** 2)
    np.testing.assert_allclose(jax.vmap(jax.grad(g))(lams), [jax.grad(g)(l) for l in lams], rtol=1e-9)
    np.testing.assert_allclose(jax.jit(jax.grad(g))(lams[1]), jax.grad(g)(lams[1]), rtol=1e-12)


def test_initial_point_has_zero_derivative_and_value_follows_the_envelope_theorem():
    w0 = jnp.asarray(RNG.randn(P))
    J = jax.jacrev(lambda w0: ridge_solution(0.5, w0=w0))(w0)
    np.testing.assert_array_equal(J, np.zeros((P, P)))
    # d/db min_w f(w, b) = df/db at the solution = -(A w - b)
    val = lambda b: gradopt.minimize(ridge, jnp.zeros(P), LBFGS, A, b, 0.5, tol=1e-12,
                                     max_steps=500).value
    w = ridge_solution(0.5)
    np.testing.assert_allclose(jax.grad(val)(B), -(A @ w - B), rtol=1e-9, atol=1e-12)


def test_aux_is_differentiable():
    f = lambda w, b: (ridge(w, A, b, 0.5), {"fit": A @ w, "steps_seen": jnp.int32(1)})
    H = A.T @ A + 0.5 * jnp.eye(P)
    J = jax.jacrev(lambda b: gradopt.minimize(f, jnp.zeros(P), LBFGS, b, has_aux=True,
                                              tol=1e-12, max_steps=500).aux["fit"])(B)
    np.testing.assert_allclose(J, A @ jnp.linalg.solve(H, A.T), rtol=1e-7, atol=1e-11)


def lasso_mse(w, X, y):
    return 0.5 / X.shape[0] * jnp.sum((y - X @ w) ** 2)


def lasso_solution(X, y, alpha, opt, adjoint="auto"):
    """(1/(2n))||y - Xw||^2 + alpha ||w||_1 by FISTA (``opt`` holds the same alpha, as a float)."""
    return gradopt.minimize(lasso_mse, jnp.zeros(X.shape[1], X.dtype), opt, X, y,
                            penalty=prox.l1(alpha), tol=1e-13, max_steps=20000, adjoint=adjoint).params


def test_lasso_on_its_support_closed_forms():
    X, y = A, B
    alpha = 0.3 * float(jnp.abs(X.T @ y).max()) / N  # 0.3 alpha_max
    L = float(jnp.linalg.eigvalsh(X.T @ X).max()) / N
    opt = gradopt.proximal_gradient(1.0 / L, prox.l1(alpha), accelerate=True)
    w = np.asarray(lasso_solution(X, y, alpha, opt))
    S = np.flatnonzero(np.abs(w) > 1e-9)
    assert 0 < S.size < P
    XS = np.asarray(X)[:, S]
    G = XS.T @ XS
    ref_y = np.zeros((P, N))
    ref_y[S] = np.linalg.solve(G, XS.T)  # dw_S/dy = (X_S'X_S)^-1 X_S', 0 off the support
    np.testing.assert_allclose(jax.jacrev(lambda y: lasso_solution(X, y, alpha, opt))(y), ref_y,
                               atol=1e-9)
    ref_a = np.zeros(P)
    ref_a[S] = -N * np.linalg.solve(G, np.sign(w[S]))  # dw_S/dalpha = -n (X_S'X_S)^-1 sign(w_S)
    np.testing.assert_allclose(jax.grad(lambda a: lasso_solution(X, y, a, opt).sum())(alpha),
                               ref_a.sum(), rtol=1e-8)
    np.testing.assert_allclose(jax.jacfwd(lambda a: lasso_solution(X, y, a, opt))(alpha), ref_a,
                               atol=1e-8)
    # the non-symmetric fixed-point system by GMRES (reverse mode)
    np.testing.assert_allclose(
        jax.jacrev(lambda y: lasso_solution(X, y, alpha, opt, adjoint="gmres"))(y), ref_y, atol=1e-7)


def test_matches_finite_differences_logistic_l2_in_float64():
    labels = jnp.asarray((RNG.rand(N) < 0.5).astype(float))

    def loss(w, X, t, lam):
        z = X @ w
        return jnp.mean(jnp.logaddexp(0.0, z) - t * z) + 0.5 * lam * w @ w

    def sol(lam, X):
        return gradopt.minimize(loss, jnp.zeros(P), LBFGS, X, labels, lam, tol=1e-13,
                                max_steps=1000).params

    lam = 0.05
    fd = central_difference(lambda l: sol(l, A), lam, 1.0)
    np.testing.assert_allclose(jax.jacfwd(sol)(lam, A), fd, rtol=1e-5, atol=1e-8)
    dX = jnp.asarray(RNG.randn(N, P))
    fd_X = central_difference(lambda X: sol(lam, X), A, dX)
    _, jvp = jax.jvp(lambda X: sol(lam, X), (A,), (dX,))
    np.testing.assert_allclose(jvp, fd_X, rtol=1e-5, atol=1e-8)


def test_float32():
    lam = jnp.float32(0.7)
    b32 = B.astype(jnp.float32)
    w = ridge_solution(lam, b32, w0=jnp.zeros(P, jnp.float32))
    assert w.dtype == jnp.float32
    H = np.asarray(A.T @ A) + 0.7 * np.eye(P)
    J = jax.jacrev(lambda l: ridge_solution(l, b32, w0=jnp.zeros(P, jnp.float32)))(lam)
    assert J.dtype == jnp.float32
    np.testing.assert_allclose(J, -np.linalg.solve(H, np.asarray(w, np.float64)), rtol=1e-3, atol=1e-5)


def test_adjoint_is_checked():
    with pytest.raises(ValueError, match="adjoint"):
        gradopt.minimize(ridge, jnp.zeros(P), LBFGS, A, B, 0.1, adjoint="backprop")
    with pytest.raises(ValueError, match="concrete max_steps"):
        jax.jit(lambda m: gradopt.minimize(ridge, jnp.zeros(P), DESCENT, A, B, 0.1, max_steps=m,
                                           adjoint="unrolled").params)(10)


def test_penalty_held_by_the_optimizer_may_be_traced():
    """The issue's natural code: the strength is differentiated in the optimizer and in penalty=."""
    X, y = A, B
    amax = float(jnp.abs(X.T @ y).max()) / N
    L = float(jnp.linalg.eigvalsh(X.T @ X).max()) / N

    def val(a):
        opt = gradopt.proximal_gradient(1.0 / L, prox.l1(a), accelerate=True)
        w = gradopt.minimize(lasso_mse, jnp.zeros(P), opt, X, y, penalty=prox.l1(a), tol=1e-13,
                             max_steps=20000).params
        return jnp.sum(w ** 2)

    a = 0.3 * amax
    fd = central_difference(val, a, 1.0)
    np.testing.assert_allclose(jax.grad(val)(a), fd, rtol=1e-6)
    np.testing.assert_allclose(jax.jit(jax.grad(val))(a), fd, rtol=1e-6)
    np.testing.assert_allclose(jax.jacfwd(val)(a), fd, rtol=1e-6)


# ----------------------------------------------------------------------------- unrolled

H_Q = jnp.array([[3.0, 1.0], [1.0, 2.0]])
B_Q = jnp.array([1.0, -1.0])


def quadratic(x, b):
    return 0.5 * x @ H_Q @ x - b @ x


def gd_closed_form(lr, x0, b, k):
    """``x_k = x* + (I - lr H)^k (x0 - x*)``: ``k`` gradient steps on the quadratic."""
    xs = jnp.linalg.solve(H_Q, b)
    return xs + jnp.linalg.matrix_power(jnp.eye(2) - lr * H_Q, k) @ (x0 - xs)


def test_unrolled_differentiates_the_iterations():
    k, x0 = 20, jnp.array([1.0, 1.0])
    learned = optax.inject_hyperparams(optax.sgd)  # the step size lives in the state
    run = lambda lr, x0=x0, b=B_Q: gradopt.minimize(
        quadratic, x0, learned(learning_rate=lr), b, max_steps=k, tol=0.0, adjoint="unrolled")
    res = run(0.1)
    assert int(res.steps) == k
    np.testing.assert_allclose(res.params, gd_closed_form(0.1, x0, B_Q, k), rtol=1e-12)
    # the step size, the initial point and the data, all through the iterations
    jac = jax.jacrev(lambda t: run(*t).params)((0.1, x0, B_Q))
    refs = jax.jacfwd(gd_closed_form, argnums=(0, 1, 2))(0.1, x0, B_Q, k)
    for got, ref in zip(jac, refs):
        np.testing.assert_allclose(got, ref, rtol=1e-10)
    np.testing.assert_allclose(jax.jacfwd(lambda l: run(l).params)(0.1), refs[0], rtol=1e-10)
    # a learning rate closed over by the optimizer, and vmap of the gradient
    closed = lambda lr: jnp.sum(gradopt.minimize(quadratic, x0, optax.sgd(lr), B_Q, max_steps=k,
                                                 tol=0.0, adjoint="unrolled").params)
    lrs = jnp.array([0.05, 0.1])
    ref = jax.vmap(jax.grad(lambda l: jnp.sum(gd_closed_form(l, x0, B_Q, k))))(lrs)
    np.testing.assert_allclose(jax.vmap(jax.grad(closed))(lrs), ref, rtol=1e-10)


def test_unrolled_stops_like_the_loop_and_agrees_with_implicit_at_convergence():
    X, y = A, B
    amax = float(jnp.abs(X.T @ y).max()) / N
    L = float(jnp.linalg.eigvalsh(X.T @ X).max()) / N
    opt = gradopt.proximal_gradient(1.0 / L, prox.l1(0.3 * amax), accelerate=True)
    solve = lambda a, adjoint, steps: gradopt.minimize(
        lasso_mse, jnp.zeros(P), opt, X, y, penalty=prox.l1(a), tol=1e-12, max_steps=steps,
        adjoint=adjoint)
    unrolled, looped = solve(0.3 * amax, "unrolled", 3000), solve(0.3 * amax, "auto", 3000)
    assert unrolled.status_name == looped.status_name == "CONVERGED"
    assert int(unrolled.steps) == int(looped.steps) < 3000  # later scan steps are skipped
    np.testing.assert_allclose(unrolled.params, looped.params, rtol=1e-12)
    np.testing.assert_allclose(unrolled.value, looped.value, rtol=1e-12)
    # d w / d y through 3000 FISTA steps tends to the implicit derivative
    J_unrolled = jax.jacrev(lambda y: solve(0.3 * amax, "unrolled", 3000).params)(y)
    J_implicit = jax.jacrev(lambda y: solve(0.3 * amax, "auto", 3000).params)(y)
    np.testing.assert_allclose(J_unrolled, J_implicit, atol=1e-6)


def _matrix_with_identity_rows(size, moving, rng):
    """A well-conditioned ``J`` whose rows off ``moving`` are rows of the identity."""
    J = np.eye(size) + 0.3 * rng.randn(size, size) / np.sqrt(size)
    J[~moving] = np.eye(size)[~moving]
    return J


@pytest.mark.parametrize("transposed", [False, True])
def test_reduced_direct_solve_against_numpy(transposed):
    # the reduced system (identity rows dropped) gives the full system's solution, in both
    # orientations, under jit and vmap, for a support that spans several chunks and for none
    from gradopt.solve import implicit

    rng = np.random.RandomState(1)
    size = 3 * implicit.CHUNK + 5
    for n_moving in (0, 7, 2 * implicit.CHUNK + 3, size):
        moving = np.zeros(size, bool)
        moving[rng.permutation(size)[:n_moving]] = True
        J = _matrix_with_identity_rows(size, moving, rng)
        M = J.T if transposed else J
        b = rng.randn(4, size)
        detected = implicit.moving_rows(lambda v: jnp.asarray(J) @ v, size, jnp.float64)
        np.testing.assert_array_equal(detected, moving)
        solve = jax.jit(jax.vmap(lambda b: implicit._restricted_solve(
            lambda v: jnp.asarray(M) @ v, b, jnp.asarray(moving), cap=implicit._padded(size), transposed=transposed)))
        np.testing.assert_allclose(solve(jnp.asarray(b)), np.linalg.solve(M, b.T).T,
                                   rtol=1e-10, atol=1e-12)


def test_large_systems_reduced_when_few_rows_move_else_iterative(monkeypatch):
    # above DIRECT_MAX unknowns reverse mode solves the reduced system when few rows move
    # (a lasso's support) and falls back to CG / GMRES when too many do (a ridge)
    from gradopt.solve import implicit

    monkeypatch.setattr(implicit, "DIRECT_MAX", 2)
    monkeypatch.setattr(implicit, "REDUCED_MAX", implicit.CHUNK)
    rng = np.random.RandomState(2)
    n, p = 40, implicit.CHUNK + 8
    X, y = jnp.asarray(rng.randn(n, p)), jnp.asarray(rng.randn(n))
    alpha = 0.3 * float(jnp.abs(X.T @ y).max()) / n
    L = float(jnp.linalg.eigvalsh(X.T @ X).max()) / n
    opt = gradopt.proximal_gradient(1.0 / L, prox.l1(alpha), accelerate=True)
    w = np.asarray(lasso_solution(X, y, alpha, opt))
    S = np.flatnonzero(np.abs(w) > 1e-9)
    assert 0 < S.size <= implicit.CHUNK
    XS = np.asarray(X)[:, S]
    ref_y = np.zeros((p, n))
    ref_y[S] = np.linalg.solve(XS.T @ XS, XS.T)
    jac = jax.jacrev(lambda y: lasso_solution(X, y, alpha, opt))(y)
    np.testing.assert_allclose(jac, ref_y, atol=1e-10)  # exact: a dense solve on the support
    lam = 2.0
    w_r = gradopt.minimize(ridge, jnp.zeros(p), optax.lbfgs(), X, y, lam, tol=1e-12).params
    H = X.T @ X + lam * jnp.eye(p)
    grad = jax.grad(lambda l: gradopt.minimize(ridge, jnp.zeros(p), optax.lbfgs(), X, y, l,
                                               tol=1e-12).params.sum())(lam)
    np.testing.assert_allclose(grad, -jnp.linalg.solve(H, w_r).sum(), rtol=1e-6)
