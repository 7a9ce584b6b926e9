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

# 6. Implicit differentiation: jaxopt's ridge and lasso hyperparameter examples
# (diabetes, 2/3 train, 1/3 validation; the gradient of the validation loss with respect
# to the regularization strength), with jaxopt's custom_root / implicit_diff=True and with
# gradopt (minimize's implicit derivative; glm's), against the closed forms.
from sklearn.datasets import load_diabetes  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

Xd, yd = load_diabetes(return_X_y=True)
Xtr, Xval, ytr, yval = (jnp.asarray(a) for a in train_test_split(Xd, yd, test_size=0.33,
                                                                  random_state=0))
p_d = Xtr.shape[1]
val_loss = lambda w: 0.5 * jnp.mean((Xval @ w - yval) ** 2)


def ridge_objective(w, lam, X, y):
    return 0.5 * jnp.mean((X @ w - y) ** 2) + 0.5 * lam * w @ w


@jaxopt.implicit_diff.custom_root(jax.grad(ridge_objective))
def ridge_jaxopt(init, lam, X, y):
    n = X.shape[0]
    return jnp.linalg.solve(X.T @ X / n + lam * jnp.eye(X.shape[1]), X.T @ y / n)


lam = 0.01
H = Xtr.T @ Xtr / Xtr.shape[0] + lam * jnp.eye(p_d)
w_r = jnp.linalg.solve(H, Xtr.T @ ytr / Xtr.shape[0])
ref = jax.grad(val_loss)(w_r) @ -jnp.linalg.solve(H, w_r)  # dw/dlam = -H^-1 w
g_j = jax.grad(lambda l: val_loss(ridge_jaxopt(None, l, Xtr, ytr)))(lam)
g_g = jax.grad(lambda l: val_loss(gradopt.minimize(ridge_objective, jnp.zeros(p_d), optax.lbfgs(),
                                                   l, Xtr, ytr, tol=1e-12, max_steps=5000).params))(lam)
line("ridge dV/dlam: closed form", value=f"{float(ref):.10e}")
line("ridge dV/dlam: jaxopt custom_root", value=f"{float(g_j):.10e}", rel_err=fmt(abs(g_j - ref) / abs(ref)))
line("ridge dV/dlam: gradopt minimize", value=f"{float(g_g):.10e}", rel_err=fmt(abs(g_g - ref) / abs(ref)))

a_l = 0.05 * float(jnp.abs(Xtr.T @ ytr).max()) / Xtr.shape[0]
pg_l = jaxopt.ProximalGradient(fun=jaxopt.objective.least_squares, prox=jaxopt.prox.prox_lasso,
                               tol=1e-12, maxiter=100_000, implicit_diff=True)
lasso_j = lambda a: pg_l.run(jnp.zeros(p_d), hyperparams_prox=a, data=(Xtr, ytr)).params
glm_l = lambda a: gradopt.glm(Xtr, ytr, gradopt.datafits.quadratic(), prox.l1(a), tol=1e-14).coef
w_l = glm_l(a_l)  # the closed form at the certified solution (gap <= 1e-14 P(0))
S = np.flatnonzero(np.abs(np.asarray(w_l)) > 1e-8)
XS = np.asarray(Xtr)[:, S]
dw = np.zeros(p_d)
dw[S] = -Xtr.shape[0] * np.linalg.solve(XS.T @ XS, np.sign(np.asarray(w_l)[S]))
ref_l = float(jax.grad(val_loss)(w_l) @ dw)  # on the support: -n (X_S'X_S)^-1 sign(w_S)
g_jl = jax.grad(lambda a: val_loss(lasso_j(a)))(a_l)
L_d = float(jnp.linalg.norm(Xtr, 2) ** 2) / Xtr.shape[0]
opt_l = gradopt.proximal_gradient(1 / L_d, prox.l1(a_l), accelerate=True)
fista = lambda a: gradopt.minimize(f_ls, jnp.zeros(p_d), opt_l, Xtr, ytr, penalty=prox.l1(a),
                                   tol=1e-12, max_steps=100_000).params
g_gl = jax.grad(lambda a: val_loss(fista(a)))(a_l)
g_cd = jax.grad(lambda a: val_loss(glm_l(a)))(a_l)
line("lasso dV/dalpha: closed form (support)", value=f"{ref_l:.10e}", support=len(S))
for name, v, w in [("jaxopt ProximalGradient", g_jl, lasso_j(a_l)),
                   ("gradopt minimize+FISTA", g_gl, fista(a_l)), ("gradopt glm (CD)", g_cd, w_l)]:
    line(f"lasso dV/dalpha: {name}", value=f"{float(v):.10e}",
         rel_err=fmt(abs(v - ref_l) / abs(ref_l)), coef_diff=fmt(jnp.max(jnp.abs(w - w_l))))
