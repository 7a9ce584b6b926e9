r"""Subgradient methods: Polyak's step size and diminishing step sizes.

For a convex, possibly non-differentiable ``f``, a subgradient ``g_k in df(x_k)``
gives the step ``x_{k+1} = x_k - eta_k g_k``. Subgradient steps do not decrease
``f`` monotonically: report the best iterate seen (``gradopt.minimize`` keeps it
in ``Result.best_params`` / ``Result.best_value``).

**Which subgradient does ``jax.grad`` return at a kink?** Autodiff
differentiates the code, not the function: ``jax.grad(jnp.abs)(0.)`` is ``1.``
(a valid subgradient of ``|x|``, but not the minimal-norm one, 0), ``jnp.maximum``
and ``jnp.max`` split the derivative among ties (a convex combination of the
active gradients: valid), while ``jax.grad(jnp.linalg.norm)(zeros)`` is ``NaN``
(``x / ||x||`` at 0). For norms use ``optax.safe_norm(x, 0.)`` (derivative 0 at
0, a valid subgradient) or ``gradopt.global_norm``.
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
import optax

from gradopt._validation import check_scalar, concrete_float
from gradopt.transforms._utils import cast_like, check_updates_match, follow_params


def polyak(
    f_min: float = 0.0,
    *,
    max_learning_rate: float | None = None,
    eps: float = 0.0,
) -> optax.GradientTransformationExtraArgs:
    r"""Subgradient step with Polyak's step size (Polyak 1987, section 5.3.2).

    With ``g_k`` the incoming (sub)gradient and ``f(x_k)`` the loss value::

        eta_k   = min( max(f(x_k) - f_min, 0) / (||g_k||^2 + eps), max_learning_rate )
        x_{k+1} = x_k - eta_k g_k

    (``||.||`` is the global 2-norm over the pytree). When ``f_min = f*``, the
    optimal value, this is the step that minimizes the worst-case distance to
    the solution set, and ``min_{i<=k} f(x_i) - f* = O(1/sqrt(k))`` for
    Lipschitz convex ``f`` (linear convergence for sharp minima). A lower
    bound ``f_min < f*`` gives convergence to within ``f* - f_min``-ish only.
    Safe when ``g_k = 0`` (and ``eps = 0``): the step is then 0 instead of NaN.
    ``f(x_k) < f_min`` gives a zero step rather than an ascent step (optax's
    ``'sps+'`` variant). This is optax's ``scale_by_polyak`` with a descent
    sign, validated arguments and ``max_learning_rate = inf`` by default.

    The loss value comes through optax's extra-arguments mechanism::

        updates, state = opt.update(grads, state, params, value=f(params))

    (:func:`gradopt.minimize` and :func:`gradopt.fit` pass it.)

    Args:
      f_min: the optimal value ``f*`` (or a lower bound); finite.
      max_learning_rate: ``> 0`` cap on ``eta_k``, or ``None`` for no cap.
      eps: ``>= 0`` added to ``||g||^2`` (Loizou et al. 2021 use it for
        stochastic Polyak steps).

    ``update`` raises ``ValueError`` when ``value`` is not a scalar (a vector
    of per-sample losses would give one step per sample, broadcast against
    the gradient); its shape is static, so this is checked under ``jit`` too.

    Traced hyperparameters are accepted but cannot be validated eagerly.

    Example::

        >>> import jax, jax.numpy as jnp, gradopt
        >>> f = lambda x: jnp.max(jnp.abs(x - 1.0))   # f* = 0
        >>> res = gradopt.minimize(f, jnp.zeros(3), gradopt.polyak(0.0), max_steps=100, tol=0.0)
        >>> round(float(res.best_value), 6)
        0.0
    """
    check_scalar("f_min", f_min)
    if max_learning_rate is None:
        max_learning_rate = math.inf
    else:
        check_scalar("max_learning_rate", max_learning_rate, low=0.0, low_inclusive=False)
    check_scalar("eps", eps, low=0.0)
    inner = optax.scale_by_polyak(
        f_min=f_min, max_learning_rate=max_learning_rate, eps=eps, variant="sps+"
    )

    def update_fn(updates, state, params=None, *, value=None, **extra_args):
        del extra_args
        if value is None:
            raise ValueError(
                "polyak needs the loss value: call opt.update(grads, state, params, "
                "value=f(params)) (gradopt.minimize and gradopt.fit pass it)."
            )
        check_updates_match(updates, params)
        if jnp.ndim(value) != 0:
            raise ValueError(
                "polyak needs the loss value as a scalar (value=f(params), one number); "
                f"got value of shape {jnp.shape(value)}. Reduce a per-sample loss "
                "(e.g. its mean) first."
            )
        scaled, state = inner.update(updates, state, params, value=value)
        new = jax.tree_util.tree_map(lambda u: -u, scaled)
        return cast_like(new, updates), state

    return optax.GradientTransformationExtraArgs(lambda p: follow_params(inner.init(p), p), update_fn)


def subgradient(learning_rate: optax.ScalarOrSchedule) -> optax.GradientTransformation:
    r"""Subgradient method with a given (usually diminishing) step size.

    ::

        x_{k+1} = x_k - eta_k g_k,     g_k in df(x_k)

    For convex ``f`` with subgradients bounded by ``G`` and ``||x_0 - x*|| <= R``::

        min_{i<=k} f(x_i) - f* <= (R^2 + G^2 sum_i eta_i^2) / (2 sum_i eta_i)

    (Shor 1985; Boyd's lecture notes), so ``eta_k = c / sqrt(k + 1)`` gives
    ``O(log k / sqrt k)`` and square-summable, non-summable steps
    (``c / (k + 1)``) converge. Use :func:`diminishing` for these schedules
    (optax has no ``c / (k + 1)^p`` schedule: ``optax.polynomial_schedule`` is
    ``(init - end) (1 - k/T)^p + end``). Report the best iterate
    (``Result.best_params``), not the last one.

    Args:
      learning_rate: ``eta > 0``, a traced array, or a schedule ``k -> eta_k``
        such as ``gradopt.diminishing(c, power)``.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> f = lambda x: jnp.sum(jnp.abs(x - 1.0))
        >>> opt = gradopt.subgradient(gradopt.diminishing(0.5, power=0.5))
        >>> res = gradopt.minimize(f, jnp.zeros(2), opt, max_steps=500, tol=0.0)
    """
    check_scalar("learning_rate", learning_rate, low=0.0, low_inclusive=False, allow_callable=True)
    inner = optax.scale_by_learning_rate(learning_rate)

    def update_fn(updates, state, params=None):
        check_updates_match(updates, params)
        new, state = inner.update(updates, state, params)
        # A traced float64 learning rate would promote float32 leaves: keep each dtype.
        return cast_like(new, updates), state

    return optax.GradientTransformation(lambda p: follow_params(inner.init(p), p), update_fn)


def diminishing(c: float, power: float = 0.5) -> Callable[[jax.Array], jax.Array]:
    r"""The schedule ``k -> c / (k + 1)^power`` (``k = 0, 1, ...``).

    ``power = 0.5`` gives ``c / sqrt(k + 1)`` (non-summable, the classical
    choice for subgradient methods with a known horizon-free rate);
    ``power = 1`` gives ``c / (k + 1)`` (non-summable and square-summable).
    Both satisfy ``sum eta_k = inf``, which convergence of the subgradient
    method needs; ``power`` is therefore restricted to ``(0, 1]``.

    Args:
      c: ``> 0`` scale (may be traced).
      power: in ``(0, 1]``.

    Example::

        >>> import gradopt
        >>> sched = gradopt.diminishing(1.0, power=1.0)
        >>> float(sched(3))
        0.25
    """
    check_scalar("c", c, low=0.0, low_inclusive=False)
    check_scalar("power", power, low=0.0, high=1.0, low_inclusive=False)
    p = concrete_float(power)

    def schedule(count):
        k = jnp.asarray(count)
        base = (k + 1).astype(jnp.result_type(float))
        if p == 0.5:
            return c / jnp.sqrt(base)
        return c / base ** power

    return schedule
