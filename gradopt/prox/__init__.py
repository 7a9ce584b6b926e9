"""Penalties (non-smooth terms) with proximal operators.

``prox(v, s) = argmin_x 1/2 ||x - v||^2 + s g(x)``.
"""

from gradopt.prox.base import Penalty, penalty_class
from gradopt.prox.combine import Zero, zero
from gradopt.prox.sparse import L1, l1, soft_threshold

__all__ = [
    "L1",
    "Penalty",
    "Zero",
    "l1",
    "penalty_class",
    "soft_threshold",
    "zero",
]
