r"""Proximal steps: ``proximal`` (a chain element) and ``proximal_gradient`` (ISTA/FISTA).

For a composite objective ``F(x) = f(x) + g(x)`` with ``f`` smooth and ``g`` a
penalty with a cheap proximal operator
``prox_g(v, s) = argmin_x 1/2 ||x - v||^2 + s g(x)``, the proximal gradient step
is ``x+ = prox_g(x - eta grad f(x), eta)``.

The penalty is used only through its protocol (``value(params)``,
``prox(params, step)``), so any :class:`gradopt.prox.Penalty` works (including
set indicators, whose prox is a projection).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from gradopt._validation import check_bool, check_scalar, concrete_float
from gradopt.transforms._utils import check_updates_match, follow_params, learning_rate_at

RESTARTS = (None, "function", "gradient")
#: Round-off allowance of the backtracking test, in machine epsilons of |f(y)|.
ROUNDOFF = 100


# --------------------------------------------------------------------------- helpers


def check_penalty(name: str, penalty: Any) -> None:
    """``TypeError`` unless ``penalty`` follows the Penalty protocol (value + prox)."""
    if not (callable(getattr(penalty, "prox", None)) and callable(getattr(penalty, "value", None))):
        raise TypeError(
            f"{name} must be a gradopt.prox penalty (an object with value(params) and "
            f"prox(params, step), e.g. gradopt.prox.l1(0.1)), got {type(penalty).__name__}."
        )


def scalar_dtype(params: Any):
    """Floating dtype for scalar state (step sizes, momentum): at least float32."""
    # dtypes only: params may be abstract (jax.ShapeDtypeStruct) in init
    dtypes = [x.dtype if hasattr(x, "dtype") else jnp.result_type(x)
              for x in jax.tree_util.tree_leaves(params)]
    return jnp.result_type(jnp.float32, *dtypes)


def prox_step(penalty, params, direction, step):
    """``prox_g(params + direction, step)``, cast back to the params' dtypes."""
    moved = jax.tree_util.tree_map(lambda p, d: p + d, params, direction)
    new = penalty.prox(moved, step)
    return jax.tree_util.tree_map(lambda n, p: jnp.asarray(n).astype(p.dtype), new, params)


def tree_inner(a, b):
    """``<a, b> = sum_i conj(a_i) b_i`` over all leaves, as elementwise products and sums.

    Not ``optax.tree.vdot``: its ``jnp.vdot`` contracts the (sharded) leaf
    axes, which explicit mesh axes refuse ("Contracting dimensions are
    sharded"); a sum of products is a local product and a reduction anywhere.
    """
    return sum(jnp.sum(jnp.conj(x) * y) for x, y in zip(jax.tree_util.tree_leaves(a),
                                                       jax.tree_util.tree_leaves(b)))


def tree_diff(a, b):
    """``a - b`` leaf by leaf, in the dtypes of ``b``."""
    return jax.tree_util.tree_map(lambda x, y: (x - y).astype(y.dtype), a, b)


def _need_params(params, who):
    if params is None:
        raise ValueError(
            f"{who} needs the current parameters: call update(updates, state, params)."
        )


# --------------------------------------------------------------------------- proximal


class ProximalState(NamedTuple):
    """State of :func:`proximal`: the step count (for learning-rate schedules)."""

    count: chex.Array


def proximal(penalty, learning_rate: optax.ScalarOrSchedule) -> optax.GradientTransformation:
    r"""Proximal correction, placed after a descent step in a chain.

    Given incoming updates ``u_k`` (e.g. ``-eta_k grad f(x_k)`` from
    :func:`gradopt.descent`) and the parameters ``x_k``, returns::

        u'_k = prox_g(x_k + u_k, eta_k) - x_k

    so that ``x_{k+1} = x_k + u'_k = prox_g(x_k + u_k, eta_k)``. Hence
    ``chain(descent(eta), proximal(g, eta))`` is the proximal gradient method
    (ISTA, Beck & Teboulle 2009) ``x+ = prox_g(x - eta grad f(x), eta)``, and
    ``chain(<any optax optimizer with learning rate eta>, proximal(g, eta))``
    is its proximal variant (e.g. proximal SGD, proximal heavy ball). The
    ``learning_rate`` given here must be the step that scaled the incoming
    updates (the prox weight ``eta g`` must match the gradient step).

    Args:
      penalty: a :mod:`gradopt.prox` penalty ``g`` (``value`` and ``prox``).
      learning_rate: ``eta > 0``: float, traced array, or optax schedule
        ``k -> eta_k`` (evaluated at this transformation's own step count, which
        advances in lockstep with the other members of the chain).

    Traced hyperparameters (learning rate, the penalty's strengths) are
    accepted but cannot be validated eagerly.

    Example::

        >>> import jax, jax.numpy as jnp, optax, gradopt
        >>> opt = gradopt.chain(gradopt.descent(0.1), gradopt.proximal(gradopt.prox.l1(1.0), 0.1))
        >>> x = jnp.array([1.0, 0.05]); s = opt.init(x)
        >>> u, s = opt.update(jnp.array([0.0, 0.0]), s, x)
        >>> [round(float(v), 4) for v in gradopt.apply_updates(x, u)]   # soft-threshold by 0.1
        [0.9, 0.0]
    """
    check_penalty("penalty", penalty)
    check_scalar("learning_rate", learning_rate, low=0.0, low_inclusive=False, allow_callable=True)

    def init_fn(params):
        return follow_params(ProximalState(count=jnp.zeros([], jnp.int32)), params)

    def update_fn(updates, state, params=None):
        _need_params(params, "proximal")
        check_updates_match(updates, params)
        eta = learning_rate_at(learning_rate, state.count)
        new = prox_step(penalty, params, updates, eta)
        return tree_diff(new, params), ProximalState(optax.safe_int32_increment(state.count))

    return optax.GradientTransformation(init_fn, update_fn)


