"""Gradient checking: ``jax.grad`` against central finite differences."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree


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

    def __str__(self) -> str:
        verdict = "OK" if self.ok else "MISMATCH"
        return (
            f"gradient check ({self.mode}, {self.n_checked} values, eps={self.eps:.2g}): {verdict}; "
            f"max abs error {self.max_abs_error:.3g}, max rel error {self.max_rel_error:.3g}, "
            f"worst at {self.worst_location} (analytic {self.analytic:.6g}, numerical {self.numerical:.6g})"
        )


def _default_eps(dtype) -> float:
    # Central differences: truncation O(eps^2), rounding O(u/eps): eps ~ u^(1/3).
    return float(np.finfo(dtype).eps) ** (1.0 / 3.0)


def _default_tols(dtype) -> tuple[float, float]:
    if np.finfo(dtype).bits >= 64:
        return 1e-5, 1e-7
    return 2e-2, 2e-3


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

    The step is scaled per coordinate in full mode, ``eps * max(1, |x_i|)``.
    Defaults depend on the parameters' dtype: ``eps = u^(1/3)`` (u the machine
    epsilon: about 6e-6 in float64, 5e-3 in float32), ``rtol, atol = 1e-5, 1e-7``
    in float64 and ``2e-2, 2e-3`` in float32. An entry fails when
    ``|a - n| > atol + rtol |n|``.

    Args:
      fun: ``fun(params, *args, **kwargs) -> scalar``.
      params: the point (a pytree of float arrays).
      mode: ``"full"`` or ``"random"``.
      n_directions, key: for ``"random"`` (key defaults to ``PRNGKey(0)``).
      batch_size: coordinates per vectorized chunk in full mode (None: all at once).
      raise_on_error: raise :class:`GradientCheckError` with the report on mismatch.

    Returns:
      A :class:`GradCheckReport`; ``bool(report.ok)`` says whether it passed.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.check_grad(lambda x: jnp.sum(jnp.sin(x)), jnp.ones(3)).ok
        True
    """
    if mode not in ("full", "random"):
        raise ValueError(f"mode must be 'full' or 'random', got {mode!r}.")
    flat, unravel = ravel_pytree(params)
    if flat.size == 0:
        raise ValueError("params must contain at least one entry.")
    if not jnp.issubdtype(flat.dtype, jnp.floating):
        raise TypeError(f"params must be floating point, got dtype {flat.dtype}.")
    dtype = flat.dtype
    eps = _default_eps(dtype) if eps is None else float(eps)
    d_rtol, d_atol = _default_tols(dtype)
    rtol = d_rtol if rtol is None else float(rtol)
    atol = d_atol if atol is None else float(atol)
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}.")

    f = lambda x: fun(unravel(x), *args, **kwargs)
    analytic_full = ravel_pytree(jax.grad(lambda p: fun(p, *args, **kwargs))(params))[0]

    if mode == "full":
        steps = eps * jnp.maximum(1.0, jnp.abs(flat)).astype(dtype)

        def fd(i):
            e = jnp.zeros_like(flat).at[i].set(steps[i])
            return (f(flat + e) - f(flat - e)) / (2 * steps[i])

        numerical = jax.jit(lambda: jax.lax.map(fd, jnp.arange(flat.size), batch_size=batch_size))()
        analytic = analytic_full
        labels = _coordinate_labels(params)
    else:
        key = jax.random.PRNGKey(0) if key is None else key
        dirs = jax.random.normal(key, (n_directions, flat.size), dtype)
        dirs = dirs / jnp.linalg.norm(dirs, axis=1, keepdims=True)
        numerical = jax.jit(jax.vmap(lambda v: (f(flat + eps * v) - f(flat - eps * v)) / (2 * eps)))(dirs)
        analytic = dirs @ analytic_full
        labels = None

    a = np.asarray(analytic, np.float64)
    n = np.asarray(numerical, np.float64)
    abs_err = np.abs(a - n)
    denom = np.maximum(np.maximum(np.abs(a), np.abs(n)), np.finfo(np.float64).tiny)
    rel_err = abs_err / denom
    bad = ~(abs_err <= atol + rtol * np.abs(n))  # NaN counts as bad
    excess = np.where(bad, np.nan_to_num(abs_err - (atol + rtol * np.abs(n)), nan=np.inf), -np.inf)
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
        eps=eps,
        rtol=rtol,
        atol=atol,
        n_checked=int(a.size),
    )
    if raise_on_error and not report.ok:
        raise GradientCheckError(str(report))
    return report


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
