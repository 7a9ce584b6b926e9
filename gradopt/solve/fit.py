"""``fit``: mini-batch training, each epoch one ``lax.scan``."""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradopt.solve import progress as _progress
from gradopt._validation import INT32_MAX, check_bool, check_int, is_traced
from gradopt.solve._common import (
    LoopCache,
    check_data,
    check_optimizer,
    check_params,
    current_iterate,
    tree_all_finite,
)
from gradopt.solve.result import _MESSAGES, Status


class FitResult(NamedTuple):
    """Outcome of :func:`gradopt.fit`: unpack as ``params, losses, state = ...``.

    Attributes:
      params: trained parameters (for methods that keep their actual iterate in
        their state, such as FISTA, that iterate: ``current_iterate(opt_state, p)``).
        After a divergence, the last finite parameters.
      losses: ``(epochs,)`` array, the loss history: the mean training loss of
        each epoch (sample-weighted mean of the batch losses, measured before
        each update). ``nan`` for the epoch in which a loss, gradient or
        parameter became non-finite and for every later epoch (no update is
        taken after a divergence).
      opt_state: the final optimizer state (after a divergence, the last one
        reached with finite parameters).

    ``status`` (a property, computed from ``losses``) uses :func:`minimize`'s
    vocabulary: ``Status.MAX_STEPS`` when every epoch ran (``fit`` has no
    stopping test, so it never reports ``CONVERGED``), ``Status.DIVERGED``
    otherwise. It is an int32 array (batched under ``vmap``);
    ``status_name`` gives the text.
    """

    params: Any
    losses: jax.Array
    opt_state: Any

    @property
    def status(self) -> jax.Array:
        ok = jnp.all(jnp.isfinite(jnp.asarray(self.losses)), axis=-1)
        return jnp.where(ok, Status.MAX_STEPS, Status.DIVERGED).astype(jnp.int32)

    @property
    def diverged(self) -> jax.Array:
        return self.status == Status.DIVERGED

    @property
    def status_name(self) -> str:
        """The status as text, ``"MAX_STEPS"`` or ``"DIVERGED"`` (concrete results only)."""
        codes = np.asarray(self.status)
        return ",".join(Status(int(c)).name for c in codes.ravel())

    @property
    def message(self) -> str:
        codes = np.asarray(self.status)
        return "; ".join(
            "ran all epochs" if int(c) == Status.MAX_STEPS else _MESSAGES[Status(int(c))]
            for c in codes.ravel()
        )


