r"""``glm``: any datafit x penalty, solved by one engine, compiled once per size bucket.

::

    min_{w, b}  F(X w + b) + G(w)

``F`` from :mod:`gradopt.datafits` (``quadratic``, ``logistic``, ``huber``,
``poisson``), ``G`` a penalty from :mod:`gradopt.prox` with the block
protocol (``l1`` weighted or ``positive``, ``elastic_net``, ``l2_squared``;
``group_l2(axis=1)`` rows for multitask problems). The solver is described in
``gradopt/problems/engine.py`` and ``docs/glm.md``.

Shapes are padded to size buckets (``n`` and ``p`` rounded up on a grid with
ratio at most 1.25, multiples of 8) with zero rows of weight 0 and zero
columns kept out of the working sets, which leaves the solution unchanged:
a new shape near a compiled one reuses its program.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradopt._validation import is_traced
from gradopt.datafits.base import Datafit
from gradopt.problems import _inputs, _proximal, _sharding
from gradopt.problems import engine
from gradopt.problems._compile import jit
from gradopt.problems._result import SparseResult
from gradopt.prox.base import Penalty
from gradopt.prox.group import GroupL2, IndexGroupsL2, group_l2
from gradopt.prox.sparse import L1, ElasticNet, L2Squared, l1
from gradopt.solve.result import Status

__all__ = ["glm", "glm_alpha_max"]

DEFAULT_MAX_ITER = 100
DEFAULT_MAX_EPOCHS = 10_000  # as the lasso presets' epochs per working-set iteration (docs/glm.md)
HOST_PAD_MAX_BYTES = 1 << 22  # NumPy designs up to 4 MB are padded on the host
GRAM_MAX_P = 2048  # Gram form (once it pays: engine.GRAM_AFTER) for least squares up to this p_pad
# a least-squares ridge starts from its direct solution (_ridge_start) while the system's
# flops, min(n_pad, p_pad)^2 max(n_pad, p_pad), stay within these (wide: p_pad > n_pad)
DIRECT_RIDGE_FLOPS_WIDE = 2 ** 36
DIRECT_RIDGE_FLOPS_TALL = 2 ** 33


def bucket(m: int) -> int:
    """The padded size of a dimension ``m``: the next point of the grid
    ``{16} U {8 ceil(2^e f / 8): f in 1, 1.25, 1.5, 1.75}`` (at most 25 % padding)."""
    if m <= 16:
        return 16
    e = 2 ** int(math.floor(math.log2(m)))
    for f in (1.0, 1.25, 1.5, 1.75, 2.0):
        c = 8 * math.ceil(e * f / 8)
        if c >= m:
            return c
    raise AssertionError("unreachable")


@functools.lru_cache(maxsize=64)
def _singletons(p_pad: int, p: int):
    return np.arange(p_pad, dtype=np.int32)[:, None], (np.arange(p_pad) < p)[:, None]


def _group_blocks(groups, p_pad: int):
    """Blocks of rows ``(idx, valid)``, one per group (a list of index arrays), each padded
    to the largest group with the index of the last padding feature, whose column and
    coefficient are always 0 (so a block's gathered rows hold zeros there). At least two
    slots per block: one-slot blocks are read as the features themselves, in row order
    (``engine._blocks``), which singleton groups in another order or with fewer blocks
    than padded rows are not."""
    m = max(2, max(len(g) for g in groups))
    idx = np.full((len(groups), m), p_pad - 1, np.int32)
    valid = np.zeros((len(groups), m), bool)
    for b, g in enumerate(groups):
        idx[b, :len(g)] = g
        valid[b, :len(g)] = True
    return idx, valid


def _missing_blocks(penalty) -> list[str]:
    """The methods of the engine's block protocol that ``penalty`` lacks (a ``group_l2``
    whose groups are not rows has them but cannot use them)."""
    if isinstance(penalty, GroupL2) and not penalty.row_groups:
        return [f"row groups (it has axis={penalty.axis!r}"
                + (", whole_tree=True)" if penalty.whole_tree else ")")]
    return [m for m in ("block_prox", "block_dist", "block_dual_ratio", "block_conjugate",
                        "block_value") if not callable(getattr(penalty, m, None))]


def _check_penalty(penalty, p: int) -> None:
    missing = _missing_blocks(penalty)
    if missing:
        raise TypeError(
            f"penalty must be a gradopt.prox penalty with a coordinate structure (l1, "
            f"elastic_net, l2_squared, group_l2(axis=1)); {type(penalty).__name__} lacks "
            f"{', '.join(missing)}. gradopt.glm solves other gradopt.prox penalties by "
            f"accelerated proximal gradient; paths and the estimators' engine need the "
            f"coordinate structure."
        )
    for leaf in jax.tree_util.tree_leaves(penalty):
        if np.ndim(leaf) not in (0, 1) or (np.ndim(leaf) == 1 and np.shape(leaf)[0] != p):
            raise ValueError(
                f"penalty strengths must be scalars or arrays of shape (n_features,) = ({p},), "
                f"got shape {np.shape(leaf)}."
            )


def _per_feature(penalty, p_pad: int, dtype):
    """The penalty with every strength as a ``(p_pad,)`` array (padding features get 0), so
    that scalar and per-feature strengths share one compiled program. Python and NumPy
    strengths are padded on the host: two eager JAX operations per strength cost more than
    a diabetes-sized solve's coordinate descent (docs/glm.md, "Fixed cost per call")."""
    def one(leaf):
        xp = jnp if isinstance(leaf, (jax.Array, jax.core.Tracer)) else np  # device / traced
        leaf = xp.asarray(leaf, dtype)
        if leaf.ndim == 0:
            return xp.broadcast_to(leaf, (p_pad,))
        return xp.pad(leaf, (0, p_pad - leaf.shape[0]))
    return jax.tree_util.tree_map(one, penalty)