# --------------------------------------------------------------------------- ISTA / FISTA


class ProximalGradientState(NamedTuple):
    """State of :func:`proximal_gradient` without acceleration (ISTA).

    Attributes:
      count: number of steps taken.
      learning_rate: the step ``eta`` used by the last step (with backtracking,
        the accepted one; the next search starts from it).
    """

    count: chex.Array
    learning_rate: chex.Array


class FISTAState(NamedTuple):
    """State of :func:`proximal_gradient` with ``accelerate=True`` (FISTA).

    Attributes:
      count: number of steps taken.
      iterate: the actual iterate ``x_k`` (the solution estimate). The
        parameters the loop holds are the extrapolated points ``y_k``; use
        ``gradopt.current_iterate(state, params)`` to get ``x_k``.
      momentum: ``t_k`` of Beck & Teboulle (``t_1 = 1``; reset to 1 by a restart).
      learning_rate: the step used by the last step (accepted one with backtracking).
      objective: ``F(x_k) = f(x_k) + g(x_k)`` when it was evaluated (function
        restart or backtracking), ``inf`` otherwise.
      restarts: number of momentum restarts so far.
    """

    count: chex.Array
    iterate: Any
    momentum: chex.Array
    learning_rate: chex.Array
    objective: chex.Array
    restarts: chex.Array


