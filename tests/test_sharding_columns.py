"""The GLM engine and its presets on designs whose columns (features) are sharded (issue 12).

``X`` (n, p) with ``p >> n`` laid out as ``P(None, "model")``: each script runs in a
subprocess with 8 virtual CPU devices (``tests/_spmd.py``), or in two processes under
``jax.distributed``. The sharded solve must equal the same solve on NumPy data in the same
process (to 1e-10, float64, both solved to a tight gap), its result must be replicated
(readable on every process), and the compiled program must never all-gather the design:
its collectives are all-reduces of ``n``-vectors (``X w``), of the gathered working set
(``capacity x n``) and of scalars, all-gathers of each device's working-set candidates
(``capacity`` integers per device) and of the replicated result: no collective grows with
``p`` inside the solve's loops, none is as large as one device's block of ``X``.
"""

from __future__ import annotations

import pytest

from _spmd import CHILD_HELPERS, HAS_EXPLICIT, needs_explicit, run_devices, run_processes


# shared by the scripts: data, mesh, global arrays, comparisons, the HLO check
_COMMON = CHILD_HELPERS + """
import re, sys
import numpy as np
import gradopt
from gradopt import datafits, prox
from jax.sharding import NamedSharding, PartitionSpec as P

rng = np.random.default_rng(0)
n, p = 40, 2000
X = rng.standard_normal((n, p))
truth = np.zeros(p)
truth[[3, 500, 1200, 1999]] = [1.0, -2.0, 1.5, 1.0]
y = X @ truth + 0.1 * rng.standard_normal(n)
labels = (y > 0).astype(float)
TOL = 1e-14  # both solves to the rounding floor: their solutions then agree to ~1e-12

def put_columns(a, mesh):  # each process builds its own columns
    return put_as(a, mesh, P(None, "model"))

glm_mod = sys.modules["gradopt.problems.glm"]
from gradopt.problems import engine

def collectives(Xs, ys, datafit, fit_intercept):
    '''(kind, shapes) of every collective in the compiled engine solve, and its Columns.'''
    data, W0, _ = glm_mod._prepare(Xs, ys, datafit, None, multitask=False)
    columns = glm_mod._columns(data)
    assert columns is not None and data.XT.shape == (p, glm_mod.bucket(n)), (columns, data.XT.shape)
    assert data.XT.sharding.spec[0] == "model", data.XT.sharding  # XT's rows: X's columns
    pen = glm_mod._per_feature(prox.l1(0.1), p, data.XT.dtype)
    text = engine.solve.lower(datafit, pen, data, W0, 1e-6, 100, 1000,
                              fit_intercept=fit_intercept, columns=columns).compile().as_text()
    ops = re.findall(r"= (\\([^)]*\\)|\\S+) (all-gather|all-reduce|reduce-scatter|all-to-all|"
                     r"collective-permute)(?:-start)?\\(", text)
    return [(kind, [tuple(int(d) for d in dims.split(",") if d)
                    for dims in re.findall(r"\\[([0-9,]*)\\]", shape)]) for shape, kind in ops], columns

def check_hlo(Xs, ys, datafit=datafits.quadratic(), fit_intercept=False):
    ops, columns = collectives(Xs, ys, datafit, fit_intercept)
    n_pad, block = glm_mod.bucket(n), n * p // 8  # one device's share of X
    # X w: an all-reduce of the n-vector of partial products
    assert any(k == "all-reduce" and ((n_pad, 1) in shapes or (1, n_pad) in shapes)
               for k, shapes in ops), ops
    # the working set's columns: gathered by an all-reduce of (capacity, n), not of X
    assert any(k == "all-reduce" and (columns.capacity, n_pad) in shapes for k, shapes in ops), ops
    for k, shapes in ops:
        assert k in ("all-reduce", "all-gather"), (k, shapes)
        for s in shapes:
            assert int(np.prod(s)) < block, (k, s)  # nothing moves X, or a device's block of it
        # all-gathers: the devices' working-set candidates (capacity each) and the result
        assert k != "all-gather" or all(int(np.prod(s)) <= max(8 * columns.capacity, p)
                                        for s in shapes), (k, shapes)
    # no p-sized all-gather but the replicated result's (coef, and W inside the solution):
    # the working-set selection moves no p-vector
    big = [s for k, shapes in ops if k == "all-gather" for s in shapes if int(np.prod(s)) >= p]
    assert len(big) <= 2, big
    print("hlo ok", sorted(set((k, str(s)) for k, shapes in ops for s in shapes)))
"""