def _pad(X, y, W0, n_pad, p_pad, dtype):
    """``(XT, y, W0)`` padded to ``(p_pad, n_pad)``, ``(n_pad, k)``, ``(p_pad, k)``.

    Small NumPy data are padded on the host (no compile for a new shape), and so are
    column-major ones (``X.T`` is then a row-major view: padding is a copy); large row-major
    ones by a compiled transpose on the device, several times faster (``docs/glm.md``)."""
    n, p = X.shape
    if y.ndim == 1 and isinstance(y, np.ndarray):
        y = y[:, None]
    if W0.ndim == 1 and isinstance(W0, np.ndarray):
        W0 = W0[:, None]
    small = X.size * np.dtype(dtype).itemsize <= HOST_PAD_MAX_BYTES
    column_major = isinstance(X, np.ndarray) and X.T.flags.c_contiguous
    if (small or column_major) and all(isinstance(a, np.ndarray) for a in (X, y, W0)):
        XT = np.zeros((p_pad, n_pad), dtype)
        XT[:p, :n] = X.T
        yp = np.zeros((n_pad,) + y.shape[1:], dtype)
        yp[:n] = y
        Wp = np.zeros((p_pad,) + W0.shape[1:], dtype)
        Wp[:p] = W0
        return XT, yp, Wp
    return _pad_device(X, y, W0, n_pad, p_pad, dtype)


@functools.partial(jax.jit, static_argnums=(3, 4, 5))
def _pad_device(X, y, W0, n_pad, p_pad, dtype):
    n, p = X.shape
    y, W0 = jnp.reshape(y, (n, -1)), jnp.reshape(W0, (p, -1))  # one task: (n,) -> (n, 1)
    XT = jnp.pad(jnp.asarray(X, dtype).T, ((0, p_pad - p), (0, n_pad - n)))
    yp = jnp.pad(jnp.asarray(y, dtype), ((0, n_pad - n),) + ((0, 0),) * (y.ndim - 1))
    Wp = jnp.pad(jnp.asarray(W0, dtype), ((0, p_pad - p),) + ((0, 0),) * (W0.ndim - 1))
    return XT, yp, Wp


