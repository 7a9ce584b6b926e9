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

* ``"direct"``: the Jacobian ``∂ₓF`` as a dense matrix (one JVP per
  coordinate) and an LU solve; the default up to ``DIRECT_MAX`` unknowns;
  forward and reverse mode;
* ``"cg"``: conjugate gradient, for the symmetric system of a smooth
  problem (``∂ₓF`` is the Hessian); the default above ``DIRECT_MAX``;
  reverse mode only (``jax.grad``, ``vjp``, ``jacrev``);
* ``"gmres"``: GMRES, for the non-symmetric system of a penalized problem;
  the default above ``DIRECT_MAX`` there; reverse mode only.

A singular ``∂ₓF`` (a flat direction of ``f``, a lasso whose support
columns are collinear) has no unique derivative: ``"direct"`` then gives
``inf`` or ``nan``, the iterative solvers a least-squares-like answer.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
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


def _direct(matvec, b):
    flat_b, unravel = ravel_pytree(b)
    flat_matvec = lambda v: ravel_pytree(matvec(unravel(v)))[0]
    jac = jax.vmap(flat_matvec, out_axes=1)(jnp.eye(flat_b.size, dtype=flat_b.dtype))
    return unravel(jnp.linalg.solve(jac, flat_b))


def _cg(matvec, b):
    return jax.scipy.sparse.linalg.cg(matvec, b)[0]


def _gmres(matvec, b):
    return jax.scipy.sparse.linalg.gmres(matvec, b, solve_method="batched")[0]


def differentiable_root(F, x0, x_star, theta, kind: str, symmetric: bool):
    """``x_star``, a root of ``x -> F(x, theta)`` found by a solver, with the root's derivative.

    ``x_star`` must not depend on ``theta`` (the solver ran on its
    ``stop_gradient``); ``x0``, the solver's starting point, gets a zero
    derivative. With the direct solver both modes work (``jax.lax.custom_root``);
    with CG or GMRES only reverse mode does (a ``jax.custom_vjp`` that solves
    the transposed system: JAX cannot transpose its own iterative solvers
    applied to a linearized function, as ``custom_root`` would need).
    """
    size = sum(jnp.size(leaf) for leaf in jax.tree_util.tree_leaves(x0))
    if kind == "auto":
        kind = "direct" if size <= DIRECT_MAX else ("cg" if symmetric else "gmres")
    if kind == "direct":
        return jax.lax.custom_root(lambda x: F(x, theta), x0, lambda _F, _x0: x_star, _direct)
    return _reverse_root(F, {"cg": _cg, "gmres": _gmres}[kind], x_star, theta)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _reverse_root(F, linear_solve, x_star, theta):
    return x_star


def _reverse_root_fwd(F, linear_solve, x_star, theta):
    return x_star, (x_star, theta)


def _reverse_root_bwd(F, linear_solve, residuals, v):
    """``theta_bar = -(d_theta F)^T u`` with ``(d_x F)^T u = v``."""
    x_star, theta = residuals
    _, vjp_x = jax.vjp(lambda x: F(x, theta), x_star)
    u = linear_solve(lambda w: vjp_x(w)[0], v)
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
