"""Eager argument checks shared by transformations, penalties and loops.

Hyperparameters may be traced arrays (so that a sweep under ``vmap`` compiles
once); a traced value cannot be inspected at build time, so every check here
skips tracers and only validates concrete Python / NumPy / JAX values.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np


def is_traced(value: Any) -> bool:
    """True when ``value`` is an abstract JAX value (inside jit/vmap/grad)."""
    return isinstance(value, jax.core.Tracer)


def is_scipy_sparse(value: Any) -> bool:
    """True for a scipy.sparse matrix or array (checked without importing SciPy)."""
    return type(value).__module__.startswith("scipy.sparse") or (
        hasattr(value, "toarray") and hasattr(value, "nnz")
    )


def densify(name: str, value: Any, *, stacklevel: int = 3) -> Any:
    """``value``, or ``value.toarray()`` with a ``UserWarning`` when it is scipy.sparse.

    The problem solvers (lasso family, group lasso, sparse logistic) are dense:
    sparse input is accepted for convenience and costs ``n * p`` memory.
    """
    if is_scipy_sparse(value):
        import warnings

        warnings.warn(
            f"{name} is a scipy.sparse matrix: gradopt's solvers are dense; it is "
            "converted to a dense array (memory n * p).",
            UserWarning,
            stacklevel=stacklevel + 1,
        )
        return value.toarray()
    return value


def concrete_float(value: Any) -> float | None:
    """The value as a Python float, or None when it is traced, callable or not scalar."""
    if value is None or callable(value) or is_traced(value):
        return None
    arr = np.asarray(value)
    if arr.ndim != 0:
        return None
    return float(arr)


def check_scalar(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    allow_callable: bool = False,
) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a finite scalar in range.

    Traced values are accepted unchecked (documented limitation). Callables
    (schedules) are accepted when ``allow_callable``.
    """
    if callable(value):
        if allow_callable:
            return
        raise TypeError(f"{name} must be a number, got a callable {value!r}.")
    if is_traced(value):
        return
    try:
        arr = np.asarray(value)
    except Exception as e:  # pragma: no cover - exotic inputs
        raise TypeError(f"{name} must be a number, got {type(value).__name__}.") from e
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be a number, got {value!r}.")
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got an array of shape {arr.shape}.")
    v = float(arr)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}.")
    rng = _range_text(low, high, low_inclusive, high_inclusive)
    if low is not None and (v < low or (v == low and not low_inclusive)):
        raise ValueError(f"{name} must be in {rng}, got {v}.")
    if high is not None and (v > high or (v == high and not high_inclusive)):
        raise ValueError(f"{name} must be in {rng}, got {v}.")


def check_tree_nonnegative(name: str, tree: Any) -> None:
    """Every concrete leaf of ``tree`` is finite and >= 0 (tracers are skipped)."""
    for leaf in jax.tree_util.tree_leaves(tree):
        if is_traced(leaf):
            continue
        arr = np.asarray(leaf)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be finite, got non-finite entries.")
        if np.any(arr < 0):
            raise ValueError(f"{name} must be >= 0, got a minimum of {arr.min()}.")


def check_same_structure(name_a: str, a: Any, name_b: str, b: Any) -> None:
    """Raise ``ValueError`` when two pytrees have different structures."""
    sa = jax.tree_util.tree_structure(a)
    sb = jax.tree_util.tree_structure(b)
    if sa != sb:
        raise ValueError(
            f"{name_a} and {name_b} must have the same pytree structure; "
            f"got {sa} and {sb}."
        )


def _range_text(low, high, low_inclusive, high_inclusive) -> str:
    left = ("[" if low_inclusive else "(") + (f"{low:g}" if low is not None else "-inf")
    right = (f"{high:g}" if high is not None else "inf") + ("]" if high_inclusive else ")")
    return f"{left}, {right}"


INT32_MAX = 2**31 - 1


def check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` as a Python int in ``[low, high]``, else ``ValueError``/``TypeError`` naming ``name``.

    Booleans, strings (``"10"``, ``"yes"``), tracers and non-numbers are a
    ``TypeError``; non-integral, infinite or out-of-range numbers (``2.5``,
    ``inf``, ``2**31`` where the loop counter is int32) a ``ValueError``.
    """
    rng = f">= {low}" if high is None else f"in [{low}, {high}]"
    if isinstance(value, (bool, np.bool_, str, bytes)) or isinstance(value, jax.core.Tracer):
        raise TypeError(f"{name} must be a Python integer {rng}, got {value!r}.")
    if isinstance(value, int):  # Python ints of any size
        arr = np.asarray(0)
        as_int = value
    else:
        try:
            arr = np.asarray(value)
        except Exception as e:  # pragma: no cover - exotic inputs
            raise TypeError(f"{name} must be an integer {rng}, got {value!r}.") from e
        as_int = None
    if arr.ndim != 0 or not (np.issubdtype(arr.dtype, np.integer)
                             or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name} must be an integer {rng}, got {value!r}.")
    if np.issubdtype(arr.dtype, np.floating):
        v = float(arr)
        if not math.isfinite(v) or v != int(v):
            raise ValueError(f"{name} must be an integer {rng}, got {value!r}.")
    if as_int is None:
        as_int = int(arr)
    if as_int < low or (high is not None and as_int > high):
        raise ValueError(f"{name} must be an integer {rng}, got {value!r}.")
    return as_int


def check_bool(name: str, value: Any) -> None:
    """A loop flag must be a real bool: the string ``"yes"`` (truthy) or ``"False"`` is refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}.")