def _prepare(X, y, datafit, init, multitask: bool, groups=None):
    """Validated, padded engine data; also ``(n, p, k, dtype, squeeze)``. Blocks are the
    single features, or ``groups`` (a list of index arrays partitioning the features)."""
    if not isinstance(datafit, Datafit):
        raise TypeError(
            f"datafit must be a gradopt.datafits datafit (quadratic(), logistic(), huber(), "
            f"poisson()), got {type(datafit).__name__}."
        )
    X, y = _inputs.check_design(X, y, y_name="Y" if multitask else "y",
                                y_ndim=(2,) if multitask else (1, 2))
    y = datafit.labels(y)
    dtype = _inputs.float_dtype(X)
    n, p = X.shape
    squeeze = y.ndim == 1
    k = 1 if squeeze else y.shape[1]
    W0 = _inputs.check_init(init, (p,) if squeeze else (p, k), dtype)
    if squeeze and (_sharding.is_sharded(X) or is_traced(y) or is_traced(W0)):
        y, W0 = y[:, None], W0[:, None]  # else _pad adds the task axis (no eager operation)
    p_pad = bucket(p if groups is None else p + 1)  # groups: >= 1 padding
    if _sharding.row_sharded(X):
        # rows stay where they are: no row padding (it would move rows between devices),
        # targets and mask sharded like X's rows, features padded on each device
        n_pad = n
        XT = _sharding.transpose_pad(X, p_pad, dtype)
        yp = _sharding.put_rows(y.astype(dtype) if isinstance(y, jax.Array)
                                else np.asarray(y, dtype), X)
        if isinstance(W0, jax.Array):
            Wp = jnp.pad(jnp.asarray(W0, dtype), ((0, p_pad - p), (0, 0)))
        else:
            Wp = np.zeros((p_pad,) + W0.shape[1:], dtype)
            Wp[:p] = W0
        mask = _sharding.put_rows(np.ones(n, dtype), X)
    elif _sharding.feature_sharded(X):
        # features stay where they are: no feature padding (it would move features between
        # devices; JAX lays out only p divisible by the shards), samples padded on each device
        if groups is not None:
            raise ValueError(
                "group_lasso on a design sharded along its features is not supported (its "
                "blocks need a zero padding feature); shard the rows (P('data', None)).")
        p_pad, n_pad = p, bucket(n)
        XT = _sharding.transpose_pad(X, p_pad, dtype, n_pad)
        pad_n = ((0, n_pad - n), (0, 0))
        yp = _sharding.put_rows(jnp.pad(y.astype(dtype), pad_n) if isinstance(y, jax.Array)
                                else np.pad(np.asarray(y, dtype), pad_n), X)  # replicated
        Wp = jnp.asarray(W0, dtype) if isinstance(W0, jax.Array) else np.asarray(W0, dtype)
        mask = (np.arange(n_pad) < n).astype(dtype)
    else:
        n_pad = bucket(n)
        XT, yp, Wp = _pad(X, y, W0, n_pad, p_pad, dtype)
        mask = (np.arange(n_pad) < n).astype(dtype)
    idx, valid = _singletons(p_pad, p) if groups is None else _group_blocks(groups, p_pad)
    data = engine.Data(XT, yp, mask, idx, valid)
    return data, Wp, (n, p, k, dtype, squeeze)


