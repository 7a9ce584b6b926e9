"""gradopt.fit on data sharded by rows (issue 12): same training as on one device, no gather.

One process with 8 virtual CPU devices (auto axes, and explicit axes where
jax has ``jax.set_mesh``), and two processes x 4 devices under
``jax.distributed`` with the data given per process
(``jax.make_array_from_process_local_data``). The reference is ``fit`` on
one device with the same key: the shuffle depends on the key, ``n`` and
``batch_size`` only (``gcd(n, batch_size)`` contiguous groups), so the
batches are the same and only the order of the sums differs (~1e-15).
"""

import jax
import pytest

from _spmd import run_devices, run_processes

SETUP = """
import re
import importlib
import numpy as np, jax, jax.numpy as jnp, optax
import gradopt
from jax.sharding import NamedSharding, PartitionSpec as P, Mesh
fit_module = importlib.import_module("gradopt.solve.fit")

rng = np.random.RandomState(0)
N, D, BATCH, EPOCHS = 96, 5, 40, 3  # G = gcd(96, 40) = 8 groups; batches of 40, 40, 16
X = rng.randn(N, D); Y = X @ rng.randn(D) + 0.1 * rng.randn(N)
loss = lambda w, b: jnp.mean((b[0] @ w - b[1]) ** 2)
OPT = gradopt.chain(gradopt.clip_by_global_norm(10.0), gradopt.nesterov(0.05, 0.9))
KW = dict(batch_size=BATCH, epochs=EPOCHS, key=jax.random.key(3))

def reference():
    dev = jax.local_devices()[0]
    data = (jax.device_put(X, dev), jax.device_put(Y, dev))
    res = gradopt.fit(loss, jax.device_put(jnp.zeros(D), dev), OPT, data, **KW)
    return np.asarray(res.params), np.asarray(res.losses)

def same_as_reference(res, ref):
    np.testing.assert_allclose(np.asarray(res.params), ref[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(res.losses), ref[1], rtol=1e-12)
    assert not np.allclose(ref[0], 0)  # it trained

def collectives(params, data):
    \"\"\"The collective ops of the compiled training loop, as (op, result shape) pairs.\"\"\"
    loop = fit_module._LOOPS(loss, OPT, BATCH, EPOCHS, False)
    text = loop.lower(params, data, KW["key"], jnp.asarray(-1, jnp.int32)).compile().as_text()
    ops = re.findall(r"= (\\(?[a-z0-9\\[\\]{}, ]*\\)?) (all-gather|all-to-all|collective-permute|all-reduce|reduce-scatter)(?:-start)?\\(", text)
    return [(op, shape) for shape, op in ops]

def no_dataset_gather(params, data):
    ops = collectives(params, data)
    assert ops, "expected the all-reduce of the gradient"
    for op, shape in ops:
        # only the gradient (f64[5]) and the loss (f64[]) are reduced; no rows move
        assert op == "all-reduce" and re.fullmatch(r"\\(?(f64\\[5?\\](\\{0\\})?(, )?)+\\)?", shape), (op, shape)
"""

ONE_PROCESS = SETUP + """
from jax.sharding import AxisType
ref = reference()
mesh = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Auto,))
data = (jax.device_put(X, NamedSharding(mesh, P("data", None))),
        jax.device_put(Y, NamedSharding(mesh, P("data"))))
params = jax.device_put(jnp.zeros(D), NamedSharding(mesh, P()))
res = gradopt.fit(loss, params, OPT, data, **KW)
same_as_reference(res, ref)
no_dataset_gather(params, data)
# parameters and optimizer state keep the parameters' (replicated) sharding
for leaf in [res.params] + jax.tree.leaves(res.opt_state):
    assert leaf.sharding.is_equivalent_to(params.sharding, leaf.ndim), leaf.sharding
print("auto ok")
if hasattr(jax, "set_mesh"):  # explicit axes (sharding in types): jax >= 0.7
    mesh = jax.make_mesh((8,), ("data",), axis_types=(AxisType.Explicit,))
    with jax.set_mesh(mesh):
        data = (jax.device_put(X, NamedSharding(mesh, P("data", None))),
                jax.device_put(Y, NamedSharding(mesh, P("data"))))
        params = jax.device_put(jnp.zeros(D), NamedSharding(mesh, P(None)))
        res = gradopt.fit(loss, params, OPT, data, **KW)
        same_as_reference(res, ref)
        no_dataset_gather(params, data)
        assert jax.typeof(res.params) == jax.typeof(params)
    print("explicit ok")
"""

TWO_PROCESSES = SETUP + """
assert jax.process_count() == 2 and jax.device_count() == 8
ref = reference()
mesh = Mesh(np.array(jax.devices()), ("data",))  # process-major: process p holds rows p*48...
rows = slice(jax.process_index() * N // 2, (jax.process_index() + 1) * N // 2)
data = (jax.make_array_from_process_local_data(NamedSharding(mesh, P("data", None)), X[rows]),
        jax.make_array_from_process_local_data(NamedSharding(mesh, P("data")), Y[rows]))
for a, full in zip(data, (X, Y)):  # the global array is X: each local shard holds its rows
    assert a.shape[0] == N and not a.is_fully_addressable
    for shard in a.addressable_shards:
        np.testing.assert_array_equal(np.asarray(shard.data), full[shard.index])
params = jax.device_put(jnp.zeros(D), NamedSharding(mesh, P()))
res = gradopt.fit(loss, params, OPT, data, **KW)
same_as_reference(res, ref)
no_dataset_gather(params, data)
print("process", jax.process_index(), "ok")
"""


def test_fit_on_8_devices_equals_one_device_and_gathers_no_rows():
    out = run_devices(ONE_PROCESS)
    assert "auto ok" in out
    if hasattr(jax, "set_mesh"):
        assert "explicit ok" in out


@pytest.mark.skipif(not hasattr(jax.distributed, "initialize"), reason="no jax.distributed")
def test_fit_two_processes_with_process_local_data_equals_one_device():
    outs = run_processes(TWO_PROCESSES, n_processes=2, local_devices=4)
    # (gloo prints its connection messages to stdout too)
    assert [o.strip().splitlines()[-1] for o in outs] == ["process 0 ok", "process 1 ok"]
