r"""Poisson regression with the log link: ``F(z) = 1/n sum_i exp(z_i) - y_i z_i``."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import xlogy

from gradopt._validation import is_traced
from gradopt.datafits.base import Datafit, _rows, datafit_class, sample_sum


def _any_negative(y):
    return jnp.any(y < 0)


@datafit_class
class Poisson(Datafit):
    r"""``f(y, z) = exp(z) - y z`` (see :func:`poisson`)."""

    newton = True
    has_conjugate = True

    def loss(self, y, z):
        return jnp.exp(z) - y * z

    def dloss(self, y, z):
        return jnp.exp(z) - y

    def d2loss(self, y, z):
        return jnp.exp(z)

    def conjugate(self, y, v):
        t = v + y
        return jnp.where(t >= 0, xlogy(t, jnp.maximum(t, 0.0)) - t, jnp.inf)

    def labels(self, y):
        from gradopt.problems import _sharding  # noqa: PLC0415  (problems import datafits)

        if _sharding.is_sharded(y):  # possibly spanning processes: checked where it lies
            negative = _sharding.reduce_on_device(_any_negative, y)
        else:
            negative = not is_traced(y) and np.any(np.asarray(y) < 0)
        if negative:
            raise ValueError("y must be >= 0 (counts or rates) for the Poisson datafit.")
        return y

    def center_dual(self, y, u, mask=None):
        # n u_i = mu_i - y_i with mu_i = exp(z_i) > 0: rescale mu so that sum(mu) = sum(y),
        # which keeps n u_i + y_i >= 0 (the conjugate's domain).
        m, n = self._mask(u, mask)
        mu = n * u + y
        a = sample_sum(y, m) / jnp.maximum(sample_sum(mu, m), jnp.finfo(u.dtype).tiny)
        return _rows(m, u) * (a * mu - y) / n


def poisson() -> Poisson:
    r"""Poisson loss with the log link, ``F(Xw) = 1/n sum_i exp(x_i^T w) - y_i x_i^T w``.

    (The negative log-likelihood up to a constant; scikit-learn's
    ``PoissonRegressor`` uses half the deviance, which has the same
    minimizer and gradient.) The curvature ``exp(z)`` is unbounded, so solvers
    use proximal Newton with a line search. Conjugate
    ``f*(y, v) = (v + y) log(v + y) - (v + y)`` on ``v + y >= 0``.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> float(gradopt.datafits.poisson().value(jnp.array([1.0, 2.0]), jnp.zeros(2)))
        1.0
    """
    return Poisson()