def _holds_zeros(penalty) -> bool:
    """Whether ``penalty`` can hold a coefficient at exactly 0: an l1 part with a positive
    strength somewhere, or a sign constraint. True where the host cannot tell (traced
    strengths, device arrays, which are not read back, other penalties). A ridge's solution
    (``l2_squared``, ``l1_ratio=0``, ``alpha=0``) has every feature non-zero."""
    if penalty is None or getattr(penalty, "positive", False):
        return True
    if isinstance(penalty, L2Squared):
        return False
    if not isinstance(penalty, (L1, ElasticNet)) or any(
            isinstance(leaf, (jax.Array, jax.core.Tracer))
            for leaf in jax.tree_util.tree_leaves(penalty)):
        return True
    l1_part = penalty.reg * (penalty.l1_ratio if isinstance(penalty, ElasticNet) else 1.0)
    return bool(np.any(np.asarray(l1_part) > 0))


def _ridge_strengths(penalty, p: int):
    """The per-feature ``l2`` strengths ``a2`` of a ridge penalty (``l2_squared``, or
    ``elastic_net`` with ``l1_ratio = 0``) whose strengths are known on the host and
    positive on each of the ``p`` real features; else None (an l1 part, a sign constraint,
    traced or device strengths, a zero strength)."""
    if _holds_zeros(penalty):
        return None
    if isinstance(penalty, L2Squared):
        a2 = np.asarray(penalty.reg, float)
    elif isinstance(penalty, ElasticNet):
        a2 = np.asarray(penalty.reg, float) * (1.0 - np.asarray(penalty.l1_ratio, float))
    else:
        return None
    a2 = np.broadcast_to(a2, (p,))
    return a2 if np.all(a2 > 0) else None


@functools.partial(jax.jit, static_argnums=(4,))
def _ridge_direct(XT, y, mask, a2, fit_intercept: bool):
    """The ridge ``min 1/(2n) ||y - X w - b||^2 + sum_j a2_j w_j^2 / 2`` by one Cholesky
    factorization, on the engine's padded data (``a2 = 0``: a padding feature, ``w_j = 0``):
    ``(X_c^T X_c + n diag(a2)) w = X_c^T y_c`` where ``p_pad <= n_pad``, else the dual form
    ``w = diag(a2)^{-1} X_c^T u``, ``(X_c diag(a2)^{-1} X_c^T + n I) u = y_c`` (``X_c``,
    ``y_c`` centred over the real samples for the intercept). Zeros where it is not finite."""
    n = jnp.sum(mask)
    if fit_intercept:
        XT = (XT - (XT @ mask / n)[:, None]) * mask
        y = (y - mask @ y / n) * mask[:, None]
    p_pad, n_pad = XT.shape
    if p_pad <= n_pad:
        A = XT @ XT.T + jnp.diag(jnp.where(a2 > 0, n * a2, 1.0))
        W = jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(A, lower=True), XT @ y)
    else:
        dinv = jnp.where(a2 > 0, 1.0 / jnp.where(a2 > 0, a2, 1.0), 0.0)
        K = (XT.T * dinv) @ XT + n * jnp.eye(n_pad, dtype=XT.dtype)
        U = jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(K, lower=True), y)
        W = dinv[:, None] * (XT @ U)
    return jnp.where(jnp.all(jnp.isfinite(W)), W, 0.0)


