"""gradopt's lasso as a solver of benchopt's ``benchmark_lasso``.

Copy this file into the ``solvers/`` folder of a checkout of
https://github.com/benchopt/benchmark_lasso and run, in an environment where
gradopt is installed (``pip install -e <gradopt checkout>``)::

    benchopt run . -s gradopt -s skglm -s celer -s sklearn -d simulated

benchmark_lasso's objective is ``1/2 ||y - X beta||^2 + lmbd ||beta||_1``;
gradopt's (scikit-learn's) is ``1/(2n) ||y - X w||^2 + alpha ||w||_1``, so
``alpha = lmbd / n``. benchopt samples gradopt by iterations, as it does
skglm and celer: each run solves from scratch with at most ``n_iter``
working-set iterations (``max_outer``) and ``tol=1e-14``, and benchopt times
the whole call. (Sampling by tolerance stops too early: a looser ``tol`` often
returns the same working-set iterate as the one before, and benchopt takes
three unchanged objectives for convergence.) JAX compiles one program per size
bucket on a first call; ``set_objective`` makes that call (as the skglm solver
does to cache its Numba compilation), so compilation is not timed.
"""

from benchopt import BaseSolver, safe_import_context

with safe_import_context() as import_ctx:
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", True)  # the objective is evaluated in float64
    import gradopt


class Solver(BaseSolver):
    """gradopt: working-set coordinate descent with Anderson extrapolation and
    active-set Newton steps, compiled by XLA (https://github.com/gradopt)."""

    name = "gradopt"
    sampling_strategy = "iteration"
    requirements = ["pip::gradopt"]
    references = ["gradopt, a JAX library for first-order optimization"]

    def set_objective(self, X, y, lmbd, fit_intercept):
        self.X, self.y = np.asarray(X, np.float64), np.asarray(y, np.float64)
        self.alpha = lmbd / X.shape[0]
        self.fit_intercept = fit_intercept
        self.run(1)  # compile for this shape, outside the timed runs

    def run(self, n_iter):
        if n_iter == 0:
            self.coef = np.zeros(self.X.shape[1] + self.fit_intercept)
            return
        res = gradopt.lasso(self.X, self.y, self.alpha, fit_intercept=self.fit_intercept,
                            tol=1e-14, max_iter=1_000_000, max_outer=n_iter)
        coef = np.asarray(res.coef, np.float64)
        self.coef = np.r_[coef, float(res.intercept)] if self.fit_intercept else coef

    def get_result(self):
        return dict(beta=self.coef)
