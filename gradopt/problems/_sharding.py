"""Problems on sharded data: global ``jax.Array``s whose rows (samples) are spread over a mesh.

A problem's data are row-sharded when ``X`` is a concrete ``jax.Array`` with a
:class:`jax.sharding.NamedSharding` over more than one device whose feature
dimension is not sharded (``P("data", None)``, or replicated). The engine then
runs as one SPMD program on the data where they lie:

* the design is transposed and padded *on its own devices* (only the feature
  dimension is padded; rows are not, since padding a sharded dimension would
  move rows between devices), and the targets and the row mask get the same
  row sharding (:func:`put_rows`);
* every product that contracts the sample dimension (``X^T u``, a column
  times the residual) goes through :func:`dot`, which on an explicit mesh
  states the result's sharding (the feature dimension's, i.e. replicated), so
  XLA computes the partial products on each device and all-reduces them: the
  only communication is that psum of a ``p``-vector (or of a scalar per
  coordinate step) and the scalar sums of the objective;
* host-side checks (finiteness, labels) run as small compiled reductions whose
  replicated scalar result every process can read (:func:`reduce_on_device`),
  since ``np.asarray`` cannot fetch an array that spans other processes.

A design whose *columns* (features) are sharded (``P(None, "model")``, for
``p >> n``) is solved in place too (:func:`feature_sharded`): its transpose
``XT`` is then sharded along its rows (each device transposes its own features;
the feature dimension is not padded, the sample dimension is), ``X^T u`` is
computed locally, ``X w`` is an all-reduce of partial products (an ``n``-vector),
and the engine's inner loop runs on the working set's columns gathered
(``engine.Columns``). The result is replicated (:func:`replicated_outputs`).

On one device (or for NumPy input) none of this changes a line of the compiled
program: :func:`dot` is ``a @ b`` unless an operand's *type* carries an
explicit mesh axis on the contracted dimension, which only happens on explicit
meshes.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from gradopt._validation import is_traced

_AxisType = getattr(jax.sharding, "AxisType", None)


def is_sharded(a) -> bool:
    """Whether ``a`` is a concrete ``jax.Array`` laid out over more than one device."""
    return isinstance(a, jax.Array) and not is_traced(a) and len(a.sharding.device_set) > 1


def spec_of(a) -> tuple:
    """``a``'s partition spec (a concrete array's ``NamedSharding``), one entry per dimension."""
    spec = tuple(a.sharding.spec)
    return spec + (None,) * (a.ndim - len(spec))


def _sharded_2d(X) -> bool:
    return is_sharded(X) and isinstance(X.sharding, NamedSharding) and X.ndim == 2


def row_sharded(X) -> bool:
    """Whether ``X`` (2-D) is sharded over devices with its feature dimension whole: the
    layout the engine solves in place (rows sharded, or replicated)."""
    return _sharded_2d(X) and spec_of(X)[1] is None


def feature_sharded(X) -> bool:
    """Whether ``X`` (2-D) is sharded over devices along its features only (``P(None, axis)``):
    the layout for ``p >> n``, solved with the working set's columns gathered."""
    return _sharded_2d(X) and spec_of(X)[0] is None and spec_of(X)[1] is not None


def explicit_axes(mesh) -> tuple:
    """The names of ``mesh``'s explicit axes (none on an auto mesh, or on a jax without
    ``jax.sharding.auto_axes``, which every caller uses to make them auto)."""
    if _AxisType is None or not hasattr(jax.sharding, "auto_axes"):
        return ()
    return tuple(name for name, t in zip(mesh.axis_names, getattr(mesh, "axis_types", ()))
                 if t == _AxisType.Explicit)


def rows_of(X) -> NamedSharding:
    """The sharding of a ``(n,)`` array laid out like ``X``'s rows."""
    return NamedSharding(X.sharding.mesh, P(spec_of(X)[0]))


def put_rows(a, X):
    """``a`` (leading dimension ``n``) placed with ``X``'s row sharding, its other dimensions
    whole. NumPy values are cut on each process (``make_array_from_callback``), so this
    works when the mesh spans processes; JAX arrays are resharded on their devices."""
    sharding = NamedSharding(X.sharding.mesh, P(rows_of(X).spec[0], *([None] * (a.ndim - 1))))
    if isinstance(a, jax.Array):
        return a if a.sharding == sharding else jax.device_put(a, sharding)
    a = np.asarray(a)
    return jax.make_array_from_callback(a.shape, sharding, lambda index: a[index])