def _columns(data: engine.Data, datafit=None, penalty=None) -> engine.Columns | None:
    """The engine's gathered modes (:class:`engine.Columns`), chosen by shape:

    * ``XT`` sharded along its features: each outer iteration gathers the working set's
      columns onto every device, ``capacity = bucket(4 n)`` blocks (a lasso's support has
      at most ``n`` features and its working sets are twice the support; the margin leaves
      room for the larger supports of an elastic net);
    * one device, the quadratic datafit, singleton blocks, ``p_pad <= GRAM_MAX_P`` and
      ``n_pad >= 2 p_pad``: the Gram form;
    * one device, ``p_pad`` above ``capacity``: the working set gathered into
      ``capacity`` blocks, unless the penalty holds no coefficient at 0 (a ridge, whose
      support is every feature: windows of ``capacity`` blocks swept in turn took hundreds
      of outer iterations, :func:`_holds_zeros`);
    * one device, the quadratic datafit with one task, singleton blocks: the working set
      gathered into ``min(p_pad, capacity)`` blocks, for the blocked sweeps of the
      gathered inner loop (docs/glm.md, "Gathered working sets").

    None otherwise: the engine sweeps ``X`` in place (rows sharded included). Shapes are
    the padded ones, so a new shape in a size bucket gets the same mode and program."""
    XT = data.XT
    nb, g = data.idx.shape
    capacity = min(nb, bucket(max(4 * XT.shape[1], 2 * engine.WS_MIN)))
    if _sharding.row_sharded(XT) and _sharding.spec_of(XT)[0] is not None:
        return engine.Columns(XT.sharding.mesh, capacity, _sharding.spec_of(XT)[0])
    if _sharding.is_sharded(XT):
        return None
    if (datafit is not None and datafit.quadratic and g == 1 and nb <= GRAM_MAX_P
            and XT.shape[1] >= 2 * nb):
        return engine.Columns(None, nb, None, gram=True)
    if capacity < nb and not _holds_zeros(penalty):
        return None
    if capacity < nb or (datafit is not None and datafit.quadratic and g == 1
                         and data.y.shape[1] == 1):
        return engine.Columns(None, capacity, None)
    return None


