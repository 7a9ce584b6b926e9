"""gradopt: first-order optimization for JAX, optax-native.

Layers (see docs/architecture.md): transformations -> penalties -> solver loops
-> problems -> diagnostics.
"""

from gradopt import datafits, problems, prox, transforms
from gradopt.problems import *  # noqa: F401,F403  (names listed in problems.__all__)
from gradopt.problems import __all__ as _problems_all
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
    "datafits",
    "fit",
    "minimize",
    "problems",
    "prox",
    "transforms",
    *_problems_all,
    *_transforms_all,
]
