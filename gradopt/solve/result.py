"""What a solver loop returns, and why it stopped."""

from __future__ import annotations

import enum
from typing import Any, NamedTuple

import chex
import numpy as np


class Status(enum.IntEnum):
    """Why a loop stopped. Stored in :class:`Result` as an int32 array."""

    RUNNING = -1
    CONVERGED = 0
    MAX_STEPS = 1
    DIVERGED = 2


_MESSAGES = {
    Status.RUNNING: "still running (loop was interrupted)",
    Status.CONVERGED: "converged: optimality measure <= tol (with a penalty, relative to "
    "max(1, ||grad f||))",
    Status.MAX_STEPS: "stopped at max_steps before reaching tol",
    Status.DIVERGED: "diverged: loss, gradient or parameters became non-finite; "
    "params are the last finite iterate",
}


class Result(NamedTuple):
    """Outcome of :func:`gradopt.minimize` (a pytree: it can leave ``jit``/``vmap``).

    Attributes:
      params: the solution (for accelerated methods the actual iterate ``x_k``,
        not the extrapolated point where gradients were taken). For a diverged
        run, the last finite iterate.
      value: objective at ``params``: ``f(params)`` or ``f(params) + g(params)``.
      grad_norm: the optimality measure at the last evaluated point: ``||grad f||``
        without a penalty, the unit-step gradient mapping
        ``||x - prox_g(x - grad f(x), 1)||`` with one (``minimize`` compares the
        latter with ``tol * max(1, ||grad f(x)||)``).
      steps: number of optimizer updates taken.
      status: an int32 :class:`Status` code (``result.status_name`` for text).
      best_params: the evaluated point with the lowest objective seen. Methods
        that do not descend (subgradient, Polyak) should report this one.
      best_value: objective at ``best_params``.
      opt_state: the optimizer state at the end (for warm restarts).
      aux: with ``minimize(..., has_aux=True)``, the auxiliary output of
        ``fun`` at ``params`` (``fun`` returns ``(value, aux)``); ``None``
        otherwise. Last field, so positional construction and unpacking of
        the first eight fields keep working.
    """

    params: Any
    value: chex.Array
    grad_norm: chex.Array
    steps: chex.Array
    status: chex.Array
    best_params: Any
    best_value: chex.Array
    opt_state: Any
    aux: Any = None

    @property
    def converged(self):
        return self.status == Status.CONVERGED

    @property
    def diverged(self):
        return self.status == Status.DIVERGED

    @property
    def status_name(self) -> str:
        """The status as text, e.g. ``"CONVERGED"`` (concrete results only)."""
        codes = np.asarray(self.status)
        if codes.ndim == 0:
            return Status(int(codes)).name
        return ",".join(Status(int(c)).name for c in codes.ravel())

    @property
    def message(self) -> str:
        codes = np.asarray(self.status)
        if codes.ndim == 0:
            return _MESSAGES[Status(int(codes))]
        return "; ".join(_MESSAGES[Status(int(c))] for c in codes.ravel())

    def __repr__(self) -> str:  # short: params may be large
        try:
            return (
                f"Result(status={self.status_name}, steps={int(np.max(self.steps))}, "
                f"value={np.asarray(self.value)}, grad_norm={np.asarray(self.grad_norm)})"
            )
        except Exception:  # traced
            return "Result(<traced>)"
