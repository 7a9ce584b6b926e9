r""":func:`gradopt.glm` for a penalty without a coordinate structure: accelerated proximal
gradient with restarts on the whole coefficient vector (or matrix).

The GLM engine sweeps coordinates (or blocks), so it needs the penalty's per-block prox,
distance and conjugate (``glm._check_penalty``). Any other :mod:`gradopt.prox` penalty
(``linf``, ``nuclear``, a ``simplex`` or ``box`` constraint, ``separable`` combinations...)
is solved here with what the penalty always has, its prox::

    x_k     = prox_{eta_k G}(y_k - eta_k grad F(y_k))              (a FISTA step)
    y_{k+1} = x_k + (t_k - 1)/t_{k+1} (x_k - x_{k-1}),  t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2

with the step ``eta_k`` found by backtracking (Beck & Teboulle 2009, sec. 3-4) and a
restart (``t = 1``) whenever the objective increases (O'Donoghue & Candes 2015): the
library's own :func:`gradopt.proximal_gradient` in :func:`gradopt.minimize`'s loop, on the
pair ``(W, b)`` (the intercept unpenalized, through ``prox.separable``).

Stopping: the unit-step gradient mapping ``||x - prox(x - grad F(x))||`` (zero exactly at
minimizers) at most ``tol`` times its value at the start, scaled as :func:`gradopt.minimize`
scales it (``x max(1, ||grad F||)``). No duality gap: ``duality_gap`` is ``inf``. The data
are not padded (a padded coordinate could change a constraint such as the simplex), so each
shape compiles its own program; ``X``, ``y`` and the penalty are traced arguments of the
loop, so derivatives of the solution come from :func:`gradopt.minimize`'s implicit
differentiation.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import optax

from gradopt import prox
from gradopt.problems import _inputs
from gradopt.problems._compile import jit
from gradopt.problems._result import SparseResult
from gradopt.solve.minimize import minimize
from gradopt.solve.result import Status
from gradopt.transforms.proximal import proximal_gradient


def _smooth(params, datafit, X, Y):
    """``F(X W + b)``; ``params = (W,)`` or ``(W, b)``, ``W`` of shape ``(p,)`` or ``(p, k)``."""
    Z = (X @ params[0]).reshape(Y.shape)
    return datafit.value(Y, Z + params[1] if len(params) == 2 else Z)


@functools.partial(jit, static_argnames=("fit_intercept",))
def _fista(datafit, penalty, X, Y, W0, tol, max_steps, *, fit_intercept: bool):
    n = X.shape[0]
    params = (W0, jnp.zeros(Y.shape[1:], X.dtype)) if fit_intercept else (W0,)
    g = prox.separable((penalty, prox.zero()) if fit_intercept else (penalty,))
    # first trial step: 1 / L for the curvature at the start, with ||[X 1]||_2^2 <= ||X||_F^2 + n
    h = jnp.max(datafit.d2loss(Y, (X @ W0).reshape(Y.shape)))
    lipschitz = h * (jnp.sum(X * X) + (n if fit_intercept else 0)) / n
    eta0 = 1.0 / jnp.where(lipschitz > 0, lipschitz, 1.0)
    grad0 = jax.grad(_smooth)(params, datafit, X, Y)
    g0 = optax.tree.norm(g.gradient_mapping(params, grad0, 1.0))
    opt = proximal_gradient(None, g, accelerate=True, restart="function",
                            initial_learning_rate=eta0, increase=2.0,
                            max_backtracking_steps=60)
    res = minimize(_smooth, params, opt, datafit, X, Y, max_steps=max_steps, tol=tol * g0,
                   penalty=g)
    b = res.params[1] if fit_intercept else jnp.zeros(Y.shape[1:], X.dtype)
    return res.params[0], b, res.value, res.steps, res.status


def solve(X, y, datafit, penalty, *, fit_intercept, tol, max_steps, init) -> SparseResult:
    """``min F(X W + b) + G(W)`` by :func:`_fista` (module docstring), checked like
    :func:`gradopt.glm`; at most ``max_steps`` proximal gradient steps."""
    X, y = _inputs.check_design(X, y, y_ndim=(1, 2))
    y = datafit.labels(y)
    dtype = _inputs.float_dtype(X)
    W0 = jnp.asarray(_inputs.check_init(init, (X.shape[1],) + y.shape[1:], dtype), dtype)
    Y = jnp.asarray(y, dtype).reshape(X.shape[0], -1)
    penalty = jax.tree_util.tree_map(  # strengths and bounds in the solve's dtype
        lambda a: jnp.asarray(a, dtype) if jnp.issubdtype(jnp.result_type(a), jnp.floating)
        else a, penalty)
    W, b, objective, steps, status = _fista(
        datafit, penalty, jnp.asarray(X, dtype), Y, W0, jnp.asarray(tol, dtype),
        max_steps, fit_intercept=bool(fit_intercept))
    return SparseResult(coef=W, intercept=b if y.ndim == 2 else b.reshape(()),
                        objective=objective, duality_gap=jnp.full((), jnp.inf, dtype),
                        n_iter=steps, converged=status == Status.CONVERGED, status=status)
