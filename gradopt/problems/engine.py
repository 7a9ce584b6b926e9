r"""The GLM engine: one solver for ``min_{W, b} F(XW + b) + G(W)``.

``F`` is a :mod:`gradopt.datafits` datafit (a mean over samples of a smooth
loss of the linear predictor ``Z = XW + b``) and ``G`` a :mod:`gradopt.prox`
penalty that is separable over blocks of rows of ``W`` (``(p, k)``; ``k = 1``
for single-task problems): it implements the block protocol of
``gradopt.prox.sparse._Blocks`` (``block_prox``, ``block_value``,
``block_dist``, ``block_dual_ratio``, ``block_conjugate``).

Algorithm (skglm's design, Bertrand et al. 2022; Massias et al. 2018; written
here in pure JAX, one ``lax.while_loop`` per level):

* **Outer loop: working sets.** At ``(W, b)`` compute ``X^T grad F`` (one
  pass over ``X``), the distance of every block to its optimality condition
  (``block_dist``) and the certificate. The working set is every block with a
  non-zero coefficient plus the most violating ones, ``max(ws_min, 2 nnz)``
  blocks in all. Its size is a traced value: the same compiled program serves
  every size, and there is no host round trip.
* **Inner loop: proximal block coordinate descent** on the working set, on a
  model of ``F``: the datafit itself when its curvature is bounded (quadratic,
  Huber: steps ``1/L_b`` with ``L_b = curvature ||X_b||^2 / n``, Tseng & Yun
  2009), or its second-order expansion at the outer point with the exact
  Hessian weights (logistic, Poisson: proximal Newton, Lee, Sun & Saunders
  2014; Friedman, Hastie & Tibshirani 2010). An unpenalized intercept is one
  more coordinate. Every ``M + 1`` epochs the last iterates are combined by
  **Anderson extrapolation** (Anderson 1965; Bertrand & Massias 2021), kept
  only when it lowers the model. Since the predictions ``Z`` are linear in
  ``(W, b)``, the extrapolated ``Z`` is the same combination of the stored
  ones: no product with ``X``. The inner loop stops when its largest scaled
  step ``L_b ||delta_b||`` is below ``inner_ratio`` times the outer violation.
  With singleton blocks and an l1 / elastic-net penalty, a support that held
  over ``M + 1`` epochs while the descent still crawls gets **active-set
  Newton steps** (:func:`_active_set_newton`; Hintermueller, Ito & Kunisch
  2002): the model solved exactly on the predicted active set, kept when it
  lowers the objective.
* **Line search** (proximal Newton only: coordinate steps of length
  ``1/L_b`` on a bounded-curvature datafit already decrease the objective).
  The step from the outer point to the model's minimizer is accepted with
  backtracking (Armijo with the penalty, Tseng & Yun 2009); a step that
  increases the objective by more than its rounding (``4 eps |P|``) is never
  taken. If no step along the direction qualifies (a saturated start where
  the Hessian vanishes, say), the model is damped (Levenberg-Marquardt:
  ``h <- h + lambda / n``, ``lambda`` grown tenfold per failure, shrunk after
  a success) and the iteration retried; the solve stops (``MAX_STEPS``, not
  converged) only once ``lambda`` exceeds ``1e12`` times the curvature bound
  (logistic: 1/4) or the mean curvature (Poisson).
* **Certificate.** With ``u = grad F(Z)`` (centered for the intercept's dual
  constraint by ``datafit.center_dual``), rescaled by ``s = min(1, 1 /
  max_b block_dual_ratio)`` to be dual feasible, ``D = -F*(s u) - G*(-s X^T u)``
  and ``gap = P - D >= P - P*``. The solve stops when ``gap <= tol * P_0``
  (``P_0`` the objective of the null model ``W = 0``, best intercept), or, for
  datafits without a conjugate gap (``huber``, ``poisson``: their conjugate
  domains are bounded and the rescaled point may leave them), when the largest
  block violation is ``<= tol`` times its value at the null model; so do solves
  with a block without strength (``alpha = 0``, an unpenalized feature or group),
  which no rescaling makes dual feasible (:func:`_certifiable`). In low
  precision the tests allow for the rounding of ``P`` and ``D``
  (``gap <= 16 eps (|P| + |D|)`` also counts).

**Gathered working sets on one device** (:class:`Columns` with ``mesh=None``; ``glm``
chooses it by shape). When ``p`` is well above ``4 n``, each outer iteration copies the
working set's columns into a problem of ``capacity = bucket(4 n)`` blocks, so that an epoch
(iterate history, Anderson, model values) costs ``O(capacity)`` instead of ``O(p)``, and
the inner loop sweeps singleton blocks of models whose gradient is linear in ``Z``
(quadratic datafit, Newton models) 16 coordinates per loop step (``BLOCKS``), each
block's 16 x 16 Hessian formed once per inner solve (:func:`_blocked_sweeps`: the same
iterates, fewer and larger kernels). A support beyond ``capacity`` is swept in windows, as
on sharded features, rotating over the violators too (a support of exactly ``capacity``
blocks would otherwise hold every window); ``glm`` does not gather a penalty that holds no
coefficient at 0 (a ridge). The least-squares datafit with one task is gathered at any width
(``capacity = min(p_pad, bucket(4 n))``), for the blocked sweeps; only the first ``size``
blocks' columns are copied (``GATHER_ROWS`` per loop step).

**Gram form** (``Columns(gram=True)``: one device, the quadratic datafit, singleton blocks,
``p_pad <= 2048`` and ``n >= 2 p_pad``). The solve starts in residual form and switches
once its coordinate steps reach ``GRAM_AFTER p_pad^2``, or sooner for a small Gram whose
working set already holds half the features (``GRAM_AHEAD``), and not when the solve is
nearly done (``GRAM_NEAR``; :func:`_solve`'s
``gram_or_residual``): the datafit's Hessian ``X_c^T diag(h) X_c`` (columns centred for the
intercept) is formed, and each inner problem from then on is solved on its block with the
coefficient gradient ``q`` as the state (:func:`_inner_gram`: ``O(|ws|)`` per coordinate
step, no pass over ``X`` inside the loop, the model's value from ``q``), to ``min(0.01 kkt,
tol kkt_0)``, and ``Z`` moves once at the end. With one task the working set is every
feature, and an l1 / elastic-net penalty gets active-set Newton steps on the Gram matrix
(:func:`_gram_newton`).

Data come padded to size buckets (see ``glm.py``): padding rows have weight 0
in the datafit, padding columns are zero and are excluded from working sets,
so the solution on the real entries is that of the unpadded problem.

**Features sharded** (``XT``'s rows over devices, ``p >> n``; :class:`Columns`).
Sweeping a coordinate of ``XT`` sharded along its features would make XLA
gather ``X``. So the outer step gathers the working set's columns into a small
replicated problem (``capacity`` blocks by ``n``: each device contributes the
features it holds, an all-reduce of ``O(n |ws|)`` numbers), runs the same inner
loop on it (which also updates the replicated predictions ``Z``), and writes its
coefficients back. Everything else reads ``X`` where it lies: ``X^T u`` is
local to each device, and ``X w`` is formed once, at the start, by an
all-reduce of an ``n``-vector. The working set is listed without prefix sums
over ``p``: each device ranks its own features (``lax.top_k`` in ``shard_map``)
and the devices' ``capacity`` best are all-gathered, so no collective grows
with ``p`` (``docs/scaling.md`` lists them). A working set larger than
``capacity`` is swept in windows of ``capacity`` blocks, a different window each
outer iteration (block coordinate descent over windows, slower; the certificate
still covers every feature).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jax.sharding import PartitionSpec as P

from gradopt.datafits.base import sample_sum
from gradopt.problems._compile import jit
from gradopt.problems._sharding import dot, replicated_outputs, stacked_zeros
from gradopt.solve.result import Status
from gradopt.prox.sparse import block_terms

ANDERSON_M = 5  # extrapolate from the last M + 1 inner iterates
WS_MIN = 10  # smallest working set (blocks)
INNER_RATIO_GRAM = 0.01  # Gram-form inner solves: 0.01 x the outer violation (cheap epochs)
INNER_RATIO = 0.3  # inner solves stop at 0.3 x the outer violation
LS_STEPS = 40  # backtracking halvings before a direction is declared useless
NEWTON_SIZE = 256  # active blocks an active-set Newton step handles (static; compile time),
NEWTON_MIN = 128  # and no more than the padded sample count, unless below this (docs/glm.md)
NEWTON_PIVOT_RTOL = 100.0  # a Newton system is singular below this x size x eps x max diag
BLOCKS = (16, 8)  # coordinates per loop step of the gathered inner loop (_blocked_sweeps):
# the first that divides the gathered capacity (docs/glm.md)
GATHER_ROWS = 64  # rows of X copied per loop step when gathering a working set (one device)
PDAS_STEPS = 3  # active-set Newton steps per attempt
GRAM_AFTER = 1 / 128  # Gram form once the residual form took this x p_pad^2 coordinate steps
GRAM_AHEAD = 8  # or once this many epochs of a working set of >= half the features would
GRAM_NEAR = 100  # but not when the KKT is within this factor of the target (docs/glm.md)
GRAM_AHEAD_MAX = 512  # ... (padded features up to this): docs/glm.md, "Gram form"
GRAM_AT_ONCE = 32  # padded features up to which the Gram form runs from the start (docs/glm.md)
GRAM_AT_ONCE_FLOPS = 2 ** 26  # if forming it costs at most this (2 n p^2, padded)
REFRESH_NEAR = 100  # Z recomputed from W once the KKT measure is within this x its floor
GRAM_NEWTON_SIZE = 512  # active coordinates a Gram-form Newton step handles (an h x h Cholesky)


class Data(NamedTuple):
    """A padded problem: ``XT`` is ``X`` transposed (rows are features)."""

    XT: jax.Array  # (p, n)
    y: jax.Array  # (n, k)
    mask: jax.Array  # (n,) 1 for real samples, 0 for padding
    idx: jax.Array  # (nb, g) int32: the rows of W in each block
    valid: jax.Array  # (nb, g) bool: real (not padding) rows of each block


class Columns(NamedTuple):
    """A static argument of :func:`solve`: the inner loop runs on at most ``capacity``
    working-set blocks gathered into a small problem (module docstring). ``mesh``: where
    ``data.XT``'s features are sharded, over its axes ``axis`` (a name or a tuple of names;
    the solution comes back replicated), or None on one device. ``gram`` (one device, the
    quadratic datafit, singleton blocks): once the residual form has worked enough
    (``GRAM_AFTER``), the inner loop reads the gathered block of the Gram matrix
    ``X_c^T diag(h) X_c``, formed then, once per solve (:func:`_inner_gram`)."""

    mesh: Any
    capacity: int
    axis: Any
    gram: bool = False


class Iterate(NamedTuple):
    W: jax.Array  # (p, k)
    b: jax.Array  # (k,)
    Z: jax.Array  # (n, k) = X W + b


class Certificate(NamedTuple):
    objective: jax.Array
    gap: jax.Array  # inf when the datafit has no conjugate
    kkt: jax.Array  # largest block (and intercept) violation
    dist: jax.Array  # (nb,) violation of each block (-inf for padding blocks)
    unorm: jax.Array  # ||grad F(Z)||_2, for the rounding floor of kkt
    XTu: Any  # (p, k) X^T grad F(Z), the coefficients' gradient (the Gram form's start);
    # None in a returned Solution


class Solution(NamedTuple):
    iterate: Iterate
    cert: Certificate
    n_iter: jax.Array
    status: jax.Array
    p0: jax.Array  # objective of the null model (the gap's scale)
    n_epochs: jax.Array  # coordinate-descent epochs, all outer iterations together


class Setup(NamedTuple):
    """What a solve computes from the data alone (:func:`setup`), the same for every penalty
    and start: a path computes it once, before its scan, for all its solves."""

    null_b: jax.Array  # (k,) the null model's intercept (0 without one)
    p0: jax.Array  # the null model's objective: the gap's scale
    kkt0: jax.Array  # the null model's largest |X^T grad F|: the KKT measure's scale
    xnorm: jax.Array  # sqrt(max_j ||x_j||^2 n): the rounding floor's scale
    fixed: Any  # (L, Lb, mu) of a bounded-curvature datafit on one device, else None
    gram: Any  # the Gram form's Hessian when formed here, else None (formed when it pays)
    XTy: Any  # with ``gram``: X_c diag(h) y, the Gram certificate's constant (else None)


class _Outer(NamedTuple):
    it: Iterate  # the current point (certified at the start of the next body)
    last: tuple  # (Iterate, Certificate) of the last point with a finite objective
    n_iter: jax.Array
    status: jax.Array
    damping: jax.Array  # Levenberg-Marquardt term of the Newton model (inf: give up)
    epochs: jax.Array  # coordinate-descent epochs so far
    slow: jax.Array  # an inner solve stopped after one epoch: later ones extrapolate
    gram: Any = None  # _Gram where the Gram form is allowed


class _Gram(NamedTuple):
    """The Gram form's state (``gram_or_residual`` in :func:`_solve`): the quadratic
    datafit's Hessian ``X_c^T diag(h) X_c`` once formed, and the coordinate steps the
    residual form took before."""

    H: jax.Array  # (p, p); zeros until ``ready``
    XTy: jax.Array  # (p, k) X_c^T diag(h) y, the Gram certificate's constant; zeros until ``ready``
    ready: jax.Array  # bool
    work: jax.Array  # coordinate steps of the residual form so far (a float: no overflow)


class _NewtonClock(NamedTuple):
    """The active-set Newton steps' schedule, read at each extrapolation (every ``M + 1``
    epochs): the change and the support's signature at the previous one, and a back-off
    (tries after 1, 2, 4, ... up to 64 blocks of epochs while the steps fail)."""

    change: jax.Array
    signature: jax.Array
    wait: jax.Array
    countdown: jax.Array


class _Inner(NamedTuple):
    it: Iterate
    G: jax.Array  # (n, k) gradient of the model at it.Z
    epoch: jax.Array
    change: jax.Array  # largest scaled step of the last epoch
    hist: Iterate  # the last M + 1 iterates, stacked on axis 0
    newton: _NewtonClock  # when to try active-set Newton steps (:func:`_newton_due`)


# --------------------------------------------------------------------------- #
# pieces
# --------------------------------------------------------------------------- #


def predictions(XT, W):
    """``X W`` from ``XT`` (``(p, n)``) and ``W`` (``(p, k)``), as ``(W^T XT)^T``: XLA's CPU
    dot then reads ``XT``'s rows in order, 4-13x faster than ``XT.T @ W`` (3.1 against
    0.75 ms at 8960 x 320; docs/glm.md)."""
    return (W.T @ XT).T


def _blocks(fn, data: Data, *arrays):
    """``fn(block_arrays..., idx)`` over every block (vmap); arrays are ``(p, k)``."""
    if data.idx.shape[1] == 1:  # one row per block: no gather (padding rows of W are 0)
        return jax.vmap(lambda i, *a: fn(*[x[None] for x in a], i))(data.idx, *arrays)

    def one(idx, valid, *a):
        return fn(*[jnp.where(valid[:, None], x[idx], 0.0) for x in a], idx)

    return jax.vmap(one, in_axes=(0, 0) + (None,) * len(arrays))(data.idx, data.valid, *arrays)


def _scatter_rows(data: Data, blocks, like):
    """The inverse of gathering rows into blocks: ``(nb, g, k)`` block values written to the
    rows of a ``(p, k)`` array like ``like`` (0 on rows in no block and for padding entries)."""
    rows = jnp.where(data.valid, data.idx, like.shape[0])  # padding entries: dropped
    return jnp.zeros_like(like).at[rows].set(blocks, mode="drop")


def penalty_value(penalty, data: Data, W):
    return jnp.sum(_blocks(penalty.block_value, data, W))


def certify(datafit, penalty, data: Data, it: Iterate, fit_intercept: bool,
            gram=None) -> Certificate:
    """Objective, duality gap and per-block optimality violations at ``it``.

    ``gram = (H, XTy, mu, ready)``, the quadratic datafit's Gram form (:func:`_gram`):
    where ``ready`` (None: always), ``X^T u`` is ``H W - XTy`` (``X_c^T`` of the centred
    residual ``X_c W - y_c``, over ``n``), plus ``mu sum(u)`` for the uncentred one, with
    no pass over ``X``; everything else comes from ``it.Z`` as without it."""
    u = datafit.gradient(data.y, it.Z, data.mask)
    k = u.shape[1]
    centred = datafit.has_conjugate and fit_intercept
    if centred:
        uc = datafit.center_dual(data.y, u, data.mask)

    def by_pass():  # the dual point centred for the intercept: X^T of both in one pass over X
        if centred:
            return tuple(jnp.split(dot(data.XT, jnp.concatenate([u, uc], axis=1)), [k], axis=1))
        XTu = dot(data.XT, u)
        return XTu, XTu

    def by_gram():
        XTuc = dot(H, it.W) - XTy
        return (XTuc + mu[:, None] * sample_sum(u) if fit_intercept else XTuc), XTuc

    if gram is None:
        XTu, XTuc = by_pass()
    else:
        H, XTy, mu, ready = gram
        XTu, XTuc = by_gram() if ready is None else lax.cond(ready, by_gram, by_pass)
    real = jnp.any(data.valid, axis=1)
    dist = jnp.where(real, _blocks(penalty.block_dist, data, it.W, XTu), -jnp.inf)
    kkt = jnp.max(dist)
    unorm = jnp.sqrt(jnp.sum(u * u))
    if fit_intercept:  # net of the rounding of its sum of n terms (X all zero: nothing else)
        rounding = 4 * jnp.finfo(u.dtype).eps * jnp.sum(data.mask) * unorm
        kkt = jnp.maximum(kkt, jnp.maximum(jnp.linalg.norm(sample_sum(u)) - rounding, 0.0))
    P = datafit.value(data.y, it.Z, data.mask) + penalty_value(penalty, data, it.W)
    gap = jnp.asarray(jnp.inf, P.dtype)
    if datafit.has_conjugate:
        ud, XTud = (uc, XTuc) if centred else (u, XTu)
        ratio = jnp.max(_blocks(penalty.block_dual_ratio, data, -XTud))
        s = jnp.where(ratio > 1.0, 1.0 / ratio, 1.0)
        conj = jnp.sum(_blocks(penalty.block_conjugate, data, -s * XTud))
        D = datafit.dual_value(data.y, s * ud, data.mask) - conj
        gap = jnp.where(jnp.isfinite(D), jnp.maximum(P - D, 0.0), jnp.inf)
    return Certificate(P, gap, kkt, dist, unorm, XTu)


def _kkt_floor(cert: Certificate, xnorm):
    """The rounding floor of the KKT measure (and of the inner loops' steps ``L |d|``, which
    read the same products ``x_j^T u``): ``4 eps sqrt(n) max_j ||x_j|| ||u||``."""
    return 4 * jnp.finfo(cert.objective.dtype).eps * xnorm * cert.unorm


def _refreshed(data: Data, it: Iterate, when):
    """``it`` with ``Z = X W + b`` recomputed ``when`` (traced) holds. The inner loops move
    ``Z`` by increments, whose rounding adds up over many epochs; near the rounding floor
    of the KKT measure it set a floor on the duality gap (docs/glm.md)."""
    return lax.cond(when, lambda it: it._replace(Z=predictions(data.XT, it.W) + it.b),
                    lambda it: it, it)


def _converged(cert: Certificate, tol, p0, kkt0, xnorm, has_gap: bool, certifiable=True):
    """The stopping test, with floors for the rounding of ``P - D`` and of ``X^T u``: on the
    gap where the datafit has one, and also on the KKT measure where the penalty does not
    let the dual point be rescaled into the conjugate's domain (``certifiable`` false,
    :func:`_certifiable`) or the datafit has no gap to stop on."""
    eps = jnp.finfo(cert.objective.dtype).eps
    by_kkt = cert.kkt <= jnp.maximum(tol * kkt0, _kkt_floor(cert, xnorm))
    if not has_gap:
        return by_kkt
    floor = 32 * eps * jnp.abs(cert.objective)
    # an infinite gap (dual point outside the conjugate's domain) never passes
    by_gap = jnp.isfinite(cert.gap) & (cert.gap <= jnp.maximum(tol * p0, floor))
    return by_gap | (~certifiable & by_kkt)


def _certifiable(penalty, data: Data):
    """Whether every real block has a strength, so that rescaling the dual point bounds
    ``G*(-X^T u)``. A block without one (an unpenalized feature or group, ``alpha = 0``)
    has the conjugate ``{0}``'s indicator: no rescaling reaches it but ``s = 0``, which
    leaves ``gap ~ P``. Such solves stop on the KKT measure, as Huber and Poisson do. A
    block's dual ratio at a unit vector is ``1 / tiny`` or more without strength."""
    probe = jnp.ones((data.XT.shape[0], 1), data.XT.dtype)
    ratio = _blocks(penalty.block_dual_ratio, data, probe)
    real = jnp.any(data.valid, axis=1)
    return ~jnp.any(real & (ratio * jnp.finfo(probe.dtype).tiny >= 0.5))