def glm(
    X: Any,
    y: Any,
    datafit: Datafit,
    penalty: Any,
    *,
    fit_intercept: bool = False,
    tol: float = 1e-6,
    max_iter: int = DEFAULT_MAX_ITER,
    max_epochs: int = DEFAULT_MAX_EPOCHS,
    init: Any = None,
) -> SparseResult:
    r"""Solve ``min_{w, b} F(X w + b) + G(w)`` for a datafit ``F`` and a penalty ``G``.

    One compiled program (working-set proximal coordinate descent with
    Anderson extrapolation, proximal Newton for the logistic and Poisson
    datafits; see ``docs/glm.md``), the same for every shape in a size bucket.
    It runs eagerly, under ``jax.jit`` and under ``jax.vmap`` (over the
    penalty's strengths, for example), on any backend.

    Args:
      X: ``(n, p)`` design (NumPy or JAX; scipy.sparse is densified with a warning).
      y: ``(n,)`` targets, or ``(n, k)`` for a multitask problem (then ``coef``
        is ``(p, k)``). Logistic labels may be ``{0, 1}`` or ``{-1, 1}``.
      datafit: from :mod:`gradopt.datafits`.
      penalty: a :mod:`gradopt.prox` penalty with the block protocol (``l1``,
        ``elastic_net``, ``l2_squared``, ``group_l2(axis=1)``, and
        ``group_l2(groups=...)``, whose index groups become the engine's
        blocks); its strengths are scalars or ``(p,)`` arrays (per-feature weights). It is a pytree,
        so strengths may be traced. Any other :mod:`gradopt.prox` penalty
        (``linf``, ``nuclear``, ``simplex``, ``box``, ``separable``...) is
        solved by accelerated proximal gradient with backtracking and
        function restarts on the whole ``W`` (FISTA; Beck & Teboulle 2009,
        O'Donoghue & Candes 2015): at most ``max_iter * max_epochs`` steps,
        stopping when the unit-step gradient mapping is ``<= tol`` times its
        value at the start (times ``max(1, ||grad F||)``, as
        :func:`gradopt.minimize`); ``duality_gap`` is then ``inf``, the data
        are not padded (one program per shape) and ``n_iter`` counts steps.
      fit_intercept: fit an unpenalized intercept ``b``.
      tol: stop when ``duality_gap <= tol * P_0`` (``P_0`` the objective of the
        null model, ``w = 0`` with the best intercept); for datafits without a
        gap certificate (``huber``, ``poisson``) when the largest optimality
        violation is ``<= tol`` times its value at the null model.
      max_iter: maximum outer (working-set / proximal Newton) iterations.
      max_epochs: maximum coordinate-descent epochs per outer iteration.
      init: initial coefficients (warm start); a start whose objective
        overflows is replaced by zeros. A least-squares ridge (``l2_squared``,
        ``elastic_net`` with ``l1_ratio=0``, positive strengths known on the
        host) starts from its solution by one linear system instead, up to a
        size (docs/glm.md, "Ridge: a direct start").

    Returns:
      :class:`SparseResult` with ``coef``, ``intercept``, ``objective``,
      ``duality_gap`` (``inf`` when the datafit has no certificate at that
      point; for ``huber`` and ``poisson``, which stop on the KKT measure, a
      finite gap is still a valid bound on ``objective - P*``, so a gap of 0
      with ``converged=False`` means an objective optimal to rounding whose KKT
      test at ``tol`` was not met), ``n_iter`` (outer iterations), ``converged`` and ``status``
      (:class:`gradopt.Status`: CONVERGED, MAX_STEPS, DIVERGED).

    Sharded data: ``X`` may be a global ``jax.Array`` whose rows are sharded
    over a mesh (``NamedSharding(mesh, P("data", None))``, auto or explicit
    axes, one process or many; ``y`` is then placed like ``X``'s rows). The
    solve is one SPMD program on the devices holding the rows: each iteration
    all-reduces the ``p``-vector ``X^T u`` and one scalar per coordinate step,
    ``X`` is never gathered, and rows are not padded. Every field of the result
    is replicated over the mesh (readable in every process).

    ``X`` may instead have its **columns** (features) sharded
    (``P(None, "model")``, for ``p >> n``): each device computes the
    correlations ``X^T u`` of its features, and each outer iteration gathers the
    working set's columns (``O(n |ws|)`` numbers; each device proposes its
    best candidates, so no ``p``-vector moves) into a small replicated problem
    for coordinate descent, which updates the predictions ``X w`` itself: ``X`` is never
    gathered. Features are not padded (a new ``p`` compiles again; JAX lays
    out only ``p`` divisible by the shards). The result (``coef`` included) is
    replicated over the mesh. On a mesh with explicit axes the solve runs with
    them made auto (``jax.sharding.auto_axes``). ``group_lasso`` does not take
    this layout.

    Example::

        >>> import numpy as np, gradopt
        >>> from gradopt import datafits, prox
        >>> rng = np.random.default_rng(0)
        >>> X = rng.standard_normal((100, 20)); y = X[:, 0] - 2 * X[:, 1] + 0.1 * rng.standard_normal(100)
        >>> res = gradopt.glm(X, y, datafits.huber(1.0), prox.l1(0.05), fit_intercept=True)
        >>> bool(res.converged), np.flatnonzero(np.asarray(res.coef)).tolist()
        (True, [0, 1])
    """
    groups, shape = None, (getattr(X, "shape", None) or np.shape(X))
    if isinstance(penalty, IndexGroupsL2) and len(shape) == 2:  # groups: the engine's blocks
        penalty, groups = penalty.engine_blocks(shape[1])
    elif isinstance(penalty, Penalty) and _missing_blocks(penalty):  # no block structure
        if not isinstance(datafit, Datafit):
            raise TypeError(f"datafit must be a gradopt.datafits datafit, got "
                            f"{type(datafit).__name__}.")
        _inputs.check_flag("fit_intercept", fit_intercept)
        _inputs.check_tol(tol)
        steps = (_inputs.check_count("max_iter", max_iter, 0)
                 * _inputs.check_count("max_epochs", max_epochs, 1))
        return _proximal.solve(X, y, datafit, penalty, fit_intercept=fit_intercept, tol=tol,
                               max_steps=min(steps, _inputs.INT32_MAX), init=init)
    sol, p, squeeze = solve_glm(X, y, datafit, penalty, fit_intercept=fit_intercept, tol=tol,
                                max_iter=max_iter, max_epochs=max_epochs, init=init, groups=groups)
    return _result(sol, p, squeeze)


