"""Plain gradient descent: ``p <- p - lr * g``."""

from __future__ import annotations

import optax

from gradopt._validation import check_scalar


def descent(learning_rate: optax.ScalarOrSchedule) -> optax.GradientTransformation:
    r"""Gradient descent.

    Update rule, with step count ``k`` starting at 0::

        p_{k+1} = p_k - \eta_k g_k,     \eta_k = learning_rate  or  learning_rate(k)

    Args:
      learning_rate: a float, a traced array (for sweeps under ``vmap``), or an
        optax schedule ``k -> eta_k``. Concrete values must be finite and >= 0;
        a traced value cannot be checked when the transformation is built.

    Returns:
      An ``optax.GradientTransformation``; its state is optax's
      ``ScaleByScheduleState(count)`` for schedules and ``EmptyState`` otherwise.
      (This is optax's ``scale_by_learning_rate``, validated.)

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
    return optax.scale_by_learning_rate(learning_rate)