def _working_set(cert: Certificate, data: Data, W, ws_min, columns: Columns | None = None,
                 n_iter=0):
    """Blocks to sweep, in index order, padded with ``nb``; and how many there are.

    Every block with a non-zero coefficient, plus the most violating others, ``size =
    max(ws_min, 2 nnz)`` in all. The violation threshold is found by bisection (a count per
    step): XLA's sort of ``nb`` scores costs several times more on the CPU. On
    feature-sharded data (``columns``) the set is listed by :func:`_columns_working_set`
    instead of prefix sums (which XLA would partition at a cost of ``O(p^2)``, or replicate
    at ``O(p)`` bytes per device)."""
    nb = data.idx.shape[0]
    nonzero = jnp.any(_blocks(lambda w, _: w != 0, data, W).reshape(nb, -1), axis=1)
    real = jnp.any(data.valid, axis=1)
    size = jnp.clip(jnp.maximum(ws_min, 2 * jnp.sum(nonzero)), 1, jnp.sum(real))
    if columns is not None:  # the non-zeros first, violators only up to the capacity
        capacity = columns.capacity
        size = jnp.where(jnp.sum(nonzero) < capacity, jnp.minimum(size, capacity), size)
    cand = real & ~nonzero
    score = jnp.where(cand, jnp.nan_to_num(cert.dist, posinf=jnp.finfo(cert.dist.dtype).max), 0.0)
    k = size - jnp.sum(nonzero)  # how many violators to add

    def halve(_, lh):  # invariant: count(score >= lo) >= k > count(score >= hi)
        lo, hi = lh
        mid = 0.5 * (lo + hi)
        enough = jnp.sum(cand & (score >= mid)) >= k
        return jnp.where(enough, mid, lo), jnp.where(enough, hi, mid)

    top = jnp.max(score)
    lo, hi = lax.fori_loop(0, 60, halve, (jnp.zeros_like(top), top + jnp.abs(top) + 1.0))
    above = cand & (score >= hi)  # fewer than k: all of them
    ties = cand & (score >= lo) & ~above  # the rest from here, lowest indices first
    if columns is not None:
        extra = jnp.minimum(jnp.sum(ties), jnp.maximum(k - jnp.sum(above), 0))
        count = jnp.sum(nonzero | above) + extra
        # a set beyond the capacity is swept in windows that rotate over all of its
        # violators: a support of exactly ``capacity`` blocks (a ridge) would otherwise hold
        # every window, and a violating tie would never enter
        spill = (count > columns.capacity) & ties & (score > 0)
        return _columns_working_set(columns, nonzero | above | spill, ties, count, n_iter)
    chosen = nonzero | above | (ties & (jnp.cumsum(ties) <= k - jnp.sum(above)))
    slot = jnp.where(chosen, jnp.cumsum(chosen) - 1, nb)
    ws = jnp.full(nb, nb, jnp.int32).at[slot].set(jnp.arange(nb, dtype=jnp.int32), mode="drop")
    return ws, size


