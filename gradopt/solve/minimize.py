"""``minimize``: a whole deterministic optimization as one compiled while loop."""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.extend
import jax.numpy as jnp

from gradopt._validation import INT32_MAX, check_bool, check_int, check_scalar, is_traced
from gradopt.prox.base import Penalty
from gradopt.solve import implicit
from gradopt.solve import progress as _progress
from gradopt.solve._common import (
    check_data,
    check_params,
    current_iterate,
    LoopCache,
    check_optimizer,
    squared_norm_and_finite,
    sum_of_squares,
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
    adjoint: str = "auto",
    **kwargs: Any,
) -> Result:
    r"""Minimize ``F(x) = fun(x, *args, **kwargs) [+ penalty(x)]`` with ``optimizer``.

    One step of the loop is::

        v_k, d_k = value_and_grad(fun)(p_k)
        u_k, s_{k+1} = optimizer.update(d_k, s_k, p_k, value=v_k, grad=d_k, value_fn=fun)
        p_{k+1} = apply_updates(p_k, u_k)

    repeated inside a single ``lax.while_loop`` (one compiled program; the
    jitted loop is cached per ``(fun, optimizer)`` pair, the last
    ``MAX_COMPILED_LOOPS = 8`` pairs are kept, and ``max_steps``, ``tol``,
    ``args``, ``kwargs`` and the penalty are traced, so changing them does not
    recompile). The loop stops when

    * the optimality measure is small (``Status.CONVERGED``):

      - without a penalty, ``||grad f(p)|| <= tol`` (absolute);
      - with ``penalty=g``, the unit-step gradient mapping
        ``G(p) = ||p - prox_g(p - grad f(p), 1)||`` (``penalty.residual``),
        zero exactly at minimizers of ``f + g``, is tested *relative to the
        gradient's scale*: ``G(p) <= tol * max(1, ||grad f(p)||)``. At a
        constrained or penalized optimum ``grad f`` does not vanish (it is
        the multiplier of the active constraints), and ``G`` cannot be
        computed more accurately than about ``eps * ||grad f||`` (the
        rounding of ``p - grad f(p)``); an absolute test stalled there
        (a float32 box-constrained least squares with ``||grad f|| ~ 5e3``
        sat at ``G ~ 1e-3`` for ever). When ``||grad f|| <= 1`` the test is
        the absolute one;
    * ``max_steps`` updates were taken (``Status.MAX_STEPS``);
    * the loss, gradient or parameters become non-finite (``Status.DIVERGED``);
      ``params``, ``value``, ``grad_norm`` and ``aux`` then belong to the last
      finite iterate, while ``opt_state`` is the optimizer's state after the
      step that failed (it is not kept step by step: that copy cost up to a
      quarter of an L-BFGS step).

    Any optax transformation works. The loop passes ``value``, ``grad`` and
    ``value_fn`` (``p -> fun(p, *args, **kwargs)``) as extra arguments, so line
    searches (optax's, gradopt's backtracking) get what they need; plain
    transformations ignore them. A line search that already evaluated ``f``
    and its gradient at the point it accepts and keeps them in its state
    (fields ``value`` and ``grad`` of the last transformation's state, optax's
    convention behind ``optax.value_and_grad_from_state``; ``optax.lbfgs()``
    does) saves the loop its own evaluation: one ``value_and_grad`` per step
    fewer (not with ``has_aux=True``, whose aux the state does not hold). The penalty passed here is only used to
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
      adjoint: how derivatives of the solution are taken (below). Implicit
        differentiation with the linear solver ``"auto"`` (a dense solve up
        to 1000 unknowns, else CG without a penalty and GMRES with one),
        ``"direct"``, ``"cg"`` or ``"gmres"``; or ``"unrolled"``: the
        iterations themselves are differentiated.

    Derivatives. ``jax.grad``, ``jax.vjp``, ``jax.jvp``, ``jax.jacrev``,
    ``jax.jacfwd`` (and their ``vmap``) of ``Result.params``, ``value`` and
    ``aux`` with respect to ``args``, ``kwargs`` and the fields of ``penalty``
    are taken by implicit differentiation of the optimality condition
    (``grad f(x) = 0``, or ``x = prox_g(x - grad f(x))`` with a penalty) at
    the returned point, never through the iterations
    (:mod:`gradopt.solve.implicit`). They are exact at an exact solution, so
    solve to a tolerance that matches the accuracy you need. The initial
    ``params`` get a zero derivative, as do ``best_params``, ``best_value``,
    ``grad_norm`` and ``opt_state``. The optimizer may hold traced values (a
    penalty ``proximal_gradient(lr, prox.l1(a))`` built from the
    differentiated ``a``, a traced learning rate): the loop runs on their
    values, and the implicit derivative does not depend on them (it is the
    derivative of the solution, not of the path to it). So pass the
    optimizer's penalty as ``penalty=`` too: its fields carry the derivative
    (``jax.grad(lambda a: val(minimize(f, w0, proximal_gradient(lr,
    prox.l1(a)), X, y, penalty=prox.l1(a)).params))`` is the natural code).

    Unrolled derivatives (``adjoint="unrolled"``). The loop becomes a
    ``lax.scan`` of exactly ``max_steps`` steps (a step after the loop has
    stopped is skipped by a ``lax.cond`` and costs nothing), and JAX
    differentiates through it, in forward and reverse mode: the derivative
    of the iterate the method reached, including with respect to the
    initial ``params`` and to values the optimizer holds (learning rates,
    momentum, penalty strengths), as needed to learn a step size.
    ``max_steps`` must be a concrete integer (it fixes the scan length, and a
    new value compiles a new loop). Reverse mode stores every step's carry
    (parameters, gradient and optimizer state): memory grows as
    ``max_steps`` times their size. An optimizer whose update runs its own
    ``while_loop`` (a line search: ``optax.lbfgs()``, backtracking) unrolls
    in forward mode only.

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
    check_optimizer(optimizer)
    if penalty is not None and not isinstance(penalty, Penalty):
        raise TypeError(
            f"penalty must be a gradopt.prox.Penalty (e.g. gradopt.prox.l1(0.1)), got {type(penalty).__name__}."
        )
    check_bool("has_aux", has_aux)
    if not isinstance(adjoint, str) or adjoint not in ADJOINTS:
        raise ValueError(f"adjoint must be one of {ADJOINTS}, got {adjoint!r}.")
    check_bool("progress", progress)
    unrolled = adjoint == "unrolled"
    if unrolled and is_traced(max_steps):
        raise ValueError("adjoint='unrolled' needs a concrete max_steps (the number of unrolled steps).")
    if not is_traced(max_steps):
        max_steps = check_int("max_steps", max_steps, 0, INT32_MAX)
    check_scalar("tol", tol, low=0.0)
    check_params(params)
    check_data("args", args)
    for name, value in kwargs.items():
        check_data(f"keyword argument {name!r}", value)

    bar = _progress.open_bar("steps") if progress else -1
    try:
        res = _LOOPS(fun, optimizer, bool(progress), bool(has_aux), adjoint,
                     int(max_steps) if unrolled else None)(
            params, args, kwargs, penalty,
            _int32(max_steps), _scalar(tol), _int32(bar),
        )
    except BaseException:
        if progress:
            _progress.close_bar(bar)
        raise
    if progress and not is_traced(res.steps):  # eager: the run is over
        jax.effects_barrier()
        _progress.close_bar(bar)
    return res


def _iterate(fun, opt, progress, has_aux, unroll, params, args, kwargs, penalty, max_steps, tol,
             bar):
    """The iterations; returns the final carry.

    A ``lax.while_loop``, or with ``unroll`` steps a ``lax.scan`` whose steps
    after the stop are skipped (reverse-mode differentiable).
    """
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

    def evaluate(p, state, c):
        """``(f, grad f, aux)`` at the new point, from the optimizer's state when it has them."""
        carried = None if has_aux else carried_value_and_grad(state, p)
        if carried is None:
            return value_and_grad(p)
        value_dtype = c["value"].dtype
        cast = lambda v, g: (
            jnp.asarray(v).astype(value_dtype),
            jax.tree_util.tree_map(lambda a, b: a.astype(b.dtype), g, c["grad"]),
            None,
        )
        return cast(*carried)  # the state was seeded with f(x_0) (see below): no lax.cond

    def objective(p, smooth_value):
        return smooth_value if penalty is None else smooth_value + penalty.value(p)

    def measure(p, grad):
        """``(crit, sq, finite)``: the stopping measure, ``sq = ||grad f||²``, and
        whether the gradient and ``p`` are finite.

        ``crit`` is a square too: without a penalty ``sq`` itself, compared
        with ``tol²``; with one, ``||x - prox(x - grad f)||²``, compared with
        ``tol² max(1, sq)``. Plain sums of squares (``sq`` fused with the
        finiteness test, :func:`squared_norm_and_finite`) are one reduction
        each where the overflow-safe ``global_norm`` took several, and each is
        a fixed cost per step of a compiled loop (docs/guide.md,
        "Performance"). A square overflows to ``inf`` only above ``1e154`` in
        float64, ``1e19`` in float32: not small, correctly.
        ``Result.grad_norm`` is computed safely after the loop.
        """
        sq, finite = squared_norm_and_finite(grad, p)
        if penalty is None:
            return sq, sq, finite
        return sum_of_squares(penalty.gradient_mapping(p, grad)), sq, finite

    def small(crit, sq):
        """The stopping test: absolute without a penalty, relative to ``||grad f||`` with one."""
        if penalty is None:
            return crit <= tol * tol
        big = jnp.finfo(sq.dtype).max  # an overflowed sq makes the test stricter, not looser
        return crit <= tol * tol * jnp.clip(sq, 1.0, big)

    value, grad, aux = value_and_grad(params)
    crit, sq, ok0 = measure(params, grad)
    ok0 = ok0 & jnp.isfinite(value)
    opt_state = opt.init(params)
    if not has_aux and carried_value_and_grad(opt_state, params) is not None:
        # a line search keeps f and grad f at the point it accepted, ``inf`` before its
        # first step; seeded with them at x_0, the state always has them and each step
        # reads them without a ``lax.cond`` (a fixed cost per step, docs/guide.md)
        opt_state = _seed_carried(opt_state, value, grad)
    obj = objective(params, value)
    status = jnp.where(
        ~ok0, Status.DIVERGED,
        jnp.where(small(crit, sq), Status.CONVERGED,
                  jnp.where(max_steps <= 0, Status.MAX_STEPS, Status.RUNNING)),
    ).astype(jnp.int32)
    best_value = jnp.where(jnp.isfinite(obj), obj, jnp.inf)
    every = _progress.every_for(max_steps)

    # The last finite iterate: ``params`` itself for methods without an
    # ``iterate`` field (a non-finite step is not taken), else carried apart.
    has_iterate = current_iterate(opt_state, None) is not None
    carry0 = dict(step=jnp.zeros([], jnp.int32), params=params, opt_state=opt_state,
                  value=value, grad=grad, aux=aux, crit=crit, status=status,
                  last=current_iterate(opt_state, params) if has_iterate else None,
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
        new_value, new_grad, new_aux = evaluate(new_params, new_state, c)
        new_crit, new_sq, finite = measure(new_params, new_grad)
        finite = finite & jnp.isfinite(new_value)
        step = c["step"] + 1
        status = jnp.where(
            ~finite, Status.DIVERGED,
            jnp.where(small(new_crit, new_sq), Status.CONVERGED,
                      jnp.where(step >= max_steps, Status.MAX_STEPS, Status.RUNNING)),
        ).astype(jnp.int32)
        select = lambda flag, new, old: jax.tree_util.tree_map(
            lambda a, b: jnp.where(flag, a, b), new, old
        )
        new_obj = objective(new_params, new_value)
        better = finite & (new_obj < c["best_value"])
        if progress:
            _progress.report(bar, step, max_steps, new_obj, every)
        # Only what the result reports is kept from the last finite step (the
        # iterate, its value, aux and optimality measure); the loop stops at the
        # first non-finite one, so the optimizer state and gradient are carried
        # as they come (docs/guide.md, "Divergence").
        return dict(
            step=step,
            params=new_params if has_iterate else select(finite, new_params, c["params"]),
            opt_state=new_state,
            value=jnp.where(finite, new_value, c["value"]),
            grad=new_grad,
            aux=select(finite, new_aux, c["aux"]),
            crit=jnp.where(finite, new_crit, c["crit"]),
            status=status,
            last=select(finite, current_iterate(new_state, new_params), c["last"])
            if has_iterate else None,
            best_params=select(better, new_params, c["best_params"]),
            best_value=jnp.where(better, new_obj, c["best_value"]),
        )

    if unroll is None:
        c = jax.lax.while_loop(cond, body, carry0)
    else:
        step = lambda c, _: (jax.lax.cond(cond(c), body, lambda c: c, c), None)
        c = jax.lax.scan(step, carry0, length=unroll)[0]
    if not has_iterate:
        c["last"] = c["params"]
    # the measure from its square, or safely where that overflowed
    safe = (global_norm(c["grad"]) if penalty is None
            else penalty.residual(c["params"], c["grad"]))
    c["crit"] = jnp.where(jnp.isfinite(c["crit"]), jnp.sqrt(c["crit"]), safe)
    return c


def _run(fun, opt, progress, has_aux, adjoint, unroll, params, args, kwargs, penalty, max_steps,
         tol, bar):
    """The iterations on the values of the data, then the solution made differentiable.

    The loop sees ``stop_gradient`` of everything, so no derivative is ever
    taken through it (reverse mode could not: it is a ``while_loop``); the
    returned ``params`` get their derivative from the optimality condition
    (:mod:`gradopt.solve.implicit`), and ``value`` and ``aux`` from ``fun``
    evaluated once more at them.
    """
    if unroll is not None:
        return _unrolled(fun, opt, progress, has_aux, unroll, params, args, kwargs, penalty,
                         max_steps, tol, bar)
    c = _undifferentiated(functools.partial(_iterate, fun, opt, progress, has_aux, None),
                          params, args, kwargs, penalty, max_steps, tol, bar)
    def value_and_aux(x, theta):
        """``(F(x), aux)`` for ``theta = (args, kwargs, penalty)``."""
        a, kw, pen = theta
        out = fun(x, *a, **kw)
        smooth, aux = out if has_aux else (out, None)
        return (smooth if pen is None else smooth + pen.value(x)), aux

    theta = (args, kwargs, penalty)
    def F(x, theta):
        a, kw, pen = theta
        grad_f = jax.grad(lambda p: value_and_aux(p, (a, kw, None))[0])
        return implicit.optimality(grad_f, pen)(x)

    x = implicit.differentiable_root(F, params, c["last"], theta, adjoint, symmetric=penalty is None)
    if current_iterate(c["opt_state"], None) is None:  # no iterate field: f was evaluated at x
        # the loop's value and aux, with the derivative of value_and_aux at x
        final_value, aux = implicit.with_derivative(
            (c["value"] if penalty is None else c["value"] + penalty.value(c["last"]), c["aux"]),
            value_and_aux, x, theta)
    else:
        final_value, aux = value_and_aux(x, theta)
    return _result(c, x, final_value, aux, progress, bar, max_steps)


def _undifferentiated(loop, *inputs):
    """``loop(*inputs)`` with no derivative flowing into it, from its inputs or its closure.

    The inputs are ``stop_gradient``-ed, and so are the traced values the
    loss or the optimizer close over (a penalty built from a differentiated
    strength inside ``proximal_gradient``, a traced learning rate): the loop
    is traced to a jaxpr whose traced constants are replaced by their
    ``stop_gradient``, then evaluated. So the ``while_loop`` is never
    linearized (reverse mode cannot transpose one), and it is traced once, as
    before.
    """
    sg = jax.lax.stop_gradient
    inputs = sg(inputs)
    closed, out_shape = jax.make_jaxpr(loop, return_shape=True)(*inputs)
    consts = [sg(c) if isinstance(c, jax.core.Tracer) else c for c in closed.consts]
    run = jax.extend.core.jaxpr_as_fun(jax.extend.core.ClosedJaxpr(closed.jaxpr, consts))
    out = run(*jax.tree_util.tree_leaves(inputs))
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(out_shape), out)


