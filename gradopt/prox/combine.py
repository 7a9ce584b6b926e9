"""Combinators: the zero penalty, separable (per-leaf / per-subtree) penalties, and
penalties made from a user's projection function."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from gradopt.prox.base import (
    Penalty,
    penalty_class,
    set_rtol,
    tree_dtype,
    tree_norm_from_squares,
    tree_sum,
)
from gradopt.transforms.clipping import global_norm


@penalty_class
class Zero(Penalty):
    """``g = 0``; its prox is the identity (see :func:`zero`)."""

    #: ``g = 0`` is the indicator of the whole space, so projected methods accept it.
    is_indicator = True

    def value(self, params):
        del params
        return jnp.zeros([])

    def prox(self, params, step=1.0):
        del step
        return params

    def subdiff_distance(self, params, grad):
        """``||grad||`` (the subdifferential of 0 is ``{0}``)."""
        del params
        return global_norm(grad)

    def alpha_max(self, grad):
        """0: nothing is penalized (strength 0 everywhere), as ``l1(0.0)``."""
        return jnp.zeros([], jax.tree_util.tree_leaves(grad)[0].dtype)


def zero() -> Zero:
    """The zero penalty: ``g(x) = 0``, ``prox(v, s) = v``.

    It is also the indicator of the whole space (``is_indicator`` is True),
    so ``separable({"w": nonnegative(), "b": zero()})`` is a set constraint.
    ``subdiff_distance``: yes (``||grad||``).

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.zero().prox(jnp.array([1.0, -2.0]), 0.5)
        Array([ 1., -2.], dtype=float32)
    """
    return Zero()


def _is_penalty(x) -> bool:
    return isinstance(x, Penalty)


@penalty_class
class Separable(Penalty):
    r"""``g(x) = sum_k g_k(x_k)`` over subtrees ``x_k`` of the parameters (see :func:`separable`)."""

    penalties: Any

    def _children(self):
        return jax.tree_util.tree_leaves(self.penalties, is_leaf=_is_penalty)

    def _split(self, params, name="params"):
        treedef = jax.tree_util.tree_structure(self.penalties, is_leaf=_is_penalty)
        try:
            return treedef, treedef.flatten_up_to(params)
        except (ValueError, TypeError) as e:
            raise ValueError(
                f"penalties must have a structure that is a prefix of the {name}' structure "
                f"(one penalty per leaf or subtree); penalties have structure {treedef} but "
                f"the {name} have {jax.tree_util.tree_structure(params)} "
                f"({str(e).splitlines()[0]})."
            ) from None

    @property
    def is_indicator(self) -> bool:  # type: ignore[override]
        return all(p.is_indicator for p in self._children())

    @property
    def has_subdiff_distance(self) -> bool:
        return all(p.has_subdiff_distance for p in self._children())

    def value(self, params):
        _, parts = self._split(params)
        return tree_sum([p.value(x) for p, x in zip(self._children(), parts)])

    def prox(self, params, step=1.0):
        treedef, parts = self._split(params)
        return treedef.unflatten([p.prox(x, step) for p, x in zip(self._children(), parts)])

    def subdiff_distance(self, params, grad):
        """``sqrt(sum_k subdiff_distance_k^2)``; needs every child to have ``subdiff_distance``."""
        missing = [type(p).__name__ for p in self._children() if not p.has_subdiff_distance]
        if missing:
            raise NotImplementedError(
                f"subdiff_distance is not available for {', '.join(missing)} inside separable; "
                f"use residual(params, grad, step) instead."
            )
        _, parts = self._split(params)
        _, gparts = self._split(grad, name="grad")
        d = [p.subdiff_distance(x, g) for p, x, g in zip(self._children(), parts, gparts)]
        return tree_norm_from_squares([di * di for di in d])

    def alpha_max(self, grad):
        """The largest of the children's ``alpha_max`` (``t g`` scales every child)."""
        _, gparts = self._split(grad, name="grad")
        return jnp.max(jnp.stack([p.alpha_max(g) for p, g in zip(self._children(), gparts)]))