@functools.lru_cache(maxsize=16)
def _transpose_pad_jit(out: NamedSharding):
    def transpose_pad(X, p_pad, n_pad, dtype):
        n, p = X.shape
        return jnp.pad(jnp.asarray(X, dtype).T, ((0, p_pad - p), (0, n_pad - n)))
    return jax.jit(transpose_pad, static_argnums=(1, 2, 3), out_shardings=out)


def transpose_pad(X, p_pad: int, dtype, n_pad: int | None = None):
    """``X.T`` as ``dtype``, zero-padded to ``(p_pad, n_pad)`` (``n_pad`` defaults to ``n``),
    laid out as ``X`` transposed: each device transposes its own block, no communication.
    Pad only a dimension that is not sharded (padding a sharded one would move data
    between devices): the features of row-sharded ``X``, the samples of feature-sharded."""
    rows, cols = spec_of(X)
    out = NamedSharding(X.sharding.mesh, P(cols, rows))
    return _transpose_pad_jit(out)(X, p_pad, X.shape[0] if n_pad is None else n_pad,
                                   np.dtype(dtype))


def replicated_outputs(fn, mesh):
    """``fn`` with its outputs replicated over ``mesh`` (readable on every process). On a mesh
    with explicit axes ``fn`` runs with them made auto (``jax.sharding.auto_axes``): the
    engine's gathers, scatters and scans along a sharded feature axis have no sharding JAX
    can type, and XLA's propagation partitions them (masked local gathers and all-reduces;
    the compiled program is the auto mesh's)."""
    explicit = explicit_axes(mesh)
    whole = NamedSharding(mesh, P())  # names the mesh: no jax.set_mesh context needed
    if explicit:
        return jax.sharding.auto_axes(fn, axes=explicit, out_sharding=whole)
    return lambda *args: jax.lax.with_sharding_constraint(fn(*args), whole)


@jax.jit
def _all_finite(a):
    return jnp.all(jnp.isfinite(a))


def all_finite(a) -> bool:
    """``all(isfinite(a))`` computed where ``a`` lies; the replicated answer is read on
    every process."""
    return bool(_all_finite(a))


def reduce_on_device(fn, *arrays):
    """``fn(*arrays)`` (a few scalars) compiled and computed on the arrays' devices, returned
    as NumPy values readable on every process (the results are replicated)."""
    out = jax.jit(fn)(*arrays)
    return jax.tree_util.tree_map(np.asarray, out)


def _explicit_spec(x):
    """``(mesh, spec)``: ``x``'s mesh and partition spec, the spec keeping only explicit mesh
    axes (``None`` elsewhere; ``mesh`` is ``None`` when ``x``'s type names no mesh)."""
    none = (None, (None,) * jnp.ndim(x))
    if _AxisType is None:
        return none
    try:
        sharding = jax.typeof(x).sharding
        mesh, spec = sharding.mesh, tuple(sharding.spec)
        explicit = {name for name, t in zip(mesh.axis_names, mesh.axis_types)
                    if t == _AxisType.Explicit}
    except (AttributeError, TypeError):
        return none
    spec = spec + (None,) * (jnp.ndim(x) - len(spec))

    def keep(entry):
        names = entry if isinstance(entry, tuple) else (entry,)
        return entry if entry is not None and all(n in explicit for n in names) else None

    return mesh, tuple(keep(e) for e in spec)


def dot(a, b):
    """``a @ b`` (``a`` 2-D, ``b`` 1-D or 2-D). When the contracted dimension is sharded over
    explicit mesh axes, the result keeps the sharding of ``a``'s rows and ``b``'s columns
    (``out_sharding``), so the partial products are all-reduced (a psum of the result);
    elsewhere (one device, auto meshes: sharding propagation decides) it is ``a @ b``."""
    if not (isinstance(a, jax.Array) or isinstance(b, jax.Array)):  # NumPy (tracers count)
        return a @ b
    (mesh, sa), (_, sb) = _explicit_spec(a), _explicit_spec(b)
    if sa[-1] is None and sb[0] is None:
        return a @ b
    if mesh is None:
        mesh = _explicit_spec(b)[0]
    return jnp.matmul(a, b, out_sharding=NamedSharding(mesh, P(*sa[:-1], *sb[1:])))


def stacked_zeros(x, m: int):
    """Zeros of shape ``(m,) + x.shape`` laid out like ``x`` along its own dimensions (a
    history of iterates: on an explicit mesh, writing a row-sharded ``x`` into it must not
    change its type); plain ``jnp.zeros`` elsewhere."""
    if all(s is None for s in _explicit_spec(x)[1]):
        return jnp.zeros((m,) + x.shape, x.dtype)
    return jnp.broadcast_to(jnp.zeros_like(x)[None], (m,) + x.shape)
