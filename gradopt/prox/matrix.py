r"""Spectral penalties on matrix parameters: the nuclear (trace) norm."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gradopt.prox.base import (
    Penalty, align_to_params, check_reg, penalty_class, polar_ratio, tree_sum,
)


def _check_matrix(path, x):
    if jnp.ndim(x) != 2:
        raise ValueError(
            f"nuclear needs matrix parameters: params leaf at {path} has shape "
            f"{jnp.shape(x)} ({jnp.ndim(x)}-D), expected a 2-D array. Give other leaves "
            f"their own penalty with gradopt.prox.separable."
        )


def _svd_input(x):
    """``x`` in at least float32: LAPACK has no bfloat16/float16 SVD."""
    x = jnp.asarray(x)
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


@penalty_class
class Nuclear(Penalty):
    r"""``g(X) = reg * sum_i sigma_i(X)`` for every matrix leaf (see :func:`nuclear`)."""

    reg: Any

    def value(self, params):
        _, items = align_to_params("reg", self.reg, params, per="leaf")
        total = []
        for path, x, r in items:
            _check_matrix(path, x)
            total.append(r * jnp.sum(jnp.linalg.svd(_svd_input(x), compute_uv=False)))
        return tree_sum(total)

    def prox(self, params, step=1.0):
        treedef, items = align_to_params("reg", self.reg, params, per="leaf")
        out = []
        for path, x, r in items:
            _check_matrix(path, x)
            u, s, vt = jnp.linalg.svd(_svd_input(x), full_matrices=False)
            s = jnp.maximum(s - step * r, 0.0).astype(s.dtype)
            out.append(((u * s) @ vt).astype(x.dtype))
        return jax.tree_util.tree_unflatten(treedef, out)

    def alpha_max(self, grad):
        """``max sigma_1(grad) / reg`` (the spectral norm, the nuclear norm's dual) over the
        matrix leaves; see :meth:`gradopt.prox.Penalty.alpha_max`."""
        _, items = align_to_params("reg", self.reg, grad, per="leaf")
        return jnp.max(jnp.stack([
            polar_ratio(jnp.linalg.norm(_svd_input(g), ord=2), r) for _, g, r in items]))


def nuclear(reg: Any = 1.0) -> Nuclear:
    r"""The nuclear (trace) norm of each matrix leaf, ``g(X) = reg * sum_i sigma_i(X)``.

    The convex surrogate of the rank (low-rank matrix completion, multi-task
    learning). Prox: singular value thresholding (Cai, Candès & Shen 2010)::

        V = U diag(sigma) W^T  (thin SVD, jnp.linalg.svd)
        prox(V, s) = U diag(max(sigma - s reg, 0)) W^T

    Every leaf must be a 2-D array; a leaf of another rank raises
    ``ValueError`` at the first ``value``/``prox`` call (at trace time under
    ``jit``). Under ``vmap`` over a batch of matrices each mapped leaf is 2-D.
    One SVD per call: ``O(m n min(m, n))``, computed in at least float32
    (bfloat16 matrices are promoted for the SVD and the result cast back).

    ``subdiff_distance``: no (use ``residual``).

    Args:
      reg: ``>= 0``; a scalar or a pytree prefix of the parameters with one
        scalar per leaf. May be traced.

    Example::

        >>> import jax.numpy as jnp, gradopt
        >>> gradopt.prox.nuclear(1.0).prox(jnp.diag(jnp.array([3.0, 0.5])), 1.0)
        Array([[2., 0.],
               [0., 0.]], dtype=float32)
    """
    check_reg("reg", reg, scalar=True)
    return Nuclear(reg)