def fit(
    loss: Callable[[Any, Any], jax.Array],
    params: Any,
    optimizer,
    data: Any,
    *,
    batch_size: int,
    epochs: int,
    key: jax.Array,
    progress: bool = False,
) -> FitResult:
    r"""Mini-batch training: shuffle every epoch, one optimizer step per batch.

    ``key`` is split into one key per epoch and each epoch draws its own
    shuffle (so the order differs between epochs and depends on ``key``); the
    ``n // batch_size`` full batches of an epoch run inside one ``lax.scan``::

        l_b, g_b = value_and_grad(loss)(p, batch_b)
        u, s = optimizer.update(g_b, s, p, value=l_b, grad=g_b, value_fn=...)
        p = apply_updates(p, u)

    **Last partial batch.** When ``r = n % batch_size > 0`` the remaining ``r``
    samples form one more, smaller batch at the end of the epoch (as PyTorch's
    ``DataLoader(drop_last=False)``), compiled with its own static shape. So
    every sample is used exactly once per epoch, none twice and none dropped.
    ``loss`` must therefore accept a batch of any leading size (a mean over the
    batch is the usual choice). ``batch_size = n`` is full-batch gradient
    descent; ``batch_size = 1`` is plain SGD.

    **Shuffling: stratified by contiguous groups.** The rows are split into
    ``G = gcd(n, batch_size)`` contiguous groups of ``m = n / G`` rows; every
    epoch permutes each group with its own key (``fold_in(epoch_key, g)``),
    and batch ``b`` takes positions ``[b k, (b + 1) k)`` of every group's
    permutation (``k = batch_size / G``), the groups' leftovers forming the
    last batch. Every sample is used once per epoch, every batch holds
    ``k`` samples of each group (a stratified sample of the data's order), and
    for ``G = 1`` (``n`` and ``batch_size`` coprime, or ``batch_size = 1``)
    it is one uniform permutation of all samples.
    The scheme depends on ``key``, ``n`` and ``batch_size`` only, not on where the
    data live, so training is the same (to rounding) on one device and on
    many, and it is what makes data-parallel training local:

    **Sharded data (data parallel).** ``data`` may be global ``jax.Array``\ s
    whose rows are sharded over ``D`` devices or processes (auto or explicit
    mesh axes; e.g. built per process with
    ``jax.make_array_from_process_local_data``). When ``D`` divides ``G``
    (i.e. ``n`` and ``batch_size``), each device holds whole groups, permutes
    them and gathers its ``batch_size / D`` rows of every batch from its own
    shard: the dataset is never gathered, and the only communication per
    step is the reduction of the gradient and of the loss (the all-reduce
    that ``jax.grad`` of a mean over sharded rows produces). Otherwise the
    result is the same but XLA moves rows between devices. Parameters and
    optimizer state keep the parameters' sharding (replicated parameters:
    replicated state, as in optax). Explicit mesh axes need jax >= 0.7.

    The whole training (all epochs) is one compiled call.

    **Divergence.** When a batch's loss, its gradient or the updated parameters
    are not finite (one NaN sample, a learning rate too large), that update is
    discarded and training stops: the result holds the last finite parameters
    and optimizer state, ``losses`` is ``nan`` from that epoch on, and
    ``result.status`` is ``Status.DIVERGED`` (``Status.MAX_STEPS`` when all
    epochs ran).

    **Reported parameters.** Methods that take gradients at an extrapolated
    point and keep their actual iterate in their state (FISTA) report that
    iterate, ``gradopt.current_iterate(opt_state, params)``, as ``minimize``
    does.

    Args:
      loss: ``loss(params, batch) -> scalar``, where ``batch`` has the structure
        of ``data`` with leading size ``batch_size`` (or ``r`` for the last batch).
      params: initial parameters.
      optimizer: any ``optax.GradientTransformation``.
      data: a pytree of arrays sharing the leading axis ``n`` (NumPy, or
        ``jax.Array``\ s, possibly sharded by rows).
      batch_size: in ``[1, n]``.
      epochs: number of passes over the data (>= 1).
      key: a ``jax.random`` key for the shuffles.
      progress: draw a progress bar (epoch, mean loss).

    Returns:
      :class:`FitResult` ``(params, losses, opt_state)`` (plus the ``status``
      property), where
      ``losses[e] = (sum_b |B_b| l_b) / n`` is the sample-weighted mean of the
      epoch's batch losses ``l_b`` (each measured before its update): the mean
      per-sample loss of the epoch when ``loss`` averages over its batch.

    Example::

        >>> import jax, jax.numpy as jnp, gradopt
        >>> X = jnp.arange(10.0).reshape(5, 2); y = X @ jnp.array([1.0, -1.0])
        >>> mse = lambda w, b: jnp.mean((b[0] @ w - b[1]) ** 2)
        >>> w, losses, _ = gradopt.fit(mse, jnp.zeros(2), gradopt.descent(0.01), (X, y),
        ...                            batch_size=2, epochs=3, key=jax.random.key(0))
        >>> losses.shape
        (3,)
        >>> gradopt.fit(mse, jnp.zeros(2), gradopt.descent(0.01), (X, y), batch_size=2,
        ...             epochs=3, key=jax.random.key(0)).status_name
        'MAX_STEPS'
    """
    if not callable(loss):
        raise TypeError(f"loss must be callable, got {type(loss).__name__}.")
    check_optimizer(optimizer)
    leaves = jax.tree_util.tree_leaves(data)
    if not leaves:
        raise ValueError("data must contain at least one array.")
    if any(isinstance(x, (bool, int, float, complex)) for x in leaves):
        raise TypeError(
            "data must be a pytree of arrays sharing a leading (sample) axis; it holds "
            "Python numbers (JAX reads a Python list as a container of scalars, not as "
            "an array): pass np.asarray(...) / jnp.asarray(...) arrays."
        )
    check_data("data", data)
    sizes = {int(np.shape(x)[0]) if np.ndim(x) > 0 else None for x in leaves}
    if None in sizes:
        raise ValueError("every leaf of data must have a leading (sample) axis; got a scalar leaf.")
    if len(sizes) != 1:
        raise ValueError(
            f"every leaf of data must have the same leading size n; got sizes {sorted(sizes)}."
        )
    n = sizes.pop()
    batch_size = check_int("batch_size", batch_size, 1, n)
    epochs = check_int("epochs", epochs, 1, INT32_MAX)
    check_bool("progress", progress)
    check_key(key)
    check_params(params)
    bar = _progress.open_bar("epochs") if progress else -1
    try:
        p, losses, state = _LOOPS(loss, optimizer, batch_size, epochs, bool(progress))(
            params, data, key, jnp.asarray(bar, jnp.int32),
        )
    except BaseException:
        if progress:
            _progress.close_bar(bar)
        raise
    if progress and not is_traced(losses):  # eager: the run is over
        jax.effects_barrier()
        _progress.close_bar(bar)
    return FitResult(p, losses, state)


