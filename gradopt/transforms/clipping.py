"""Gradient clipping with PyTorch semantics (``clip_grad_value_``, ``clip_grad_norm_``)."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gradopt._validation import check_scalar, concrete_float, is_traced
from gradopt.transforms._utils import any_explicitly_sharded, cast_like, check_updates_match

#: Trees with at most this many entries take one concatenated pass in global_norm.
SMALL = 8192

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


def norm_order(norm_type: Any, name: str = "norm_type") -> float:
    """``norm_type`` as a Python float ``p >= 1`` (``inf`` allowed), else an error naming it.

    ``"inf"`` (a string, as ``torch.nn.utils.clip_grad_norm_`` accepts) means
    ``inf``. The order selects the formula when the function is traced, so it
    must be a concrete number: a traced value raises ``TypeError``.
    """
    if isinstance(norm_type, str):
        if norm_type.strip().lower() in ("inf", "+inf", "infinity"):
            return math.inf
        raise TypeError(f"{name} must be a number >= 1 or inf (or the string 'inf'), got {norm_type!r}.")
    if is_traced(norm_type):
        raise TypeError(
            f"{name} must be a concrete Python number >= 1 or inf (it selects the formula "
            f"when the function is traced), got a traced value {norm_type}."
        )
    is_number = isinstance(norm_type, (int, float, np.integer, np.floating))
    p = concrete_float(norm_type) if is_number and not isinstance(norm_type, bool) else None
    if p is None:
        raise TypeError(f"{name} must be a number >= 1 or inf (or the string 'inf'), got {norm_type!r}.")
    if math.isnan(p) or p < 1:
        raise ValueError(f"{name} (the order p of the norm) must be >= 1 or inf, got {norm_type!r}.")
    return p


def global_norm(tree, norm_type: float | str = 2.0):
    r"""The p-norm of all entries of a pytree, ``(sum_leaves sum_i |g_i|^p)^{1/p}``.

    ``norm_type = inf`` (or the string ``"inf"``) gives ``max |g_i|``;
    ``norm_type`` must be ``>= 1`` (``ValueError`` otherwise: for ``p < 1``
    this is not a norm). Complex entries count with their modulus ``|g_i|``
    (so ``||[3+4j]||_2 = 5``). Computed in at least float32 (a bfloat16 or
    float16 gradient is accumulated in float32), and, for ``1 < p < inf``,
    on the entries divided by ``m = max |g_i|``::

        ||g||_p = m * (sum_i (|g_i| / m)^p)^{1/p}

    so that ``|g_i|^p`` neither overflows nor underflows (in float32,
    ``[1e30, 1e30]`` has norm ``1.414e30``, not ``inf``). A NaN entry gives
    NaN; an infinite one gives ``inf``. The derivative at zero is 0 rather
    than NaN, and ``m`` is a constant for differentiation (the formula is
    scale-invariant in it).
    """
    p = norm_order(norm_type)
    leaves = [jnp.asarray(x) for x in jax.tree_util.tree_leaves(tree)]
    if not leaves:
        return jnp.zeros([], jnp.float32)
    acc = jnp.result_type(jnp.float32, *[x.dtype for x in leaves])
    real = jnp.finfo(acc).dtype  # float32 for complex64, float64 for complex128
    if p == 2.0:
        return _two_norm(leaves, real)
    mags = [_magnitude(x, real) for x in leaves]
    if p == 1.0:
        return sum(jnp.sum(a) for a in mags)
    if math.isinf(p):
        return _peak(mags)
    return _rescaled_norm(mags, p)


def _peak(mags):
    """``max |g_i|`` over the leaves (NaN when an entry is NaN: ``max`` propagates it)."""
    return jnp.max(jnp.stack([jnp.max(a, initial=0.0) for a in mags]))


def _rescaled_norm(mags, p):
    """``m (sum_i (|g_i| / m)^p)^{1/p}`` with ``m = max |g_i|``: no overflow or underflow."""
    peak = _peak(mags)
    # Divide by the peak when it is a positive finite number (else by 1: a
    # zero tree stays 0, inf stays inf, NaN stays NaN).
    usable = (peak > 0) & (peak < jnp.inf)
    scale = jax.lax.stop_gradient(jnp.where(usable, peak, 1.0))
    inv = 1.0 / scale
    if p == 2.0:
        total = sum(jnp.sum(jnp.square(a * inv)) for a in mags)
        root = jnp.sqrt
    else:
        total = sum(jnp.sum((a * inv) ** p) for a in mags)
        root = lambda t: t ** (1.0 / p)
    # total > 0 unless the tree is zero; the inner where keeps the infinite
    # derivative of the root at 0 out of the backward pass of a zero gradient.
    nonzero = total != 0
    return jnp.where(nonzero, scale * root(jnp.where(nonzero, total, 1.0)), 0.0)


def _two_norm(leaves, real):
    """The 2-norm: ``sqrt(sum g_i^2)`` when that is exact, else the rescaled formula.

    ``sum(g * g)`` is what a training step can afford (XLA computes it like a
    dot product; the max-abs pass of the rescaled formula costs 2-10 times as
    much on CPU). It is exact unless it overflows (``inf`` for finite
    entries), underflows (below ``tiny / eps``, where squares lose digits) or
    is NaN; only then is the rescaled formula evaluated, behind a ``cond``.
    On GPU/TPU a ``cond`` makes the host wait for its predicate, so there the
    rescaled formula, a second memory-bound pass, always runs.
    """
    parts = []
    for x in leaves:  # a complex leaf counts as its real and imaginary parts
        parts += [jnp.real(x), jnp.imag(x)] if jnp.iscomplexobj(x) else [x]
    parts = [x.astype(real) for x in parts]
    if sum(x.size for x in parts) <= SMALL:
        if any_explicitly_sharded(parts):  # leaves of different explicit shardings
            return _rescaled_norm([jnp.abs(x) for x in parts], 2.0)  # do not concatenate
        # Small trees: one flat vector, so the max and the sum are one
        # reduction each; as cheap as sum(g * g) per leaf at this size (XLA's
        # CPU concatenation is slow for large trees, hence the limit).
        return _rescaled_norm([jnp.abs(jnp.concatenate([jnp.ravel(x) for x in parts]))], 2.0)
    mags = lambda: [jnp.abs(x) for x in parts]
    threshold = float(jnp.finfo(real).tiny) / float(jnp.finfo(real).eps)

    def plain():
        sq = sum(jnp.sum(x * x) for x in parts)
        exact = (sq >= threshold) & (sq < jnp.inf)
        root = jnp.sqrt(jnp.where(exact, sq, 1.0))  # keep NaN derivatives out of the vmap'd select
        return jax.lax.cond(exact, lambda: root, lambda: _rescaled_norm(mags(), 2.0))

    return jax.lax.platform_dependent(cpu=plain, default=lambda: _rescaled_norm(mags(), 2.0))


def _magnitude(x, real):
    """``|x|`` in the real accumulation dtype (the modulus for complex ``x``)."""
    if jnp.iscomplexobj(x):
        return jnp.abs(x.astype(jnp.result_type(real, x.dtype)))
    return jnp.abs(x.astype(real))


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
      norm_type: ``p >= 1``, ``float('inf')`` or the string ``"inf"`` (as
        PyTorch); a Python number (it selects the formula at build time).

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> opt = gradopt.clip_by_global_norm(1.0)
        >>> u, _ = opt.update({"w": jnp.array([3.0, 4.0])}, opt.init(None))
        >>> [round(float(v), 4) for v in u["w"]]  # norm 5 rescaled to 1 (up to the 1e-6)
        [0.6, 0.8]
    """
    check_scalar("max_norm", max_norm, low=0.0, low_inclusive=False)
    p = norm_order(norm_type)

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
