"""The zero penalty (no regularization)."""

from __future__ import annotations

import jax.numpy as jnp

from gradopt.prox.base import Penalty, penalty_class


@penalty_class
class Zero(Penalty):
    """``g = 0``; its prox is the identity."""

    def value(self, params):
        del params
        return jnp.zeros([])

    def prox(self, params, step=1.0):
        del step
        return params


def zero() -> Zero:
    """The zero penalty: ``g(x) = 0``, ``prox(v, s) = v``."""
    return Zero()
