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
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be a real number, got the complex value {value!r}.")
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


# ----------------------------------------------------------- arrays and flags
#
# The checks below look only at static information (pytree structure, shapes,
# dtypes, Python types), which is known at trace time: they run under
# jit/vmap/grad as well, once per compilation.


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a Python bool; ``TypeError`` naming ``name`` for anything else.

    ``True``/``False`` and NumPy booleans are accepted; strings such as
    ``"yes"`` or ``"False"`` (which Python would treat as true), numbers and
    arrays are refused rather than guessed.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r}.")


def is_masked(value: Any) -> bool:
    """True for a ``numpy.ma`` masked array (its mask would be dropped by JAX)."""
    return isinstance(value, np.ma.MaskedArray)


def reject_masked(name: str, tree: Any) -> None:
    """``TypeError`` naming ``name`` when a leaf of ``tree`` is a ``numpy.ma`` masked array.

    ``jnp.asarray`` keeps a masked array's data and silently drops its mask,
    so the masked entries would take part in the computation with whatever
    values they hold.
    """
    for leaf in jax.tree_util.tree_leaves(tree):
        if is_masked(leaf):
            raise TypeError(
                f"{name} is (or contains) a numpy masked array; JAX would drop its mask and "
                "use the masked entries' values. Pass plain arrays: arr.filled(value) to "
                "give masked entries a value, or arr.compressed() / indexing to remove them."
            )


def check_inexact_tree(name: str, tree: Any) -> None:
    """Every leaf of ``tree`` has a floating or complex dtype, else ``TypeError`` naming ``name``.

    Integer (or boolean) parameters and gradients make optimizer updates
    round to zero or truncate silently (``apply_updates`` casts the update
    to the parameter's dtype). Masked arrays are refused as in
    :func:`reject_masked`. Dtypes are static, so this also runs under ``jit``.
    """
    reject_masked(name, tree)
    flat, _ = jax.tree_util.tree_flatten_with_path(tree)
    for path, leaf in flat:
        dtype = getattr(leaf, "dtype", None)
        if dtype is None:
            dtype = np.result_type(leaf)
        if not np.issubdtype(dtype, np.inexact) and not _is_jax_float(dtype):
            where = jax.tree_util.keystr(path) or "<root>"
            raise TypeError(
                f"{name} must have floating-point (or complex) dtypes; the leaf at {where} "
                f"has dtype {np.dtype(dtype).name}. Integer values give zero or truncated "
                "updates: convert them, e.g. jnp.asarray(x, jnp.float32)."
            )


def _is_jax_float(dtype: Any) -> bool:
    """bfloat16 and the other ml_dtypes floats are not NumPy ``inexact`` subtypes."""
    try:
        return bool(jax.numpy.issubdtype(dtype, jax.numpy.inexact))
    except TypeError:
        return False


def check_same_shapes(name_a: str, a: Any, name_b: str, b: Any) -> None:
    """Two pytrees of one structure have equal leaf shapes, else ``ValueError``.

    Call after :func:`check_same_structure`. Broadcasting is not allowed: an
    update of shape ``(4,)`` for a parameter of shape ``(3,)`` (or ``(1,)``)
    is a bug in the gradient, not something to broadcast.
    """
    flat_a, _ = jax.tree_util.tree_flatten_with_path(a)
    for (path, x), y in zip(flat_a, jax.tree_util.tree_leaves(b)):
        sx, sy = np.shape(x), np.shape(y)
        if sx != sy:
            where = jax.tree_util.keystr(path) or "<root>"
            raise ValueError(
                f"{name_a} must have the shapes of {name_b}; at {where} {name_a} has shape "
                f"{sx} and {name_b} has shape {sy}."
            )


def check_nonnegative(name: str, value: Any, *, positive: bool = False) -> None:
    """Every concrete entry of ``value`` (a number, array or pytree) is ``>= 0`` (``> 0``).

    For prox steps and thresholds, which may be arrays. Traced values are
    skipped (they cannot be inspected when the function is traced); NaN is
    refused; ``inf`` is allowed (``prox`` with an infinite step is the
    minimizer of ``g``), as are non-numeric leaves (left to the callee).
    """
    for leaf in jax.tree_util.tree_leaves(value):
        if is_traced(leaf) or callable(leaf):
            continue
        arr = np.asarray(leaf)
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) and not _is_jax_float(arr.dtype):
            continue
        if np.iscomplexobj(arr):
            raise TypeError(f"{name} must be real, got a complex value {value!r}.")
        arr = arr.astype(np.float64)
        bad = np.isnan(arr) | ((arr <= 0) if positive else (arr < 0))
        if np.any(bad):
            want = "> 0" if positive else ">= 0"
            shown = value if np.ndim(value) == 0 else f"entries such as {arr[bad].flat[0]}"
            raise ValueError(f"{name} must be {want}, got {shown}.")
