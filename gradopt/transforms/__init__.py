"""Gradient transformations: each one is an ``optax.GradientTransformation``."""

from optax import apply_updates, chain

from gradopt.transforms.clipping import clip, clip_by_global_norm, global_norm
from gradopt.transforms.descent import descent
from gradopt.transforms.lbfgsb import LbfgsbState, lbfgsb
from gradopt.transforms.momentum import MomentumState, momentum, nesterov
from gradopt.transforms.projected import ProjectedGradientState, projected_gradient
from gradopt.transforms.proximal import (
    FISTAState,
    ProximalGradientState,
    ProximalState,
    proximal,
    proximal_gradient,
)
from gradopt.transforms.subgradient import diminishing, polyak, subgradient

__all__ = [
    "FISTAState",
    "LbfgsbState",
    "MomentumState",
    "ProjectedGradientState",
    "ProximalGradientState",
    "ProximalState",
    "apply_updates",
    "chain",
    "clip",
    "clip_by_global_norm",
    "descent",
    "diminishing",
    "global_norm",
    "lbfgsb",
    "momentum",
    "nesterov",
    "polyak",
    "projected_gradient",
    "proximal",
    "proximal_gradient",
    "subgradient",
]
