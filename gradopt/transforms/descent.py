"""Plain gradient descent: ``p <- p - lr * g``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from gradopt._validation import check_scalar
from gradopt.transforms._utils import check_updates_match, follow_params, like


def descent(learning_rate: optax.ScalarOrSchedule) -> optax.GradientTransformation:
    r"""Gradient descent (Cauchy 1847).

    Update rule, with step count ``k`` starting at 0::

        u_k = -\eta_k g_k,     p_{k+1} = p_k + u_k = p_k - \eta_k g_k,
        \eta_k = learning_rate   or   learning_rate(k)  for a schedule.

    This is ``optax.sgd(learning_rate)`` and ``torch.optim.SGD(lr)`` (no
    momentum). The learning rate is cast to each leaf's dtype before it
    multiplies the gradient (as optax does for schedules), so updates keep the
    gradients' dtype (float32, float64, bfloat16) even when ``learning_rate``
    is a float64 array.

    Args:
      learning_rate: a float, a traced array (for sweeps under ``vmap``), or an
        optax schedule ``k -> eta_k``. Concrete values must be finite and >= 0;
        a traced value cannot be checked when the transformation is built.

    Returns:
      An ``optax.GradientTransformation``; its state is optax's
      ``ScaleByScheduleState(count)`` for schedules and ``EmptyState`` otherwise.
      ``update`` raises ``ValueError`` when the gradients' pytree structure
      differs from ``params``' (when ``params`` is given).

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> opt = gradopt.descent(0.1)
        >>> params = jnp.array([1.0, 2.0])
        >>> state = opt.init(params)
        >>> updates, state = opt.update(jnp.array([1.0, 1.0]), state, params)
        >>> gradopt.apply_updates(params, updates)
        Array([0.9, 1.9], dtype=float32)
    """
    check_scalar("learning_rate", learning_rate, low=0.0, allow_callable=True)

    def scaled(updates, lr):
        return jax.tree_util.tree_map(lambda g: like(-lr, g) * g, updates)

    if callable(learning_rate):

        def init_fn(params):
            return follow_params(optax.ScaleByScheduleState(count=jnp.zeros([], jnp.int32)), params)

        def update_fn(updates, state, params=None):
            check_updates_match(updates, params)
            new = scaled(updates, learning_rate(state.count))
            return new, optax.ScaleByScheduleState(
                count=optax.safe_int32_increment(state.count)
            )

    else:

        def init_fn(params):
            del params
            return optax.EmptyState()

        def update_fn(updates, state, params=None):
            check_updates_match(updates, params)
            return scaled(updates, learning_rate), state

    return optax.GradientTransformation(init_fn, update_fn)