def _columns_working_set(columns: Columns, first, ties, count, n_iter):
    """The working set on feature-sharded data: ``(ws, size)``, ``ws`` the ``capacity`` first
    blocks of the set (every block of ``first``, then ``ties`` by index, ``count`` in all)
    in index order, padded with ``nb``, and ``size = min(count, capacity)``.

    Each block gets an integer priority (``first`` above ``ties``, lower index first); each
    device takes its ``capacity`` best (``lax.top_k``), the devices' lists are all-gathered
    (``capacity x devices`` integers) and the best ``capacity`` of them kept: the
    communication does not grow with ``p``. If ``first`` alone holds more than
    ``capacity`` blocks (a support beyond ``4 n``), its index order is rotated by about a
    window each outer iteration (``n_iter``), so the windows of ``capacity`` blocks swept
    in turn cover the set."""
    nb, capacity = first.shape[0], columns.capacity
    idx = jnp.arange(nb, dtype=jnp.int32)
    n_first = jnp.sum(first)
    stride = jnp.maximum(capacity * nb // jnp.maximum(n_first, 1), 1)  # ~a window's span
    shift = jnp.where(n_first > capacity, (n_iter * stride) % nb, 0).astype(jnp.int32)
    size = jnp.minimum(count, capacity)
    if columns.mesh is None:  # one device: prefix sums (XLA's top_k sorts, several x slower)
        return _listed_window(first, ties, count, capacity, shift), size
    rank = nb - 1 - jnp.where(first, (idx - shift) % nb, idx)  # larger = earlier
    key = jnp.where(first, 2 * nb, jnp.where(ties, nb, 0)) + rank

    def best(key, idx):
        top, at = lax.top_k(key, min(capacity, key.shape[0]))
        keys = lax.all_gather(top, columns.axis, tiled=True)
        rows = lax.all_gather(idx[at], columns.axis, tiled=True)
        return rows[lax.top_k(keys, capacity)[1]]

    context = getattr(jax.sharding, "get_abstract_mesh", lambda: None)()
    mesh = context if context is not None and not context.empty else columns.mesh
    spec = P(columns.axis)
    chosen = jax.shard_map(best, mesh=mesh, in_specs=(spec, spec), out_specs=P(),
                           check_vma=False)(key, idx)
    ws = jnp.sort(jnp.where(jnp.arange(capacity) < size, chosen, nb))
    return ws, size


def _listed_window(first, ties, count, capacity: int, shift):
    """:func:`_columns_working_set`'s set on one device: the first ``capacity`` blocks of
    ``first`` in index order rotated by ``shift``, then ``ties`` by index, ``min(count,
    capacity)`` in all, listed in index order and padded with ``nb``."""
    nb = first.shape[0]
    rotated = jnp.roll(first, -shift)  # position i: block (i + shift) mod nb
    take = jnp.roll(rotated & (jnp.cumsum(rotated) <= capacity), shift)
    room = jnp.minimum(count, capacity) - jnp.sum(take)
    chosen = take | (ties & (jnp.cumsum(ties) <= room))
    slot = jnp.where(chosen, jnp.cumsum(chosen) - 1, capacity)
    return jnp.full(capacity, nb, jnp.int32).at[slot].set(
        jnp.arange(nb, dtype=jnp.int32), mode="drop")


def _anderson(hist: Iterate, it: Iterate):
    """Anderson extrapolation of the stacked iterates (``M + 1`` of them)."""
    flat = jnp.concatenate([hist.W.reshape(hist.W.shape[0], -1), hist.b], axis=1)
    U = flat[1:] - flat[:-1]
    C = U @ U.T
    M = C.shape[0]
    C = C + (1e-10 * jnp.trace(C) / M + jnp.finfo(C.dtype).tiny) * jnp.eye(M, dtype=C.dtype)
    z = jnp.linalg.solve(C, jnp.ones((M,), C.dtype))
    c = z / jnp.sum(z)
    comb = lambda a: jnp.tensordot(c, a[1:], axes=1)
    out = Iterate(comb(hist.W), comb(hist.b), comb(hist.Z))
    ok = jnp.all(jnp.isfinite(c))
    return jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), out, it)


# --------------------------------------------------------------------------- #
# the model of F minimized by the inner loop
# --------------------------------------------------------------------------- #


class _Model(NamedTuple):
    """Newton datafits: ``F(Z0) + g0.(Z - Z0) + 1/2 sum h (Z - Z0)^2``; others: ``F``."""

    Z0: jax.Array
    g0: jax.Array
    h: jax.Array  # (n, 1) Hessian weights (Newton) or 0


def _model(datafit, data: Data, Z, damping=0.0):
    g0 = datafit.gradient(data.y, Z, data.mask)
    if datafit.newton:
        n = jnp.sum(data.mask)
        d2 = jnp.max(datafit.d2loss(data.y, Z), axis=1, keepdims=True) + damping
        h = d2 * data.mask[:, None] / n
    else:
        h = jnp.zeros((Z.shape[0], 1), Z.dtype)
    return _Model(Z, g0, h)


def _model_grad(datafit, data, model: _Model, Z):
    if datafit.newton:
        return model.g0 + model.h * (Z - model.Z0)
    return datafit.gradient(data.y, Z, data.mask)


def _model_smooth(datafit, data, model: _Model, Z):
    """The inner loop's smooth objective at predictions ``Z``: the model (Newton datafits)
    up to its constant, or ``F`` itself."""
    if datafit.newton:
        d = Z - model.Z0
        return jnp.sum(model.g0 * d) + 0.5 * jnp.sum(model.h * d * d)
    return datafit.value(data.y, Z, data.mask)


def _model_value(datafit, penalty, data, model: _Model, it: Iterate):
    return _model_smooth(datafit, data, model, it.Z) + penalty_value(penalty, data, it.W)


def _hessian_weights(datafit, data: Data, model: _Model):
    """``(n,)`` weights ``h`` of the model's curvature in ``Z``: the Newton model's, or the
    bound ``curvature / n`` on real rows (exact for the quadratic datafit)."""
    if datafit.newton:
        return model.h[:, 0]
    return (datafit.curvature * data.mask / jnp.sum(data.mask)).astype(data.XT.dtype)


def _curvatures(datafit, data: Data, model: _Model, fit_intercept: bool):
    """Per-block Lipschitz constants, the intercept's, and the column centers.

    With Hessian weights ``h`` (``curvature / n`` on real rows for bounded
    datafits) a coordinate step moves ``Z`` along ``x_j - mu_j`` and the
    intercept by ``-mu_j`` (``mu_j = sum_i h_i X_ij / sum_i h_i`` with an
    intercept, else 0): the intercept is eliminated from each step exactly, so
    a column nearly collinear with the intercept (a large mean) costs nothing
    more. The constant is ``sum_i h_i (X_ij - mu_j)^2``, summed over a block's rows.
    """
    h = _hessian_weights(datafit, data, model)
    H = jnp.sum(h)
    sq = jnp.sum(data.XT * data.XT * h, axis=1)
    if fit_intercept:
        s1 = dot(data.XT, h)
        mu = jnp.where(H > 0, s1 / jnp.where(H > 0, H, 1.0), 0.0)
        sq = jnp.maximum(sq - mu * s1, 0.0)
    else:
        mu = jnp.zeros_like(sq)
    per_block = jnp.sum(jnp.where(data.valid, sq[data.idx], 0.0), axis=1)
    return per_block, H, mu


def _gram(data: Data, h, mu, fit_intercept: bool):
    """``(X_c diag(h) X_c^T, X_c diag(h) y)`` with ``X_c = XT - mu`` (centred for an
    intercept): the Gram form's Hessian and its certificate's constant (:func:`certify`)."""
    XC = data.XT - mu[:, None] if fit_intercept else data.XT
    XCh = XC * h
    return dot(XCh, XC.T), dot(XCh, data.y)


# --------------------------------------------------------------------------- #
# inner loop: block coordinate descent on the working set
# --------------------------------------------------------------------------- #


def _block_step(penalty, w, grad, L, keep, idx):
    """One proximal block-coordinate step (Tseng & Yun 2009): ``(new, d, moved)`` with
    ``new = prox_{G_b / L}(w - grad / L)`` (``w`` unless ``keep`` and ``L > 0``: padding, an
    all-zero column), ``d = new - w`` and ``moved = L ||d||`` (the inner loops' stopping
    measure)."""
    inv = 1.0 / jnp.maximum(L, jnp.finfo(w.dtype).tiny)
    new = jnp.where(keep & (L > 0), penalty.block_prox(w - inv * grad, inv, idx), w)
    d = new - w
    return new, d, L * jnp.sqrt(jnp.sum(d * d))


def _support(data: Data, W, ws, size):
    """The working set's non-zero coefficients: ``(count, signature)``, a cheap integer
    signature of the support and its signs (equal signatures: most likely the same)."""
    nb = data.idx.shape[0]
    rows = data.idx[jnp.minimum(ws, nb - 1), 0]
    w = W[rows, 0]
    on = (jnp.arange(nb) < size) & (ws < nb) & (w != 0)
    signature = jnp.sum(jnp.where(on, jnp.sign(w).astype(jnp.int32) * (rows + 1), 0),
                        dtype=jnp.int32)
    return jnp.sum(on), signature


