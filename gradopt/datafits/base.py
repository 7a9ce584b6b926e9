r"""The datafit protocol: the smooth term ``F(Xw)`` of a generalized linear model.

A datafit is an immutable pytree (its parameters, such as Huber's ``delta``,
may be traced) describing a loss that is a mean over samples of a scalar
function of the linear predictor ``z_i = x_i^T w + b``::

    F(z) = 1/n sum_i f(y_i, z_i)          (multitask: sum over the k columns too)

Every datafit gives the pointwise pieces, and the base class turns them into
the averaged value and gradient (with a row mask: padding rows weigh 0):

* ``loss(y, z)``, ``dloss(y, z)`` (``df/dz``), ``d2loss(y, z)`` (``d^2f/dz^2``);
* ``curvature``: ``sup_z d2loss`` (``inf`` when unbounded, as for Poisson), so
  that coordinate ``j`` of ``w -> F(Xw)`` is ``curvature ||x_j||^2 / n``-smooth;
* ``newton``: whether solvers should use the exact Hessian weights
  ``d2loss / n`` (proximal Newton, Lee, Sun & Saunders 2014) instead of the
  constant bound (proximal coordinate descent, Tseng & Yun 2009);
* ``conjugate(y, v)``: the Fenchel conjugate ``f*(y, v) = sup_z v z - f(y, z)``
  (``inf`` outside its domain), for the duality gap; ``None`` when a datafit
  has no gap certificate (solvers then stop on the KKT violation);
* ``labels(y)``: eager validation / mapping of the targets (e.g. ``{0, 1}`` to
  ``{-1, +1}`` for the logistic loss).

With ``u = grad F(Xw)`` (entries ``dloss(y_i, z_i) / n``), the Fenchel dual of
``min_w F(Xw) + G(w)`` is ``D(u) = -F*(u) - G*(-X^T u)`` with
``F*(u) = 1/n sum_i f*(y_i, n u_i)``, and ``P(w) - D(u) >= P(w) - P*``.
"""

from __future__ import annotations

import math
from typing import Any

import jax.numpy as jnp

from gradopt.prox.base import penalty_class as datafit_class  # frozen dataclass + pytree

__all__ = ["Datafit", "datafit_class", "sample_sum"]


class Datafit:
    """Base class of datafits; subclasses define the pointwise ``loss``/``dloss``/``d2loss``."""

    #: sup of ``d2loss`` over ``z`` (``math.inf`` when unbounded).
    curvature: float = math.inf
    #: proximal Newton (exact Hessian weights) rather than the constant bound.
    newton: bool = False
    #: whether ``loss`` is quadratic in ``z`` (``d2loss == curvature``): its gradient is
    #: then linear in ``z`` and solvers may update it incrementally.
    quadratic: bool = False
    #: whether :meth:`conjugate` exists (the gap is then computed and reported).
    has_conjugate: bool = False
    #: whether solvers stop on the gap (else on the KKT violation): only where the
    #: rescaled dual point always stays in the conjugate's domain.
    stop_on_gap: bool = False

    def loss(self, y, z):
        raise NotImplementedError

    def dloss(self, y, z):
        raise NotImplementedError

    def d2loss(self, y, z):
        raise NotImplementedError

    def conjugate(self, y, v):
        raise NotImplementedError(f"{type(self).__name__} has no conjugate.")

    def labels(self, y):
        """Targets as the solver reads them (eager checks on concrete ``y``)."""
        return y

    # ---- averaged forms (mask: 1 for real rows, 0 for padding) ------------ #

    @staticmethod
    def _mask(z, mask):
        if mask is None:
            return jnp.ones(z.shape[:1], z.dtype), z.shape[0]
        return mask.astype(z.dtype), jnp.sum(mask.astype(z.dtype))

    def value(self, y, z, mask=None):
        """``F(z) = 1/n sum_i f(y_i, z_i)``."""
        m, n = self._mask(z, mask)
        return jnp.sum(sample_sum(self.loss(_vector(y), _vector(z)), m)) / n

    def gradient(self, y, z, mask=None):
        """``dF/dz``: ``dloss(y_i, z_i) / n`` (0 on padding rows)."""
        m, n = self._mask(z, mask)
        return _rows(m, z) * self.dloss(y, z) / n

    def dual_value(self, y, u, mask=None):
        """``-F*(u) = -1/n sum_i f*(y_i, n u_i)`` (``-inf`` outside the domain)."""
        m, n = self._mask(u, mask)
        y, u = _vector(y), _vector(u)
        c = self.conjugate(y, n * u)
        return -jnp.sum(jnp.where(_rows(m, u) > 0, c, 0.0)) / n

    def center_dual(self, y, u, mask=None):
        """A dual point with ``sum_i u_i = 0`` (the intercept's dual constraint).

        The default subtracts the mean over real rows; datafits whose conjugate
        has a bounded domain override it with a domain-preserving rescaling.
        """
        m, n = self._mask(u, mask)
        return u - _rows(m, u) * sample_sum(u, m) / n


def sample_sum(a, weights=None):
    """``sum_i weights_i a_i`` over the samples (axis 0) of an ``(n,)`` or ``(n, k)`` array.

    An ``(n, 1)`` array is summed as an ``(n,)`` vector (the result keeps its shape
    ``(1,)``): jaxlib's CPU backend runs a reduction over ``(n, 1)`` operands with a
    broadcast ``(n,)`` weight several times slower (docs/glm.md, "Reductions over the
    samples").
    """
    column = a.ndim == 2 and a.shape[1] == 1
    v = _vector(a)
    if weights is not None:
        v = _rows(weights, v) * v
    total = jnp.sum(v, axis=0)
    return total[None] if column else total


def _vector(a):
    """An ``(n, 1)`` array as an ``(n,)`` vector (see :func:`sample_sum`); others as they are."""
    return a[:, 0] if a.ndim == 2 and a.shape[1] == 1 else a


def _rows(m, z):
    """The row mask ``m`` (n,) broadcast against ``z`` (n,) or (n, k)."""
    return m if z.ndim == 1 else m[:, None]
