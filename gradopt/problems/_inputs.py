"""Eager input checks shared by the problem functions and the estimators.

Every problem (``glm`` and its presets) validates its arguments here, so the
same mistake gets the same message everywhere. Traced values (inside ``jit``
or ``vmap``) cannot be inspected and are passed through unchecked.
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradopt._validation import check_scalar, densify, is_traced
from gradopt.problems import _sharding

INT32_MAX = 2**31 - 1


def as_real_array(name: str, a: Any):
    """A NumPy or JAX array of real numbers from ``a`` (scipy.sparse densified with a warning).

    Masked arrays, pandas' missing values and non-numeric data are refused with
    an error naming ``name``.
    """
    if a is None:
        raise TypeError(f"{name} must be an array of real numbers, got None.")
    if isinstance(a, np.ma.MaskedArray):
        raise TypeError(
            f"{name} is a numpy masked array: gradopt does not read masks; pass "
            f"{name}.filled(value) or drop the masked rows."
        )
    a = densify(name, a, stacklevel=4)
    if isinstance(a, jax.Array) or is_traced(a):
        return a
    if hasattr(a, "to_numpy") and not isinstance(a, np.ndarray):  # pandas objects
        try:
            a = a.to_numpy(dtype=float, na_value=np.nan)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{name} must hold real numbers ({e}).") from None
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be an array of real numbers ({e}).") from None
    if arr.dtype == object:
        try:
            arr = arr.astype(float)
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must be an array of real numbers, got objects such as "
                f"{arr.flat[0]!r}." if arr.size else f"{name} must be an array of real numbers."
            ) from None
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_) or np.issubdtype(
        arr.dtype, np.complexfloating
    ):
        raise TypeError(f"{name} must be an array of real numbers, got dtype {arr.dtype}.")
    return arr


def check_finite(name: str, arr) -> None:
    """``ValueError`` naming ``name`` when ``arr`` holds NaN or inf (traced values pass).

    An array laid out over several devices (perhaps of other processes) is checked where
    it lies, by a compiled reduction; others on the host, as NumPy."""
    if is_traced(arr):
        return
    if _sharding.is_sharded(arr):
        ok = _sharding.all_finite(arr)
    else:
        ok = bool(np.all(np.isfinite(np.asarray(arr))))
    if not ok:
        raise ValueError(f"{name} contains NaN or inf (missing values included); it must be finite.")


def check_design(X, y, *, y_name: str = "y", y_ndim=(1,)):
    """``(X, y)`` as arrays after shape and finiteness checks."""
    X = as_real_array("X", X)
    y = as_real_array(y_name, y)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (n_samples, n_features), got shape {X.shape}.")
    if y.ndim not in y_ndim:
        want = " or ".join({1: "(n_samples,)", 2: "(n_samples, n_tasks)"}[d] for d in y_ndim)
        raise ValueError(f"{y_name} must have shape {want}, got shape {y.shape}.")
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"X and {y_name} have inconsistent numbers of samples: X has {X.shape[0]} rows, "
            f"{y_name} has {y.shape[0]}."
        )
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must have at least one sample and one feature, got shape {X.shape}.")
    check_finite("X", X)
    check_finite(y_name, y)
    return X, y


def float_dtype(X) -> np.dtype:
    """The solve's dtype, from ``X`` alone: float64 for float64 (or integer / bool) ``X``
    when x64 is on, float32 otherwise. Targets and warm starts are cast to it."""
    k = np.dtype(X.dtype)
    want64 = k == np.float64 or np.issubdtype(k, np.integer) or k == np.bool_
    return np.dtype(np.float64 if want64 and jax.config.jax_enable_x64 else np.float32)


def check_count(name: str, value: Any, low: int) -> int:
    """An integer in ``[low, 2**31 - 1]`` (loops count in int32), else a clear error."""
    if is_traced(value):
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer >= {low}, got {value!r}.")
    if not low <= value <= INT32_MAX:
        raise ValueError(f"{name} must be an integer in [{low}, {INT32_MAX}], got {value!r}.")
    return int(value)


def check_flag(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}.")
    return bool(value)


def check_tol(tol: Any) -> None:
    check_scalar("tol", tol, low=0.0)


def check_init(init: Any, shape: tuple, dtype):
    """``init`` as an array of ``shape`` (zeros when None)."""
    if init is None:
        return np.zeros(shape, dtype)
    arr = as_real_array("init", init)
    if tuple(arr.shape) != tuple(shape):
        raise ValueError(f"init must have shape {shape}, got {tuple(arr.shape)}.")
    check_finite("init", arr)
    return arr.astype(dtype) if isinstance(arr, np.ndarray) else jnp.asarray(arr, dtype)


def warn_alpha_max(alpha: Any, alpha_max: Any, what: str, stacklevel: int = 3) -> None:
    """The one "alpha >= alpha_max" warning (skipped for traced values)."""
    if is_traced(alpha) or is_traced(alpha_max) or np.ndim(alpha) != 0:
        return
    a, amax = float(alpha), float(alpha_max)
    if a >= amax:
        warnings.warn(
            f"alpha={a:g} >= alpha_max={amax:g}: the {what} solution is w = 0 (no feature "
            "selected).",
            UserWarning,
            stacklevel=stacklevel + 1,
        )


def warn_if_null(coef: Any, alpha: Any, alpha_max, what: str, stacklevel: int = 2) -> None:
    """:func:`warn_alpha_max` after a solve, for the presets: ``alpha_max()`` (a function) is
    computed only when the concrete solution is ``w = 0``. A solve that selects a feature
    pays one small transfer of ``coef`` instead of a second pass over ``X`` (docs/glm.md,
    'Fixed cost per call'). A ``coef`` spread over processes without a full copy on each
    is skipped (it cannot be read here). ``stacklevel`` counts from the function that
    calls this one: 2 (the default) names the line that called that function, 3 the line
    one frame further out, for a preset that reaches this through a helper."""
    if is_traced(coef) or is_traced(alpha) or np.ndim(alpha) != 0:
        return
    if isinstance(coef, jax.Array) and not (coef.is_fully_addressable
                                            or coef.is_fully_replicated):
        return
    if np.any(np.asarray(coef)):
        return
    warn_alpha_max(alpha, alpha_max(), what, stacklevel + 1)
