"""Heavy-ball and Nesterov momentum with ``torch.optim.SGD`` semantics."""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from gradopt._validation import check_bool, check_scalar, concrete_float
from gradopt.transforms._utils import check_updates_match, follow_params, learning_rate_at, like


class MomentumState(NamedTuple):
    """State of :func:`momentum`: step count and the momentum buffer ``b``.

    ``count`` (int32, the number of updates so far) is ``None`` when nothing
    needs it: a constant learning rate with ``dampening == 0``.
    """

    count: chex.Array | None
    trace: optax.Params


def momentum(
    learning_rate: optax.ScalarOrSchedule,
    momentum: float = 0.9,
    *,
    nesterov: bool = False,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
) -> optax.GradientTransformation:
    r"""SGD with heavy-ball (Polyak 1964) or Nesterov (Nesterov 1983) momentum.

    Exactly the update of ``torch.optim.SGD(lr, momentum, dampening,
    weight_decay, nesterov)``. With ``mu = momentum``, ``tau = dampening``,
    ``lambda = weight_decay`` and step ``k = 0, 1, ...``::

        d_k = g_k + lambda p_k                           (weight decay enters the gradient)
        b_0 = d_0                                        (first step: buffer = gradient, no dampening)
        b_k = mu b_{k-1} + (1 - tau) d_k                 (k >= 1)
        u_k = d_k + mu b_k   if nesterov   else   b_k
        p_{k+1} = p_k - eta_k u_k

    With ``mu = 0`` PyTorch skips the buffer, so ``u_k = d_k`` whatever the
    dampening; so does this transformation (also for a traced ``mu`` that is 0).

    For ``dampening = 0`` and ``weight_decay = 0`` this is also optax's
    ``sgd(learning_rate, momentum, nesterov=...)`` (optax's ``trace`` starts
    from a zero buffer, which gives the same ``b_0 = d_0``); trajectories are
    identical. The learning rate multiplies the buffer at use time (PyTorch's
    convention, not the "lr inside the buffer" convention of Sutskever et al.),
    so changing a schedule does not rescale past momentum.

    Args:
      learning_rate: float, traced array or optax schedule ``k -> eta_k`` (>= 0).
      momentum: ``mu`` in [0, 1).
      nesterov: use Nesterov's look-ahead form (requires ``dampening == 0``,
        as in PyTorch).
      dampening: ``tau`` in [0, 1].
      weight_decay: ``lambda`` >= 0 (L2 penalty added to the gradient; needs
        ``params`` in ``update``).

    Hyperparameters (``learning_rate``, ``momentum``, ``dampening``,
    ``weight_decay``) may be traced arrays, e.g. for a sweep under ``vmap``;
    a traced value cannot be validated when the transformation is built, and
    ``nesterov=True`` needs a concrete ``dampening`` of 0 (the default). Each
    hyperparameter is cast to the dtype of the leaf it multiplies, so updates
    and buffers keep the parameters' dtype (float32, float64, bfloat16) and
    the arithmetic is the parameters' precision, as in PyTorch.

    Example::

        >>> import jax, jax.numpy as jnp, gradopt
        >>> loss = lambda p: jnp.sum(p ** 2)
        >>> opt = gradopt.momentum(0.1, 0.9)
        >>> p = jnp.ones(3); s = opt.init(p)
        >>> for _ in range(3):
        ...     u, s = opt.update(jax.grad(loss)(p), s, p)
        ...     p = gradopt.apply_updates(p, u)
    """
    check_scalar("learning_rate", learning_rate, low=0.0, allow_callable=True)
    check_scalar("momentum", momentum, low=0.0, high=1.0, high_inclusive=False)
    check_scalar("dampening", dampening, low=0.0, high=1.0)
    check_scalar("weight_decay", weight_decay, low=0.0)
    nesterov = check_bool("nesterov", nesterov)
    damp = concrete_float(dampening)
    if nesterov and (damp is None or damp != 0.0):
        raise ValueError(
            "nesterov=True requires dampening == 0 (as torch.optim.SGD); "
            f"got dampening={dampening!r}."
        )
    use_wd = concrete_float(weight_decay) != 0.0  # traced: applied
    # First step. With dampening == 0 (known at build time) the zero-initialized
    # buffer already gives b_0 = g_0 + mu * 0 = g_0 exactly, so no first-step
    # test is needed (this is optax's ``trace``). Otherwise the first step uses
    # the scalar coefficient 1 instead of (1 - dampening): one scalar select per
    # step, not an elementwise one. torch.optim.SGD skips the buffer when
    # momentum == 0, so dampening has no effect there: that case also takes
    # the coefficient 1, which gives b_k = d_k.
    mu = concrete_float(momentum)
    damped = (damp is None or damp != 0.0) and mu != 0.0
    # The step count is kept only when something reads it (a schedule, or the
    # first-step test): a constant-rate, undamped momentum carries no counter,
    # like optax's sgd, so its compiled step has no extra input or output.
    counted = callable(learning_rate) or damped

    def init_fn(params):
        trace = jax.tree_util.tree_map(jnp.zeros_like, params)
        count = jnp.zeros([], jnp.int32) if counted else None
        return follow_params(MomentumState(count=count, trace=trace), params)

    def update_fn(updates, state, params=None):
        check_updates_match(updates, params)
        if use_wd:
            if params is None:
                raise ValueError("momentum(weight_decay > 0) needs params in update().")
            updates = jax.tree_util.tree_map(
                lambda g, p: g + like(weight_decay, g) * p, updates, params
            )
        if damped:
            plain = state.count == 0
            if mu is None:  # traced momentum: zero momentum means no dampening
                plain = plain | (momentum == 0)
            keep = jnp.where(plain, 1.0, 1.0 - dampening)

            def new_buffer(g, b):
                return (like(keep, g) * g + like(momentum, b) * b).astype(b.dtype)
        else:

            def new_buffer(g, b):
                return (g + like(momentum, b) * b).astype(b.dtype)

        trace = jax.tree_util.tree_map(new_buffer, updates, state.trace)
        if nesterov:
            direction = jax.tree_util.tree_map(
                lambda g, b: g + like(momentum, g) * b, updates, trace
            )
        else:
            direction = trace
        lr = learning_rate_at(learning_rate, state.count)
        new_updates = jax.tree_util.tree_map(
            lambda d, g: (like(-lr, d) * d).astype(jnp.result_type(g)), direction, updates
        )
        count = optax.safe_int32_increment(state.count) if counted else None
        return new_updates, MomentumState(count=count, trace=trace)

    return optax.GradientTransformation(init_fn, update_fn)


_momentum = momentum  # the argument named ``momentum`` shadows the function below


def nesterov(
    learning_rate: optax.ScalarOrSchedule,
    momentum: float = 0.9,
    *,
    weight_decay: float = 0.0,
) -> optax.GradientTransformation:
    r"""Nesterov momentum (Nesterov 1983), PyTorch convention.

    ``momentum(learning_rate, momentum, nesterov=True, weight_decay=...)``::

        b_k = mu b_{k-1} + g_k   (b_0 = g_0),    p_{k+1} = p_k - eta_k (g_k + mu b_k)

    Equal to ``torch.optim.SGD(..., nesterov=True)`` and ``optax.sgd(...,
    nesterov=True)``.
    """
    return _momentum(learning_rate, momentum, nesterov=True, weight_decay=weight_decay)
