"""Small helpers shared by the transformations."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradopt._validation import check_inexact_tree, check_same_shapes, check_same_structure


def learning_rate_at(learning_rate, count):
    """``learning_rate`` evaluated at step ``count`` when it is a schedule."""
    return learning_rate(count) if callable(learning_rate) else learning_rate


def check_updates_match(updates: Any, params: Any) -> None:
    """The checks every ``update`` makes on its inputs (static, so also at trace time).

    * updates (and params, when given) have floating or complex dtypes:
      integer leaves would give zero or truncated updates (``TypeError``);
    * no leaf is a ``numpy.ma`` masked array, whose mask JAX drops (``TypeError``);
    * updates and params share one pytree structure and every leaf's shape
      (``ValueError``; a ``(4,)`` update for a ``(3,)`` parameter is a bug,
      not something to broadcast).
    """
    check_inexact_tree("updates (gradients)", updates)
    if params is not None:
        check_inexact_tree("params", params)
        check_same_structure("updates (gradients)", updates, "params", params)
        check_same_shapes("updates (gradients)", updates, "params", params)


def like(scalar: Any, leaf: Any) -> jax.Array:
    """A hyperparameter cast to the dtype of ``leaf``.

    Hyperparameters are rounded to each leaf's dtype before they multiply it
    (as optax's schedules and PyTorch's ``alpha=`` arguments do), so a float64
    (possibly traced) learning rate never promotes a float32 or bfloat16
    update, and the arithmetic runs in the parameters' own precision.
    """
    return jnp.asarray(scalar, dtype=jnp.result_type(leaf))


def cast_like(tree: Any, like_tree: Any) -> Any:
    """Cast every leaf of ``tree`` to the dtype of the matching leaf of ``like_tree``."""
    return jax.tree_util.tree_map(
        lambda t, l: jnp.asarray(t).astype(jnp.result_type(l)), tree, like_tree
    )


def params_mesh(params: Any):
    """The one ``jax.sharding.Mesh`` that every leaf of concrete ``params`` is placed on.

    ``None`` when ``params`` are traced or abstract (``jax.ShapeDtypeStruct``),
    not ``jax.Array``\\ s, on a single device, or on different meshes.
    """
    meshes = set()
    for leaf in jax.tree_util.tree_leaves(params):
        if isinstance(leaf, jax.core.Tracer) or not isinstance(leaf, jax.Array):
            return None
        sharding = leaf.sharding
        if not isinstance(sharding, jax.sharding.NamedSharding):
            return None
        meshes.add(sharding.mesh)
    return meshes.pop() if len(meshes) == 1 else None


def follow_params(state: Any, params: Any) -> Any:
    """``state`` with every leaf placed on the parameters' mesh, as jitted updates return it.

    Leaves built from the parameters (``zeros_like``, an iterate) already have
    their sharding. The others (step counts, step sizes, flat buffers) come
    out of an eager ``init`` uncommitted on one device, while a jitted
    ``update`` returns them replicated over the parameters' mesh: a step
    ``jax.jit(opt.update)`` would then compile twice, once for the state of
    ``init`` and once for its own. Placing them replicated on that mesh at
    ``init`` makes the two the same (optax's guarantee that the state's
    sharding does not change between ``init`` and ``update``). Under
    ``jit``/``eval_shape``, or for parameters not on one mesh, ``state`` is
    returned as is.
    """
    mesh = params_mesh(params)
    if mesh is None:
        return state
    replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())

    def place(leaf):
        if not isinstance(leaf, jax.Array) or isinstance(leaf, jax.core.Tracer):
            return leaf
        if isinstance(leaf.sharding, jax.sharding.NamedSharding) and leaf.sharding.mesh == mesh:
            return leaf
        if mesh.is_multi_process:  # every process holds the same (small) value
            host = np.asarray(leaf)
            return jax.make_array_from_callback(host.shape, replicated, lambda index: host[index])
        return jax.device_put(leaf, replicated)

    return jax.tree_util.tree_map(place, state)


def _reshard(x, sharding):
    reshard = getattr(jax.sharding, "reshard", None)
    if reshard is None:  # jax < 0.7
        from jax.experimental.shard import reshard
    return reshard(x, sharding)


def explicit_sharding(x: Any):
    """The ``NamedSharding`` in ``x``'s type when explicit mesh axes shard it, else ``None``.

    With explicit axis types (``jax.make_mesh`` default since jax 0.7, used
    under ``jax.set_mesh``) the sharding is part of an array's type, and
    operations that mix shardings (``concatenate``, a contraction over a
    sharded axis) must be told what to do; with auto axes XLA decides.
    """
    typeof = getattr(jax, "typeof", None)
    sharding = getattr(typeof(x), "sharding", None) if typeof is not None else None
    spec = getattr(sharding, "spec", None)
    if spec is None or all(s is None for s in spec):
        return None
    return sharding


def any_explicitly_sharded(tree: Any) -> bool:
    return any(explicit_sharding(x) is not None for x in jax.tree_util.tree_leaves(tree))


def replicated(tree: Any) -> Any:
    """Every explicitly sharded leaf of ``tree`` resharded to replicated (for a flat view)."""

    def rep(x):
        sharding = explicit_sharding(x)
        if sharding is None:
            return x
        return _reshard(x, jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec()))

    return jax.tree_util.tree_map(rep, tree)


def sharded_like(tree: Any, like_tree: Any) -> Any:
    """Each leaf of ``tree`` resharded like the matching ``like_tree`` leaf.

    Traced: to its explicit sharding (auto axes: left to XLA). Eager (both
    concrete ``jax.Array``\ s): placed on its sharding.
    """

    def back(x, like):
        concrete = lambda a: isinstance(a, jax.Array) and not isinstance(a, jax.core.Tracer)
        if concrete(x) and concrete(like):
            return x if x.sharding == like.sharding else jax.device_put(x, like.sharding)
        sharding = explicit_sharding(like)
        return x if sharding is None else _reshard(x, sharding)

    return jax.tree_util.tree_map(back, tree, like_tree)