def _unrolled(fun, opt, progress, has_aux, unroll, params, args, kwargs, penalty, max_steps, tol,
              bar):
    """The iterations differentiated as they are (``adjoint="unrolled"``)."""
    c = _iterate(fun, opt, progress, has_aux, unroll, params, args, kwargs, penalty, max_steps,
                 tol, bar)
    x = c["last"]
    if current_iterate(c["opt_state"], None) is None:  # f was evaluated at x
        smooth, aux = c["value"], c["aux"]
    else:
        out = fun(x, *args, **kwargs)
        smooth, aux = out if has_aux else (out, None)
    final_value = smooth if penalty is None else smooth + penalty.value(x)
    return _result(c, x, final_value, aux, progress, bar, max_steps)


def _result(c, x, final_value, aux, progress, bar, max_steps):
    if progress:
        _progress.finish(bar, c["step"], max_steps, final_value)
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


def _int32(n):
    """``n`` as an int32 argument of the compiled loop (see :func:`_scalar`)."""
    return jnp.asarray(n, jnp.int32) if is_traced(n) else _device_scalar(int(n), "int32",
                                                                          _x64())


def _scalar(x):
    """``tol`` as an argument of the compiled loop.

    A Python or NumPy scalar argument is copied to the device on every call
    (about 13 µs each on the CPU: with three of them, a fifth of a small
    call's cost), so concrete values are turned into device arrays once and
    kept (:func:`_device_scalar`); ``tol`` stays weakly typed, as a Python
    float argument was.
    """
    if is_traced(x) or isinstance(x, jax.Array):
        return x
    value = float(x)
    return _device_scalar(value, "weak_float", _x64()) if value == x else x