def _strengths(penalty, idx, dtype):
    """``(a1, a2)``, the l1 and ridge strengths at the rows ``idx`` of a penalty ``a1 |w| + a2
    w^2 / 2`` per coordinate (``penalty._split``: the l1 / elastic-net family), as
    ``(len(idx),)`` arrays (``_split`` gives ``(m,)``, ``(m, 1)`` or a scalar)."""
    return tuple(jnp.broadcast_to(jnp.asarray(a, dtype).reshape(-1), idx.shape)
                 for a in penalty._split(idx))


def _predicted_signs(z, a1, live, positive: bool):
    """The active set and signs a coordinate step predicts (Hintermueller, Ito & Kunisch
    2002): ``sign(z_j)`` where ``|z_j| > a1_j`` (``z_j > a1_j`` for a positive penalty) and
    ``live``, else 0."""
    act = live & ((z > a1) if positive else (jnp.abs(z) > a1))
    return jnp.where(act, jnp.sign(z), 0.0)


def _active_slots(on, h: int):
    """The positions of ``on``'s first ``h`` true entries: ``(sel, used, j)``, ``sel`` padded
    with ``len(on)``, ``used = sel < len(on)`` and ``j`` the positions clipped to be read."""
    m = on.shape[0]
    slot = jnp.where(on, jnp.cumsum(on) - 1, h)
    sel = jnp.full(h, m, jnp.int32).at[slot].set(jnp.arange(m, dtype=jnp.int32), mode="drop")
    return sel, sel < m, jnp.minimum(sel, m - 1)


def _cholesky_solve(A, rhs):
    """``A^{-1} rhs`` by Cholesky, and whether it is usable: finite, with every pivot above
    ``NEWTON_PIVOT_RTOL x size x eps x max diag(A)`` (else ``A`` is numerically singular)."""
    chol = jnp.linalg.cholesky(A)
    d = jax.scipy.linalg.cho_solve((chol, True), rhs)
    regular = jnp.min(jnp.diagonal(chol) ** 2) > (
        NEWTON_PIVOT_RTOL * A.shape[0] * jnp.finfo(A.dtype).eps * jnp.max(jnp.diagonal(A)))
    return d, regular & jnp.all(jnp.isfinite(d))


def _best_of_steps(step, value, start):
    """``PDAS_STEPS`` active-set Newton steps ``step(x) -> (x, ok)`` from ``start``; they are
    not monotone, so the best point by ``value`` is returned, with whether it improves on
    ``start``. A failed step (``ok`` false: a singular system) leaves the point as it was."""
    def body(_, c):
        x, best, best_value = c
        xn, ok = step(x)
        v = value(xn)
        better = ok & (v < best_value)
        best = jax.tree_util.tree_map(lambda a, b: jnp.where(better, a, b), xn, best)
        x = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), xn, x)
        return x, best, jnp.where(better, v, best_value)

    value0 = value(start)
    _, best, best_value = lax.fori_loop(0, PDAS_STEPS, body, (start, start, value0))
    return best, best_value < value0


def _active_set_newton(datafit, penalty, data: Data, model: _Model, it: Iterate, ws, size, L,
                       fit_intercept: bool, h: int) -> tuple[Iterate, jax.Array]:
    """Primal-dual active-set Newton steps on the working set (``PDAS_STEPS``, at most ``h``
    active blocks, static), for a penalty ``a1 |w| + a2 w^2 / 2`` per coordinate
    (``penalty._split``: the l1 / elastic-net family) and the inner loop's quadratic model.

    Each step predicts the active set and signs a coordinate step would give,
    ``s_j = sign(z_j) [|z_j| > a1_j]`` with ``z_j = L_j w_j - x_j^T G`` (Hintermueller, Ito &
    Kunisch 2002), sets the others to 0, and solves the model restricted to that pattern
    exactly: ``(A diag(hw) A^T + diag(a2)) d = -(A G + a1 s + a2 w)``, ``A`` the active
    columns (and a row of ones for the intercept), by Cholesky. The steps are not monotone:
    the best point by the model's objective is returned with whether it improves on ``it``
    (a singular system, e.g. more active features than samples, gives no point)."""
    nb, p_rows = data.idx.shape[0], data.XT.shape[0]
    kp = min(nb, 4 * h)  # the working set's first positions the steps may change
    live = (jnp.arange(kp) < size) & (ws[:kp] < nb)
    blk = jnp.minimum(ws[:kp], nb - 1)
    rows = jnp.where(live, data.idx[blk, 0], p_rows)
    at = jnp.minimum(rows, p_rows - 1)
    XP = jnp.where(live[:, None], data.XT[at], 0.0)  # (kp, n)
    LP = jnp.where(live, L[blk], 0.0)

    a1, a2 = _strengths(penalty, at, XP.dtype)
    hw = _hessian_weights(datafit, data, model)

    def newton(x):
        w, b, Z = x
        G = _model_grad(datafit, data, model, Z)
        sgn = _predicted_signs(LP * w - dot(XP, G)[:, 0], a1, live & (LP > 0), penalty.positive)
        on = sgn != 0
        Z = Z - (jnp.where(on, 0.0, w) @ XP)[:, None]  # the inactive ones to 0
        G = _model_grad(datafit, data, model, Z)
        w = jnp.where(on, w, 0.0)
        sel, used, j = _active_slots(on, h)
        A = jnp.where(used[:, None], XP[j], 0.0)  # (h, n)
        grad_pen = jnp.where(used, a1[j] * sgn[j] + a2[j] * w[j], 0.0)
        ridge = jnp.where(used, a2[j], 1.0)  # empty slots: d = 0
        if fit_intercept:
            A = jnp.concatenate([A, jnp.ones_like(A[:1])])  # laid out like A's samples
            grad_pen = jnp.concatenate([grad_pen, jnp.zeros((1,), w.dtype)])
            ridge = jnp.concatenate([ridge, jnp.zeros((1,), w.dtype)])
        d, ok = _cholesky_solve(dot(A * hw, A.T) + jnp.diag(ridge),
                                -(dot(A, G)[:, 0] + grad_pen))
        w = w.at[sel].add(d[:h], mode="drop")
        b = b + d[h] if fit_intercept else b
        return (w, b, Z + (d @ A)[:, None]), ok & (jnp.sum(on) <= h)

    def value(x):  # the objective up to the terms of the blocks the steps do not touch
        w, _, Z = x
        return _model_smooth(datafit, data, model, Z) + block_terms(a1, a2, w, penalty.positive)

    w0 = jnp.where(live, it.W[at, 0], 0.0)
    (w, b, Z), better = _best_of_steps(newton, value, (w0, it.b, it.Z))
    return Iterate(it.W.at[rows, 0].set(w, mode="drop"), b, Z), better


def _newton_size(data: Data) -> int:
    """The active blocks a residual-form Newton step handles (static): ``NEWTON_SIZE``, at
    most the blocks, and at most the padded sample count unless that is below
    ``NEWTON_MIN`` (an l1 support larger than the samples makes a singular system, and
    the steps' cost grows with this size: docs/glm.md)."""
    return min(NEWTON_SIZE, data.idx.shape[0], max(NEWTON_MIN, data.XT.shape[1]))


