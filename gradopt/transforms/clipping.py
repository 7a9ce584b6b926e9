"""Gradient clipping with PyTorch semantics (``clip_grad_value_``, ``clip_grad_norm_``)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gradopt._validation import check_scalar, concrete_float
from gradopt.transforms._utils import cast_like, check_updates_match

#: Added to the norm in the clipping coefficient, as ``torch.nn.utils.clip_grad_norm_``.
CLIP_EPS = 1e-6


def clip(max_abs: float) -> optax.GradientTransformation:
    r"""Clip every gradient entry to ``[-max_abs, max_abs]``.

    ``u_i = min(max(g_i, -c), c)`` with ``c = max_abs``: PyTorch's
    ``clip_grad_value_(params, c)``. This is optax's ``clip``, validated, with
    each leaf's dtype kept.

    Args:
      max_abs: ``c > 0`` (a traced value is accepted unchecked).

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> opt = gradopt.clip(1.0)
        >>> opt.update(jnp.array([-3.0, 0.5, 2.0]), opt.init(None))[0]
        Array([-1. ,  0.5,  1. ], dtype=float32)
    """
    check_scalar("max_abs", max_abs, low=0.0, low_inclusive=False)
    inner = optax.clip(max_abs)

    def update_fn(updates, state, params=None):
        check_updates_match(updates, params)
        clipped, state = inner.update(updates, state)
        # A traced float64 max_abs would promote float32 leaves: keep each dtype.
        return cast_like(clipped, updates), state

    return optax.GradientTransformation(inner.init, update_fn)


def global_norm(tree, norm_type: float = 2.0):
    r"""The p-norm of all entries of a pytree, ``(sum_leaves sum_i |g_i|^p)^{1/p}``.

    ``norm_type = inf`` gives ``max |g_i|``. Computed in at least float32 (a
    bfloat16 gradient is accumulated in float32). The 2-norm is written so that
    its derivative at zero is 0 rather than NaN.
    """
    leaves = [jnp.asarray(x) for x in jax.tree_util.tree_leaves(tree)]
    if not leaves:
        return jnp.zeros([], jnp.float32)
    acc = jnp.result_type(jnp.float32, *[x.dtype for x in leaves])
    leaves = [x.astype(acc) for x in leaves]
    if math.isinf(norm_type):
        return jnp.max(jnp.stack([jnp.max(jnp.abs(x), initial=0.0) for x in leaves]))
    if norm_type == 2.0:
        sq = sum(jnp.sum(x * x) for x in leaves)
        positive = sq > 0
        return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)
    if norm_type == 1.0:
        return sum(jnp.sum(jnp.abs(x)) for x in leaves)
    # General p: scale by the max entry first to avoid overflow of |g|^p.
    scale = jnp.max(jnp.stack([jnp.max(jnp.abs(x), initial=0.0) for x in leaves]))
    safe = jnp.where(scale > 0, scale, 1.0)
    total = sum(jnp.sum(jnp.abs(x / safe) ** norm_type) for x in leaves)
    # total >= 1 when scale > 0; the inner where keeps t^(1/p)'s infinite
    # derivative at t = 0 out of the backward pass of a zero gradient.
    total = jnp.where(scale > 0, total, 1.0)
    return jnp.where(scale > 0, safe * total ** (1.0 / norm_type), 0.0)


def clip_by_global_norm(max_norm: float, norm_type: float = 2.0) -> optax.GradientTransformation:
    r"""Rescale the whole gradient pytree when its global p-norm exceeds ``max_norm``.

    PyTorch's ``clip_grad_norm_(params, max_norm, norm_type)``::

        N = ||g||_p = (sum over all leaves and entries |g_i|^p)^(1/p)   (p = inf: max |g_i|)
        u = g * min(1, max_norm / (N + 1e-6))

    **The epsilon.** ``1e-6`` (:data:`CLIP_EPS`) is PyTorch's choice: it keeps
    the coefficient finite for a zero gradient (which then stays exactly zero,
    and ``jax.grad`` through the clip at zero is finite), and it means a
    gradient whose norm is exactly ``max_norm`` is scaled by
    ``max_norm / (max_norm + 1e-6)``, i.e. very slightly. For ``N <= max_norm``
    the factor is clamped to 1. optax's ``clip_by_global_norm`` has no epsilon
    and supports only p = 2; the two agree to within ``1e-6 / N`` relative
    once clipping is active, and exactly otherwise.

    The norm is accumulated in at least float32 (bfloat16 gradients) and the
    result is cast back to each leaf's dtype. Gradient clipping for exploding
    gradients: Pascanu, Mikolov & Bengio (2013).

    Args:
      max_norm: ``> 0`` (a traced value is accepted unchecked).
      norm_type: ``p >= 1`` or ``float('inf')``; a Python number (it selects
        the formula at build time).

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> opt = gradopt.clip_by_global_norm(1.0)
        >>> u, _ = opt.update({"w": jnp.array([3.0, 4.0])}, opt.init(None))
        >>> [round(float(v), 4) for v in u["w"]]  # norm 5 rescaled to 1 (up to the 1e-6)
        [0.6, 0.8]
    """
    check_scalar("max_norm", max_norm, low=0.0, low_inclusive=False)
    is_number = isinstance(norm_type, (int, float, np.integer, np.floating))
    p = concrete_float(norm_type) if is_number and not isinstance(norm_type, bool) else None
    if p is None or math.isnan(p):
        raise TypeError(f"norm_type must be a Python number >= 1 or inf, got {norm_type!r}.")
    if p < 1:
        raise ValueError(f"norm_type must be >= 1 (or inf), got {norm_type}.")

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        check_updates_match(updates, params)
        norm = global_norm(updates, p)
        coef = jnp.minimum(1.0, max_norm / (norm + CLIP_EPS))
        updates = jax.tree_util.tree_map(lambda g: (g * coef).astype(g.dtype), updates)
        return updates, state

    return optax.GradientTransformation(init_fn, update_fn)
