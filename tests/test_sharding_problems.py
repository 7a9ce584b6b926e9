"""The GLM engine and the lasso family on row-sharded global arrays (issue 12).

Each test runs one script in a subprocess with 8 virtual CPU devices
(``tests/_spmd.py``), or in two processes under ``jax.distributed``: the
sharded solve must equal the same solve on unsharded NumPy data computed in
the same process (to 1e-10 in float64), its coefficients must be replicated,
and the compiled program must all-reduce a ``p``-vector and never all-gather
the design.
"""

from __future__ import annotations

import pytest

from _spmd import CHILD_HELPERS, HAS_EXPLICIT, needs_explicit, run_devices, run_processes


# shared by the scripts: data, mesh, global arrays, comparisons, the HLO check
_COMMON = CHILD_HELPERS + """
import re, sys
import numpy as np
import jax.numpy as jnp
import gradopt
from gradopt import datafits, prox
from jax.sharding import NamedSharding, PartitionSpec as P

rng = np.random.default_rng(0)
n, p = 64, 40
X = rng.standard_normal((n, p))
y = X[:, :5] @ np.array([1.0, -2.0, 1.5, 0.5, -1.0]) + 0.1 * rng.standard_normal(n)
labels = (y > 0).astype(float)
Y = np.stack([y, X[:, 6] - y], axis=1)

def put(a, mesh):  # each process builds its own rows
    return put_as(a, mesh, P("data", *([None] * (a.ndim - 1))))

lasso_mod = sys.modules["gradopt.problems.lasso"]
glm_mod = sys.modules["gradopt.problems.glm"]
from gradopt.problems import engine

def collectives(Xs, ys):
    '''(kind, result shape) of every collective in the compiled engine solve.'''
    data, W0, _ = glm_mod._prepare(Xs, ys, datafits.quadratic(), None, multitask=False)
    pen = glm_mod._per_feature(prox.l1(0.1), data.XT.shape[0], data.XT.dtype)
    text = engine.solve.lower(datafits.quadratic(), pen, data, W0, 1e-6, 100, 1000,
                              fit_intercept=False).compile().as_text()
    ops = re.findall(r"= (\\([^)]*\\)|\\S+) (all-gather|all-reduce|reduce-scatter|all-to-all|"
                     r"collective-permute)(?:-start)?\\(", text)
    return [(kind, [tuple(int(d) for d in dims.split(",") if d)
                    for dims in re.findall(r"\\[([0-9,]*)\\]", shape)]) for shape, kind in ops]

def check_hlo(Xs, ys):
    ops = collectives(Xs, ys)
    p_pad = glm_mod.bucket(p)
    # the correlation X^T u: an all-reduce of the padded p-vector
    assert any(k == "all-reduce" and (p_pad, 1) in shapes for k, shapes in ops), ops
    for k, shapes in ops:  # nothing that moves X: no collective as large as the design
        for s in shapes:
            assert int(np.prod(s)) < n * p, (k, s)
        assert k != "all-gather" or all(int(np.prod(s)) <= p_pad for s in shapes), (k, shapes)
    print("hlo ok", sorted(set((k, str(s)) for k, shapes in ops for s in shapes)))
"""

_PROBLEMS = """
def run(kind):
    mesh = make_mesh(kind)
    Xs, ys, ls, Ys = put(X, mesh), put(y, mesh), put(labels, mesh), put(Y, mesh)
    with jax.set_mesh(mesh):
        r = gradopt.glm(Xs, ys, datafits.quadratic(), prox.l1(0.1))
        same(kind + " glm quadratic l1", r.coef, gradopt.glm(X, y, datafits.quadratic(),
                                                                 prox.l1(0.1)).coef)
        replicated("coef", r.coef)
        same(kind + " glm objective", r.objective,
             gradopt.glm(X, y, datafits.quadratic(), prox.l1(0.1)).objective)
        r = gradopt.glm(Xs, ls, datafits.logistic(), prox.l1(0.01), fit_intercept=True)
        ref = gradopt.glm(X, labels, datafits.logistic(), prox.l1(0.01), fit_intercept=True)
        same(kind + " glm logistic l1", r.coef, ref.coef)
        same(kind + " glm logistic intercept", r.intercept, ref.intercept)
        assert bool(r.converged)
        r = gradopt.multitask_lasso(Xs, Ys, 0.1)
        same(kind + " multitask_lasso", r.coef, gradopt.multitask_lasso(X, Y, 0.1).coef)
        replicated("multitask coef", r.coef)
        # lasso: the engine on sharded X (the same program as glm's)
        r = gradopt.lasso(Xs, ys, 0.1, fit_intercept=True)
        ref = gradopt.glm(X, y, datafits.quadratic(), prox.l1(0.1), fit_intercept=True)
        same(kind + " lasso (engine)", r.coef, ref.coef)
        path = gradopt.lasso_path(Xs, ys, n_alphas=3, eps=0.1)
        ref = lasso_mod._engine_path(jnp.asarray(X), jnp.asarray(y), None, 3, 0.1, 1.0,
                                     fit_intercept=False, tol=1e-6, max_iter=10_000, max_outer=50)
        same(kind + " lasso_path", path.coefs, ref.coefs)
        same(kind + " lasso_path alphas", path.alphas, ref.alphas)
        assert isinstance(path.coefs, np.ndarray)
        check_hlo(Xs, ys)
"""


