"""Penalties (non-smooth terms) with proximal operators.

``prox(v, s) = argmin_x 1/2 ||x - v||^2 + s g(x)``. See docs/prox.md for the
table of penalties, their proxes and references.
"""

from gradopt.prox.base import Penalty, penalty_class
from gradopt.prox.combine import Separable, Zero, separable, zero
from gradopt.prox.group import GroupL2, group_l2
from gradopt.prox.matrix import Nuclear, nuclear
from gradopt.prox.sets import (
    Box,
    L1Ball,
    L2Ball,
    LinfBall,
    Nonnegative,
    Simplex,
    box,
    l1_ball,
    l2_ball,
    linf_ball,
    nonnegative,
    simplex,
)
from gradopt.prox.sparse import (
    L1,
    ElasticNet,
    L2Squared,
    Linf,
    elastic_net,
    l1,
    l2_squared,
    linf,
    soft_threshold,
)

__all__ = [
    "L1",
    "Box",
    "ElasticNet",
    "GroupL2",
    "L1Ball",
    "L2Ball",
    "L2Squared",
    "Linf",
    "LinfBall",
    "Nonnegative",
    "Nuclear",
    "Penalty",
    "Separable",
    "Simplex",
    "Zero",
    "box",
    "elastic_net",
    "group_l2",
    "l1",
    "l1_ball",
    "l2_ball",
    "l2_squared",
    "linf",
    "linf_ball",
    "nonnegative",
    "nuclear",
    "penalty_class",
    "separable",
    "simplex",
    "soft_threshold",
    "zero",
]
