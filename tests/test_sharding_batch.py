"""``gradopt.lasso_batch`` on sharded global arrays (issue 12).

Two layouts, each in one subprocess with 8 virtual CPU devices (``tests/_spmd.py``):

* the batch axis sharded (``X (B, n, p)``, ``y (B, n)`` or ``alpha (B,)`` as
  ``P("batch")``): each device solves its own problems, so the compiled
  program has no collective at all, and the result keeps the batch sharding;
* a shared 2-D ``X`` whose rows are sharded: the GLM engine's SPMD solve vmapped
  over the batch, whose compiled program all-reduces ``(p, B)`` correlations and
  has no collective as large as ``X``; the result is replicated.

The references are computed in the same process on unsharded NumPy data by an
independent call: ``lasso_batch`` on NumPy (the same vmapped solver on one
device) for the first layout, one ``gradopt.glm`` per problem (the same engine,
one device, no vmap) for the second; they must agree to 1e-10 (float64). Both
layouts also solve with ``positive=True`` (its own program), where the truth's
negative coefficient is held at 0.
"""

from __future__ import annotations

import jax
import pytest

from _spmd import CHILD_HELPERS, HAS_EXPLICIT, run_devices


if not (hasattr(jax, "shard_map") and hasattr(jax.sharding, "AxisType")):
    pytest.skip(f"jax {jax.__version__} lacks jax.shard_map / jax.sharding.AxisType, which the "
                f"sharded lasso_batch uses", allow_module_level=True)

_COMMON = CHILD_HELPERS + """
import re, sys
import numpy as np
import gradopt
from gradopt import datafits, prox
from jax.sharding import NamedSharding, PartitionSpec as P

lasso_mod = sys.modules["gradopt.problems.lasso"]
glm_mod = sys.modules["gradopt.problems.glm"]
HAS_EXPLICIT = hasattr(jax, "set_mesh")
rng = np.random.default_rng(0)
B, n, p = 8, 96, 24
Xb = rng.standard_normal((B, n, p))
truth = np.r_[1.0, -2.0, 1.5, 0.5, np.zeros(p - 4)]
Yb = np.einsum("bnp,p->bn", Xb, truth) + 0.1 * rng.standard_normal((B, n))
alphas = np.linspace(0.02, 0.2, B)
KW = dict(tol=1e-10)

def mesh_of(kind, shape=(8,), names=("batch",)):
    T = jax.sharding.AxisType
    return jax.make_mesh(shape, names, axis_types=(T.Explicit if kind == "explicit" else T.Auto,)
                         * len(shape))

def collectives(X, y, alpha, **kw):
    '''(kind, [element count of each result buffer]) of every collective in the compiled
    program that lasso_batch runs for these arguments.'''
    call = lasso_mod._batch_call(X, y, alpha, **dict(dict(
        l1_ratio=1.0, fit_intercept=False, tol=1e-10, max_iter=10_000, ws_size=None,
        max_outer=50), **kw))
    text = call.fn.lower(*call.args, **call.static).compile().as_text()
    ops = re.findall(r"= (\\([^)]*\\)|\\S+) (all-gather|all-reduce|reduce-scatter|all-to-all|"
                     r"collective-permute)(?:-start)?\\(", text)
    assert len(ops) == len(re.findall(r" (?:all-gather|all-reduce|reduce-scatter|all-to-all|"
                                      r"collective-permute)(?:-start)?\\(", text)), "parser"
    return call.kind, [(kind, [int(np.prod([int(d) for d in dims.split(",") if d]))
                               for dims in re.findall(r"\\[([0-9,]*)\\]", shape)])
                       for shape, kind in ops]
"""