def _newton_due(clock: _NewtonClock, change, tol_in, m, signature, h: int):
    """Whether to try active-set Newton steps now: the ``m`` supported blocks fit in ``h``
    (with room to grow by an eighth), the support and its signs did not change over the
    last ``M + 1`` epochs, and coordinate descent, at the linear rate it shows, still needs
    more than one such block, subject to the back-off (a failed step doubles the wait, up
    to 64 blocks). No flop count decides: a Newton system is a few matrix products, a
    coordinate step a serial loop iteration, and their relative cost depends on the
    backend (docs/glm.md)."""
    tiny = jnp.finfo(change.dtype).tiny
    rate = jnp.clip(change / jnp.maximum(clock.change, tiny), 1e-12, 1.0 - 1e-6)
    blocks = jnp.log(jnp.maximum(tol_in, tiny) / jnp.maximum(change, tiny)) / jnp.log(rate)
    return ((m + m // 8 + 1 <= h) & (signature == clock.signature) & (clock.countdown <= 0)
            & (change > tol_in) & (blocks > 1))


def _sequential_steps(penalty, w0, q, H, L, keep, change):
    """Exact cyclic coordinate steps over one block of ``B`` coordinates of a quadratic
    model, from their coefficients ``w0`` and gradient ``q`` (``(B, k)``) at the block's
    start and their ``B x B`` Hessian ``H``: coordinate ``j`` steps on the gradient
    ``q_j + H_{j,<j} d_{<j}`` (:func:`_block_step`). ``penalty``: the block's (sliced).
    Returns the steps ``d`` (``(B, k)``) and ``change`` raised to their largest scaled
    step. Unrolled, with the steps as separate values (no update of a ``(B, k)`` array per
    coordinate): ``B`` small fusions."""
    steps = []
    for j in range(w0.shape[0]):
        qj = q[j:j + 1] + sum(H[j, i] * d for i, d in enumerate(steps))
        _, d, moved = _block_step(penalty, w0[j:j + 1], qj, L[j], keep[j], np.array([j]))
        steps.append(d)
        change = jnp.maximum(change, moved)
    return jnp.concatenate(steps), change


def _block_size(capacity: int) -> int | None:
    """Coordinates per loop step of :func:`_blocked_sweeps` on ``capacity`` gathered rows:
    the first of ``BLOCKS`` that divides it (None: the plain sweep)."""
    return next((b for b in BLOCKS if capacity % b == 0), None)


def _blocked_sweeps(datafit, penalty, data: Data, model: _Model, size, L, mu,
                    fit_intercept: bool):
    """Cyclic coordinate steps over the first ``size`` rows of ``data`` (singleton blocks in
    row order, a gathered working set), ``B = _block_size(C)`` coordinates per loop step:
    one product ``q = X_B G`` for the block, its exact sequential steps on the model's
    ``B x B`` Hessian ``X_B diag(h) X_B^T`` (:func:`_sequential_steps`; formed once per
    call, on columns centred for the intercept), then ``Z += X_B^T delta_B`` and
    ``G += h (X_B^T delta_B)``. The iterates are those of one coordinate per loop step; the
    loop has ``B`` times fewer, larger kernels. For models whose gradient is linear in ``Z``
    (quadratic datafit, Newton models). Returns ``sweeps(it, G) -> (it, G, change)``."""
    C, n = data.XT.shape
    B = _block_size(C)
    nblk = C // B
    h = _hessian_weights(datafit, data, model)
    XC = data.XT - mu[:, None] if fit_intercept else data.XT
    XB = XC.reshape(nblk, B, n)
    used = (size + B - 1) // B

    def hessian(kb, HB):  # only the blocks the sweeps visit
        xb = XB[kb]
        return HB.at[kb].set(dot(xb * h, xb.T))

    HB = lax.fori_loop(0, used, hessian, jnp.zeros((nblk, B, B), XC.dtype))
    LB = L.reshape(nblk, B)
    MB = mu.reshape(nblk, B)
    valid = data.valid[:, 0].reshape(nblk, B)

    def sweeps(it, G):
        W0 = it.W  # each block is visited once per sweep: its coefficients are read from the
        # sweep's start, so that the carried W is only written (in place, no copy per step)

        def block(kb, c):
            it, G, change = c
            xb, Hb = XB[kb], HB[kb]
            w0 = lax.dynamic_slice_in_dim(W0, kb * B, B, 0)  # (B, k)
            keep = valid[kb] & (kb * B + jnp.arange(B) < size)
            q = dot(xb, G)  # (B, k)
            # the block's strengths and constants, sliced once, read at static offsets (a
            # gather per coordinate made the blocked sweep slower than the plain one)
            pen = jax.tree_util.tree_map(
                lambda a: lax.dynamic_slice_in_dim(a, kb * B, B), penalty)
            delta, change = _sequential_steps(pen, w0, q, Hb, LB[kb], keep, change)
            w = w0 + delta
            dZ = xb.T @ delta
            b = it.b - MB[kb] @ delta if fit_intercept else it.b
            W = lax.dynamic_update_slice_in_dim(it.W, w, kb * B, 0)
            return Iterate(W, b, it.Z + dZ), G + h[:, None] * dZ, change

        return lax.fori_loop(0, used, block, (it, G, jnp.zeros((), G.dtype)))

    return sweeps


class _GramInner(NamedTuple):
    W: jax.Array  # (C, k) the gathered coefficients
    q: jax.Array  # (C, k) their gradient q0 + H (W - W0)
    epoch: jax.Array
    change: jax.Array
    hist: Iterate  # the last M + 1 (W, q) as Iterate(W, 0, q): q is linear in W
    newton: _NewtonClock


def _gram_newton(penalty, H, W, q, size, L, valid, phi, h: int):
    """:func:`_active_set_newton` in Gram form: ``PDAS_STEPS`` primal-dual active-set steps
    on ``phi`` (a quadratic with Hessian ``H`` plus ``a1 |w| + a2 w^2 / 2`` per coordinate)
    over the first ``size`` coordinates, at most ``h`` of them active (static). Each step
    predicts the pattern ``s_j = sign(z_j) [|z_j| > a1_j]``, ``z_j = L_j w_j - q_j``, zeroes
    the others and solves ``(H_AA + diag(a2)) d = -(q_A + a1 s + a2 w_A)`` by Cholesky;
    ``q`` follows exactly (``q += H d``). Returns the best ``(W, q)`` by ``phi`` and whether
    it improves on the start."""
    C = W.shape[0]
    live = (jnp.arange(C) < size) & valid & (L > 0)
    a1, a2 = _strengths(penalty, jnp.arange(C), W.dtype)

    def newton(x):
        w, q = x
        sgn = _predicted_signs(L * w - q, a1, live, penalty.positive)
        on = sgn != 0
        q = q - H @ jnp.where(on, 0.0, w)  # the inactive ones to 0
        w = jnp.where(on, w, 0.0)
        sel, used, j = _active_slots(on, h)
        A = jnp.where(used[:, None] & used[None, :], H[j][:, j], 0.0)
        A = A + jnp.diag(jnp.where(used, a2[j], 1.0))  # empty slots: d = 0
        d, ok = _cholesky_solve(A, -jnp.where(used, q[j] + a1[j] * sgn[j] + a2[j] * w[j], 0.0))
        return (w.at[sel].add(d, mode="drop"), q + H[:, j] @ d), ok & (jnp.sum(on) <= h)

    (w, qw), better = _best_of_steps(newton, lambda x: phi(x[0][:, None], x[1][:, None]),
                                     (W[:, 0], q[:, 0]))
    return w[:, None], qw[:, None], better


def _inner_gram(penalty, data: Data, H, q0, W0, size, L, tol_in, max_epochs,
                newton: bool = True):
    """Coordinate descent on ``phi(W) = q0.(W - W0) + 1/2 (W - W0)^T H (W - W0) + G(W)``
    over the first ``size`` rows of a gathered working set (singleton blocks), with
    Anderson extrapolation kept when it lowers ``phi``: the quadratic datafit's inner
    problem in Gram form (``H = X_c diag(h) X_c^T``, ``q0 = X_c grad F(Z0)``). A step costs
    ``O(C)`` (``q += H_j delta_j``) and nothing of size ``n`` moves inside the loop. With
    one task and an l1 / elastic-net penalty, a settled support gets active-set Newton
    steps (:func:`_gram_newton`, at most ``GRAM_NEWTON_SIZE`` active coordinates; when,
    as in the residual form: :func:`_newton_due`). Returns ``(W, epochs)``."""
    at = np.zeros(1, np.int32)
    h = min(GRAM_NEWTON_SIZE, H.shape[0])
    newton = newton and W0.shape[1] == 1 and hasattr(penalty, "_split")

    def phi(W, q):  # exact for a quadratic: F(W) - F(W0) = (q0 + q)/2 . (W - W0)
        return 0.5 * jnp.sum((q0 + q) * (W - W0)) + penalty_value(penalty, data, W)

    def step(j, c):
        # W's write is deferred to the next step, as in _inner's sweep: written first, then
        # read, it is updated in place (read after the write, XLA copied W twice per step)
        W, q, change, new = c
        W = lax.dynamic_update_slice_in_dim(W, new, jnp.maximum(j - 1, 0), 0)
        pen = jax.tree_util.tree_map(lambda a: lax.dynamic_slice_in_dim(a, j, 1), penalty)
        wj = lax.dynamic_slice_in_dim(W, j, 1, 0)  # (1, k)
        new, d, moved = _block_step(pen, wj, lax.dynamic_slice_in_dim(q, j, 1, 0), L[j],
                                    data.valid[j, 0], at)
        q = q + lax.dynamic_index_in_dim(H, j, 0, keepdims=False)[:, None] * d
        return W, q, jnp.maximum(change, moved), new

    def support_step(W, q, change, clock):
        m, signature = _support(data, W, jnp.arange(W.shape[0]), size)
        attempt = _newton_due(clock, change, tol_in, m, signature, h)

        def run(_):
            return _gram_newton(penalty, H, W, q, size, L, data.valid[:, 0], phi, h)

        Wn, qn, take = lax.cond(attempt, run, lambda _: (W, q, jnp.zeros((), bool)), None)
        wait = jnp.where(attempt & ~take, jnp.minimum(2 * clock.wait, 64), clock.wait)
        clock = _NewtonClock(change, signature, wait,
                             jnp.where(attempt, wait, clock.countdown - 1))
        return jnp.where(take, Wn, W), jnp.where(take, qn, q), clock

    def epoch(s: _GramInner) -> _GramInner:
        W, q, change, new = lax.fori_loop(0, size, step,
                                          (s.W, s.q, jnp.zeros((), H.dtype), s.W[:1]))
        W = lax.dynamic_update_slice_in_dim(W, new, jnp.maximum(size - 1, 0), 0)
        slot = s.epoch % (ANDERSON_M + 1)
        zero_b = jnp.zeros(W.shape[1:], W.dtype)
        hist = jax.tree_util.tree_map(lambda h, x: h.at[slot].set(x), s.hist,
                                      Iterate(W, zero_b, q))

        def extrapolate(args):
            W, q, clock = args
            acc = _anderson(hist, Iterate(W, zero_b, q))
            better = phi(acc.W, acc.Z) < phi(W, q)
            W, q = jnp.where(better, acc.W, W), jnp.where(better, acc.Z, q)
            if newton:
                W, q, clock = support_step(W, q, change, clock)
            return W, q, clock

        W, q, clock = lax.cond(slot == ANDERSON_M, extrapolate, lambda a: a, (W, q, s.newton))
        return _GramInner(W, q, s.epoch + 1, change, hist, clock)

    zero_b = jnp.zeros(W0.shape[1:], W0.dtype)
    hist = jax.tree_util.tree_map(lambda x: jnp.zeros((ANDERSON_M + 1,) + x.shape, x.dtype),
                                  Iterate(W0, zero_b, q0))
    one = jnp.ones((), jnp.int32)
    clock = _NewtonClock(jnp.asarray(jnp.inf, H.dtype), -one, one, 0 * one)
    s0 = _GramInner(W0, q0, jnp.zeros((), jnp.int32), jnp.asarray(jnp.inf, H.dtype), hist, clock)
    s = lax.while_loop(lambda s: (s.epoch < max_epochs) & (s.change > tol_in), epoch, s0)
    return s.W, s.epoch


def _inner(datafit, penalty, data: Data, model: _Model, start: Iterate, ws, size, L, Lb, mu,
           tol_in, max_epochs, fit_intercept: bool,
           newton: bool = True, contiguous: bool = False,
           slow=False) -> tuple[Iterate, jax.Array]:
    """Coordinate descent on the working set ``ws`` until an epoch's largest step is at
    most ``tol_in`` (or ``max_epochs``); with ``slow`` (traced), not before the first
    Anderson extrapolation (``_Outer.slow``)."""
    g = data.idx.shape[1]
    tiny = jnp.finfo(data.XT.dtype).tiny
    # active-set Newton steps (static): singleton blocks, one task, a penalty smooth on its
    # support (the l1 / ridge family's ``_split``)
    h_newton = _newton_size(data)
    newton = newton and g == 1 and start.W.shape[1] == 1 and hasattr(penalty, "_split")

    def put(W, pending):  # rows (a gathered problem: the first of g contiguous ones), values
        at, values = pending
        if contiguous:
            return lax.dynamic_update_slice_in_dim(W, values, at, 0)
        return W.at[at].set(values)

    def sweep(r, c):
        # W's write is deferred to the next step (``pending``): reading a row after the
        # in-place write lets XLA update W in place; a read of the old W after the write
        # would make it copy W, O(p) per coordinate
        it, G, change, pending = c
        W = put(it.W, pending)
        blk = ws[r]
        rows = data.idx[blk]
        Lk = L[blk]
        if g == 1:
            xb = lax.dynamic_index_in_dim(data.XT, rows[0], 0, keepdims=True)  # (1, n)
        elif contiguous:  # a gathered problem: block j holds rows j g ... j g + g - 1
            xb = jnp.where(data.valid[blk][:, None],
                           lax.dynamic_slice_in_dim(data.XT, blk * g, g, 0), 0.0)  # (g, n)
        else:
            xb = jnp.where(data.valid[blk][:, None], data.XT[rows], 0.0)  # (g, n)
        wb = lax.dynamic_slice_in_dim(W, blk * g, g, 0) if contiguous else W[rows]
        grad_b = dot(xb, G)
        if fit_intercept:
            mub = mu[rows]
            grad_b = grad_b - mub[:, None] * sample_sum(G)
        new, d, moved = _block_step(penalty, wb, grad_b, Lk, data.valid[blk][:, None], rows)
        dZ = xb.T @ d
        b = it.b
        if fit_intercept:
            db = -(mub @ d)
            dZ, b = dZ + db, b + db
        Z = it.Z + dZ
        G = G + model.h * dZ if datafit.newton else _model_grad(datafit, data, model, Z)
        at = blk * g if contiguous else rows
        return Iterate(W, b, Z), G, jnp.maximum(change, moved), (at, new)

    def sweeps(it, G):
        rows = data.idx[0]
        at = jnp.zeros((), ws.dtype) if contiguous else rows
        c = (it, G, jnp.zeros((), G.dtype), (at, it.W[rows]))
        it, G, change, pending = lax.fori_loop(0, size, sweep, c)
        return it._replace(W=put(it.W, pending)), G, change

    if (contiguous and g == 1 and (datafit.newton or datafit.quadratic)
            and _block_size(data.idx.shape[0]) is not None):
        sweeps = _blocked_sweeps(datafit, penalty, data, model, size, L, mu, fit_intercept)

    def intercept(it, G, change):
        q = sample_sum(G)
        db = -q / jnp.maximum(Lb, tiny)
        Z = it.Z + db
        G = _model_grad(datafit, data, model, Z)
        return Iterate(it.W, it.b + db, Z), G, jnp.maximum(change, jnp.sqrt(jnp.sum(q * q)))

    def epoch(s: _Inner) -> _Inner:
        c = sweeps(s.it, s.G)
        if fit_intercept:
            c = intercept(*c)
        it, G, change = c
        slot = s.epoch % (ANDERSON_M + 1)
        hist = jax.tree_util.tree_map(lambda h, x: h.at[slot].set(x), s.hist, it)

        def pick(better, a, b):
            return jax.tree_util.tree_map(lambda x, y: jnp.where(better, x, y), a, b)

        def extrapolate(args):
            it, G, clock = args
            acc = _anderson(hist, it)
            better = _model_value(datafit, penalty, data, model, acc) < _model_value(
                datafit, penalty, data, model, it)
            it = pick(better, acc, it)
            if newton:
                it, clock = support_step(it, change, clock)
            return it, _model_grad(datafit, data, model, it.Z), clock

        def support_step(it, change, clock):
            m, signature = _support(data, it.W, ws, size)
            attempt = _newton_due(clock, change, tol_in, m, signature, h_newton)

            def run(_):
                return _active_set_newton(datafit, penalty, data, model, it, ws, size, L,
                                          fit_intercept, h_newton)

            cand, take = lax.cond(attempt, run, lambda _: (it, jnp.zeros((), bool)), None)
            wait = jnp.where(attempt & ~take, jnp.minimum(2 * clock.wait, 64), clock.wait)
            clock = _NewtonClock(change, signature, wait,
                                 jnp.where(attempt, wait, clock.countdown - 1))
            return pick(take, cand, it), clock

        it, G, clock = lax.cond(slot == ANDERSON_M, extrapolate, lambda a: a, (it, G, s.newton))
        return _Inner(it, G, s.epoch + 1, change, hist, clock)

    hist = jax.tree_util.tree_map(lambda x: stacked_zeros(x, ANDERSON_M + 1), start)
    dtype = data.XT.dtype
    one = jnp.ones((), jnp.int32)
    clock = _NewtonClock(jnp.asarray(jnp.inf, dtype), -one, one, 0 * one)
    s0 = _Inner(start, _model_grad(datafit, data, model, start.Z), jnp.zeros((), jnp.int32),
                jnp.asarray(jnp.inf, dtype), hist, clock)
    min_epochs = jnp.where(slow, ANDERSON_M + 1, 1)
    s = lax.while_loop(lambda s: (s.epoch < max_epochs)
                       & ((s.change > tol_in) | (s.epoch < min_epochs)), epoch, s0)
    return s.it, s.epoch


def _working_set_rows(data: Data, ws):
    """The rows of ``W`` in the blocks ``ws`` lists (``nb``: an empty slot), flattened:
    ``(valid, rows, at)``, the real entries, their rows (``p`` where none) and ``rows``
    clipped to an index that can be read."""
    (nb, _), p = data.idx.shape, data.XT.shape[0]
    blk = jnp.minimum(ws, nb - 1)
    valid = (data.valid[blk] & (ws < nb)[:, None]).reshape(-1)
    rows = jnp.where(valid, data.idx[blk].reshape(-1), p)
    return valid, rows, jnp.minimum(rows, p - 1)


def _gather_working_set(data: Data, penalty, W, ws, capacity: int, size=None):
    """The working set ``ws`` (``capacity`` blocks, :func:`_columns_working_set`) as a small
    replicated problem: ``(sub_data, sub_penalty, W_sub, rows)``. ``sub_data.XT`` holds its
    columns (a gather from ``XT`` sharded along its rows: each device contributes the ones
    it holds), ``rows`` the rows of ``W`` they came from (``p``: none). With ``size`` (one
    device), only the first ``size`` blocks' columns are copied, ``GATHER_ROWS`` at a time:
    the copy costs ``O(size n)``, not ``O(capacity n)``."""
    g = data.idx.shape[1]
    valid, rows, at = _working_set_rows(data, ws)
    if size is None:
        XT = jnp.where(valid[:, None], data.XT[at], 0.0)
    else:
        m = min(GATHER_ROWS, capacity * g)

        def copy(c, XT):  # a last chunk past the end is shifted back: same rows, same values
            a, v = (lax.dynamic_slice_in_dim(x, c * m, m) for x in (at, valid))
            return lax.dynamic_update_slice_in_dim(XT, jnp.where(v[:, None], data.XT[a], 0.0),
                                                   c * m, 0)

        XT = lax.fori_loop(0, (size * g + m - 1) // m, copy,
                           jnp.zeros((capacity * g, data.XT.shape[1]), data.XT.dtype))
    idx = jnp.arange(capacity * g, dtype=jnp.int32).reshape(capacity, g)
    sub = Data(XT, data.y, data.mask, idx, valid.reshape(capacity, g))
    sub_penalty = jax.tree_util.tree_map(lambda a: a[at], penalty)  # per-feature strengths
    W_sub = jnp.where(valid[:, None], W[at], 0.0)
    return sub, sub_penalty, W_sub, rows


def _inner_gram_gathered(datafit, penalty, data: Data, model: _Model, start: Iterate, ws, size,
                         fixed, gram, XTu, tol_in, max_epochs, fit_intercept: bool,
                         newton: bool = True):
    """:func:`_inner_gram` on the working set ``ws`` (singleton blocks), with the block of the
    full Hessian ``gram`` it reads; ``X`` is not copied: the coefficient gradient at the
    start is the certificate's ``XTu = X^T grad F(Z)``, centred here for an intercept
    (``X_c^T grad F`` does not change under the intercept's exact step), and the move of
    ``Z`` at the end is a product with ``XT``."""
    L_all, Lb, mu_all = fixed
    valid, rows, at = _working_set_rows(data, ws)  # singleton blocks: one row each
    pen = jax.tree_util.tree_map(lambda a: a[at], penalty)
    sub = Data(None, None, None, jnp.arange(ws.shape[0], dtype=jnp.int32)[:, None],
               valid[:, None])
    W_sub = jnp.where(valid[:, None], start.W[at], 0.0)
    H = jnp.where(valid[:, None] & valid[None, :], gram[at][:, at], 0.0)
    b, Z = start.b, start.Z
    q_all = XTu
    if fit_intercept:  # on centred columns the intercept's step is exact once, and
        # X_c^T grad F(Z) = X^T u - mu sum(u) is the same before and after it
        sum_u = sample_sum(_model_grad(datafit, data, model, Z))
        db = -sum_u / jnp.maximum(Lb, jnp.finfo(Lb.dtype).tiny)
        b, Z = b + db, Z + db
        q_all = q_all - mu_all[:, None] * sum_u
    q0 = jnp.where(valid[:, None], q_all[at], 0.0)
    L = jnp.where(valid, L_all[at], 0.0)  # singleton blocks: block j is row idx[j]
    W, epochs = _inner_gram(pen, sub, H, q0, W_sub, size, L, tol_in, max_epochs, newton)
    delta = jnp.zeros_like(start.W).at[rows].set(W - W_sub, mode="drop")  # (p, k)
    dZ = predictions(data.XT, delta)
    if fit_intercept:
        shift = -(mu_all @ delta)
        b, dZ = b + shift, dZ + shift
    return Iterate(start.W + delta, b, Z + dZ), epochs


def _inner_gathered(datafit, penalty, data: Data, model: _Model, start: Iterate, ws, size,
                    capacity: int, tol_in, max_epochs, fit_intercept: bool, newton: bool,
                    fixed=None, slow=False, one_device=False):
    """:func:`_inner` on the working set gathered (:func:`_gather_working_set`), its
    coefficients written back to ``W``. ``fixed``: the full problem's ``(L, Lb, mu)`` (a
    bounded-curvature datafit on one device), gathered instead of recomputed. ``one_device``:
    copy only the first ``size`` blocks' columns (a sharded gather takes all ``capacity``)."""
    sub, pen, W_sub, rows = _gather_working_set(data, penalty, start.W, ws, capacity,
                                                size if one_device else None)
    if fixed is None:
        L, Lb, mu = _curvatures(datafit, sub, model, fit_intercept)
    else:  # per block (by its index) and per row (by its row)
        nb, p = data.idx.shape[0], data.XT.shape[0]
        L = jnp.where(ws < nb, fixed[0][jnp.minimum(ws, nb - 1)], 0.0)
        Lb, mu = fixed[1], jnp.where(rows < p, fixed[2][jnp.minimum(rows, p - 1)], 0.0)
    blocks = jnp.arange(capacity, dtype=jnp.int32)
    cand, epochs = _inner(datafit, pen, sub, model, start._replace(W=W_sub), blocks, size, L, Lb,
                          mu, tol_in, max_epochs, fit_intercept, newton, contiguous=True,
                          slow=slow)
    return cand._replace(W=start.W.at[rows].set(cand.W, mode="drop")), epochs


# --------------------------------------------------------------------------- #
# line search and the outer loop
# --------------------------------------------------------------------------- #


def _line_search(datafit, penalty, data: Data, model: _Model, it: Iterate, cand: Iterate, P):
    """Backtracking from ``it`` toward ``cand``; returns (iterate, objective, found)."""
    pen0 = penalty_value(penalty, data, it.W)
    delta = (jnp.sum(model.g0 * (cand.Z - it.Z)) + penalty_value(penalty, data, cand.W) - pen0)

    def at(t):
        return jax.tree_util.tree_map(lambda a, c: a + t * (c - a), it, cand)

    def objective(x):
        return datafit.value(data.y, x.Z, data.mask) + penalty_value(penalty, data, x.W)

    slack = 4 * jnp.finfo(P.dtype).eps * jnp.abs(P)  # below this, P's rounding decides

    def cond(c):
        t, Pt, k = c
        ok = Pt <= P + jnp.minimum(1e-4 * t * jnp.minimum(delta, 0.0) + slack, slack)
        return ~ok & (k < LS_STEPS)

    def body(c):
        t, _, k = c
        t = 0.5 * t
        return t, objective(at(t)), k + 1

    one = jnp.ones((), P.dtype)
    t, Pt, k = lax.while_loop(cond, body, (one, objective(cand), jnp.zeros((), jnp.int32)))
    found = (k < LS_STEPS) & jnp.isfinite(Pt)
    return jax.tree_util.tree_map(lambda a, b: jnp.where(found, a, b), at(t), it), found


def _null_intercept(datafit, data: Data, fit_intercept: bool, steps: int = 30,
                    fixed: bool = False):
    """The best intercept of the null model ``W = 0``: Newton steps on ``b`` alone
    (``b -= t q / H``, ``q`` and ``H`` the datafit's first and second derivatives in ``b``),
    ``t`` halved from 1 until the datafit does not increase (at most 20 halvings), at most
    ``steps`` of them, stopping once a step moves ``b`` by less than its rounding. A
    datafit of bounded curvature takes ``H`` = its curvature bound (steps of ``1/L``).
    ``fixed``: every step and halving is taken (trip counts fixed; for batched solves, whose
    batch-sharded program jax 0.6's partitioner did not finish compiling with these loops
    as ``while_loop``s). Derivatives: those of a last Newton step from the stopped ``b`` (at
    a root of ``q``, the implicit function theorem's ``-(dq/dtheta) / (dq/db)``)."""
    k = data.y.shape[1]
    b = jnp.zeros((k,), data.XT.dtype)
    if not fit_intercept:
        return b
    eps = jnp.finfo(b.dtype).eps

    def value(b):
        return datafit.value(data.y, jnp.zeros_like(data.y) + b, data.mask)

    def slope(b):  # q(b): the tasks' intercepts are separate, so dq/db is diagonal
        return sample_sum(datafit.gradient(data.y, jnp.zeros_like(data.y) + b, data.mask))

    def step(b):
        Z = jnp.zeros_like(data.y) + b
        q = slope(b)
        if datafit.newton:
            H = sample_sum(datafit.d2loss(data.y, Z), data.mask) / jnp.sum(data.mask)
        else:
            H = jnp.full_like(q, datafit.curvature)
        d = -q / jnp.maximum(H, jnp.finfo(q.dtype).tiny)
        v0 = value(b)
        if fixed:
            def halve(_, c):
                t, ok = c
                ok = ok | (value(b + t * d) <= v0)
                return jnp.where(ok, t, 0.5 * t), ok
            t, ok = lax.fori_loop(0, 21, halve, (jnp.ones((), b.dtype), jnp.zeros((), bool)))
        else:
            t = lax.while_loop(lambda t: (t > 2.0 ** -20) & ~(value(b + t * d) <= v0),
                               lambda t: 0.5 * t, jnp.ones((), b.dtype))
            ok = t > 2.0 ** -20
        move = jnp.where(ok, t, 0.0) * d
        return b + move, jnp.any(jnp.abs(move) > 4 * eps * (1 + jnp.abs(b)))

    if fixed:
        b = lax.fori_loop(0, steps, lambda _, b: step(b)[0], b)
    else:
        b = lax.while_loop(lambda c: (c[0] < steps) & c[2],
                           lambda c: (c[0] + 1,) + step(c[1]),
                           (jnp.zeros((), jnp.int32), b, jnp.ones((), bool)))[1]
    b = lax.stop_gradient(b)
    q, h = jax.jvp(slope, (b,), (jnp.ones_like(b),))
    h = lax.stop_gradient(h)
    return b - jnp.where(h > 0, q / jnp.where(h > 0, h, 1.0), 0.0)


def setup(datafit, data: Data, fit_intercept: bool, columns: Columns | None = None,
          form_gram: bool = False, batched: bool = False) -> Setup:
    """:class:`Setup` of a solve on ``data``; with ``form_gram`` and ``columns.gram`` the
    Gram form's Hessian too (a path's solves then run in the Gram form from their first
    outer iteration). ``batched``: under ``jax.vmap`` (:func:`_null_intercept`'s ``fixed``)."""
    null_b = _null_intercept(datafit, data, fit_intercept, fixed=batched)
    null_Z = jnp.zeros_like(data.y) + null_b  # X 0 + b
    p0 = datafit.value(data.y, null_Z, data.mask)
    kkt0 = jnp.maximum(jnp.max(jnp.abs(dot(data.XT, datafit.gradient(data.y, null_Z, data.mask)))),
                       jnp.finfo(data.XT.dtype).tiny)
    xnorm = jnp.sqrt(jnp.max(jnp.sum(data.XT * data.XT, axis=1)) * data.XT.shape[1])
    # bounded-curvature datafits: the Lipschitz constants do not change (one pass over X)
    # (feature-sharded data: computed on each gathered working set instead)
    null_model = _model(datafit, data, null_Z)
    one_device = columns is None or columns.mesh is None
    fixed = None if datafit.newton or not one_device else _curvatures(
        datafit, data, null_model, fit_intercept)
    gram = XTy = None
    if form_gram and columns is not None and columns.gram:
        gram, XTy = _gram(data, _hessian_weights(datafit, data, null_model), fixed[2],
                          fit_intercept)
    return Setup(null_b, p0, kkt0, xnorm, fixed, gram, XTy)


def _gram_at_once(data: Data) -> bool:
    """Whether a Gram-form solve forms the Gram before its first step (static): with at most
    ``GRAM_AT_ONCE`` padded features, where working sets save little, and a Gram costing at
    most ``GRAM_AT_ONCE_FLOPS``. The program then has no residual form, and compiles
    0.3-0.5 s faster (docs/glm.md)."""
    p_rows, n = data.XT.shape
    return p_rows <= GRAM_AT_ONCE and 2 * n * p_rows * p_rows <= GRAM_AT_ONCE_FLOPS


def cpu_options(datafit, *_, columns: Columns | None = None, **__) -> bool:
    """Whether a solve compiles with :mod:`gradopt.problems._compile`'s CPU options: a
    datafit without proximal Newton steps (quadratic, Huber), or any datafit on a working
    set gathered on one device (``p`` well above ``n``). A logistic or Poisson solve that
    sweeps ``X`` in place ran 20-30 % slower with them (docs/glm.md, 'Compile time')."""
    return not datafit.newton or (columns is not None and columns.mesh is None)


@functools.partial(jit, when=cpu_options,
                   static_argnames=("fit_intercept", "ws_min", "columns", "newton"))
def solve(datafit, penalty, data: Data, W0, tol, max_iter, max_epochs, *,
          fit_intercept: bool, ws_min: int = WS_MIN, columns: Columns | None = None,
          newton: bool = True, prepared: Setup | None = None, XW0=None) -> Solution:
    """Solve the padded problem from ``W0`` (intercept: the null model's); see the module
    docstring. A start worse than the null model (an overflow, a far start of a
    linearly growing loss) is replaced by ``W = 0``.
    ``columns``: ``data.XT``'s features are sharded (:class:`Columns`). ``newton``: try
    active-set Newton steps in the inner loop (:func:`_active_set_newton`); callers turn
    them off under ``jax.vmap``, where ``lax.cond`` evaluates both branches at every
    epoch. ``prepared``: :func:`setup` of ``data``, computed by the caller (a path, once for
    all its solves); ``XW0``: ``X W0`` where the caller has it (a path: from the previous
    solution), else a product with ``XT``. Neither on feature-sharded data."""
    run = functools.partial(_solve, fit_intercept=fit_intercept, ws_min=ws_min, columns=columns,
                            newton=newton, prepared=prepared, XW0=XW0)
    if columns is not None and columns.mesh is not None:
        run = replicated_outputs(run, columns.mesh)
    return run(datafit, penalty, data, W0, tol, max_iter, max_epochs)


def _solve(datafit, penalty, data: Data, W0, tol, max_iter, max_epochs, *, fit_intercept: bool,
           ws_min: int, columns: Columns | None, newton: bool = True,
           prepared: Setup | None = None, XW0=None) -> Solution:
    dtype = data.XT.dtype
    tol = jnp.asarray(tol, dtype)
    has_gap = datafit.stop_on_gap
    certifiable = _certifiable(penalty, data) if has_gap else True

    pre = (setup(datafit, data, fit_intercept, columns, batched=not newton) if prepared is None
           else prepared)
    null_b, p0, kkt0, xnorm, fixed = pre.null_b, pre.p0, pre.kkt0, pre.xnorm, pre.fixed
    null_Z = jnp.zeros_like(data.y) + null_b  # X 0 + b

    # a warm start worse than the null model is replaced by it: one whose objective
    # overflows, or a far start of a datafit whose loss grows linearly (logistic, Huber),
    # where Newton steps on the flat, saturated model barely move (a path's warm starts are
    # never worse: P_alpha(w_prev) <= P_prev(w_prev) <= P(0))
    Z = (predictions(data.XT, W0) if XW0 is None else XW0) + null_b
    P_start = datafit.value(data.y, Z, data.mask) + penalty_value(penalty, data, W0)
    P_null = p0 + penalty_value(penalty, data, jnp.zeros_like(W0))
    keep = jnp.isfinite(P_start) & ~(P_start > P_null)
    start = Iterate(jnp.where(keep, W0, 0.0), null_b, jnp.where(keep, Z, null_Z))

    gram = None
    if columns is not None and columns.gram:  # the Hessian: formed when it pays
        hessian = _hessian_weights(datafit, data, _model(datafit, data, null_Z))

        def form_gram():
            return _gram(data, hessian, fixed[2], fit_intercept)

        # under jax.vmap (newton off) a lax.cond runs both branches: the Gram form at once
        p_rows, zero_steps = data.XT.shape[0], jnp.zeros((), dtype)
        yes, no = jnp.ones((), bool), jnp.zeros((), bool)
        if pre.gram is not None:
            gram = _Gram(pre.gram, pre.XTy, yes, zero_steps)
        elif newton and not _gram_at_once(data):
            gram = _Gram(jnp.zeros((p_rows, p_rows), dtype), jnp.zeros_like(W0), no, zero_steps)
        else:
            gram = _Gram(*form_gram(), yes, zero_steps)
    # once the Gram is formed, certificates take X^T u from it, without a pass over X; in
    # float64 only: H W - X^T y cancels where the residual is small (docs/glm.md)
    gram_certificate = gram is not None and jnp.finfo(dtype).bits == 64
    # formed before the loop
    always = gram is not None and (pre.gram is not None or not newton or _gram_at_once(data))

    def certificate(s: _Outer) -> Certificate:
        g = s.gram
        if not gram_certificate:
            return certify(datafit, penalty, data, s.it, fit_intercept)
        return certify(datafit, penalty, data, s.it, fit_intercept,
                       (g.H, g.XTy, fixed[2], None if always else g.ready))

    def status_of(cert, n_iter, damping):
        done = _converged(cert, tol, p0, kkt0, xnorm, has_gap, certifiable)
        return jnp.where(
            ~jnp.isfinite(cert.objective), Status.DIVERGED,
            jnp.where(done, Status.CONVERGED,
                      jnp.where((n_iter >= max_iter) | ~jnp.isfinite(damping), Status.MAX_STEPS,
                                Status.RUNNING)),
        ).astype(jnp.int32)

    def gram_or_residual(s: _Outer, cert: Certificate, model: _Model, tol_in, floor):
        """The Gram form once the residual form's coordinate steps reach ``GRAM_AFTER
        p_pad^2`` (about the cost of forming the Gram, counted in coordinate steps of
        ``O(n)`` against a matrix product's ``O(n p^2)`` at a higher rate: docs/glm.md), or
        (``p_pad <= GRAM_AHEAD_MAX``) once the next working set holds half the features and
        ``GRAM_AHEAD`` epochs of it would reach that count, unless the KKT measure is
        already within ``GRAM_NEAR`` of its target; the residual form
        before (no Newton steps there: the Gram form's are cheaper, and the
        program compiles 0.5 s faster). Every feature is in a one-task Gram-form working
        set. Without Newton steps (under ``jax.vmap``) the Gram form from the start."""
        g, nb = s.gram, data.idx.shape[0]

        def by_gram(_):
            H, XTy = (g.H, g.XTy) if always else lax.cond(g.ready, lambda: (g.H, g.XTy),
                                                           form_gram)
            ws, size = _working_set(cert, data, s.it.W, nb if W0.shape[1] == 1 else ws_min,
                                    columns, s.n_iter)
            cand, epochs = _inner_gram_gathered(
                datafit, penalty, data, model, s.it, ws, size, fixed, H, cert.XTu,
                jnp.maximum(jnp.minimum(INNER_RATIO_GRAM * cert.kkt, tol * kkt0), floor),
                max_epochs,
                fit_intercept, newton)
            return cand, epochs, _Gram(H, XTy, jnp.ones((), bool), g.work)

        if always:
            return by_gram(None)
        ws, size = _working_set(cert, data, s.it.W, ws_min, None, s.n_iter)

        def by_residual(_):
            cand, epochs = _inner(datafit, penalty, data, model, s.it, ws, size, *fixed,
                                  tol_in, max_epochs, fit_intercept, False,
                                  slow=s.slow)
            return cand, epochs, g._replace(work=g.work + epochs.astype(dtype) * size)

        switch = g.work >= GRAM_AFTER * nb * nb
        if nb <= GRAM_AHEAD_MAX:  # a small Gram: sooner once the working set is wide
            ahead = g.work + GRAM_AHEAD * size >= GRAM_AFTER * nb * nb
            switch = switch | ((2 * size >= nb) & ahead)
        near = cert.kkt <= GRAM_NEAR * tol * kkt0  # a few residual epochs will finish
        switch = g.ready | (switch & ~near)
        return lax.cond(switch, by_gram, by_residual, None)

    def step(s: _Outer, cert: Certificate):
        model = _model(datafit, data, s.it.Z, s.damping)
        # inner solves stop at a fraction of the outer violation, but not below the
        # rounding of their steps (else, near float64's floor, each ran to max_epochs)
        floor = _kkt_floor(cert, xnorm)
        tol_in = jnp.maximum(INNER_RATIO * cert.kkt, floor)
        near = cert.kkt <= REFRESH_NEAR * floor  # the candidate's Z recomputed from its W
        if s.gram is not None:  # the quadratic datafit: no line search
            cand, epochs, gram = gram_or_residual(s, cert, model, tol_in, floor)
            return _refreshed(data, cand, near), s.damping, epochs, gram
        ws, size = _working_set(cert, data, s.it.W, ws_min, columns, s.n_iter)
        if columns is not None:
            cand, epochs = _inner_gathered(datafit, penalty, data, model, s.it, ws, size,
                                           columns.capacity, tol_in,
                                           max_epochs, fit_intercept, newton, fixed,
                                           slow=s.slow, one_device=columns.mesh is None)
        else:
            L, Lb, mu = (_curvatures(datafit, data, model, fit_intercept) if datafit.newton
                         else fixed)
            cand, epochs = _inner(datafit, penalty, data, model, s.it, ws, size, L, Lb, mu,
                                  tol_in, max_epochs, fit_intercept, newton,
                                  slow=s.slow)
        cand = _refreshed(data, cand, near)
        if not datafit.newton:  # steps of length 1/L_b already decrease F + G
            return cand, s.damping, epochs, s.gram
        it, found = _line_search(datafit, penalty, data, model, s.it, cand, cert.objective)
        # no descent along the Newton direction (e.g. a saturated start where the Hessian
        # vanishes): damp the model (Levenberg-Marquardt) and retry; relax after a success
        if datafit.curvature < float("inf"):
            scale = jnp.asarray(datafit.curvature, dtype)
        else:  # the mean curvature, or 1 where it underflows
            real = data.mask[:, None] > 0
            scale = jnp.sum(jnp.where(real, datafit.d2loss(data.y, s.it.Z), 0.0)) / jnp.sum(real)
            scale = jnp.where(scale > jnp.finfo(dtype).tiny ** 0.5, scale, 1.0)
        up = jnp.maximum(10.0 * s.damping, 1e-3 * scale)
        down = jnp.where(s.damping > 1e-6 * scale, 0.1 * s.damping, 0.0)
        damping = jnp.where(found, down, jnp.where(up > 1e12 * scale, jnp.inf, up))
        return it, damping, epochs, s.gram

    def body(s: _Outer) -> _Outer:
        # certify the current point; stop, or take one working-set / Newton step
        cert = certificate(s)
        status = status_of(cert, s.n_iter, s.damping)
        ok = jnp.isfinite(cert.objective)  # else: report the last finite point
        last = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), (s.it, cert), s.last)
        running = status == Status.RUNNING
        it, damping, epochs, gram = lax.cond(
            running, step, lambda s, c: (s.it, s.damping, zero, s.gram), s, cert)
        # an inner solve that stops after one epoch, with the outer loop still running, has
        # a tolerance too loose for its epochs to extrapolate; on a slow problem that
        # repeats at every outer iteration, which never extrapolates and stalls (an
        # elastic net on a Toeplitz rho = 0.99 design: docs/glm.md), so from then on each
        # inner solve runs to its first extrapolation
        slow = s.slow | (running & (epochs == 1))
        return _Outer(it, last, s.n_iter + running.astype(jnp.int32), status, damping,
                      s.epochs + epochs, slow, gram)

    zero = jnp.zeros((), jnp.int32)
    inf = jnp.asarray(jnp.inf, dtype)
    cert0 = Certificate(inf, inf, inf, jnp.full(data.idx.shape[:1], -jnp.inf, dtype), inf,
                        jnp.zeros_like(W0))
    s0 = _Outer(start, (start, cert0), zero, jnp.asarray(Status.RUNNING, jnp.int32),
                jnp.zeros((), dtype), zero, jnp.zeros((), bool), gram)
    s = lax.while_loop(lambda s: s.status == Status.RUNNING, body, s0)
    it, cert = s.last
    # XTu stays inside: returned, a feature-sharded one would be gathered onto every device
    return Solution(it, cert._replace(XTu=None), s.n_iter, s.status, p0, s.epochs)