def solve_glm(X, y, datafit, penalty, *, fit_intercept, tol, max_iter, max_epochs, init,
              groups=None) -> tuple[engine.Solution, int, bool]:
    """:func:`glm`'s checks and solve: ``(engine solution, p, squeeze)``. ``groups`` (a list
    of index arrays partitioning the features) makes blocks of features for a penalty whose
    block protocol reads whole blocks (the group lasso's)."""
    _inputs.check_flag("fit_intercept", fit_intercept)
    _inputs.check_tol(tol)
    max_iter = _inputs.check_count("max_iter", max_iter, 0)
    max_epochs = _inputs.check_count("max_epochs", max_epochs, 1)
    data, W0, (n, p, k, dtype, squeeze) = _prepare(X, y, datafit, init, multitask=False,
                                                   groups=groups)
    _check_penalty(penalty, p)
    W0 = _ridge_start(datafit, penalty, data, W0, p, fit_intercept, groups)
    penalty = _per_feature(penalty, data.XT.shape[0], dtype)
    # traced inputs (jax.grad, jax.jvp, jit...) get the implicit derivative; NumPy ones skip it
    solve = engine.solve_differentiable if any_traced((data, penalty, W0)) else engine.solve
    sol = solve(datafit, penalty, data, W0, tol, max_iter, max_epochs,
                fit_intercept=bool(fit_intercept), columns=_columns(data, datafit, penalty),
                newton=not any_batched((data, penalty, W0, tol)))
    return sol, p, squeeze


def _ridge_start(datafit, penalty, data: engine.Data, W0, p: int, fit_intercept, groups):
    """The start of a ridge on the quadratic datafit: its solution by one linear system
    (:func:`_ridge_direct`), which the engine then certifies (and polishes, if rounding
    left a gap). Coordinate descent alone needs thousands of epochs on a ridge with
    ``p > n`` or correlated features and a small strength (docs/glm.md, "Ridge"). Only
    where the strengths of ``penalty`` (as given) are known and positive
    (:func:`_ridge_strengths`), nothing is traced or sharded, and the system costs at most
    ``DIRECT_RIDGE_FLOPS_WIDE`` flops (``p_pad > n_pad``) or ``DIRECT_RIDGE_FLOPS_TALL``;
    else ``W0``. The solution is unique, so a given ``init`` is not needed."""
    p_pad, n_pad = data.XT.shape
    budget = DIRECT_RIDGE_FLOPS_WIDE if p_pad > n_pad else DIRECT_RIDGE_FLOPS_TALL
    if (not datafit.quadratic or groups is not None or _sharding.is_sharded(data.XT)
            or min(p_pad, n_pad) ** 2 * max(p_pad, n_pad) > budget
            or any_traced((data, penalty, W0))):
        return W0
    a2 = _ridge_strengths(penalty, p)
    if a2 is None:
        return W0
    dtype = data.XT.dtype
    a2_pad = np.zeros(data.XT.shape[0], dtype)  # padding features: 0, so w_j = 0
    a2_pad[:p] = a2
    return _ridge_direct(data.XT, data.y, data.mask, a2_pad, bool(fit_intercept))


def any_traced(tree) -> bool:
    """Whether any leaf of ``tree`` is a JAX tracer."""
    return any(is_traced(leaf) for leaf in jax.tree_util.tree_leaves(tree))


def any_batched(tree) -> bool:
    """Whether any leaf of ``tree`` is traced by ``jax.vmap`` (seen directly, not through an
    inner ``jit``): the engine then skips its active-set Newton steps, whose branch a
    vmapped ``lax.cond`` would evaluate at every epoch. By the tracer's class name:
    jax exports the class under different paths across versions."""
    return any(type(leaf).__name__ == "BatchTracer" for leaf in jax.tree_util.tree_leaves(tree))


