"""gradopt: first-order optimization for JAX, optax-native.

Layers (see docs/architecture.md): transformations -> penalties -> solver loops
-> problems -> diagnostics.
"""

from gradopt import prox, transforms
from gradopt.check import GradCheckReport, GradientCheckError, check_grad
from gradopt.solve import FitResult, Result, Status, current_iterate, fit, minimize
from gradopt.transforms import *  # noqa: F401,F403  (names listed in transforms.__all__)
from gradopt.transforms import __all__ as _transforms_all

__version__ = "0.1.0"

__all__ = [
    "FitResult",
    "GradCheckReport",
    "GradientCheckError",
    "Result",
    "Status",
    "check_grad",
    "current_iterate",
    "fit",
    "minimize",
    "prox",
    "transforms",
    *_transforms_all,
]