# --------------------------------------------------------------------------- #
# derivatives of the solution (implicit differentiation)
# --------------------------------------------------------------------------- #


def solve_differentiable(datafit, penalty, data: Data, W0, tol, max_iter, max_epochs, *,
                         fit_intercept: bool, columns: Columns | None = None,
                         newton: bool = True, prepared: Setup | None = None,
                         XW0=None) -> Solution:
    """:func:`solve` on the inputs' ``stop_gradient``, with :func:`differentiable`'s
    derivative with respect to ``data`` and ``penalty`` (the start ``W0`` gets none)."""
    if columns is None or columns.mesh is None:
        stopped = lax.stop_gradient((penalty, data, W0))
        sol = solve(datafit, *stopped, tol, max_iter, max_epochs, fit_intercept=fit_intercept,
                    columns=columns, newton=newton, prepared=lax.stop_gradient(prepared),
                    XW0=lax.stop_gradient(XW0))
        return differentiable(datafit, penalty, data, sol, fit_intercept)

    def run(penalty, data, W0, tol, max_iter, max_epochs):  # both parts on the same axes
        stopped = lax.stop_gradient((penalty, data, W0))
        sol = _solve(datafit, *stopped, tol, max_iter, max_epochs, fit_intercept=fit_intercept,
                     ws_min=WS_MIN, columns=columns, newton=newton)
        return differentiable(datafit, penalty, data, sol, fit_intercept)

    return replicated_outputs(run, columns.mesh)(penalty, data, W0, tol, max_iter, max_epochs)


