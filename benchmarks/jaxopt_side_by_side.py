"""jaxopt and gradopt on the same small problems: solutions, objectives, iterations.

Run with jaxopt installed (it is not a dependency of gradopt):

    python benchmarks/jaxopt_side_by_side.py

Prints one line per port; docs/migrating_from_jaxopt.md quotes the output.
float64 throughout, so differences reflect the methods, not rounding.
"""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import jaxopt  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

import gradopt  # noqa: E402
from gradopt import prox  # noqa: E402


def line(name, **kw):
    print(f"{name:38s} " + "  ".join(f"{k}={v}" for k, v in kw.items()))


def fmt(x):
    return f"{float(x):.3e}"


rng = np.random.default_rng(0)

# 1. Lasso, 200 x 50: jaxopt.ProximalGradient + prox_lasso vs gradopt
X = jnp.asarray(rng.normal(size=(200, 50)))
w_true = jnp.asarray(np.where(rng.uniform(size=50) < 0.2, rng.normal(size=50), 0.0))
y = X @ w_true + 0.1 * jnp.asarray(rng.normal(size=200))
alpha = 0.05
f_ls = lambda w, X, y: 0.5 * jnp.mean((X @ w - y) ** 2)
obj = lambda w: f_ls(w, X, y) + alpha * jnp.sum(jnp.abs(w))
pg = jaxopt.ProximalGradient(fun=jaxopt.objective.least_squares, prox=jaxopt.prox.prox_lasso,
                             tol=1e-10, maxiter=10_000, acceleration=True)
sol_j, st_j = pg.run(jnp.zeros(50), hyperparams_prox=alpha, data=(X, y))
L = jnp.linalg.norm(X, 2) ** 2 / X.shape[0]
g = prox.l1(alpha)
res = gradopt.minimize(f_ls, jnp.zeros(50), gradopt.proximal_gradient(1 / L, g, accelerate=True),
                       X, y, penalty=g, tol=1e-10, max_steps=10_000)
cd = gradopt.lasso(X, y, alpha, tol=1e-12)
line("lasso: jaxopt ProximalGradient", F=f"{float(obj(sol_j)):.12f}", iters=int(st_j.iter_num))
line("lasso: gradopt minimize+FISTA", F=f"{float(obj(res.params)):.12f}", iters=int(res.steps),
     max_coef_diff=fmt(jnp.max(jnp.abs(res.params - sol_j))))
line("lasso: gradopt.lasso (CD)", F=f"{float(obj(cd.coef)):.12f}", iters=int(cd.n_iter),
     max_coef_diff=fmt(jnp.max(jnp.abs(cd.coef - sol_j))), gap=fmt(cd.duality_gap))

# 2. Non-negative least squares, 100 x 30: ProjectedGradient vs gradopt
A = jnp.asarray(rng.normal(size=(100, 30)))
b = jnp.asarray(rng.normal(size=100))
f_nn = lambda w, A, b: 0.5 * jnp.sum((A @ w - b) ** 2)
pj = jaxopt.ProjectedGradient(fun=f_nn, projection=jaxopt.projection.projection_non_negative,
                              tol=1e-10, maxiter=20_000)
sol_pj, st_pj = pj.run(jnp.zeros(30), A=A, b=b)
Lnn = jnp.linalg.norm(A, 2) ** 2
nn = prox.nonnegative()
res_nn = gradopt.minimize(f_nn, jnp.zeros(30), gradopt.proximal_gradient(1 / Lnn, nn, accelerate=True),
                          A, b, penalty=nn, tol=1e-10, max_steps=20_000)
line("nnls: jaxopt ProjectedGradient", f=f"{float(f_nn(sol_pj, A, b)):.12f}", iters=int(st_pj.iter_num))
line("nnls: gradopt minimize+FISTA(nonneg)", f=f"{float(f_nn(res_nn.params, A, b)):.12f}",
     iters=int(res_nn.steps), max_diff=fmt(jnp.max(jnp.abs(res_nn.params - sol_pj))))

