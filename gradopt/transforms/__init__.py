"""Gradient transformations: each one is an ``optax.GradientTransformation``."""

from optax import apply_updates, chain

from gradopt.transforms.clipping import clip, clip_by_global_norm, global_norm
from gradopt.transforms.descent import descent
from gradopt.transforms.momentum import MomentumState, momentum, nesterov

__all__ = [
    "MomentumState",
    "apply_updates",
    "chain",
    "clip",
    "clip_by_global_norm",
    "descent",
    "global_norm",
    "momentum",
    "nesterov",
]