_BATCH_AXIS = """
# 16 problems, 2 per device. Each device runs the vmapped solver on its own 2 problems, so
# the single-device reference is the same solver on those 2 problems (the same program;
# a batch of 16 on one device rounds differently, and can land elsewhere within the tolerance)
B2 = 16
Xb2 = np.concatenate([Xb, Xb[:, ::-1]]); Yb2 = np.concatenate([Yb, Yb[::-1]])
alphas2 = np.linspace(0.02, 0.2, B2)

def blockwise(X, y, a, **kw):
    # lasso_batch on one device, the batch cut in the 8 devices' blocks of 2 problems
    parts = []
    for d in range(8):
        cut = lambda v, batched: v[2 * d:2 * d + 2] if batched else v
        parts.append(gradopt.lasso_batch(cut(X, X.ndim == 3), cut(y, y.ndim == 2),
                                         cut(a, np.ndim(a) == 1), **kw))
    return type(parts[0])(*[None if f[0] is None else np.concatenate([np.asarray(v) for v in f])
                            for f in zip(*parts)])

def check(kind):
    mesh = mesh_of(kind)
    batch = lambda a: put_as(a, mesh, P("batch", *[None] * (a.ndim - 1)))
    # 1. a stack of problems, X sharded by problem; y and alpha given as NumPy
    Xs = batch(Xb2)
    res = gradopt.lasso_batch(Xs, Yb2, alphas2, fit_intercept=True, **KW)
    ref = blockwise(Xb2, Yb2, alphas2, fit_intercept=True, **KW)
    for field in ("coef", "intercept", "objective", "duality_gap"):
        same(kind + " stack " + field, getattr(res, field), getattr(ref, field))
    assert np.array_equal(np.asarray(res.converged), np.asarray(ref.converged))
    assert bool(np.all(np.asarray(res.converged)))
    for field in ("coef", "intercept", "objective", "duality_gap", "n_iter", "converged"):
        s = getattr(res, field).sharding  # the batch sharding, kept: 2 problems per device
        assert isinstance(s, NamedSharding) and tuple(s.spec)[:1] == ("batch",), (field, s)
        assert s.shard_shape(getattr(res, field).shape)[0] == 2, (field, s)
    # each device solves its own problems: no communication at all
    plan, ops = collectives(Xs, Yb2, alphas2, fit_intercept=True)
    assert plan == "batch" and ops == [], (plan, ops)
    # 2. one X (NumPy, replicated), many targets sharded
    res = gradopt.lasso_batch(Xb[0], batch(Yb2), 0.05, **KW)
    same(kind + " targets", res.coef, blockwise(Xb[0], Yb2, 0.05, **KW).coef)
    assert tuple(res.coef.sharding.spec)[:1] == ("batch",)
    # 3. one problem, many alphas sharded (elastic net)
    res = gradopt.lasso_batch(Xb[1], Yb[1], batch(alphas2), l1_ratio=0.5, **KW)
    same(kind + " alphas", res.coef, blockwise(Xb[1], Yb[1], alphas2, l1_ratio=0.5, **KW).coef)
    # 4. positive=True (a static flag: its own program) on the stack sharded by problem
    res = gradopt.lasso_batch(Xs, Yb2, alphas2, positive=True, **KW)
    ref = blockwise(Xb2, Yb2, alphas2, positive=True, **KW)
    same(kind + " positive", res.coef, ref.coef)
    assert float(np.min(np.asarray(res.coef))) >= 0.0 and bool(np.all(np.asarray(res.converged)))
    print(kind, "done")

check("auto")
if HAS_EXPLICIT:
    with jax.set_mesh(mesh_of("explicit")):
        check("explicit")

# layouts that are refused with a clear error
mesh2 = mesh_of("auto", (4, 2), ("batch", "rows"))
try:
    gradopt.lasso_batch(put_as(Xb, mesh2, P("batch", "rows", None)), Yb, alphas)
except ValueError as e:
    assert "along its leading axis only" in str(e), e
    print("two-axes error ok", 0)
other = mesh_of("auto", (8,), ("other",))
try:
    gradopt.lasso_batch(put_as(Xb, mesh_of("auto"), P("batch")), put_as(Yb, other, P("other")), 0.1)
except ValueError as e:
    assert "sharded differently" in str(e), e
    print("mismatch error ok", 0)
"""

