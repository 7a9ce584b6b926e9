"""The result type shared by the ready-made problems (lasso family)."""

from __future__ import annotations

from typing import Any, NamedTuple

import chex


class SparseResult(NamedTuple):
    """Solution of a lasso-family problem, with its optimality certificate.

    Attributes:
      coef: ``(p,)`` coefficients ``w`` (``(p, k)`` or batched shapes for
        batched solves).
      intercept: the unpenalized intercept ``b`` (0 when ``fit_intercept=False``).
      objective: primal objective ``P(w, b)`` at the returned point.
      duality_gap: ``P(w, b) - D(theta) >= P - P*``, with ``theta`` a feasible
        dual point obtained by rescaling the residual: a true certificate.
      n_iter: iterations of the solver (outer iterations for working-set solvers).
      converged: ``duality_gap <= tol * P(0)``, the stopping test.
      status: why the solver stopped, a :class:`gradopt.Status` code (int32):
        CONVERGED, MAX_STEPS (iteration budget spent, or no descent step
        found) or DIVERGED (non-finite objective; the last finite point is
        returned). ``None`` only in results built by hand.
    """

    coef: chex.Array
    intercept: chex.Array
    objective: chex.Array
    duality_gap: chex.Array
    n_iter: chex.Array
    converged: chex.Array
    status: Any = None
