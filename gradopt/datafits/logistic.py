r"""Logistic loss: ``F(z) = 1/n sum_i log(1 + exp(-y_i z_i))``, labels ``+-1``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import xlogy

from gradopt._validation import is_traced
from gradopt.datafits.base import Datafit, datafit_class, sample_sum


def _label_stats(y):
    """(both classes present, labels all in {0, 1} or all in {-1, 1}) of an array."""
    both = jnp.any(y > 0) & jnp.any(y <= 0)
    known = jnp.all((y == 0) | (y == 1)) | jnp.all((y == -1) | (y == 1))
    return both, known


@datafit_class
class Logistic(Datafit):
    r"""``f(y, z) = log(1 + exp(-y z))`` (see :func:`logistic`)."""

    curvature = 0.25
    newton = True
    has_conjugate = True
    stop_on_gap = True

    def loss(self, y, z):
        return jnp.logaddexp(0.0, -y * z)

    def dloss(self, y, z):
        return -y * jax.nn.sigmoid(-y * z)

    def d2loss(self, y, z):
        s = jax.nn.sigmoid(y * z)
        return s * (1.0 - s)

    def conjugate(self, y, v):
        # f*(v) = t log t + (1 - t) log(1 - t) with t = -v y in [0, 1]
        t = -v * y
        inside = (t >= 0) & (t <= 1)
        tc = jnp.clip(t, 0.0, 1.0)
        return jnp.where(inside, xlogy(tc, tc) + xlogy(1.0 - tc, 1.0 - tc), jnp.inf)

    def labels(self, y):
        from gradopt.problems import _sharding  # noqa: PLC0415  (problems import datafits)

        if _sharding.is_sharded(y):  # possibly spanning processes: checked where it lies
            both, known = _sharding.reduce_on_device(_label_stats, y)
            if not both:
                raise ValueError("y has one class; logistic regression needs two classes.")
            if not known:
                raise ValueError("y must hold labels in {0, 1} or {-1, 1}; it holds other values.")
        elif not is_traced(y):
            vals = np.unique(np.asarray(y))
            if vals.size < 2:
                raise ValueError(
                    f"y has one class ({vals.tolist()}); logistic regression needs two classes."
                )
            if not (set(vals.tolist()) <= {0, 1} or set(vals.tolist()) <= {-1, 1}):
                raise ValueError(
                    f"y must hold labels in {{0, 1}} or {{-1, 1}}; got the values "
                    f"{vals[:5].tolist()}{'...' if vals.size > 5 else ''}."
                )
        xp = np if isinstance(y, np.ndarray) else jnp
        # boolean labels become +-1 integers (a bool cast would turn -1 into True)
        return xp.where(y > 0, 1.0, -1.0).astype(np.int8 if y.dtype == np.bool_ else y.dtype)

    def center_dual(self, y, u, mask=None):
        # u_i = -y_i t_i / n with t_i in [0, 1]: scale down the class with the larger
        # total so that both totals agree (sum u = 0) while every t_i stays in [0, 1].
        m, _ = self._mask(u, mask)
        pos = sample_sum(jnp.where(y > 0, -u, 0.0), m)
        neg = sample_sum(jnp.where(y > 0, 0.0, u), m)
        tiny = jnp.finfo(u.dtype).tiny
        s_pos = jnp.where(pos > neg, neg / jnp.maximum(pos, tiny), 1.0)
        s_neg = jnp.where(neg > pos, pos / jnp.maximum(neg, tiny), 1.0)
        return u * jnp.where(y > 0, s_pos, s_neg)


def logistic() -> Logistic:
    r"""Logistic regression loss ``F(Xw) = 1/n sum_i log(1 + exp(-y_i x_i^T w))``, ``y_i = +-1``.

    Problem functions map labels ``{0, 1}`` to ``{-1, +1}``. The curvature is
    at most ``1/4``; solvers use proximal Newton (exact Hessian weights
    ``sigma(z_i)(1 - sigma(z_i)) / n``). Conjugate (binary negative entropy)::

        f*(y, v) = t log t + (1 - t) log(1 - t),  t = -v y in [0, 1]

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> round(float(gradopt.datafits.logistic().value(jnp.array([1.0, -1.0]), jnp.zeros(2))), 4)
        0.6931
    """
    return Logistic()