# 3. Logistic regression, L-BFGS: jaxopt.LBFGS vs optax.lbfgs inside gradopt.minimize
Xc = jnp.asarray(rng.normal(size=(300, 20)))
yc = (Xc @ jnp.asarray(rng.normal(size=20)) + jnp.asarray(rng.normal(size=300)) > 0).astype(float)
f_lr = lambda w, X, y: jnp.mean(optax.losses.sigmoid_binary_cross_entropy(X @ w, y)) + 0.5e-2 * jnp.sum(w**2)
lb = jaxopt.LBFGS(fun=f_lr, tol=1e-9, maxiter=500)
sol_lb, st_lb = lb.run(jnp.zeros(20), Xc, yc)
res_lb = gradopt.minimize(f_lr, jnp.zeros(20), optax.lbfgs(), Xc, yc, tol=1e-9, max_steps=500)
line("logreg: jaxopt LBFGS", f=f"{float(f_lr(sol_lb, Xc, yc)):.12f}", iters=int(st_lb.iter_num))
line("logreg: optax.lbfgs in gradopt.minimize", f=f"{float(res_lb.value):.12f}", iters=int(res_lb.steps),
     max_diff=fmt(jnp.max(jnp.abs(res_lb.params - sol_lb))))

# 4. Projections: the same random inputs through both libraries
v = jnp.asarray(rng.normal(size=12) * 2)
a, c = jnp.asarray(rng.normal(size=12)), 0.3
M = jnp.asarray(rng.normal(size=(3, 12)))
bM = M @ jnp.asarray(rng.normal(size=12))
P = jnp.asarray(rng.normal(size=(6, 6)))
JP = jaxopt.projection
pairs = {
    "hyperplane": (JP.projection_hyperplane(v, (a, c)), prox.hyperplane(a, c).prox(v)),
    "halfspace": (JP.projection_halfspace(v, (a, c)), prox.halfspace(a, c).prox(v)),
    "affine_set": (JP.projection_affine_set(v, (M, bM)), prox.affine_set(M, bM).prox(v)),
    "box_section": (
        JP.projection_box_section(v, (jnp.zeros(12), jnp.full(12, 0.5), jnp.abs(a) + 0.1, 1.0)),
        prox.box_section(0.0, 0.5, jnp.abs(a) + 0.1, 1.0).prox(v),
    ),
    "l1_sphere (outside)": (JP.projection_l1_sphere(v, 1.0), prox.l1_sphere(1.0).prox(v)),
    "l2_sphere": (JP.projection_l2_sphere(v, 1.5), prox.l2_sphere(1.5).prox(v)),
    "sparse_simplex k=3": (JP.projection_sparse_simplex(v, 3), prox.sparse_simplex(3).prox(v)),
    "birkhoff 6x6": (JP.projection_birkhoff(P), prox.birkhoff().prox(P)),
}
for name, (pj_, pg_) in pairs.items():
    line(f"projection {name}", max_abs_diff=fmt(jnp.max(jnp.abs(pj_ - pg_))))
Xb, Xj = prox.birkhoff().prox(P), JP.projection_birkhoff(P)
for name, Q in (("jaxopt", Xj), ("gradopt", Xb)):
    line(f"birkhoff 6x6 {name}", dist=f"{float(jnp.linalg.norm(Q - P)):.10f}",
         col_viol=fmt(jnp.max(jnp.abs(Q.sum(0) - 1))), row_viol=fmt(jnp.max(jnp.abs(Q.sum(1) - 1))),
         min=fmt(Q.min()))
wb = jnp.abs(a) + 0.1
for name, Q in pairs["box_section"] and (("jaxopt", pairs["box_section"][0]), ("gradopt", pairs["box_section"][1])):
    line(f"box_section {name}", dist=f"{float(jnp.linalg.norm(Q - v)):.12f}",
         constraint_viol=fmt(jnp.abs(wb @ Q - 1.0)))
