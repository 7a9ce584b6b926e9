r"""Least squares: ``F(z) = 1/(2n) ||y - z||^2`` (multitask: the Frobenius norm)."""

from __future__ import annotations

from gradopt.datafits.base import Datafit, datafit_class


@datafit_class
class Quadratic(Datafit):
    r"""``f(y, z) = (y - z)^2 / 2``; ``f*(y, v) = v^2 / 2 + v y`` (see :func:`quadratic`)."""

    curvature = 1.0
    quadratic = True
    has_conjugate = True
    stop_on_gap = True

    def loss(self, y, z):
        r = y - z  # r * r: XLA's CPU backend runs r ** 2 several times slower (docs/glm.md)
        return 0.5 * r * r

    def dloss(self, y, z):
        return z - y

    def d2loss(self, y, z):
        return (z - y) * 0 + 1.0

    def conjugate(self, y, v):
        return 0.5 * v * v + v * y


def quadratic() -> Quadratic:
    r"""Least squares in scikit-learn's scaling: ``F(Xw) = 1/(2n) ||y - Xw||^2``.

    With a 2-D target ``Y`` of shape ``(n, k)`` and coefficients ``W`` of shape
    ``(p, k)`` it is the multitask loss ``1/(2n) ||Y - XW||_F^2``. Coordinate
    Lipschitz constants ``||x_j||^2 / n``; conjugate ``f*(y, v) = v^2/2 + v y``,
    so the dual at ``u = (Xw - y)/n`` is ``r.y/n - ||r||^2/(2n)`` with
    ``r = y - Xw`` (the residual dual point of the lasso literature).

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> float(gradopt.datafits.quadratic().value(jnp.array([1.0, 3.0]), jnp.zeros(2)))
        2.5
    """
    return Quadratic()
