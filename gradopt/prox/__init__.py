"""Penalties (non-smooth terms) with proximal operators.

``prox(v, s) = argmin_x 1/2 ||x - v||^2 + s g(x)``. See docs/prox.md for the
table of penalties, their proxes and references.
"""

from gradopt.prox.affine import (
    AffineSet,
    BoxSection,
    Halfspace,
    Hyperplane,
    affine_set,
    box_section,
    halfspace,
    hyperplane,
)
from gradopt.prox.base import Penalty, penalty_class
from gradopt.prox.birkhoff import Birkhoff, birkhoff, project_birkhoff
from gradopt.prox.combine import FromProjection, Separable, Zero, from_projection, separable, zero
from gradopt.prox.group import GroupL2, group_l2
from gradopt.prox.matrix import Nuclear, nuclear
from gradopt.prox.nonconvex import (
    L1Sphere,
    L2Sphere,
    SparseSimplex,
    l1_sphere,
    l2_sphere,
    sparse_simplex,
)
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
    simplex_threshold,
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
    "AffineSet",
    "Birkhoff",
    "Box",
    "BoxSection",
    "ElasticNet",
    "FromProjection",
    "GroupL2",
    "Halfspace",
    "Hyperplane",
    "L1",
    "L1Ball",
    "L1Sphere",
    "L2Ball",
    "L2Sphere",
    "L2Squared",
    "Linf",
    "LinfBall",
    "Nonnegative",
    "Nuclear",
    "Penalty",
    "Separable",
    "Simplex",
    "SparseSimplex",
    "Zero",
    "affine_set",
    "birkhoff",
    "box",
    "box_section",
    "elastic_net",
    "from_projection",
    "group_l2",
    "halfspace",
    "hyperplane",
    "l1",
    "l1_ball",
    "l1_sphere",
    "l2_ball",
    "l2_sphere",
    "l2_squared",
    "linf",
    "linf_ball",
    "nonnegative",
    "nuclear",
    "penalty_class",
    "project_birkhoff",
    "separable",
    "simplex",
    "simplex_threshold",
    "soft_threshold",
    "sparse_simplex",
    "zero",
]