_ROWS = """
def check(kind):
    mesh = mesh_of(kind, names=("data",))
    X = Xb[0]
    Xs = put_as(X, mesh, P("data", None))
    p_pad = glm_mod.bucket(p)
    # many targets and many alphas, one X whose rows are sharded
    res = gradopt.lasso_batch(Xs, Yb, alphas, fit_intercept=True, **KW)
    assert res.coef.shape == (B, p)
    for b in range(B):  # the same engine on one device, one problem at a time (which
        # takes the Gram form here, n >> p: the same solution to the solve's tolerance)
        ref = gradopt.glm(X, Yb[b], datafits.quadratic(), prox.l1(alphas[b]),
                          fit_intercept=True, **KW)
        same(f"{kind} problem {b} coef", res.coef[b], ref.coef, tol=1e-8)
        same(f"{kind} problem {b} intercept", res.intercept[b], ref.intercept, tol=1e-8)
        same(f"{kind} problem {b} objective", res.objective[b], ref.objective)
    assert bool(np.all(np.asarray(res.converged)))
    for field in res:
        assert field.sharding.is_fully_replicated, field.sharding
    plan, ops = collectives(Xs, Yb, alphas, fit_intercept=True)
    assert plan == "rows", plan
    # X^T U for the whole batch: an all-reduce of p_pad x B correlations (x 2 with the
    # intercept: the certificate's X^T u and X^T of the centred dual point in one product)
    assert any(k == "all-reduce" and 2 * p_pad * B in sizes for k, sizes in ops), ops
    for k, sizes in ops:  # nothing that moves X: no collective as large as the design
        assert all(s < n * p for s in sizes), (k, sizes)
        assert k != "all-gather" or all(s <= 2 * p_pad * B for s in sizes), (k, sizes)
    print(kind, "hlo ok", sorted(set((k, s) for k, sizes in ops for s in sizes)))
    # one y, many alphas (elastic net); the default tolerance
    res = gradopt.lasso_batch(Xs, Yb[2], alphas, l1_ratio=0.5)
    for b in (0, B - 1):  # different forms (Gram / residual) at tol 1e-6: objectives agree
        ref = gradopt.glm(X, Yb[2], datafits.quadratic(), prox.elastic_net(alphas[b], 0.5))
        same(f"{kind} enet alpha {b}", res.objective[b], ref.objective,
             tol=2e-6 * float(ref.objective))
        same(f"{kind} enet alpha {b} coef", res.coef[b], ref.coef, tol=1e-2)
    # positive=True: the truth has a negative coefficient, which the constraint holds at 0
    res = gradopt.lasso_batch(Xs, Yb, alphas, positive=True, **KW)
    assert float(np.min(np.asarray(res.coef))) >= 0.0 and bool(np.all(np.asarray(res.converged)))
    for b in (0, B - 1):
        ref = gradopt.glm(X, Yb[b], datafits.quadratic(), prox.l1(alphas[b], positive=True), **KW)
        assert float(np.asarray(ref.coef)[1]) == 0.0  # the constraint is active
        same(f"{kind} positive problem {b} objective", res.objective[b], ref.objective)
        same(f"{kind} positive problem {b} coef", res.coef[b], ref.coef, tol=1e-8)

check("auto")
if HAS_EXPLICIT:
    with jax.set_mesh(mesh_of("explicit", names=("data",))):
        check("explicit")
"""


@pytest.mark.slow  # a subprocess of about 40-60 s on 2 cores: the slow tier
def test_batch_axis_sharded_each_device_solves_its_own_problems():
    out = run_devices(_COMMON + _BATCH_AXIS)
    kinds = 2 if HAS_EXPLICIT else 1
    assert out.count(" ok ") == kinds * 7 + 2 and out.count(" done") == kinds, out


@pytest.mark.slow  # a subprocess of about 40-60 s on 2 cores: the slow tier
def test_shared_x_rows_sharded_runs_the_engine_without_gathering_x():
    out = run_devices(_COMMON + _ROWS)
    kinds = 2 if HAS_EXPLICIT else 1
    assert out.count(" ok ") == kinds * (3 * 8 + 5 + 4) and out.count("hlo ok") == kinds, out
