r"""Implicit differentiation of a solution (the implicit function theorem).

A solver returns ``x*(θ)``, a root of an optimality condition ``F(x, θ) = 0``
in which ``θ`` stands for everything the objective closes over (the data and
keyword arguments of ``fun``, the fields of a penalty):

* without a penalty, ``F(x, θ) = ∇ₓ f(x, θ)``;
* with a penalty ``g``, the fixed point of the unit proximal-gradient step,
  ``F(x, θ) = x − prox_g(x − ∇ₓ f(x, θ), 1)``.

Differentiating ``F(x*(θ), θ) = 0`` gives the linear system

    ∂ₓF(x*, θ) · ẋ = −∂_θF(x*, θ) · θ̇

(forward mode; reverse mode solves the transposed system with ``∂ₓFᵀ``).
:func:`differentiable_root` hands ``F`` and the system's solver to
``jax.lax.custom_root``, so ``jax.jvp``, ``jax.grad``, ``jax.vjp``,
``jax.jacfwd``, ``jax.jacrev`` and their ``vmap`` all work, the iterations
are never differentiated, and the initial point gets a zero derivative
(Blondel, Berthet, Cuturi, Frostig, Hoyer, Llinares-López, Pedregosa & Vert,
"Efficient and modular implicit differentiation", NeurIPS 2022).

Where the prox is not differentiable (soft-thresholding at ``|v| = τ``), JAX's
derivative of the prox is used: for ``l1`` it is 1 on the support and 0 off
it, the generalized Jacobian used for the lasso by Bertrand, Klopfenstein,
Blondel, Vaiter, Gramfort & Salmon ("Implicit differentiation of Lasso-type
models for hyperparameter optimization", ICML 2020). With it, the derivative
of a lasso solution is the one of the least squares restricted to the
support: ``dw_S = (X_SᵀX_S)⁻¹ (...)``, and 0 off the support.

The linear system, :data:`LINEAR_SOLVERS`:

* ``"direct"``: the Jacobian ``∂ₓF`` as a dense matrix (one batched JVP per
  unknown) and an LU solve; the default up to ``DIRECT_MAX`` unknowns;
  forward and reverse mode;
* ``"cg"``: conjugate gradient, for the symmetric system of a smooth
  problem (``∂ₓF`` is the Hessian); reverse mode only (``jax.grad``, ``vjp``,
  ``jacrev``);
* ``"gmres"``: GMRES, for the non-symmetric system of a penalized problem;
  reverse mode only.

The iterative solvers stop at a relative residual of 1e-10 in float64 (1e-5
in float32). Above ``DIRECT_MAX`` unknowns, ``"auto"`` (the default, reverse
mode only) solves the **reduced system** below densely when at most
``REDUCED_MAX`` (256) rows move, else by CG (smooth) or GMRES (penalized): a
lasso with 5000 features and 60 non-zeros solves a 60-row system (padded to 256
with the identity). Up to ``DIRECT_MAX`` the
whole Jacobian is kept: building it is cheap there, and the reduced system's
extra products and transposition cost 1.5–3 s more compilation (measured,
docs/guide.md "Derivatives of the solution").

**The reduced system.** A row ``j`` of ``∂ₓF = I − ∂prox · (I − ∂ₓ∇f)`` is the
row ``e_jᵀ`` of the identity wherever the prox's Jacobian has a zero row:
for ``l1`` (and elastic net, group norms: a zero block) off the support, for
a box at an active bound. With ``A`` the other rows,
``∂ₓF = [[J_AA, J_AN], [0, I]]``, so ``J ẋ = r`` is ``ẋ_N = r_N``,
``J_AA ẋ_A = r_A − J_AN r_N``: an ``|A| × |A|`` dense solve whose matrix takes
``|A|`` Jacobian-vector products (built ``CHUNK`` columns at a time, as many
chunks as ``|A|`` needs), where the whole Jacobian takes one per unknown. This
is the lasso's support system of Bertrand et al. (2020), found from ``F``
alone: one product ``J r`` with a fixed random ``r`` marks the identity rows
(``(J r)_j = r_j`` exactly there, and elsewhere only on a set of measure
zero), so nothing in it is specific to a penalty.

A singular ``∂ₓF`` (a flat direction of ``f``, a lasso whose support
columns are collinear) has no unique derivative: ``"direct"`` then gives
``inf`` or ``nan``, the iterative solvers a least-squares-like answer.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax import lax
from jax.flatten_util import ravel_pytree

#: Up to this many unknowns the system is solved with a dense Jacobian.
DIRECT_MAX = 1000
LINEAR_SOLVERS = ("auto", "direct", "cg", "gmres")


def optimality(grad_fn: Callable[[Any], Any], penalty) -> Callable[[Any], Any]:
    """``F(x)``: ``∇f(x)``, or ``x − prox_g(x − ∇f(x), 1)`` with a penalty."""
    if penalty is None:
        return grad_fn

    def fixed_point_residual(x):
        moved = jax.tree_util.tree_map(lambda a, d: a - d, x, grad_fn(x))
        return jax.tree_util.tree_map(lambda a, b: a - b, x, penalty.prox(moved, 1.0))

    return fixed_point_residual


#: Jacobian columns built per batched product in the reduced direct solve.
CHUNK = 32
#: The reduced system's size (a multiple of CHUNK): above it, CG or GMRES.
REDUCED_MAX = 256


def _flat(linear, like):
    """``linear`` (a linear map of pytrees shaped like ``like``) on flat vectors."""
    flat, unravel = ravel_pytree(like)
    return flat, unravel, lambda v: ravel_pytree(linear(unravel(v)))[0]


def _padded(size: int) -> int:
    return -(-size // CHUNK) * CHUNK


def moving_rows(matvec, size: int, dtype):
    """Rows of the flat linear map ``matvec`` that are not rows of the identity.

    ``(J r)_j == r_j`` for one fixed random ``r``: exact on identity rows (the
    prox's derivative is an exact zero there), a measure-zero coincidence
    elsewhere.
    """
    real = jnp.finfo(dtype).dtype  # complex problems probe with a real vector
    r = jax.random.uniform(jax.random.PRNGKey(0), (size,), real, 1.0, 2.0).astype(dtype)
    return matvec(r) != r


def _reduced_matrix(matvec, idx, count, size: int, dtype):
    """``G[i, l] = (matvec(e_{idx[l]}))_{idx[i]}`` for the first ``count`` entries of ``idx``,
    the identity on the padding (``idx == size``): one batched product per ``CHUNK`` columns, only
    as many chunks as ``count`` needs."""
    cap = idx.size

    def chunk(c, G):
        cols = lax.dynamic_slice(idx, (c * CHUNK,), (CHUNK,))
        images = jax.vmap(matvec)(jax.nn.one_hot(cols, size, dtype=dtype))  # padding: e = 0
        return lax.dynamic_update_slice(G, images.at[:, idx].get(mode="fill", fill_value=0).T,
                                        (0, c * CHUNK))

    G = lax.fori_loop(0, (count + CHUNK - 1) // CHUNK, chunk, jnp.zeros((cap, cap), dtype))
    return G + jnp.diag((idx == size).astype(dtype))


def _restricted_solve(matvec, b, moving, *, cap: int, transposed: bool):
    """Solve ``J x = b`` (or ``Jᵀ x = b``) on flat vectors, ``J`` having identity rows off
    ``moving``; ``matvec`` applies ``J`` (or ``Jᵀ``). At most ``cap`` rows may move."""
    size = b.size
    count = jnp.sum(moving)
    idx = jnp.nonzero(moving, size=cap, fill_value=size)[0]
    G = _reduced_matrix(matvec, idx, count, size, b.dtype)
    rank = jnp.cumsum(moving) - 1  # position of each moving row in the reduced system
    take = lambda v: v.at[idx].get(mode="fill", fill_value=0)  # noqa: E731
    # gathers only (their transposes are scatter-adds, which reverse mode handles)
    put = lambda base, vals: jnp.where(moving, vals.at[rank].get(mode="clip"), base)  # noqa: E731
    fixed = jnp.where(moving, 0, b)
    if not transposed:  # x_N = b_N, J_AA x_A = b_A - J_AN b_N
        return put(fixed, jnp.linalg.solve(G, take(b - matvec(fixed))))
    # Jᵀ = [[J_AAᵀ, 0], [J_ANᵀ, I]]: J_AAᵀ x_A = b_A, x_N = b_N - J_ANᵀ x_A
    moved = put(jnp.zeros_like(b), jnp.linalg.solve(G, take(b)))
    return jnp.where(moving, moved, b - matvec(moved))


def _direct(matvec, b):
    """``custom_root``'s tangent solve: the whole Jacobian (one batched JVP per unknown), LU."""
    flat_b, unravel, mv = _flat(matvec, b)
    jac = jax.vmap(mv, out_axes=1)(jnp.eye(flat_b.size, dtype=flat_b.dtype))
    return unravel(jnp.linalg.solve(jac, flat_b))


def _tol(b) -> float:
    """Relative residual of the iterative solves: 1e-10 in float64, 1e-5 in float32 (JAX's
    default 1e-5 left float64 derivatives 1e-5 off)."""
    dtype = jnp.result_type(*jax.tree_util.tree_leaves(b))
    return 1e-10 if jnp.finfo(dtype).bits == 64 else 1e-5


def _cg(matvec, b):
    return jax.scipy.sparse.linalg.cg(matvec, b, tol=_tol(b))[0]


def _gmres(matvec, b):
    return jax.scipy.sparse.linalg.gmres(matvec, b, tol=_tol(b), solve_method="batched")[0]


def differentiable_root(F, x0, x_star, theta, kind: str, symmetric: bool):
    """``x_star``, a root of ``x -> F(x, theta)`` found by a solver, with the root's derivative.

    ``x_star`` must not depend on ``theta`` (the solver ran on its
    ``stop_gradient``); ``x0``, the solver's starting point, gets a zero
    derivative. With the direct solver both modes work (``jax.lax.custom_root``);
    with CG or GMRES, and with ``"auto"`` above ``DIRECT_MAX`` unknowns, only
    reverse mode does (a ``jax.custom_vjp`` that solves the transposed system:
    JAX cannot transpose its own iterative solvers applied to a linearized
    function, as ``custom_root`` would need).
    """
    size = sum(jnp.size(leaf) for leaf in jax.tree_util.tree_leaves(x0))
    if kind == "direct" or (kind == "auto" and size <= DIRECT_MAX):
        return jax.lax.custom_root(lambda x: F(x, theta), x0, lambda _F, _x0: x_star, _direct)
    iterative = _cg if symmetric else _gmres
    if kind == "auto":
        return _reverse_root(F, functools.partial(_reduced_or, iterative), x_star, theta)
    return _reverse_root(F, lambda matvec, b, _jvp: {"cg": _cg, "gmres": _gmres}[kind](matvec, b),
                         x_star, theta)


def _reduced_or(iterative, vecmat, v, jvp):
    """``Jᵀ u = v``: the reduced dense solve when at most ``REDUCED_MAX`` rows of ``J`` move
    (``jvp`` applies ``J``, ``vecmat`` applies ``Jᵀ``), else ``iterative``."""
    flat_v, unravel, flat_vecmat = _flat(vecmat, v)
    _, _, flat_jvp = _flat(jvp, v)
    moving = moving_rows(flat_jvp, flat_v.size, flat_v.dtype)
    return lax.cond(
        jnp.sum(moving) <= REDUCED_MAX,
        lambda: unravel(_restricted_solve(flat_vecmat, flat_v, moving, cap=REDUCED_MAX,
                                         transposed=True)),
        lambda: iterative(vecmat, v),
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _reverse_root(F, linear_solve, x_star, theta):
    return x_star


def _reverse_root_fwd(F, linear_solve, x_star, theta):
    return x_star, (x_star, theta)


def _reverse_root_bwd(F, linear_solve, residuals, v):
    """``theta_bar = -(d_theta F)^T u`` with ``(d_x F)^T u = v``."""
    x_star, theta = residuals
    _, vjp_x = jax.vjp(lambda x: F(x, theta), x_star)
    jvp_x = lambda t: jax.jvp(lambda x: F(x, theta), (x_star,), (t,))[1]  # noqa: E731
    u = linear_solve(lambda w: vjp_x(w)[0], v, jvp_x)
    _, vjp_theta = jax.vjp(lambda t: F(x_star, t), theta)
    (theta_bar,) = vjp_theta(u)
    negate = lambda g: g if g.dtype == jax.dtypes.float0 else -g
    return jax.tree_util.tree_map(jnp.zeros_like, x_star), jax.tree_util.tree_map(negate, theta_bar)


_reverse_root.defvjp(_reverse_root_fwd, _reverse_root_bwd)


def with_derivative(value, fn, x, theta):
    """``value``, already computed at ``x`` by the solver, with the derivative of ``fn(x, theta)``.

    ``fn`` is not evaluated unless a derivative is asked for (``jax.custom_jvp``):
    the solver's value is returned bit for bit, at no cost.
    """
    return _carry_derivative(fn, value, x, theta)


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _carry_derivative(fn, value, x, theta):
    return value


@_carry_derivative.defjvp
def _carry_derivative_jvp(fn, primals, tangents):
    value, x, theta = primals
    _, dx, dtheta = tangents
    _, dvalue = jax.jvp(fn, (x, theta), (dx, dtheta))
    return value, dvalue