def separable(penalties: Any) -> Separable:
    r"""A different penalty for each leaf or subtree: ``g(x) = sum_k g_k(x_k)``.

    ``penalties`` is a pytree whose leaves are penalties and whose structure
    is a prefix of the parameters' structure: each penalty applies to the
    matching leaf or whole subtree. ``None`` stands for :func:`zero`. The prox
    of a separable sum is the tuple of the proxes (Parikh & Boyd 2014,
    sec. 2.1; Combettes & Wajs 2005)::

        prox(v, s) = (prox_{g_1}(v_1, s), ..., prox_{g_K}(v_K, s))

    ``is_indicator`` when every child is; ``subdiff_distance`` (the Euclidean
    combination ``sqrt(sum_k d_k^2)``) when every child has one
    (``has_subdiff_distance``). A structure mismatch raises ``ValueError``
    naming ``penalties`` at the first ``value``/``prox`` call.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> from gradopt import prox
        >>> g = prox.separable({"w": prox.l1(0.5), "b": prox.zero()})
        >>> g.prox({"w": jnp.array([1.0, -0.2]), "b": jnp.array([-3.0])}, 1.0)
        {'b': Array([-3.], dtype=float32), 'w': Array([ 0.5, -0. ], dtype=float32)}
    """
    is_node = lambda x: x is None or _is_penalty(x)
    penalties = jax.tree_util.tree_map(
        lambda p: zero() if p is None else p, penalties, is_leaf=is_node
    )
    leaves = jax.tree_util.tree_leaves(penalties, is_leaf=_is_penalty)
    if not leaves:
        raise ValueError("penalties must contain at least one penalty, got an empty pytree.")
    for leaf in leaves:
        if not _is_penalty(leaf):
            raise TypeError(
                "penalties must be a pytree whose leaves are gradopt.prox penalties "
                f"(or None for zero), got a leaf {leaf!r}."
            )
    return Separable(penalties)


@penalty_class(static=("projection",))
class FromProjection(Penalty):
    r"""Indicator of the set onto which ``projection`` projects (see :func:`from_projection`)."""

    projection: Any
    is_indicator = True

    def value(self, params):
        dt = tree_dtype(params)
        moved = global_norm(jax.tree.map(lambda p, x: p - x, self.prox(params), params))
        inside = moved <= set_rtol(dt) * (1.0 + global_norm(params))
        return jnp.where(inside, jnp.zeros([], dt), jnp.asarray(jnp.inf, dt))

    def prox(self, params, step=1.0):
        del step
        out = self.projection(params)
        return jax.tree.map(lambda o, x: jnp.asarray(o).astype(jnp.asarray(x).dtype), out, params)


def from_projection(projection: Callable[[Any], Any]) -> FromProjection:
    r"""A penalty from a projection function: the indicator of the set it projects onto.

    ``projection(x)`` must return the Euclidean projection ``P_C(x)`` of the
    pytree ``x`` onto a closed set ``C`` (same structure, shapes and dtypes).
    The penalty is

    * ``prox(v, s) = projection(v)`` for every step ``s`` (the prox of an
      indicator is the projection, whatever the step), cast back to the
      dtypes of ``v``'s leaves;
    * ``value(x) = 0`` when the projection leaves ``x`` in place,
      ``||projection(x) - x|| <= sqrt(eps) (1 + ||x||)`` (the membership
      tolerance of the built-in sets, :func:`~gradopt.prox.base.set_rtol`),
      and ``+inf`` otherwise. Each ``value`` call runs the projection once.

    ``is_indicator`` is True, so it works with ``minimize(penalty=...)``,
    ``proximal_gradient`` and ``projected_gradient``. Use it for sets
    gradopt does not provide, for a vmapped projection (row-wise sets), or
    to reuse a jaxopt/optax projection:
    ``from_projection(lambda x: optax.projections.projection_hypercube(x, 2.0))``.
    The function is a static part of the penalty (hashed into the
    ``jit`` cache key): define it once rather than a new lambda per call.
    ``subdiff_distance``: no (use ``residual``). A function that is not a
    projection (not idempotent) gives meaningless ``value``s.

    Example::

        >>> import jax, jax.numpy as jnp, gradopt, optax
        >>> rows = jax.vmap(optax.projections.projection_simplex)
        >>> g = gradopt.prox.from_projection(rows)
        >>> g.prox(jnp.array([[1.0, 0.5], [0.0, 3.0]]))
        Array([[0.75, 0.25],
               [0.  , 1.  ]], dtype=float32)
        >>> float(g.value(jnp.array([[0.5, 0.5], [0.2, 0.2]])))
        inf
    """
    if not callable(projection) or isinstance(projection, Penalty):
        raise TypeError(
            "projection must be a function x -> P_C(x) (a pytree to its projection), got "
            f"{projection!r}" + (" (already a penalty: use it directly)." if isinstance(projection, Penalty) else ".")
        )
    return FromProjection(projection)