def _result(sol: engine.Solution, p: int, squeeze: bool) -> SparseResult:
    # one dispatch of a small program per (bucket, p), compiled once: eager slices cost about
    # 0.1 ms each a call (docs/glm.md, "Fixed cost per call")
    coef, b, converged = _unpadded(sol.iterate.W, sol.iterate.b, sol.status, p, squeeze)
    return SparseResult(
        coef=coef, intercept=b, objective=sol.cert.objective, duality_gap=sol.cert.gap,
        n_iter=sol.n_iter, converged=converged, status=sol.status,
    )


@functools.partial(jit, static_argnums=(3, 4))
def _unpadded(W, b, status, p: int, squeeze: bool):
    return ((W[:p, 0], b[0]) if squeeze else (W[:p], b)) + (status == Status.CONVERGED,)


def glm_alpha_max(X: Any, y: Any, datafit: Datafit, penalty: Penalty | None = None, *,
                  fit_intercept: bool = False, weights: Any = None) -> jax.Array:
    r"""The smallest ``alpha`` for which ``glm(X, y, datafit, alpha * penalty)`` has ``w = 0``.

    That is ``penalty.alpha_max(G)`` (:meth:`gradopt.prox.Penalty.alpha_max`) at the
    datafit's gradient at the null model, ``G = X^T grad F(X 0 + b_0)`` (``b_0`` the
    best intercept of the null model, or 0): ``-G in alpha dg(0)`` is the optimality
    condition of ``w = 0``. For a penalty of strength ``reg`` this is relative to
    ``reg``: ``penalty = l1(1.0)`` gives the lasso's
    ``alpha_max = max_j |G_j|``, ``l1(weights)`` the weighted
    ``max_j |G_j| / weights_j``.

    Args:
      penalty: a :mod:`gradopt.prox` penalty with ``alpha_max`` (l1, elastic net,
        group l2, linf, their ``separable`` combinations). Default: ``l1(weights)``,
        or for a 2-D ``Y`` the row norm ``group_l2(1.0, axis=1, weights=weights)``
        (multitask lasso).
      weights: per-feature weights of the default penalty (``>= 0``; weight-0 features
        are not penalized and are ignored). Excludes ``penalty``.

    Example::

        >>> import numpy as np, gradopt
        >>> X = np.array([[1.0, 0.0], [0.0, 2.0]]); y = np.array([1.0, 1.0])
        >>> float(gradopt.glm_alpha_max(X, y, gradopt.datafits.quadratic()))
        1.0
        >>> float(gradopt.glm_alpha_max(X, y, gradopt.datafits.quadratic(),
        ...                             gradopt.prox.elastic_net(1.0, l1_ratio=0.5)))
        2.0
    """
    _inputs.check_flag("fit_intercept", fit_intercept)
    data, _, (n, p, k, dtype, squeeze) = _prepare(X, y, datafit, None, multitask=False)
    if penalty is None:
        w = 1.0 if weights is None else jnp.asarray(weights, dtype)
        penalty = l1(w) if squeeze else group_l2(1.0, axis=1, weights=w)
    elif weights is not None:
        raise ValueError("weights sets the default penalty's weights; with a penalty, give "
                         "the weights to the penalty (e.g. prox.l1(weights)).")
    elif not isinstance(penalty, Penalty):
        raise TypeError(f"penalty must be a gradopt.prox penalty, got {type(penalty).__name__}.")
    return _alpha_max(datafit, penalty, data, p, bool(fit_intercept), squeeze)


@functools.partial(jit, static_argnums=(3, 4, 5))
def _alpha_max(datafit, penalty, data, p, fit_intercept, squeeze):
    b = engine._null_intercept(datafit, data, fit_intercept)
    u = datafit.gradient(data.y, jnp.zeros_like(data.y) + b, data.mask)
    G = _sharding.dot(data.XT, u)[:p]
    return penalty.alpha_max(G[:, 0] if squeeze else G)
