"""Solver loops: ``minimize`` (full batch, while loop) and ``fit`` (mini-batches, scan)."""

from gradopt.solve._common import current_iterate
from gradopt.solve.fit import FitResult, fit
from gradopt.solve.minimize import minimize
from gradopt.solve.result import Result, Status

__all__ = ["FitResult", "Result", "Status", "current_iterate", "fit", "minimize"]