def check_key(key: Any) -> None:
    """``key`` must be one ``jax.random`` key: a typed key or a raw uint32 ``(2,)`` key."""
    why = None
    dtype = getattr(key, "dtype", None)
    if dtype is None or isinstance(key, (str, bytes)):
        why = f"got {type(key).__name__} {key!r:.60}"
    elif jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        if np.ndim(key) != 0:
            why = f"got a batch of keys of shape {np.shape(key)} (pass one key)"
    elif not (np.dtype(dtype) == np.uint32 and np.shape(key) == (2,)):
        why = f"got an array of dtype {dtype} and shape {np.shape(key)}"
    if why is not None:
        raise TypeError(
            "key must be a jax.random key (jax.random.key(0), or a raw "
            f"jax.random.PRNGKey(0) of dtype uint32 and shape (2,)); {why}."
        )


def shuffle_groups(n: int, batch_size: int) -> int:
    """The number ``G = gcd(n, batch_size)`` of contiguous row groups ``fit`` shuffles within.

    Every batch takes ``batch_size / G`` rows from each group, so when the data
    rows are sharded over ``D`` devices with ``D`` dividing ``G`` each device
    holds whole groups and gathers its part of every batch from its own rows.
    ``G`` depends on ``n`` and ``batch_size`` only, never on the sharding: the
    same key gives the same batches on one device and on many.
    """
    return math.gcd(n, batch_size)


def _row_axes(a: Any):
    """``(mesh, axes)`` when explicit mesh axes shard the leading axis of ``a``, else ``None``.

    With explicit axis types the sharding is part of an array's type and
    operations must agree on it; with auto axes (``None`` here) XLA's
    propagation places every intermediate by itself.
    """
    typeof = getattr(jax, "typeof", None)
    sharding = getattr(typeof(a), "sharding", None) if typeof is not None else None
    spec = getattr(sharding, "spec", None)
    if not spec or spec[0] is None:
        return None
    return sharding.mesh, spec[0]


def _rows_like(x: jax.Array, axes) -> jax.Array:
    """``x`` with its leading axis sharded over the explicit ``axes`` (``None``: unsharded)."""
    if _row_axes(x) == axes:
        return x
    mesh = axes[0] if axes is not None else _row_axes(x)[0]
    spec = jax.sharding.PartitionSpec(axes[1] if axes is not None else None)
    reshard = getattr(jax.sharding, "reshard", None)
    if reshard is None:  # jax < 0.7
        from jax.experimental.shard import reshard
    return reshard(x, jax.sharding.NamedSharding(mesh, spec))