def differentiable(datafit, penalty, data: Data, sol: Solution, fit_intercept: bool) -> Solution:
    r"""``sol`` (found on ``stop_gradient`` inputs) with the derivative of its iterate and
    objective with respect to ``data.XT``, ``data.y`` and the penalty's strengths.

    The solution is a root of the fixed point of a proximal coordinate-gradient step,
    ``F(W, b) = (W - prox_{S G}(W - S X^T u), sum_i u_i) = 0`` with ``u = grad F(Z)`` and
    ``S`` the diagonal of steps ``1 / L_j`` (a diagonal preconditioner: any positive
    steps give the same root and the same derivative); :mod:`gradopt.solve.implicit`
    solves the implicit-function-theorem system. With the derivative of ``l1``'s prox
    (1 on the support, 0 off it) this is the lasso's support system
    ``dw_S = (X_S^T H X_S)^{-1} (...)``, 0 off the support (Bertrand et al. 2020).
    """
    from gradopt.solve import implicit  # noqa: PLC0415  (solve imports problems' pieces)

    model = _model(datafit, data, lax.stop_gradient(sol.iterate.Z))
    L, _, _ = lax.stop_gradient(_curvatures(datafit, data, model, False))
    step = jnp.where(L > 0, 1.0 / jnp.where(L > 0, L, 1.0), 1.0)  # (nb,): one per block

    # everything F and the objective read comes in through theta (no closed-over tracers:
    # custom_jvp / custom_vjp inside jit or scan cannot carry them)
    def F(x, theta):
        W, b = x
        df, data, pen, step = theta
        u = df.gradient(data.y, predictions(data.XT, W) + b, data.mask)
        rows = lambda A: _blocks(lambda a, _: a, data, A)  # noqa: E731  (nb, g, k) blocks
        moved = rows(W) - step[:, None, None] * rows(dot(data.XT, u))
        new = jax.vmap(pen.block_prox)(moved, step, data.idx)
        return W - _scatter_rows(data, new, W), (sample_sum(u) if fit_intercept else b)

    def objective(x, theta):
        W, b = x
        df, data, pen, _ = theta
        Z = predictions(data.XT, W) + b
        return df.value(data.y, Z, data.mask) + penalty_value(pen, data, W)

    theta = (datafit, data, penalty, step)
    x_star = (sol.iterate.W, sol.iterate.b)
    W, b = implicit.differentiable_root(F, jax.tree_util.tree_map(jnp.zeros_like, x_star),
                                        x_star, theta, "auto", symmetric=False)
    value = implicit.with_derivative(sol.cert.objective, objective, (W, b), theta)
    return sol._replace(iterate=Iterate(W, b, sol.iterate.Z),
                        cert=sol.cert._replace(objective=value))
