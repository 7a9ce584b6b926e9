r"""Huber loss: quadratic near zero, linear in the tails (robust regression)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from gradopt._validation import check_scalar
from gradopt.datafits.base import Datafit, datafit_class


@datafit_class
class Huber(Datafit):
    r"""``f(y, z) = h_delta(y - z)`` (see :func:`huber`)."""

    delta: Any

    curvature = 1.0
    has_conjugate = True

    def loss(self, y, z):
        r = jnp.abs(y - z)
        return jnp.where(r < self.delta, 0.5 * r * r, self.delta * r - 0.5 * self.delta**2)

    def dloss(self, y, z):
        return jnp.clip(z - y, -self.delta, self.delta)

    def d2loss(self, y, z):
        return jnp.where(jnp.abs(y - z) < self.delta, 1.0, 0.0).astype(z.dtype)

    def conjugate(self, y, v):
        return jnp.where(jnp.abs(v) <= self.delta, 0.5 * v * v + v * y, jnp.inf)


def huber(delta: Any = 1.35) -> Huber:
    r"""Huber loss ``F(Xw) = 1/n sum_i h(y_i - x_i^T w)`` (Huber 1964)::

        h(r) = r^2 / 2               if |r| < delta
               delta |r| - delta^2/2  otherwise

    The curvature is bounded by 1 (coordinate Lipschitz constants
    ``||x_j||^2 / n``). Conjugate ``f*(y, v) = v^2/2 + v y`` on ``|v| <= delta``.
    ``delta`` is in the units of ``y`` (scikit-learn's ``HuberRegressor``
    estimates a scale as well; this datafit does not). ``delta`` may be traced.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> float(gradopt.datafits.huber(1.0).value(jnp.array([0.5, 3.0]), jnp.zeros(2)))
        1.3125
    """
    check_scalar("delta", delta, low=0.0, low_inclusive=False)
    return Huber(delta)