@needs_explicit
def test_explicit_mesh_8_devices():
    out = run_devices(_COMMON + _PROBLEMS + "\nrun('explicit')\n")
    assert out.count(" ok ") == 9 and "hlo ok" in out, out


def test_auto_mesh_8_devices():
    # jax without jax.set_mesh: an auto mesh needs no context, only the arrays' sharding
    code = _COMMON + """
mesh = make_mesh("auto")
Xs, ys, ls = put(X, mesh), put(y, mesh), put(labels, mesh)
r = gradopt.glm(Xs, ys, datafits.quadratic(), prox.l1(0.1))
same("auto glm quadratic l1", r.coef, gradopt.glm(X, y, datafits.quadratic(), prox.l1(0.1)).coef)
replicated("coef", r.coef)
r = gradopt.sparse_logistic(Xs, ls, 0.01)
same("auto sparse_logistic", r.coef, gradopt.sparse_logistic(X, labels, 0.01).coef)
groups = [np.arange(0, 10), np.arange(10, p)]
r = gradopt.group_lasso(Xs, ys, 0.1, groups)
assert r.coef.shape == (p,) and bool(r.converged)
same("auto group_lasso (host solver)", r.coef, gradopt.group_lasso(X, y, 0.1, groups).coef,
     tol=1e-3)
check_hlo(Xs, ys)
"""
    out = run_devices(code)
    assert out.count(" ok ") == 4 and "hlo ok" in out, out


@pytest.mark.slow  # a subprocess of about 40-60 s on 2 cores: the slow tier
def test_two_processes():
    # 2 processes x 4 devices: X spans devices this process cannot read, so every host
    # check runs on the devices and every result is read from its replicated copy
    kind = "explicit" if HAS_EXPLICIT else "auto"
    code = _COMMON + f"""
mesh = make_mesh("{kind}")
Xs, ys, ls = put(X, mesh), put(y, mesh), put(labels, mesh)
assert not Xs.is_fully_addressable
ctx = jax.set_mesh(mesh) if hasattr(jax, "set_mesh") else jax.sharding.use_mesh(mesh)
with ctx:
    r = gradopt.glm(Xs, ys, datafits.quadratic(), prox.l1(0.1), fit_intercept=True)
    ref = gradopt.glm(X, y, datafits.quadratic(), prox.l1(0.1), fit_intercept=True)
    same("glm", r.coef, ref.coef)
    same("glm intercept", r.intercept, ref.intercept)
    replicated("coef", r.coef)
    r = gradopt.lasso(Xs, ys, 0.1)
    same("lasso", r.coef, gradopt.glm(X, y, datafits.quadratic(), prox.l1(0.1)).coef)
    path = gradopt.lasso_path(Xs, ys, alphas=[0.3, 0.1])
    ref = lasso_mod._engine_path(jnp.asarray(X), jnp.asarray(y), np.array([0.3, 0.1]), 100, 1e-3,
                                 1.0, fit_intercept=False, tol=1e-6, max_iter=10_000, max_outer=50)
    same("lasso_path", path.coefs, ref.coefs)
    try:
        bad = put(np.where(np.arange(n)[:, None] == n - 1, np.nan, X), mesh)
        gradopt.glm(bad, ys, datafits.quadratic(), prox.l1(0.1))
    except ValueError as e:
        assert "NaN" in str(e), e
        print("nan check ok", 0)
    else:
        raise AssertionError("NaN in another process's rows was not detected")
"""
    outs = run_processes(code)
    for out in outs:
        assert out.count(" ok ") == 5, out
