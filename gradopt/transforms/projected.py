r"""Projected gradient: ``x+ = P_C(x - eta grad f(x))``."""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from gradopt._validation import check_scalar
from gradopt.transforms._utils import check_updates_match, learning_rate_at
from gradopt.transforms.proximal import prox_step, tree_diff


class ProjectedGradientState(NamedTuple):
    """State of :func:`projected_gradient`: the step count (for schedules)."""

    count: chex.Array


def _as_projection(projection):
    """A function ``(params, eta) -> P(params)`` from a set penalty or a callable."""
    is_penalty = callable(getattr(projection, "prox", None)) and callable(
        getattr(projection, "value", None)
    )
    if is_penalty:
        if not getattr(projection, "is_indicator", False):
            raise ValueError(
                "projection must be a projection function or the indicator of a set "
                "(a penalty with is_indicator=True, e.g. gradopt.prox.box(0., 1.)); got the "
                f"non-indicator penalty {type(projection).__name__}: use "
                "gradopt.proximal_gradient for it."
            )
        return lambda v, eta: projection.prox(v, eta)
    if callable(projection):
        return lambda v, eta: projection(v)
    raise TypeError(
        "projection must be a callable params -> P_C(params) (e.g. "
        "lambda p: optax.projections.projection_box(p, 0., 1.)) or a set penalty "
        f"from gradopt.prox; got {type(projection).__name__}."
    )


class _Projector:
    """Adapter giving a projection the ``prox`` method used by :func:`prox_step`."""

    def __init__(self, project):
        self.prox = project


def projected_gradient(
    learning_rate: optax.ScalarOrSchedule, projection
) -> optax.GradientTransformation:
    r"""Projected gradient descent onto a convex set ``C``.

    With ``P_C`` the Euclidean projection onto ``C`` and step ``k = 0, 1, ...``::

        x_{k+1} = P_C(x_k - eta_k grad f(x_k))

    the proximal gradient step for ``g = indicator of C`` (Goldstein 1964;
    Levitin & Polyak 1966). For ``eta <= 1/L`` (``L`` the Lipschitz constant
    of ``grad f``) ``f(x_k) - f* = O(1/k)``; for the accelerated version use
    ``gradopt.proximal_gradient(eta, set_penalty, accelerate=True)``. The
    updates returned are ``x_{k+1} - x_k``; the incoming ``updates`` must be
    the gradient at ``params``. Iterates stay in ``C`` (from the first step on,
    whatever the starting point).

    Args:
      learning_rate: ``eta > 0``: float, traced array, or optax schedule.
      projection: either the indicator of a set from :mod:`gradopt.prox`
        (``is_indicator`` true: ``nonnegative()``, ``box(l, u)``,
        ``l2_ball(r)``...; its prox is the projection), or any callable
        ``params -> P_C(params)`` on pytrees, e.g. from ``optax.projections``.
        A penalty that is not an indicator raises ``ValueError``.

    Traced hyperparameters cannot be validated eagerly.

    Example (non-negative least squares)::

        >>> import jax, jax.numpy as jnp, optax, gradopt
        >>> A = jnp.array([[1.0, 2.0], [3.0, 4.0]]); b = jnp.array([-1.0, 1.0])
        >>> f = lambda x: 0.5 * jnp.sum((A @ x - b) ** 2)
        >>> opt = gradopt.projected_gradient(0.03, optax.projections.projection_non_negative)
        >>> res = gradopt.minimize(f, jnp.zeros(2), opt, max_steps=2000, tol=0.0)
    """
    check_scalar("learning_rate", learning_rate, low=0.0, low_inclusive=False, allow_callable=True)
    projector = _Projector(_as_projection(projection))

    def init_fn(params):
        del params
        return ProjectedGradientState(count=jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(
                "projected_gradient needs the current parameters: call update(grads, state, params)."
            )
        check_updates_match(updates, params)
        eta = learning_rate_at(learning_rate, state.count)
        step = jax.tree_util.tree_map(lambda g: -eta * g, updates)
        new = prox_step(projector, params, step, eta)
        count = optax.safe_int32_increment(state.count)
        return tree_diff(new, params), ProjectedGradientState(count)

    return optax.GradientTransformation(init_fn, update_fn)
