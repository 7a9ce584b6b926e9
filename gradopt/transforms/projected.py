r"""Projected gradient: ``x+ = P_C(x - eta grad f(x))``, with backtracking and acceleration.

The projected gradient method is the proximal gradient method for the
indicator of ``C`` (whose prox is the projection), so this is a thin wrapper:
:func:`projected_gradient` turns the set into a penalty and returns
:func:`gradopt.proximal_gradient` for it. One algorithm serves both, with its
FISTA acceleration, adaptive restart and backtracking.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from gradopt._validation import check_scalar
from gradopt.transforms.proximal import ProximalGradientState, proximal_gradient

#: State of :func:`projected_gradient` without acceleration (the same as
#: :class:`gradopt.ProximalGradientState`: the step count and the last step).
ProjectedGradientState = ProximalGradientState


class _ProjectionPenalty:
    """A projection ``params -> P_C(params)`` seen as the indicator of ``C``.

    ``value`` is 0: the method only evaluates it at projected points, which
    are in ``C``. ``prox(v, step) = P_C(v)`` for every step.
    """

    is_indicator = True

    def __init__(self, project):
        self._project = project

    def value(self, params):
        leaves = jax.tree_util.tree_leaves(params)
        return jnp.zeros([], jnp.result_type(jnp.float32, *leaves))

    def prox(self, params, step=1.0):
        del step
        return self._project(params)


def _as_indicator(projection):
    """The indicator penalty of the set, from a set penalty or a projection callable."""
    is_penalty = callable(getattr(projection, "prox", None)) and callable(
        getattr(projection, "value", None)
    )
    if is_penalty:
        if not getattr(projection, "is_indicator", False):
            raise ValueError(
                "projection must be a projection function or the indicator of a set "
                "(a penalty with is_indicator=True, e.g. gradopt.prox.box(0., 1.)); got the "
                f"non-indicator penalty {type(projection).__name__}: use "
                "gradopt.proximal_gradient for it."
            )
        return projection
    if callable(projection):
        return _ProjectionPenalty(projection)
    raise TypeError(
        "projection must be a callable params -> P_C(params) (e.g. "
        "lambda p: optax.projections.projection_box(p, 0., 1.)) or a set penalty "
        f"from gradopt.prox; got {type(projection).__name__}."
    )


def projected_gradient(
    learning_rate: optax.ScalarOrSchedule | None,
    projection,
    *,
    accelerate: bool = False,
    restart: str | None = None,
    initial_learning_rate: float = 1.0,
    shrink: float = 0.5,
    increase: float = 1.0,
    max_backtracking_steps: int = 30,
) -> optax.GradientTransformationExtraArgs:
    r"""Projected gradient descent onto a convex set ``C``: fixed step, backtracking, FISTA.

    With ``P_C`` the Euclidean projection onto ``C`` and step ``k = 0, 1, ...``::

        x_{k+1} = P_C(x_k - eta_k grad f(x_k))

    (Goldstein 1964; Levitin & Polyak 1966): the proximal gradient step for
    ``g`` = the indicator of ``C``. For ``eta <= 1/L`` (``L`` the Lipschitz
    constant of ``grad f``) ``f(x_k) - f* = O(1/k)``. The incoming ``updates``
    must be the gradient at ``params``; the updates returned move the
    parameters to the new point, which is in ``C`` (from the first step on,
    whatever the starting point).

    It is :func:`gradopt.proximal_gradient` with the set's indicator, and takes
    the same options:

    * ``learning_rate=None``: **backtracking** (Beck & Teboulle 2009): from the
      last accepted step (``initial_learning_rate`` at first, times
      ``increase``), shrink ``eta <- shrink * eta`` until
      ``f(x+) <= f(x) + <grad f(x), x+ - x> + ||x+ - x||^2 / (2 eta)``
      (plus a round-off allowance). No ``L`` needed; one evaluation of ``f``
      per trial, through ``value_fn`` (``gradopt.minimize`` passes it).
    * ``accelerate=True``: **FISTA** (Beck & Teboulle 2009),
      ``f(x_k) - f* = O(1/k^2)``; the loop's ``params`` are the extrapolated
      points (which may leave ``C``), the iterate ``x_k`` (in ``C``) is
      ``state.iterate`` (``gradopt.minimize`` returns it; in your own loop use
      ``gradopt.current_iterate(state, params)``).
    * ``restart="function"`` or ``"gradient"``: adaptive restart of the
      momentum (O'Donoghue & Candès 2015).

    Args:
      learning_rate: ``eta > 0``: float, traced array, or optax schedule; or
        ``None`` for backtracking.
      projection: either the indicator of a set from :mod:`gradopt.prox`
        (``is_indicator`` true: ``nonnegative()``, ``box(l, u)``,
        ``l2_ball(r)``...; its prox is the projection), or any callable
        ``params -> P_C(params)`` on pytrees, e.g. from ``optax.projections``.
        A penalty that is not an indicator raises ``ValueError``.
      accelerate, restart, initial_learning_rate, shrink, increase,
        max_backtracking_steps: as in :func:`gradopt.proximal_gradient`.

    Returns:
      An ``optax.GradientTransformationExtraArgs``; its state is a
      :class:`ProjectedGradientState` (= ``ProximalGradientState``) or, with
      ``accelerate=True``, a ``FISTAState``.

    Traced hyperparameters cannot be validated eagerly.

    Example (non-negative least squares: fixed step, and accelerated with
    backtracking and restart)::

        >>> import jax.numpy as jnp, gradopt
        >>> A = jnp.array([[1.0, 2.0], [3.0, 4.0]]); b = jnp.array([-1.0, 1.0])
        >>> f = lambda x: 0.5 * jnp.sum((A @ x - b) ** 2)
        >>> C = gradopt.prox.nonnegative()
        >>> res = gradopt.minimize(f, jnp.zeros(2), gradopt.projected_gradient(0.03, C),
        ...                        penalty=C, max_steps=2000, tol=1e-5)
        >>> fast = gradopt.projected_gradient(None, C, accelerate=True, restart="gradient")
        >>> res2 = gradopt.minimize(f, jnp.zeros(2), fast, penalty=C, max_steps=2000, tol=1e-5)
        >>> [round(float(v), 3) for v in res2.params], bool(res2.steps < res.steps)
        ([0.2, 0.0], True)
    """
    if learning_rate is not None:
        check_scalar("learning_rate", learning_rate, low=0.0, low_inclusive=False, allow_callable=True)
    return proximal_gradient(
        learning_rate,
        _as_indicator(projection),
        accelerate=accelerate,
        restart=restart,
        initial_learning_rate=initial_learning_rate,
        shrink=shrink,
        increase=increase,
        max_backtracking_steps=max_backtracking_steps,
    )