_SOLVES = """
def solves(Xs):
    r = gradopt.lasso(Xs, y, 0.05, fit_intercept=True, tol=TOL)
    ref = gradopt.glm(X, y, datafits.quadratic(), prox.l1(0.05), fit_intercept=True, tol=TOL)
    same("lasso", r.coef, ref.coef)
    same("lasso intercept", r.intercept, ref.intercept)
    replicated("lasso coef", r.coef)
    assert bool(r.converged) and np.count_nonzero(np.asarray(r.coef)) > 4
    r = gradopt.glm(Xs, labels, datafits.logistic(), prox.l1(0.01), fit_intercept=True, tol=TOL)
    ref = gradopt.glm(X, labels, datafits.logistic(), prox.l1(0.01), fit_intercept=True, tol=TOL)
    same("logistic l1", r.coef, ref.coef)
    same("logistic intercept", r.intercept, ref.intercept)
    replicated("logistic coef", r.coef)
    assert bool(r.converged)
"""


@needs_explicit
def test_explicit_mesh_8_devices():
    code = _COMMON + _SOLVES + """
mesh = make_mesh("explicit", "model")
Xs = put_columns(X, mesh)
with jax.set_mesh(mesh):
    solves(Xs)
    path = gradopt.lasso_path(Xs, y, n_alphas=3, eps=0.1, tol=TOL)
    ref = gradopt.glm_path(X, y, datafits.quadratic(), prox.l1, path.alphas, tol=TOL)
    same("lasso_path", path.coefs, ref.coefs)
    assert isinstance(path.coefs, np.ndarray)
    check_hlo(Xs, y)
"""
    out = run_devices(code)
    assert out.count(" ok ") == 6 and "hlo ok" in out, out  # 5 comparisons, the HLO


def test_auto_mesh_8_devices():
    # jax without jax.set_mesh: an auto mesh needs no context, only the arrays' sharding
    code = _COMMON + _SOLVES + """
mesh = make_mesh("auto", "model")
Xs = put_columns(X, mesh)
solves(Xs)
r = gradopt.sparse_logistic(Xs, labels, 0.01, tol=TOL)
same("sparse_logistic", r.coef, gradopt.sparse_logistic(X, labels, 0.01, tol=TOL).coef)
# an elastic net whose support (68) is beyond n: the gathered working set is clipped to its
# capacity (4 n) and still reaches the single-device solution (to 1e-8: two points within
# a gap of 1e-12 P(0) of the optimum, on an objective only 0.025-strongly convex; at 1e-14
# its gap stalls on rounding, ~1e-13)
r = gradopt.glm(Xs, y, datafits.quadratic(), prox.elastic_net(0.05, 0.5), tol=1e-12)
ref = gradopt.glm(X, y, datafits.quadratic(), prox.elastic_net(0.05, 0.5), tol=1e-12)
assert np.count_nonzero(np.asarray(ref.coef)) > n, np.count_nonzero(np.asarray(ref.coef))
assert bool(r.converged)
same("elastic net (support > n)", r.coef, ref.coef, tol=1e-8)
check_hlo(Xs, labels, datafits.logistic(), True)
try:
    gradopt.group_lasso(Xs, y, 0.1, [np.arange(0, 1000), np.arange(1000, p)])
except ValueError as e:
    assert "features" in str(e), e
    print("group_lasso refused ok", 0)
else:
    raise AssertionError("group_lasso on feature-sharded X did not say it is unsupported")
# single-device and NumPy data: no mesh (p >> n gathers working sets on the one device)
for Xd in (X, jax.device_put(X, jax.devices()[0])):
    data, _, _ = glm_mod._prepare(Xd, y, datafits.quadratic(), None, multitask=False)
    assert glm_mod._columns(data).mesh is None
"""
    out = run_devices(code)
    assert out.count(" ok ") == 8 and "hlo ok" in out, out  # 6 comparisons, 1 error, the HLO


@pytest.mark.slow  # a subprocess of about 40-60 s on 2 cores: the slow tier
def test_two_processes():
    # 2 processes x 4 devices: each process holds half of the features; every result is read
    # from its replicated copy in every process
    kind = "explicit" if HAS_EXPLICIT else "auto"
    code = _COMMON + _SOLVES + f"""
mesh = make_mesh("{kind}", "model")
Xs = put_columns(X, mesh)
assert not Xs.is_fully_addressable
ctx = jax.set_mesh(mesh) if hasattr(jax, "set_mesh") else jax.sharding.use_mesh(mesh)
with ctx:
    solves(Xs)
"""
    outs = run_processes(code)
    for out in outs:
        assert out.count(" ok ") == 4, out