def proximal_gradient(
    learning_rate: optax.ScalarOrSchedule | None,
    penalty,
    *,
    accelerate: bool = False,
    restart: str | None = None,
    initial_learning_rate: float = 1.0,
    shrink: float = 0.5,
    increase: float = 1.0,
    max_backtracking_steps: int = 30,
) -> optax.GradientTransformationExtraArgs:
    r"""Proximal gradient method: ISTA, FISTA, adaptive restart, backtracking.

    For ``F = f + g`` (``f`` smooth with ``L``-Lipschitz gradient, ``g`` the
    ``penalty``). The incoming ``updates`` must be the gradient ``grad f`` at
    ``params``.

    **ISTA** (``accelerate=False``; Beck & Teboulle 2009, eq. 1.5)::

        x_{k+1} = prox_g(x_k - eta_k grad f(x_k), eta_k)

    ``F(x_k) - F* <= ||x_0 - x*||^2 / (2 eta k)`` for ``eta <= 1/L``.

    **FISTA** (``accelerate=True``; Beck & Teboulle 2009, section 4). The loop
    holds the extrapolated point ``y_k`` (gradients are taken there) and the
    state holds the actual iterate ``x_k``; with ``y_1 = x_0``, ``t_1 = 1``::

        x_k     = prox_g(y_k - eta grad f(y_k), eta)
        t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2
        y_{k+1} = x_k + ((t_k - 1) / t_{k+1}) (x_k - x_{k-1})

    ``F(x_k) - F* <= 2 ||x_0 - x*||^2 / (eta (k + 1)^2)`` for ``eta <= 1/L``.

    **Getting the solution.** ``gradopt.minimize`` returns ``x_k`` as
    ``Result.params`` (it reads the state field ``iterate``). In your own loop,
    the ``params`` you hold are ``y_k``; the solution is
    ``gradopt.current_iterate(state, params)`` (= ``state.iterate``, also
    inside ``optax.chain``).

    **Adaptive restart** (O'Donoghue & Candès 2015), ``accelerate=True`` only.
    A restart sets ``t_{k+1} = 1`` and ``y_{k+1} = x_k`` (no extrapolation: FISTA
    starts afresh from ``x_k``):

    * ``restart="function"``: restart when ``F(x_k) > F(x_{k-1})``. This needs
      ``F`` at the new iterate: with a fixed step it costs one extra evaluation
      of ``f`` (``value_fn(x_k)``, a forward pass, no gradient) and one of
      ``g.value`` per step; with backtracking ``f(x_k)`` is already known and it
      is free. ``F(x_k)`` is kept in ``state.objective``.
    * ``restart="gradient"``: restart when ``<y_k - x_k, x_k - x_{k-1}> > 0``
      (the gradient-mapping direction disagrees with the momentum); free.

    **Backtracking** (``learning_rate=None``; Beck & Teboulle 2009, section 3,
    "backtracking"). At each step, starting from ``eta = increase * eta_prev``
    (``eta_prev`` = last accepted step, ``initial_learning_rate`` at the first
    step), try ``x+ = prox_g(y - eta grad f(y), eta)`` and accept when::

        f(x+) <= f(y) + <grad f(y), x+ - y> + ||x+ - y||^2 / (2 eta) + 100 eps |f(y)|

    otherwise ``eta <- shrink * eta`` (at most ``max_backtracking_steps``
    times; then the last, smallest trial is taken). The last term is a
    round-off allowance (``eps`` the machine epsilon of the parameters' dtype)
    that stops the search from shrinking forever once ``f(x+) - f(y)`` is at
    the level of round-off. ``increase = 1`` keeps the step non-increasing as in
    the paper; ``increase > 1`` lets it grow again (a step longer than the last
    accepted one must pass without the allowance, or the step would keep
    doubling near a minimizer, where every step passes on the allowance alone). Every trial costs one
    evaluation of ``f`` (no gradient). Backtracking needs the loss through
    optax's extra-arguments mechanism::

        updates, state = opt.update(grads, state, params,
                                    value=v, value_fn=lambda p: f(p, *data))

    (``value = f(params)`` is optional: it is recomputed by ``value_fn`` when
    missing). :func:`gradopt.minimize` passes ``value``, ``grad`` and
    ``value_fn`` already.

    Args:
      learning_rate: ``eta > 0`` (float, traced array or optax schedule
        ``k -> eta_k``; ``1/L`` is the classical choice), or ``None`` for
        backtracking.
      penalty: a :mod:`gradopt.prox` penalty ``g``.
      accelerate: FISTA instead of ISTA.
      restart: ``None``, ``"function"`` or ``"gradient"`` (needs ``accelerate=True``).
      initial_learning_rate: first trial step of the backtracking (> 0).
      shrink: backtracking factor in (0, 1).
      increase: factor (>= 1) applied to the last accepted step at the start
        of each backtracking search.
      max_backtracking_steps: maximum number of shrinks per step (>= 0).

    Returns:
      An ``optax.GradientTransformationExtraArgs``. Its state is a
      :class:`ProximalGradientState` (ISTA) or :class:`FISTAState` (FISTA).

    Traced hyperparameters (learning rate, backtracking factors, the penalty's
    strengths) are accepted but cannot be validated eagerly.

    Example (lasso, FISTA with gradient restart)::

        >>> import jax, jax.numpy as jnp, gradopt
        >>> X = jax.random.normal(jax.random.key(0), (20, 5)); y = X @ jnp.arange(5.0)
        >>> f = lambda w: 0.5 * jnp.sum((X @ w - y) ** 2)
        >>> L = jnp.linalg.norm(X, 2) ** 2
        >>> g = gradopt.prox.l1(1.0)
        >>> opt = gradopt.proximal_gradient(1 / L, g, accelerate=True, restart="gradient")
        >>> res = gradopt.minimize(f, jnp.zeros(5), opt, penalty=g, max_steps=500)
        >>> w = res.params   # the FISTA iterate x_k, not the extrapolated point
    """
    check_penalty("penalty", penalty)
    backtracking = learning_rate is None
    if not backtracking:
        check_scalar("learning_rate", learning_rate, low=0.0, low_inclusive=False, allow_callable=True)
    accelerate = check_bool("accelerate", accelerate)
    if restart not in RESTARTS:
        raise ValueError(f"restart must be one of None, 'function', 'gradient'; got {restart!r}.")
    if restart is not None and not accelerate:
        raise ValueError(
            f"restart={restart!r} restarts FISTA's momentum and needs accelerate=True."
        )
    check_scalar("initial_learning_rate", initial_learning_rate, low=0.0, low_inclusive=False)
    check_scalar("shrink", shrink, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    check_scalar("increase", increase, low=1.0)
    mbs = concrete_float(max_backtracking_steps)
    if mbs is None or mbs != int(mbs) or mbs < 0:
        raise ValueError(
            f"max_backtracking_steps must be an integer >= 0, got {max_backtracking_steps!r}."
        )
    max_bt = int(mbs)

    def first_rate(dtype):
        if backtracking:
            return jnp.asarray(initial_learning_rate, dtype)
        return jnp.asarray(learning_rate_at(learning_rate, 0), dtype)

    def init_fn(params):
        dtype = scalar_dtype(params)
        count = jnp.zeros([], jnp.int32)
        if not accelerate:
            return follow_params(
                ProximalGradientState(count=count, learning_rate=first_rate(dtype)), params
            )
        return follow_params(FISTAState(
            count=count,
            iterate=params,
            momentum=jnp.ones([], dtype),
            learning_rate=first_rate(dtype),
            objective=jnp.asarray(jnp.inf, dtype),
            restarts=jnp.zeros([], jnp.int32),
        ), params)

    def search(y, grad, f_y, eta_start, eta_prev, value_fn, dtype):
        """Backtracking on the composite model; returns (eta, x+, f(x+)).

        A step longer than the last accepted one (``increase > 1``) must pass the
        test without the round-off allowance: near a minimizer every step passes
        on the allowance alone, and the step would otherwise double forever while
        the iterates stall.
        """
        slack = ROUNDOFF * jnp.finfo(dtype).eps * jnp.abs(f_y)

        def trial(eta):
            x = prox_step(penalty, y, jax.tree_util.tree_map(lambda g: -eta * g, grad), eta)
            d = tree_diff(x, y)
            f_x = jnp.asarray(value_fn(x), dtype)
            model = f_y + tree_inner(grad, d) + optax.tree.norm(d, squared=True) / (2 * eta)
            return x, f_x, f_x <= model + jnp.where(eta > eta_prev, 0.0, slack)

        x0, f0, ok0 = trial(eta_start)

        def cond(c):
            i, _, _, _, ok = c
            return (~ok) & (i < max_bt)

        def body(c):
            i, eta, _, _, _ = c
            eta = (eta * shrink).astype(dtype)
            x, f_x, ok = trial(eta)
            return i + 1, eta, x, f_x, ok

        _, eta, x, f_x, _ = jax.lax.while_loop(
            cond, body, (jnp.zeros([], jnp.int32), eta_start, x0, f0, ok0)
        )
        return eta, x, f_x

    def update_fn(updates, state, params=None, *, value=None, value_fn=None, **extra_args):
        del extra_args
        _need_params(params, "proximal_gradient")
        check_updates_match(updates, params)
        y, grad = params, updates
        dtype = state.learning_rate.dtype
        needs_fn = backtracking or restart == "function"
        if needs_fn and value_fn is None:
            why = "backtracking (learning_rate=None)" if backtracking else "restart='function'"
            raise ValueError(
                f"proximal_gradient with {why} needs the smooth loss: call "
                "opt.update(grads, state, params, value=f(params), "
                "value_fn=lambda p: f(p, *data)) (gradopt.minimize does this)."
            )
        f_new = None
        if backtracking:
            f_y = jnp.asarray(value_fn(y) if value is None else value, dtype)
            eta0 = (state.learning_rate * increase).astype(dtype)
            eta, x_new, f_new = search(y, grad, f_y, eta0, state.learning_rate, value_fn, dtype)
        else:
            eta = jnp.asarray(learning_rate_at(learning_rate, state.count), dtype)
            x_new = prox_step(penalty, y, jax.tree_util.tree_map(lambda g: -eta * g, grad), eta)
        count = optax.safe_int32_increment(state.count)

        if not accelerate:
            # eager: a new step size is a fresh constant; keep it on the params' mesh
            new_state = ProximalGradientState(count=count, learning_rate=eta)
            return tree_diff(x_new, y), follow_params(new_state, params)

        x_old, t = state.iterate, state.momentum
        t_next = ((1 + jnp.sqrt(1 + 4 * t * t)) / 2).astype(dtype)
        objective = state.objective
        if f_new is not None or restart == "function":
            if f_new is None:
                f_new = jnp.asarray(value_fn(x_new), dtype)
            objective = (f_new + jnp.asarray(penalty.value(x_new), dtype)).astype(dtype)
        if restart == "function":
            reset = objective > state.objective
        elif restart == "gradient":
            reset = tree_inner(tree_diff(y, x_new), tree_diff(x_new, x_old)) > 0
        else:
            reset = jnp.zeros([], bool)
        beta = jnp.where(reset, 0.0, (t - 1) / t_next).astype(dtype)
        t_next = jnp.where(reset, jnp.ones([], dtype), t_next)
        y_next = jax.tree_util.tree_map(
            lambda a, b: (a + beta * (a - b)).astype(a.dtype), x_new, x_old
        )
        new_state = FISTAState(
            count=count,
            iterate=x_new,
            momentum=t_next,
            learning_rate=eta,
            objective=objective,
            restarts=state.restarts + reset.astype(jnp.int32),
        )
        return tree_diff(y_next, y), follow_params(new_state, params)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