def epoch_order(key: jax.Array, n: int, batch_size: int, axes=None) -> jax.Array:
    """One epoch's order: ``(G, n / G)`` positions, row ``g`` a permutation of group ``g``.

    Group ``g`` (rows ``g m, ..., g m + m - 1``, ``m = n / G``) is permuted with
    its own key ``fold_in(key, g)``; batch ``b`` is the group-major
    concatenation of columns ``[b k, (b + 1) k)`` (``k = batch_size / G``)
    of every group, the last ``(m mod k)`` columns the last, smaller batch.
    ``axes`` (explicit meshes, see ``_row_axes``) shards the groups like the data.
    """
    groups = shuffle_groups(n, batch_size)
    keys = jax.vmap(lambda g: jax.random.fold_in(key, g))(jnp.arange(groups))
    if axes is not None:  # explicit mesh: each device permutes its own groups
        keys = _rows_like(keys, axes)
    return jax.vmap(lambda k: jax.random.permutation(k, n // groups))(keys)


def _fit(loss, opt, batch_size, epochs, progress, params, data, key, bar):
    n = jax.tree_util.tree_leaves(data)[0].shape[0]
    groups = shuffle_groups(n, batch_size)
    per_group = n // groups  # m: rows in a group
    take = batch_size // groups  # k: rows a batch takes from each group
    n_full, rem = divmod(per_group, take)  # n_full = n // batch_size, rem * groups = n % batch_size
    value_and_grad = jax.value_and_grad(loss)
    # (n, ...) -> (G, m, ...): a split of the leading axis, so rows sharded over
    # D | G devices stay where they are (each device holds whole groups).
    grouped = jax.tree_util.tree_map(lambda a: a.reshape((groups, per_group) + a.shape[1:]), data)
    # explicit axis types: the order and the indices are sharded like the rows they pick
    row_axes = [_row_axes(a) for a in jax.tree_util.tree_leaves(grouped)]
    explicit = any(axes is not None for axes in row_axes)
    order_axes = next((axes for axes in row_axes if axes is not None), None)

    def gather(idx):  # (G, j) positions within groups -> the (G j)-row batch, group-major
        if groups == 1:  # one group: a plain gather of rows (no batch dimension to carry)
            return jax.tree_util.tree_map(lambda a: jnp.take(a, idx[0], axis=0), data)
        rows = jax.vmap(lambda a_g, i_g: jnp.take(a_g, i_g, axis=0))
        leaves, tree = jax.tree_util.tree_flatten(grouped)
        batch = [rows(a, _rows_like(idx, axes) if explicit else idx)
                 .reshape((groups * idx.shape[1],) + a.shape[2:])
                 for a, axes in zip(leaves, row_axes)]
        return jax.tree_util.tree_unflatten(tree, batch)

    def step(carry, idx):
        p, s, ok = carry
        batch = gather(idx)

        def run(p, s):
            value, grad = value_and_grad(p, batch)
            updates, new_s = opt.update(grad, s, p, value=value, grad=grad,
                                        value_fn=lambda q: loss(q, batch))
            new_p = jax.tree_util.tree_map(lambda a, u: (a + u).astype(a.dtype), p, updates)
            finite = jnp.isfinite(value) & tree_all_finite(grad) & tree_all_finite(new_p)
            keep = lambda new, old: jax.tree_util.tree_map(
                lambda a, b: jnp.where(finite, a, b), new, old
            )
            value = jnp.where(finite, value, jnp.nan).astype(value.dtype)
            return keep(new_p, p), keep(new_s, s), finite, value

        def skip(p, s):  # after a divergence: no more work, no more updates
            return p, s, jnp.zeros([], bool), jnp.full([], jnp.nan, loss_dtype)

        p, s, finite, value = jax.lax.cond(ok, run, skip, p, s)
        return (p, s, ok & finite), value

    def epoch(carry, inputs):
        e, k = inputs
        order = epoch_order(k, n, batch_size, order_axes)  # (G, m)
        full = order[:, : n_full * take].reshape(groups, n_full, take).transpose(1, 0, 2)
        carry, batch_losses = jax.lax.scan(step, carry, full)
        total = jnp.sum(batch_losses) * batch_size
        if rem:
            carry, last = step(carry, order[:, n_full * take:])
            total = total + last * (rem * groups)
        mean = total / n
        if progress:
            _progress.report(bar, e + 1, epochs, mean, 1)
        return carry, mean

    s0 = opt.init(params)
    # the loss's dtype, from shapes only (no slice of sharded rows, no mesh to agree on)
    abstract = lambda shape, a: jax.ShapeDtypeStruct(shape, a.dtype)
    first = jax.tree_util.tree_map(lambda a: abstract((1,) + a.shape[1:], a), data)
    loss_dtype = jax.eval_shape(
        loss, jax.tree_util.tree_map(lambda a: abstract(a.shape, a), params), first
    ).dtype
    keys = jax.random.split(key, epochs)
    (p, s, _), losses = jax.lax.scan(
        epoch, (params, s0, jnp.ones([], bool)), (jnp.arange(epochs), keys)
    )
    if progress:
        _progress.finish(bar, epochs, epochs, losses[-1])
    return current_iterate(s, p), losses, s


_LOOPS = LoopCache(_fit)
