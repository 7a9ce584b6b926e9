"""``minimize``: a whole deterministic optimization as one compiled while loop."""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from gradopt._validation import INT32_MAX, check_int, check_scalar, is_traced
from gradopt.prox.base import Penalty
from gradopt.solve import progress as _progress
from gradopt.solve._common import (
    check_data,
    check_params,
    current_iterate,
    tree_all_finite,
    with_extra_args,
)
from gradopt.solve.result import Result, Status
from gradopt.transforms.clipping import global_norm


def minimize(
    fun: Callable[..., jax.Array],
    params: Any,
    optimizer,
    *args: Any,
    max_steps: int = 1000,
    tol: float = 1e-6,
    penalty: Penalty | None = None,
    progress: bool = False,
    has_aux: bool = False,
    **kwargs: Any,
) -> Result:
    r"""Minimize ``F(x) = fun(x, *args, **kwargs) [+ penalty(x)]`` with ``optimizer``.

    One step of the loop is::

        v_k, d_k = value_and_grad(fun)(p_k)
        u_k, s_{k+1} = optimizer.update(d_k, s_k, p_k, value=v_k, grad=d_k, value_fn=fun)
        p_{k+1} = apply_updates(p_k, u_k)

    repeated inside a single ``lax.while_loop`` (one compiled program; the
    jitted loop is cached per ``(fun, optimizer)`` pair, and ``max_steps``,
    ``tol``, ``args``, ``kwargs`` and the penalty are traced, so changing them
    does not recompile). The loop stops when

    * the optimality measure is ``<= tol`` (``Status.CONVERGED``): ``||grad f(p)||``
      without a penalty; with ``penalty=g`` the unit-step gradient mapping
      ``||p - prox_g(p - grad f(p), 1)||``, which is zero exactly at minimizers
      of ``f + g`` (``penalty.residual``);
    * ``max_steps`` updates were taken (``Status.MAX_STEPS``);
    * the loss, gradient or parameters become non-finite (``Status.DIVERGED``);
      the result then holds the last finite parameters.

    Any optax transformation works. The loop passes ``value``, ``grad`` and
    ``value_fn`` (``p -> fun(p, *args, **kwargs)``) as extra arguments, so line
    searches (optax's, gradopt's backtracking) get what they need; plain
    transformations ignore them. The penalty passed here is only used to
    report ``F`` and to test optimality: the optimizer must itself apply it
    (e.g. ``gradopt.proximal_gradient(lr, penalty)``).

    Methods that keep their actual iterate apart from the point where they take
    gradients (FISTA) store it in a state field named ``iterate``; ``Result.params``
    is that iterate. ``Result.best_params`` / ``best_value`` hold the evaluated
    point with the lowest ``F`` seen, which is what non-descent methods
    (subgradient, Polyak) should report.

    Args:
      fun: ``fun(params, *args, **kwargs) -> scalar``, differentiable in params.
      params: initial parameters (any pytree of float arrays).
      optimizer: an ``optax.GradientTransformation``.
      *args, **kwargs: data passed to ``fun`` (traced, not static).
      max_steps: maximum number of updates (>= 0).
      tol: stopping tolerance on the optimality measure (>= 0).
      penalty: a :class:`gradopt.prox.Penalty` ``g``; the objective is ``f + g``.
      progress: draw a progress bar (step, loss) from inside the compiled loop.
      has_aux: ``fun`` returns a pair ``(value, aux)`` (as in
        ``jax.value_and_grad(..., has_aux=True)``); ``aux`` is any pytree of
        arrays, and ``Result.aux`` is its value at ``Result.params``. The
        optimizer's ``value_fn`` sees the value only.

    Returns:
      A :class:`Result`.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> res = gradopt.minimize(lambda p: jnp.sum((p - 3.0) ** 2), jnp.zeros(2),
        ...                        gradopt.descent(0.25), tol=1e-6)
        >>> res.status_name, [round(float(v), 4) for v in res.params]
        ('CONVERGED', [3.0, 3.0])
    """
    if not callable(fun):
        raise TypeError(f"fun must be callable, got {type(fun).__name__}.")
    opt = with_extra_args(optimizer)
    if penalty is not None and not isinstance(penalty, Penalty):
        raise TypeError(
            f"penalty must be a gradopt.prox.Penalty (e.g. gradopt.prox.l1(0.1)), got {type(penalty).__name__}."
        )
    if not isinstance(has_aux, (bool, np.bool_)):
        raise TypeError(f"has_aux must be True or False, got {has_aux!r}.")
    if not is_traced(max_steps):
        max_steps = check_int("max_steps", max_steps, 0, INT32_MAX)
    check_scalar("tol", tol, low=0.0)
    check_params(params)
    check_data("args", args)
    for name, value in kwargs.items():
        check_data(f"keyword argument {name!r}", value)

    bar = _progress.open_bar(int(max_steps), "steps") if progress else -1
    try:
        return _run(
            fun, opt, bool(progress), bool(has_aux), params, args, kwargs, penalty,
            jnp.asarray(max_steps, jnp.int32), tol, jnp.asarray(bar, jnp.int32),
        )
    finally:
        if progress:
            jax.effects_barrier()
            _progress.close_bar(bar)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _run(fun, opt, progress, has_aux, params, args, kwargs, penalty, max_steps, tol, bar):
    if has_aux:
        f_aux = lambda p: fun(p, *args, **kwargs)
        f = lambda p: f_aux(p)[0]
        vg = jax.value_and_grad(f_aux, has_aux=True)

        def value_and_grad(p):
            (value, aux), grad = vg(p)
            return value, grad, aux
    else:
        f = lambda p: fun(p, *args, **kwargs)
        vg = jax.value_and_grad(f)

        def value_and_grad(p):
            value, grad = vg(p)
            return value, grad, None

    def objective(p, smooth_value):
        return smooth_value if penalty is None else smooth_value + penalty.value(p)

    def measure(p, grad):
        return global_norm(grad) if penalty is None else penalty.residual(p, grad)

    value, grad, aux = value_and_grad(params)
    crit = measure(params, grad)
    opt_state = opt.init(params)
    obj = objective(params, value)
    ok0 = jnp.isfinite(value) & tree_all_finite(grad) & tree_all_finite(params)
    status = jnp.where(
        ~ok0, Status.DIVERGED,
        jnp.where(crit <= tol, Status.CONVERGED,
                  jnp.where(max_steps <= 0, Status.MAX_STEPS, Status.RUNNING)),
    ).astype(jnp.int32)
    best_value = jnp.where(jnp.isfinite(obj), obj, jnp.inf)
    every = _progress.every_for(max_steps)

    carry0 = dict(step=jnp.zeros([], jnp.int32), params=params, opt_state=opt_state,
                  value=value, grad=grad, aux=aux, crit=crit, status=status,
                  best_params=params, best_value=best_value)

    def cond(c):
        return c["status"] == Status.RUNNING

    def body(c):
        updates, new_state = opt.update(
            c["grad"], c["opt_state"], c["params"], value=c["value"], grad=c["grad"], value_fn=f
        )
        new_params = jax.tree_util.tree_map(
            lambda p, u: (p + u).astype(p.dtype), c["params"], updates
        )
        new_value, new_grad, new_aux = value_and_grad(new_params)
        new_crit = measure(new_params, new_grad)
        step = c["step"] + 1
        finite = jnp.isfinite(new_value) & tree_all_finite(new_grad) & tree_all_finite(new_params)
        status = jnp.where(
            ~finite, Status.DIVERGED,
            jnp.where(new_crit <= tol, Status.CONVERGED,
                      jnp.where(step >= max_steps, Status.MAX_STEPS, Status.RUNNING)),
        ).astype(jnp.int32)
        keep = lambda new, old: jax.tree_util.tree_map(
            lambda a, b: jnp.where(finite, a, b), new, old
        )
        new_obj = objective(new_params, new_value)
        better = finite & (new_obj < c["best_value"])
        if progress:
            _progress.report(bar, step, new_obj, every)
        return dict(
            step=step,
            params=keep(new_params, c["params"]),
            opt_state=keep(new_state, c["opt_state"]),
            value=jnp.where(finite, new_value, c["value"]),
            grad=keep(new_grad, c["grad"]),
            aux=keep(new_aux, c["aux"]),
            crit=jnp.where(finite, new_crit, c["crit"]),
            status=status,
            best_params=jax.tree_util.tree_map(
                lambda a, b: jnp.where(better, a, b), new_params, c["best_params"]
            ),
            best_value=jnp.where(better, new_obj, c["best_value"]),
        )

    c = jax.lax.while_loop(cond, body, carry0)
    x = current_iterate(c["opt_state"], c["params"])
    aux = c["aux"]
    if x is c["params"]:
        final_value = objective(x, c["value"])
    elif has_aux:
        smooth, aux = f_aux(x)
        final_value = objective(x, smooth)
    else:
        final_value = objective(x, f(x))
    if progress:
        jax.debug.callback(_progress._host_update, bar, c["step"], final_value)
    return Result(
        params=x,
        value=final_value,
        grad_norm=c["crit"],
        steps=c["step"],
        status=c["status"],
        best_params=c["best_params"],
        best_value=c["best_value"],
        opt_state=c["opt_state"],
        aux=aux,
    )
