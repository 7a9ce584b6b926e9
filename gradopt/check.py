"""Gradient checking: ``jax.grad`` against central finite differences."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from gradopt._validation import (
    check_bool,
    check_inexact_tree,
    check_scalar,
    is_traced,
    reject_masked,
)


class GradientCheckError(AssertionError):
    """Raised by :func:`check_grad` with ``raise_on_error=True`` on a mismatch."""


@dataclasses.dataclass(frozen=True)
class GradCheckReport:
    """What :func:`check_grad` found.

    Attributes:
      ok: True when every compared entry satisfies ``|a - n| <= atol + rtol |n|``
        (``a`` analytic, ``n`` numerical).
      max_abs_error, max_rel_error: worst absolute error and worst relative
        error ``|a - n| / max(|a|, |n|, tiny)``.
      worst_location: where the worst violation (or, if none, the worst
        absolute error) occurred: ``"params['w'][2, 3]"`` in full mode,
        ``"direction 4"`` in random mode.
      analytic, numerical: the compared values at ``worst_location``.
      mode, eps, rtol, atol, n_checked: the settings and how many values were compared.
      noise_floor: the largest rounding allowance added to ``atol`` (0 when
        ``atol`` was given explicitly); see :func:`check_grad`.
    """

    ok: bool
    max_abs_error: float
    max_rel_error: float
    worst_location: str
    analytic: float
    numerical: float
    mode: str
    eps: float
    rtol: float
    atol: float
    n_checked: int
    noise_floor: float = 0.0

    def __str__(self) -> str:
        verdict = "OK" if self.ok else "MISMATCH"
        return (
            f"gradient check ({self.mode}, {self.n_checked} values, eps={self.eps:.2g}): {verdict}; "
            f"max abs error {self.max_abs_error:.3g}, max rel error {self.max_rel_error:.3g}, "
            f"worst at {self.worst_location} (analytic {self.analytic:.6g}, numerical {self.numerical:.6g}); "
            f"tolerance rtol={self.rtol:.2g}, atol={self.atol:.2g}"
            + (f" + rounding floor {self.noise_floor:.2g}" if self.noise_floor > 0 else "")
        )


def _default_eps(dtype) -> float:
    # Central differences: truncation O(eps^2), rounding O(u/eps): eps ~ u^(1/3).
    return float(jnp.finfo(dtype).eps) ** (1.0 / 3.0)


def _default_tols(dtype) -> tuple[float, float]:
    bits = jnp.finfo(dtype).bits
    if bits >= 64:
        return 1e-5, 1e-7
    if bits >= 32:
        return 2e-2, 2e-3
    return 1e-1, 1e-2  # float16, bfloat16: the analytic gradient itself is rounded to ~3 digits


def _coarser(a, b):
    """The floating dtype with the larger machine epsilon."""
    return a if jnp.finfo(a).eps >= jnp.finfo(b).eps else b


def _refuse_traced(params, args, kwargs) -> None:
    """``TypeError`` when check_grad is called on traced values (inside jit/vmap/grad)."""
    if any(is_traced(x) for x in jax.tree_util.tree_leaves((params, args, kwargs))):
        raise TypeError(
            "check_grad cannot run under jax.jit, vmap or grad: it returns a report of "
            "Python numbers (computed on the host from the differences) and raises on a "
            "mismatch, neither of which a traced computation can do. Call it outside jit, "
            "on concrete arrays; it already compiles the gradient and all the differences "
            "into one program, and fun itself may be jitted."
        )


def check_grad(
    fun: Callable[..., jax.Array],
    params: Any,
    *args: Any,
    eps: float | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    mode: str = "full",
    n_directions: int = 8,
    key: jax.Array | None = None,
    batch_size: int | None = 256,
    raise_on_error: bool = False,
    **kwargs: Any,
) -> GradCheckReport:
    r"""Compare ``jax.grad(fun)`` with central finite differences.

    ``mode="full"``: for every coordinate ``i`` of every leaf::

        n_i = (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)

    evaluated for all coordinates with ``vmap`` (in chunks of ``batch_size``
    coordinates, via ``lax.map``), compared with ``a_i = grad f(x)_i``.

    ``mode="random"``: for ``n_directions`` random unit directions ``v`` (the
    whole pytree normalized to norm 1)::

        n_v = (f(x + eps v) - f(x - eps v)) / (2 eps)   vs   a_v = <grad f(x), v>

    which costs ``2 n_directions`` evaluations: use it for large models.

    The step is scaled per coordinate in full mode, ``h_i = eps * max(1, |x_i|)``
    (the quotient divides by the step actually taken after rounding). Defaults
    depend on the parameters' dtype: ``eps = u^(1/3)`` (u the machine epsilon:
    about 6e-6 in float64, 5e-3 in float32), which balances the O(h^2)
    truncation error against the O(u |f| / h) rounding error;
    ``rtol, atol = 1e-5, 1e-7`` in float64 and ``2e-2, 2e-3`` in float32. An
    entry fails when ``|a - n| > atol + noise + rtol |n|``, where, with the
    default ``atol`` only, ``noise = 2 u |f(x)| / h`` is the rounding floor of
    the finite difference (so a loss of large magnitude, whose small
    derivatives float32 cannot resolve, does not fail spuriously). Pass
    ``atol`` explicitly to turn the floor off. A wrong gradient (a buggy
    ``custom_vjp``, a missing transpose) is off by O(1) relatively and fails.

    **Mixed precision.** Each leaf is perturbed, rounded and judged in its
    own precision: the step, the tolerances and the rounding floor above come
    from the coarser of the leaf's dtype and the loss's dtype (a float32 leaf
    next to a float64 one gets float32's settings, a float64 leaf of a loss
    computed in float32 too; bfloat16 and float16 leaves get ``rtol, atol =
    0.1, 0.01``). In ``"random"`` mode a direction moves every leaf, so the
    coarsest leaf sets them. The report's ``eps``, ``rtol`` and ``atol`` are
    those used at ``worst_location``.

    **Not under jit.** ``check_grad`` returns Python numbers and may raise,
    so it cannot be traced: called inside ``jax.jit``, ``vmap`` or ``grad`` it
    raises ``TypeError``. It compiles its own work into one program already;
    ``fun`` may be jitted.

    Finite differences assume ``fun`` is smooth within ``h`` of ``x``: a
    difference whose two points straddle a kink (ReLU, abs, max) measures an
    average slope. float32's step (5e-3) does that more often than float64's;
    check kinked functions in float64, or away from their kinks.

    Args:
      fun: ``fun(params, *args, **kwargs) -> scalar``.
      params: the point (a pytree of float arrays).
      mode: ``"full"`` or ``"random"``.
      n_directions, key: for ``"random"`` (key defaults to ``PRNGKey(0)``).
      batch_size: coordinates per vectorized chunk in full mode (None: all at once).
      raise_on_error: raise :class:`GradientCheckError` with the report on mismatch
        (``True`` or ``False``).

    Raises:
      TypeError: traced inputs (inside ``jit``), integer or complex leaves,
        ``numpy.ma`` masked arrays in ``params`` or the data (their mask would
        be dropped), or a ``fun`` that does not return a real scalar.

    Returns:
      A :class:`GradCheckReport`; ``bool(report.ok)`` says whether it passed.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.check_grad(lambda x: jnp.sum(jnp.sin(x)), jnp.ones(3)).ok
        True
    """
    if not callable(fun):
        raise TypeError(f"fun must be callable, got {type(fun).__name__}.")
    if mode not in ("full", "random"):
        raise ValueError(f"mode must be 'full' or 'random', got {mode!r}.")
    for name, value in (("eps", eps), ("rtol", rtol), ("atol", atol)):
        if value is not None:
            check_scalar(name, value, low=0.0, low_inclusive=(name != "eps"))
    if mode == "random" and (isinstance(n_directions, bool) or not isinstance(n_directions, (int, np.integer)) or n_directions < 1):
        raise ValueError(f"n_directions must be an integer >= 1, got {n_directions!r}.")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
        raise ValueError(f"batch_size must be None or an integer >= 1, got {batch_size!r}.")
    raise_on_error = check_bool("raise_on_error", raise_on_error)
    _refuse_traced(params, args, kwargs)
    reject_masked("params", params)
    reject_masked("args", (args, kwargs))
    leaves = jax.tree_util.tree_leaves(params)
    if sum(int(np.size(x)) for x in leaves) == 0:
        raise ValueError("params must contain at least one entry.")
    check_inexact_tree("params", params)
    if any(jnp.iscomplexobj(x) for x in leaves):
        raise TypeError("params must be real floating point; check_grad does not handle complex leaves.")
    flat, unravel = ravel_pytree(params)
    dtype = flat.dtype
    # Each leaf keeps its own precision: per-coordinate machine epsilon, step
    # and tolerances (a float32 leaf next to a float64 one is perturbed and
    # judged as float32, a bfloat16 leaf as bfloat16).
    # The loss's own precision bounds what a difference can resolve too: a
    # float64 leaf of a loss computed in float32 is checked as float32.
    out = jax.eval_shape(lambda p: fun(p, *args, **kwargs), params)
    out_dtype = getattr(out, "dtype", None)
    if out_dtype is None or jnp.ndim(out) != 0 or not jnp.issubdtype(out_dtype, jnp.floating):
        raise TypeError(
            "fun must return a real floating-point scalar, got "
            f"{getattr(out, 'shape', '?')} {out_dtype} (the loss)."
        )
    coarse = [_coarser(jnp.result_type(x), out_dtype) for x in leaves]
    sizes = [int(np.size(x)) for x in leaves]
    leaf_u = np.repeat([float(jnp.finfo(d).eps) for d in coarse], sizes)
    d_rtol, d_atol = (np.repeat(t, sizes) for t in zip(*[_default_tols(d) for d in coarse]))
    if mode == "random":  # one perturbation moves every leaf: the loosest settings
        leaf_u, d_rtol, d_atol = (np.full(n_directions, t.max()) for t in (leaf_u, d_rtol, d_atol))
    eps_i = leaf_u ** (1.0 / 3.0) if eps is None else np.full(leaf_u.shape, float(eps))
    rtol_i = d_rtol if rtol is None else np.full(leaf_u.shape, float(rtol))
    default_atol = atol is None
    atol_i = d_atol if atol is None else np.full(leaf_u.shape, float(atol))

    f = lambda x: fun(unravel(x), *args, **kwargs)
    # Rounding to each leaf's dtype and back: the point f actually sees.
    to_leaves = lambda x: ravel_pytree(unravel(x))[0]
    if mode == "full":
        steps = eps_i * np.maximum(1.0, np.abs(np.asarray(flat, np.float64)))
        probes = jnp.arange(flat.size)
    else:
        key = jax.random.PRNGKey(0) if key is None else key
        probes = _unit_directions(key, int(n_directions), int(flat.size), dtype)
        steps = eps_i
    h = jnp.asarray(steps, dtype)

    def fd(i, up, down):
        # Divide by the step actually taken (up - down, after rounding to the
        # leaf's dtype), not the nominal 2 h.
        return (f(flat.at[i].set(up[i])) - f(flat.at[i].set(down[i]))) / (up[i] - down[i])

    def directional(v, grad):
        up, down = to_leaves(flat + h[0] * v), to_leaves(flat - h[0] * v)
        # f(up) - f(down) ~ <grad, up - down>: compare both per unit of 2 h.
        return (f(up) - f(down)) / (2 * h[0]), jnp.dot(grad, up - down) / (2 * h[0])

    @jax.jit
    def compute(params, probes):
        # One compiled program: the value, jax.grad and all the differences.
        value = f(ravel_pytree(params)[0])
        grad = ravel_pytree(jax.grad(lambda p: fun(p, *args, **kwargs))(params))[0]
        if mode == "random":
            numerical, analytic = jax.vmap(directional, in_axes=(0, None))(probes, grad)
            return value, analytic, numerical
        up, down = to_leaves(flat + h), to_leaves(flat - h)
        one = functools.partial(fd, up=up, down=down)
        if batch_size is None or batch_size >= flat.size:
            return value, grad, jax.vmap(one)(probes)
        return value, grad, jax.lax.map(one, probes, batch_size=batch_size)

    value, analytic, numerical = compute(params, probes)
    labels = _coordinate_labels(params) if mode == "full" else None

    a = np.asarray(analytic, np.float64)
    n = np.asarray(numerical, np.float64)
    if default_atol:
        # Rounding floor of a central difference: f is known to about
        # u |f(x)| (u the coarser of the loss's and the leaf's precision), so
        # the quotient to about 2 u |f(x)| / (2 h).
        f0 = abs(float(np.asarray(value, np.float64)))
        noise = 2.0 * leaf_u * f0 / np.asarray(steps, np.float64)
        noise = np.nan_to_num(noise, nan=0.0, posinf=0.0)
    else:
        noise = np.zeros_like(n)
    tol = atol_i + noise + rtol_i * np.abs(n)
    abs_err = np.abs(a - n)
    denom = np.maximum(np.maximum(np.abs(a), np.abs(n)), np.finfo(np.float64).tiny)
    with np.errstate(invalid="ignore"):
        rel_err = abs_err / denom
    bad = ~(abs_err <= tol)  # NaN counts as bad
    excess = np.where(bad, np.nan_to_num(abs_err - tol, nan=np.inf), -np.inf)
    worst = int(np.argmax(excess)) if bad.any() else int(np.argmax(np.nan_to_num(abs_err, nan=np.inf)))
    where = labels(worst) if labels else f"direction {worst}"
    report = GradCheckReport(
        ok=not bool(bad.any()),
        max_abs_error=float(np.nanmax(abs_err)) if not np.isnan(abs_err).all() else float("nan"),
        max_rel_error=float(np.nanmax(rel_err)) if not np.isnan(rel_err).all() else float("nan"),
        worst_location=where,
        analytic=float(a[worst]),
        numerical=float(n[worst]),
        mode=mode,
        eps=float(eps_i[worst]),
        rtol=float(rtol_i[worst]),
        atol=float(atol_i[worst]),
        n_checked=int(a.size),
        noise_floor=float(np.max(noise)),
    )
    if raise_on_error and not report.ok:
        raise GradientCheckError(str(report))
    return report


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _unit_directions(key, count, size, dtype):
    """``count`` random directions of unit norm in R^size (compiled once per shape)."""
    dirs = jax.random.normal(key, (count, size), dtype)
    return dirs / jnp.linalg.norm(dirs, axis=1, keepdims=True)


def _coordinate_labels(params):
    """Map a flat index (ravel_pytree order) to ``"params['w'][i, j]"``."""
    paths_leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    offsets, entries = [], []
    start = 0
    for path, leaf in paths_leaves:
        size = int(np.size(leaf))
        offsets.append(start)
        entries.append((jax.tree_util.keystr(path), np.shape(leaf)))
        start += size

    def label(i: int) -> str:
        k = int(np.searchsorted(offsets, i, side="right") - 1)
        name, shape = entries[k]
        idx = np.unravel_index(i - offsets[k], shape) if shape else ()
        index = f"[{', '.join(str(int(j)) for j in idx)}]" if shape else ""
        return f"params{name}{index}"

    return label
