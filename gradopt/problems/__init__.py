"""Ready-made problems (the lasso family) with duality-gap certificates."""

from gradopt.problems._result import SparseResult

__all__ = ["SparseResult"]
