"""The penalty protocol: a non-smooth term ``g`` with its value and its prox.

A penalty is an immutable pytree (so regularization strengths may be traced
arrays and a penalty can be passed through ``jit``/``vmap`` as an argument)
with

* ``value(params) -> scalar``: ``g(params)`` (``inf`` outside a set for indicators);
* ``prox(params, step) -> params``: ``argmin_x 1/2 ||x - v||^2 + step * g(x)``;
* ``residual(params, grad, step=1.0) -> scalar``: the gradient-mapping norm
  ``||x - prox(x - step * grad, step)|| / step``, zero exactly at minimizers of
  ``f + g`` when ``grad = grad f(x)``; loops use it as a stopping test. It
  exists for every penalty.
* ``subdiff_distance(params, grad) -> scalar`` (only where it has a closed
  form; ``penalty.has_subdiff_distance`` says whether it does):
  ``dist(-grad, dg(x))``, the Euclidean distance of ``-grad f(x)`` to the
  subdifferential of ``g`` at ``x``, zero exactly at minimizers of ``f + g``.
* ``alpha_max(grad) -> scalar`` (l1, elastic net, ridge, the group norms,
  linf, nuclear, zero, separable): the smallest multiplier ``t`` for which
  ``x = 0`` minimizes ``f + t g`` when ``grad = grad f(0)``.

Subclasses are declared with :func:`penalty_class`, which makes a frozen
dataclass and registers it as a pytree whose array fields are children and
whose ``static`` fields (Python config such as an axis) are auxiliary data.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradopt._validation import (
    check_nonnegative,
    check_tree_nonnegative,
    is_traced,
    reject_masked,
)
from gradopt.transforms.clipping import global_norm


class Penalty:
    """Base class of penalties. Subclasses implement ``value`` and ``prox``.

    Penalties whose subdifferential has a closed form also define
    ``subdiff_distance(params, grad)``; :attr:`has_subdiff_distance` tells
    whether a penalty has it (a :func:`~gradopt.prox.separable` penalty has it
    when all its children do).
    """

    #: True for indicator functions of sets (value 0 or inf, prox a projection).
    is_indicator: bool = False

    def __init_subclass__(cls, **kwargs):
        # Every subclass's prox checks its step eagerly (see _checked_prox), so
        # the check lives in one place and new penalties get it for free.
        super().__init_subclass__(**kwargs)
        prox = cls.__dict__.get("prox")
        if callable(prox) and not getattr(prox, "_checks_step", False):
            cls.prox = _checked_prox(prox)

    def value(self, params: Any) -> jax.Array:
        raise NotImplementedError

    def prox(self, params: Any, step: Any = 1.0) -> Any:
        raise NotImplementedError

    def residual(self, params: Any, grad: Any, step: Any = 1.0) -> jax.Array:
        """Gradient-mapping norm ``||x - prox(x - step*grad, step)|| / step``.

        Zero exactly when ``-grad`` is in the subdifferential of ``g`` at ``x``
        (for any ``step > 0``), i.e. at minimizers of ``f + g`` when
        ``grad = grad f(x)`` (Parikh & Boyd 2014, sec. 4.2). Defined for every
        penalty.

        ``step`` must be ``> 0`` (``ValueError`` for a concrete 0 or negative
        step; a traced step is not checked).
        """
        check_nonnegative("step", step, positive=True)
        return global_norm(self.gradient_mapping(params, grad, step)) / step

    def gradient_mapping(self, params: Any, grad: Any, step: Any = 1.0) -> Any:
        """``x - prox(x - step*grad, step)``, the vector whose norm is :meth:`residual`
        (times ``step``); a pytree like ``params``."""
        moved = jax.tree_util.tree_map(lambda x, g: x - step * g, params, grad)
        new = self.prox(moved, step)
        return jax.tree_util.tree_map(lambda a, b: a - b, params, new)

    @property
    def has_subdiff_distance(self) -> bool:
        """Whether ``subdiff_distance(params, grad)`` exists for this penalty."""
        return callable(getattr(self, "subdiff_distance", None))

    def alpha_max(self, grad: Any) -> jax.Array:
        r"""The smallest ``t >= 0`` for which ``x = 0`` minimizes ``f + t g``, given
        ``grad = grad f(0)``: the optimality condition ``-grad in t dg(0)``, so

        ::

            alpha_max = min {t >= 0 : -grad in t dg(0)}

        the dual norm of ``grad`` when ``g`` is a norm (Fuchs 2004; skglm's
        ``penalty.alpha_max(gradient0)``). ``l1(1.0)`` gives the lasso's
        ``max_j |grad_j|``; a penalty of strength ``reg`` gives that over ``reg``.
        Coordinates (or groups) of strength 0 are not penalized and are
        ignored; ``inf`` when no ``t`` zeroes ``x`` (a ridge term and
        ``grad != 0``). :func:`gradopt.glm_alpha_max` computes ``grad`` for a
        datafit. Defined by ``l1``, ``elastic_net``, ``l2_squared``, ``group_l2``,
        ``linf``, ``nuclear``, ``zero`` and ``separable`` (the largest of its
        children's); others raise ``NotImplementedError``.
        """
        raise NotImplementedError(
            f"{type(self).__name__} does not define alpha_max: the smallest multiplier that "
            "zeroes the solution has no closed form for it.")

    def __call__(self, params: Any) -> jax.Array:
        return self.value(params)


def polar_ratio(mag: Any, strength: Any, penalized: Any = None) -> jax.Array:
    """``max mag / strength`` over the entries (groups) of the arrays, for
    :meth:`Penalty.alpha_max`: ``mag >= 0`` is the part of the gradient the penalty must
    absorb at 0, ``strength >= 0`` the penalty's slope there. An entry with ``mag > 0`` and
    ``strength = 0`` gives ``inf`` (it cannot be zeroed), unless it is not ``penalized``
    (default: ``strength > 0``), which ignores it."""
    mag, strength = jnp.broadcast_arrays(jnp.asarray(mag), jnp.asarray(strength, mag.dtype))
    penalized = strength > 0 if penalized is None else jnp.broadcast_to(penalized, mag.shape)
    slope = strength > 0
    ratio = jnp.where(slope, mag / jnp.where(slope, strength, 1.0),
                      jnp.where(mag > 0, jnp.inf, 0.0))
    return jnp.max(jnp.where(penalized, ratio, 0.0), initial=0.0)


def _checked_prox(prox):
    """``prox`` with eager argument checks: ``step >= 0`` and no masked arrays.

    ``prox(v, s)`` is defined for ``s >= 0`` only (``s = 0`` is the identity);
    a negative step would silently compute the prox of ``-s g``, which for a
    convex ``g`` is not even a proximal operator. A traced step (inside
    ``jit``/``vmap``) cannot be checked and is passed through.
    """

    @functools.wraps(prox)
    def checked(self, params, *args, **kwargs):
        step = args[0] if args else kwargs.get("step")
        if step is not None:
            check_nonnegative("step", step)
        reject_masked("params", params)
        return prox(self, params, *args, **kwargs)

    checked._checks_step = True
    return checked


def penalty_class(cls=None, *, static: tuple[str, ...] = ()):
    """Decorator: frozen dataclass + pytree registration for a :class:`Penalty`.

    Fields named in ``static`` are hashed into the treedef (they must be
    hashable Python values); all other fields are pytree children.
    """

    def wrap(cls):
        cls = dataclasses.dataclass(frozen=True)(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        dynamic = [n for n in names if n not in static]

        def flatten(obj):
            children = [getattr(obj, n) for n in dynamic]
            aux = tuple(getattr(obj, n) for n in static)
            return children, aux

        def unflatten(aux, children):
            obj = object.__new__(cls)
            for n, v in zip(dynamic, children):
                object.__setattr__(obj, n, v)
            for n, v in zip(static, aux):
                object.__setattr__(obj, n, v)
            return obj

        jax.tree_util.register_pytree_node(cls, flatten, unflatten)
        return cls

    return wrap if cls is None else wrap(cls)


def tree_sum(tree: Any) -> jax.Array:
    """Sum of a pytree of scalars (0.0 for an empty tree)."""
    leaves = jax.tree_util.tree_leaves(tree)
    return sum(leaves[1:], leaves[0]) if leaves else jnp.zeros([])


def tree_norm_from_squares(tree: Any) -> jax.Array:
    """``sqrt(sum of the leaves)`` of a pytree of squared norms, with a 0 gradient at 0."""
    sq = tree_sum(tree)
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def is_single_leaf(tree: Any) -> bool:
    """True when ``tree`` is one array / number (not a container)."""
    return jax.tree_util.treedef_is_leaf(jax.tree_util.tree_structure(tree))


def broadcast_to_params(name: str, prefix: Any, params: Any) -> Any:
    """``prefix`` (a single value or a prefix of ``params``'s structure) as a full tree.

    A single value (number or array) is shared by every leaf; a pytree must
    be a prefix of the parameters' structure (e.g. ``{"w": 0.1, "b": 0.0}``
    for ``params = {"w": ..., "b": ...}``, or a tree with the parameters' full
    structure) and each of its leaves is shared by the leaves of the matching
    subtree. Raises ``ValueError`` naming ``name`` when the structures do not
    match.
    """
    if is_single_leaf(prefix):
        return jax.tree_util.tree_map(lambda _: prefix, params)
    try:
        return jax.tree.broadcast(prefix, params)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"{name} must be a single value or a pytree whose structure is a prefix of "
            f"the parameters' structure; {name} has structure "
            f"{jax.tree_util.tree_structure(prefix)} but the parameters have "
            f"{jax.tree_util.tree_structure(params)} ({str(e).splitlines()[0]})."
        ) from None


def check_broadcastable(name: str, value: Any, leaf: Any, path: str = "") -> None:
    """``value`` broadcasts to ``leaf``'s shape without enlarging it (else ``ValueError``)."""
    vs, ls = np.shape(value), np.shape(leaf)
    try:
        out = np.broadcast_shapes(vs, ls)
    except ValueError:
        out = None
    if out != ls:
        where = f" at {path}" if path else ""
        raise ValueError(
            f"{name} must broadcast to the parameter's shape {ls}{where}, got shape {vs}."
        )


def check_scalar_leaf(name: str, value: Any, path: str = "") -> None:
    """``value`` is a scalar (one number per leaf), else ``ValueError`` naming ``name``."""
    if np.ndim(value) != 0:
        where = f" for the parameter at {path}" if path else ""
        raise ValueError(
            f"{name} must be a scalar{where} (one value per leaf), got shape {np.shape(value)}."
        )


def align_to_params(name: str, prefix: Any, params: Any, *, per: str = "coordinate"):
    """Leaves of ``params`` paired with the matching entries of ``prefix``.

    Returns ``(treedef, [(path, param_leaf, value_leaf), ...])``, where
    ``prefix`` is broadcast as in :func:`broadcast_to_params`. ``per="leaf"``
    requires every value to be a scalar (one per leaf); ``per="coordinate"``
    accepts arrays that broadcast to the leaf's shape. Shapes are static, so
    these checks also run under ``jit``/``vmap`` (at trace time).
    """
    full = broadcast_to_params(name, prefix, params)
    flat, treedef = jax.tree_util.tree_flatten_with_path(params)
    values = treedef.flatten_up_to(full)
    out = []
    for (path, x), r in zip(flat, values):
        p = jax.tree_util.keystr(path) or "<root>"
        if per == "leaf":
            check_scalar_leaf(name, r, p)
        else:
            check_broadcastable(name, r, x, p)
        out.append((p, x, r))
    return treedef, out


def tree_dtype(tree: Any):
    """The common dtype of a pytree's leaves (JAX promotion; float32 for integer leaves)."""
    leaves = jax.tree_util.tree_leaves(tree)
    dt = jnp.result_type(*leaves) if leaves else jnp.float32
    if not jnp.issubdtype(dt, jnp.inexact):
        dt = jnp.result_type(dt, jnp.float32)
    return dt


def set_rtol(dtype) -> float:
    """Relative tolerance of set-membership tests: ``sqrt(eps)`` of ``dtype``.

    float32: about 3.5e-4; float64: about 1.5e-8. Points produced by the
    projections always pass; a point outside the set by more than this
    (relative to the set's scale) gets value ``+inf``.
    """
    return float(np.sqrt(float(jnp.finfo(dtype).eps)))


def check_reg(name: str, reg: Any, *, scalar: bool = False) -> None:
    """Validate a regularization strength at build time (tracers are skipped).

    ``reg`` must be a number, an array or a pytree of them, every concrete
    entry finite and ``>= 0``; with ``scalar=True`` every leaf must be a scalar
    (one strength per leaf). Raises ``ValueError``/``TypeError`` naming ``name``.
    """
    leaves = jax.tree_util.tree_leaves(reg)
    if not leaves:
        raise ValueError(
            f"{name} must be a number >= 0 or a pytree of them, got {reg!r} (no values)."
        )
    for leaf in leaves:
        if is_traced(leaf):
            continue
        if isinstance(leaf, Penalty) or not _is_numeric(leaf):
            raise TypeError(f"{name} must be numbers >= 0 (or arrays of them), got {leaf!r}.")
        if scalar and np.ndim(leaf) != 0:
            raise ValueError(
                f"{name} must be a scalar or a pytree of scalars (one per leaf), got an "
                f"array of shape {np.shape(leaf)}."
            )
    check_tree_nonnegative(name, reg)


def _is_numeric(leaf: Any) -> bool:
    try:
        arr = np.asarray(leaf)
    except Exception:
        return False
    return arr.dtype != object and bool(jnp.issubdtype(arr.dtype, jnp.number))