def _x64() -> bool:
    return bool(jax.config.jax_enable_x64)


#: Device scalars made by :func:`_device_scalar`, at most ``MAX_DEVICE_SCALARS``.
_DEVICE_SCALARS: dict = {}
MAX_DEVICE_SCALARS = 64


def _device_scalar(value, kind: str, x64: bool):
    """A device array for ``value``, made once per ``(value, kind, x64)``.

    Not kept when made while a ``jax.jit`` is tracing: ``jnp.asarray`` then
    gives that trace's tracer, which must not outlive it.
    """
    key = (value, kind, x64)  # x64: the dtype of a weak float follows it
    found = _DEVICE_SCALARS.get(key)
    if found is not None:
        return found
    made = jnp.asarray(value) if kind == "weak_float" else jnp.asarray(value, kind)
    if not isinstance(made, jax.core.Tracer):
        if len(_DEVICE_SCALARS) >= MAX_DEVICE_SCALARS:
            _DEVICE_SCALARS.pop(next(iter(_DEVICE_SCALARS)))
        _DEVICE_SCALARS[key] = made
    return made


def carried_value_and_grad(opt_state: Any, params: Any):
    """``(value, grad)`` of ``fun`` at ``params + updates`` kept by the optimizer, or None.

    optax's convention (``optax.value_and_grad_from_state``): a line search that
    evaluated ``f`` and its gradient at the point it accepted stores them in
    its state as fields ``value`` and ``grad`` (``optax.lbfgs``'s zoom line
    search, ``scale_by_backtracking_linesearch(store_grad=True)``). They are
    only the loss at the new parameters when that transformation is the
    *last* one applied (a later one would change the update), so only the
    last state of a chain is looked at, and its ``grad`` must have the
    parameters' structure and shapes.
    """
    state = opt_state
    while True:
        if isinstance(state, tuple) and hasattr(state, "_fields"):
            break
        if isinstance(state, tuple) and state:
            state = state[-1]
            continue
        return None
    if "value" not in state._fields or "grad" not in state._fields:
        return None
    value, grad = state.value, state.grad
    if jnp.shape(value) != () or jax.tree_util.tree_structure(grad) != jax.tree_util.tree_structure(params):
        return None
    if any(jnp.shape(a) != jnp.shape(b) for a, b in zip(jax.tree_util.tree_leaves(grad),
                                                         jax.tree_util.tree_leaves(params))):
        return None
    return value, grad


def _seed_carried(opt_state: Any, value, grad):
    """``opt_state`` whose last state (the one :func:`carried_value_and_grad` reads) holds
    ``value`` and ``grad``, cast to the dtypes of its fields."""
    if isinstance(opt_state, tuple) and not hasattr(opt_state, "_fields"):
        return opt_state[:-1] + (_seed_carried(opt_state[-1], value, grad),)
    cast = jax.tree_util.tree_map(lambda a, b: jnp.asarray(a).astype(jnp.result_type(b)),
                                  grad, opt_state.grad)
    return opt_state._replace(value=jnp.asarray(value).astype(jnp.result_type(opt_state.value)),
                              grad=cast)


_LOOPS = LoopCache(_run)
#: The values of ``minimize(adjoint=...)``: implicit differentiation with a
#: linear solver, or ``"unrolled"``.
ADJOINTS = implicit.LINEAR_SOLVERS + ("unrolled",)
