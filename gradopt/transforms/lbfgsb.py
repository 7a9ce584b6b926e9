r"""L-BFGS-B: limited-memory BFGS for bound-constrained problems.

Byrd, Lu, Nocedal & Zhu (1995), *A limited memory algorithm for bound
constrained optimization*, SIAM J. Sci. Comput. 16(5); with the subspace step
of Morales & Nocedal (2011), *Remark on "Algorithm 778: L-BFGS-B"*, ACM TOMS
38(1). The parameters (any pytree) are flattened into one vector with
``jax.flatten_util.ravel_pytree``; the bounds are broadcast to the parameters
and flattened the same way. All the linear algebra below is on that vector.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from gradopt._validation import check_int, check_scalar, is_traced
from gradopt.transforms._utils import (
    check_updates_match,
    follow_params,
    replicated,
    sharded_like,
)
from gradopt.transforms.proximal import ROUNDOFF, tree_diff

#: Largest step of the line search when no bound limits it (SciPy's ``big``).
MAX_STEP = 1e10


class LbfgsbState(NamedTuple):
    """State of :func:`lbfgsb`.

    Attributes:
      count: number of updates taken.
      s, y: ``(memory_size, n)`` position and gradient differences of the
        stored pairs, oldest first; the last ``pairs`` rows are in use, the
        others are zero (``n`` = total number of parameters).
      ss, sy: ``(memory_size, memory_size)`` inner products ``s_i . s_j`` and
        ``s_i . y_j`` of the stored pairs (kept up to date, O(m n) a step).
      pairs: number of stored pairs.
      theta: the scaling ``y.y / s.y`` of the newest pair (1 when empty).
      value: ``f`` at the point the last update moved to (``inf`` before the
        first update): the optax convention read by
        ``optax.value_and_grad_from_state``, so a loop need not recompute it.
      grad: ``grad f`` at that point (a pytree like the parameters).
      linesearch_steps: function evaluations of the last line search.
    """

    count: chex.Array
    s: chex.Array
    y: chex.Array
    ss: chex.Array
    sy: chex.Array
    pairs: chex.Array
    theta: chex.Array
    value: chex.Array
    grad: Any
    linesearch_steps: chex.Array


# --------------------------------------------------------------------------- validation


def _check_bounds(lower, upper):
    """NaN-free numbers; ``lower <= upper`` wherever both are concrete."""
    from gradopt.prox.sets import _check_bound  # the box penalty's own check

    _check_bound("lower", lower)
    _check_bound("upper", upper)
    try:  # matching leaves when one structure is a prefix of the other (a scalar, say)
        pairs = zip(jax.tree_util.tree_leaves(jax.tree.broadcast(lower, upper)),
                    jax.tree_util.tree_leaves(upper))
    except (ValueError, TypeError):
        try:
            pairs = zip(jax.tree_util.tree_leaves(lower),
                        jax.tree_util.tree_leaves(jax.tree.broadcast(upper, lower)))
        except (ValueError, TypeError):
            return  # checked against the parameters' structure at init
    for lo, hi in pairs:
        if is_traced(lo) or is_traced(hi):
            continue
        try:
            lo, hi = np.broadcast_arrays(np.asarray(lo, float), np.asarray(hi, float))
        except ValueError:
            raise ValueError(
                "lower and upper must broadcast together, got shapes "
                f"{np.shape(lo)} and {np.shape(hi)}."
            ) from None
        if np.any(lo > hi):
            i = np.flatnonzero(lo > hi)[0]
            raise ValueError(
                f"lower must be <= upper everywhere, got lower = {lo.flat[i]} > "
                f"upper = {hi.flat[i]}."
            )
        if np.any(lo == np.inf) or np.any(hi == -np.inf):
            raise ValueError("lower must be < +inf and upper > -inf (else the box is empty).")


def _flat_bound(name, bound, params, dtype):
    """``bound`` broadcast to every coordinate of ``params``, flattened like them."""
    # imported here: gradopt.prox imports gradopt.transforms (a cycle at import time)
    from gradopt.prox.base import broadcast_to_params, check_broadcastable

    full = broadcast_to_params(name, bound, params)
    flat_params, treedef = jax.tree_util.tree_flatten_with_path(params)
    out = []
    for (path, x), b in zip(flat_params, treedef.flatten_up_to(full)):
        check_broadcastable(name, b, x, jax.tree_util.keystr(path) or "<root>")
        out.append(jnp.broadcast_to(jnp.asarray(b, dtype), jnp.shape(x)).ravel())
    return jnp.concatenate(out) if out else jnp.zeros([0], dtype)


# --------------------------------------------------------------------------- the compact matrix


def _middle(ss, sy, theta, valid):
    r"""``M`` of ``B = theta I - W M W^T`` (Byrd, Nocedal & Schnabel 1994, eq. 3.5).

    ``M = [[-D, L^T], [L, theta S^T S]]^{-1}`` with ``D = diag(s_i.y_i)`` and
    ``L_ij = s_i.y_j`` for ``i > j``; unused slots get an identity block (their
    columns of ``W`` are zero, so they add nothing).
    """
    v = valid.astype(ss.dtype)
    vv = v[:, None] * v[None, :]
    low = jnp.tril(sy, -1) * vv
    top = jnp.concatenate([-jnp.diag(jnp.diag(sy) * v), low.T], axis=1)
    bottom = jnp.concatenate([low, theta * ss * vv], axis=1)
    k = jnp.concatenate([top, bottom], axis=0) + jnp.diag(jnp.concatenate([1 - v, 1 - v]))
    return jnp.linalg.inv(k)


# --------------------------------------------------------------------------- Cauchy point


def _cauchy_point(x, g, lo, hi, w, m, theta):
    r"""First local minimizer of the model along the projected path ``P(x - t g)``.

    BLNZ 1995, section 4 (algorithm CP). With the breakpoints ``t_i`` sorted,
    segment ``j`` of the path starts at ``t_(j)`` with the variables
    ``b_1..b_j`` at their bounds; there the model is ``f'_j dt + f''_j dt^2 / 2``
    with (``d_j`` the moving part of ``-g``, ``p_j = W^T d_j``,
    ``c_j = W^T (x(t_(j)) - x)``, ``dd_j = d_j.d_j``)::

        f'_j  = -dd_j + theta t_(j) dd_j - p_j^T M c_j
        f''_j = theta dd_j - p_j^T M p_j           (kept >= eps f''_0)

    ``p_j``, ``c_j`` and ``dd_j`` are running sums over the sorted breakpoints
    (BLNZ's O(m^2) updates), so all segments are evaluated at once and the
    first one whose minimizer ``-f'_j / f''_j`` lies before its end is chosen:
    no sequential loop. Returns the point, ``c = W^T (x_cp - x)`` and the
    variables at a bound there (active).
    """
    dt = x.dtype
    n = x.shape[0]
    safe = lambda a: jnp.where(a == 0, 1.0, a)
    t = jnp.where(g < 0, (x - hi) / safe(g), jnp.where(g > 0, (x - lo) / safe(g), jnp.inf))
    at_bound = (x <= lo) | (x >= hi)
    active0 = (t <= 0) | (lo >= hi) | ((g == 0) & at_bound)
    d0 = jnp.where(t > 0, -g, 0.0).astype(dt)
    order = jnp.argsort(t)
    ts = t[order]
    brk = (ts > 0) & (ts < jnp.inf)
    gb = jnp.where(brk, g[order], 0.0)
    p0 = w.T @ d0
    steps = jnp.cumsum(gb[:, None] * w[order], axis=0)
    p = jnp.concatenate([p0[None], p0[None] + steps])  # p_j, j = 0..n
    finite = jnp.sum(ts < jnp.inf)
    t_start = jnp.concatenate([jnp.zeros([1], dt), jnp.where(ts < jnp.inf, ts, 0.0)])
    t_end = jnp.concatenate([jnp.where(ts < jnp.inf, ts, jnp.inf), jnp.full([1], jnp.inf, dt)])
    seg = jnp.arange(n + 1)
    t_end = jnp.where(seg >= finite, jnp.inf, t_end)
    gaps = jnp.diff(t_start, prepend=jnp.zeros([1], dt))  # t_(j) - t_(j-1)
    c = jnp.cumsum(gaps[:, None] * jnp.concatenate([p0[None], p[:-1]]), axis=0)
    dd = d0 @ d0 - jnp.concatenate([jnp.zeros([1], dt), jnp.cumsum(gb * gb)])
    pm = p @ m
    f1 = -dd + theta * t_start * dd - jnp.sum(pm * c, axis=1)
    f2 = theta * dd - jnp.sum(pm * p, axis=1)
    f2 = jnp.where(seg == 0, f2, jnp.maximum(f2, jnp.finfo(dt).eps * f2[0]))
    dtm = jnp.where(f2 > 0, -f1 / jnp.where(f2 > 0, f2, 1.0), jnp.where(f1 < 0, jnp.inf, 0.0))
    stop = (seg <= finite) & (dtm < t_end - t_start)
    j = jnp.where(jnp.any(stop), jnp.argmax(stop), finite)
    step = jnp.where(jnp.any(stop) & (dd[j] > 0), jnp.maximum(dtm[j], 0.0), 0.0)
    t_cp = t_start[j] + step
    xcp = jnp.where(active0, x, jnp.clip(x - t_cp * g, lo, hi))
    active = active0 | ((t > 0) & (t <= t_start[j]) & (g != 0))
    return xcp, w.T @ (xcp - x), active


# --------------------------------------------------------------------------- subspace minimization


def _subspace_step(x, g, lo, hi, xcp, c, active, w, m, theta):
    r"""Minimize the model over the free variables from ``x_cp`` (BLNZ 1995, sec. 5.1).

    Direct primal method: with ``Z`` the free coordinates,
    ``r = Z^T (g + theta (x_cp - x) - W M c)`` and, by Sherman-Morrison-Woodbury,
    ``d_u = -r / theta - Z^T W (I - M W^T Z Z^T W / theta)^{-1} M W^T Z r / theta^2``.
    Morales & Nocedal (2011): take ``P(x_cp + d_u)`` when it is a descent
    direction from ``x``, else backtrack ``x_cp + a d_u`` into the box (``a <= 1``).
    """
    free = (~active).astype(x.dtype)
    r = free * (g + theta * (xcp - x) - w @ (m @ c))
    wf = w * free[:, None]
    v = m @ (wf.T @ r)
    n_mat = jnp.eye(m.shape[0], dtype=x.dtype) - m @ (wf.T @ wf) / theta
    v = jnp.linalg.solve(n_mat, v)
    du = free * (-r / theta - (wf @ v) / theta**2)
    du = jnp.where(jnp.isfinite(du), du, 0.0)
    projected = jnp.clip(xcp + du, lo, hi)
    safe = jnp.where(du == 0, 1.0, du)
    room = jnp.where(du > 0, (hi - xcp) / safe, jnp.where(du < 0, (lo - xcp) / safe, jnp.inf))
    alpha = jnp.minimum(1.0, jnp.min(room, initial=jnp.inf))
    backtracked = jnp.clip(xcp + alpha * du, lo, hi)
    return jnp.where((projected - x) @ g <= 0, projected, backtracked)


# --------------------------------------------------------------------------- line search


def _cubic_min(a, fa, da, b, fb, db):
    """Minimizer of the cubic through (a, fa, da), (b, fb, db), kept 10% inside [a, b]."""
    d1 = da + db - 3 * (fa - fb) / (a - b)
    disc = d1 * d1 - da * db
    d2 = jnp.sign(b - a) * jnp.sqrt(jnp.maximum(disc, 0.0))
    t = b - (b - a) * (db + d2 - d1) / (db - da + 2 * d2)
    width = jnp.abs(b - a)
    low, high = jnp.minimum(a, b) + 0.1 * width, jnp.maximum(a, b) - 0.1 * width
    ok = jnp.isfinite(t) & (disc >= 0)
    return jnp.where(ok, jnp.clip(t, low, high), 0.5 * (a + b))


def _line_search(value_and_grad, x, d, lo, hi, f0, g0, alpha0, alpha_max, c1, c2, max_evals):
    r"""Strong-Wolfe search for ``phi(a) = f(P(x + a d))`` on ``0 < a <= alpha_max``.

    Bracketing then zoom with safeguarded cubic interpolation (Nocedal & Wright
    2006, algorithms 3.5 and 3.6), SciPy's constants ``c1 = 1e-3``, ``c2 = 0.9``.
    Accepts ``phi(a) <= phi(0) + c1 a phi'(0)`` with ``|phi'(a)| <= c2 |phi'(0)|``,
    or sufficient decrease alone at ``a = alpha_max`` (the box stops the
    bracketing). A round-off allowance ``100 eps |phi(0)|`` is added to the
    decrease tests. Returns the best point satisfying sufficient decrease
    (``a = 0`` when none was found) and the number of evaluations.
    """
    dt = x.dtype
    dphi0 = g0 @ d
    slack = ROUNDOFF * jnp.finfo(dt).eps * jnp.abs(f0)
    zero = jnp.zeros([], dt)
    lo_pt = (zero, f0, dphi0, g0)
    hi_pt = (zero, f0, dphi0)
    carry0 = (jnp.zeros([], jnp.int32), alpha0, lo_pt, hi_pt, jnp.array(False), ~(dphi0 < 0))

    def cond(c):
        return (~c[-1]) & (c[0] < max_evals)

    def body(c):
        i, a, lo_pt, hi_pt, bracketed, _ = c
        f, g = value_and_grad(jnp.clip(x + a * d, lo, hi))
        dphi = g @ d
        bad = ~(f <= f0 + c1 * a * dphi0 + slack) | (f > lo_pt[1] + slack) | ~jnp.isfinite(f)
        curv = jnp.abs(dphi) <= -c2 * dphi0
        flip = ~bad & ~curv & jnp.where(bracketed, dphi * (hi_pt[0] - a) >= 0, dphi >= 0)
        trial = (a, f, dphi, g)
        pick = lambda cnd, u, v: jax.tree_util.tree_map(lambda p, q: jnp.where(cnd, p, q), u, v)
        new_hi = pick(bad, trial[:3], pick(flip, lo_pt[:3], hi_pt))
        new_lo = pick(bad, lo_pt, trial)
        now_bracketed = bracketed | bad | flip
        done = (~bad & curv) | (~bad & ~now_bracketed & (a >= alpha_max))
        nxt = jnp.where(
            now_bracketed,
            _cubic_min(new_lo[0], new_lo[1], new_lo[2], new_hi[0], new_hi[1], new_hi[2]),
            jnp.minimum(a + 4.0 * (a - lo_pt[0]), alpha_max),
        )
        tiny = now_bracketed & (jnp.abs(new_hi[0] - new_lo[0]) <= jnp.finfo(dt).eps * new_lo[0])
        return i + 1, nxt.astype(dt), new_lo, new_hi, now_bracketed, done | tiny

    evals, _, (alpha, f, _, g), _, _, _ = jax.lax.while_loop(cond, body, carry0)
    return alpha, f, g, evals


# --------------------------------------------------------------------------- memory


def _remember(state_arrays, s, y, add, reset):
    """Forget all pairs if ``reset``; then append ``(s, y)`` (dropping the oldest) if ``add``."""
    S, Y, SS, SY, pairs, theta = state_arrays
    S, Y, SS, SY = (jnp.where(reset, jnp.zeros_like(a), a) for a in (S, Y, SS, SY))
    pairs = jnp.where(reset, 0, pairs)
    theta = jnp.where(reset, jnp.ones_like(theta), theta)
    S2 = jnp.roll(S, -1, axis=0).at[-1].set(s)
    Y2 = jnp.roll(Y, -1, axis=0).at[-1].set(y)
    roll2 = lambda a: jnp.roll(jnp.roll(a, -1, axis=0), -1, axis=1)
    ss_new = S2 @ s
    SS2 = roll2(SS).at[-1, :].set(ss_new).at[:, -1].set(ss_new)
    SY2 = roll2(SY).at[-1, :].set(Y2 @ s).at[:, -1].set(S2 @ y)
    sy, yy = s @ y, y @ y
    keep = lambda new, old: jnp.where(add, new, old)
    return (keep(S2, S), keep(Y2, Y), keep(SS2, SS), keep(SY2, SY),
            jnp.where(add, jnp.minimum(pairs + 1, S.shape[0]), pairs),
            jnp.where(add, yy / jnp.where(add, sy, 1.0), theta).astype(theta.dtype))


# --------------------------------------------------------------------------- the transformation


def lbfgsb(
    lower: Any,
    upper: Any,
    memory_size: int = 10,
    *,
    max_linesearch_steps: int = 20,
    c1: float = 1e-3,
    c2: float = 0.9,
) -> optax.GradientTransformationExtraArgs:
    r"""L-BFGS-B: limited-memory BFGS on the box ``lower <= x <= upper``.

    Byrd, Lu, Nocedal & Zhu (1995). With ``B_k = theta I - W M W^T`` the
    compact limited-memory BFGS matrix of the last ``memory_size`` pairs
    ``s = x_{k+1} - x_k``, ``y = grad_{k+1} - grad_k`` (Byrd, Nocedal &
    Schnabel 1994; ``W = [Y, theta S]``, ``theta = y.y / s.y`` of the newest
    pair), and the model ``m(x) = g_k.(x - x_k) + (x - x_k).B_k(x - x_k) / 2``,
    one update is:

    1. **Generalized Cauchy point** ``x_c``: the first local minimizer of ``m``
       along the projected steepest-descent path ``t -> P(x_k - t g_k)``
       (breakpoints sorted; the piecewise quadratic of every segment from
       running sums over them, O(n m^2) in all, no sequential loop). Variables
       at a bound at ``x_c`` are held fixed.
    2. **Subspace minimization** over the free variables from ``x_c`` (direct
       primal method, Sherman-Morrison-Woodbury on the compact form), giving
       ``x_c + d_u``; as in L-BFGS-B 3.0 (Morales & Nocedal 2011) its projection
       onto the box is used when it is a descent direction from ``x_k``,
       otherwise ``x_c + a d_u`` backtracked into the box (``a <= 1``).
    3. **Line search** on the feasible segment ``x_k + a d``, ``d = xbar - x_k``,
       ``0 < a <= a_max`` (``a_max`` the largest feasible step, 1 at the first
       update): bracketing and zoom with cubic interpolation for the strong
       Wolfe conditions (``c1 = 1e-3``, ``c2 = 0.9``, SciPy's values); at
       ``a_max`` sufficient decrease alone is accepted. The trial step is
       ``a = 1`` (``1/||d||`` at the first update when some variable is
       unbounded), as in SciPy. If ``d`` is not a descent direction the memory
       is cleared and ``d = P(x_k - g_k) - x_k`` is used; if the search finds no
       decrease in ``max_linesearch_steps`` evaluations the step is zero and
       the memory is cleared.

    The pair is stored unless ``s.y <= eps ||y||^2`` (``eps`` the machine
    epsilon). An infeasible starting point is projected onto the box first.

    **Inside** :func:`gradopt.minimize`: pass ``penalty=gradopt.prox.box(lower,
    upper)`` so that the loop reports the constrained objective and stops on
    the projected gradient ``||x - P(x - grad f(x))|| <= tol`` (without it the
    loop tests ``||grad f||``, which is not zero at a solution with active
    bounds). The update needs the loss: ``opt.update(grads, state, params,
    value=f(params), value_fn=f)`` (``minimize`` passes them). Each update
    evaluates ``value_and_grad(f)`` once per line-search trial (usually once);
    the value and gradient at the new point are kept in ``state.value`` and
    ``state.grad`` (optax's convention, see ``optax.value_and_grad_from_state``).

    **Pytrees.** The parameters are flattened to one vector with
    ``jax.flatten_util.ravel_pytree`` (one dtype: the leaves' promoted type, at
    least float32 for the algebra) and one memory is kept for the whole
    vector. ``lower`` and ``upper`` are
    numbers, arrays, or pytrees shaped like a prefix of the parameters (as for
    :func:`gradopt.prox.box`), with ``-inf``/``inf`` for no bound; each leaf
    broadcasts to its parameter. The returned updates keep each leaf's dtype.

    Args:
      lower, upper: the bounds (``lower <= upper``; checked when concrete).
      memory_size: number of stored pairs ``m >= 1``.
      max_linesearch_steps: function evaluations per line search (>= 1).
      c1, c2: Wolfe constants, ``0 < c1 < c2 < 1``.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose state is a
      :class:`LbfgsbState`.

    Example (bounded Rosenbrock; the upper bound of the last coordinate is active)::

        >>> import jax.numpy as jnp, gradopt
        >>> f = lambda x: jnp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
        >>> lo, hi = jnp.full(4, -2.0), jnp.array([2.0, 2.0, 0.5, 0.2])
        >>> res = gradopt.minimize(f, jnp.zeros(4), gradopt.lbfgsb(lo, hi),
        ...                        penalty=gradopt.prox.box(lo, hi), tol=1e-4, max_steps=200)
        >>> res.status_name, [round(float(v), 2) for v in res.params]
        ('CONVERGED', [0.82, 0.68, 0.46, 0.2])
    """
    _check_bounds(lower, upper)
    m = check_int("memory_size", memory_size, 1)
    max_evals = check_int("max_linesearch_steps", max_linesearch_steps, 1)
    check_scalar("c1", c1, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    check_scalar("c2", c2, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    if not is_traced(c1) and not is_traced(c2) and not float(c1) < float(c2):
        raise ValueError(f"c1 must be < c2 (0 < c1 < c2 < 1), got c1={c1}, c2={c2}.")

    def bounds(params, dtype):
        return (_flat_bound("lower", lower, params, dtype),
                _flat_bound("upper", upper, params, dtype))

    def init_fn(params):
        # sizes and dtypes only: params may be abstract (jax.ShapeDtypeStruct)
        leaves = jax.tree_util.tree_leaves(params)
        flat_dtype = jnp.result_type(*[jnp.result_type(x) if not hasattr(x, 'dtype') else x.dtype
                                      for x in leaves]) if leaves else jnp.float32
        dt = jnp.promote_types(flat_dtype, jnp.float32)
        # structure and shape errors at init, by tracing only: an eager broadcast and
        # concatenate of sharded parameters would run collectives just to check shapes
        jax.eval_shape(lambda p: bounds(p, dt), params)
        n = sum(math.prod(jnp.shape(x)) for x in leaves)
        return follow_params(LbfgsbState(
            count=jnp.zeros([], jnp.int32),
            s=jnp.zeros((m, n), dt), y=jnp.zeros((m, n), dt),
            ss=jnp.zeros((m, m), dt), sy=jnp.zeros((m, m), dt),
            pairs=jnp.zeros([], jnp.int32), theta=jnp.ones([], dt),
            value=jnp.asarray(jnp.inf, dt),
            grad=jax.tree_util.tree_map(jnp.zeros_like, params),
            linesearch_steps=jnp.zeros([], jnp.int32),
        ), params)

    def update_fn(updates, state, params=None, *, value=None, value_fn=None, **extra_args):
        del extra_args
        if params is None:
            raise ValueError(
                "lbfgsb needs the current parameters: call update(grads, state, params)."
            )
        if value_fn is None:
            raise ValueError(
                "lbfgsb needs the loss for its line search: call opt.update(grads, state, params, "
                "value=f(params), value_fn=f) (gradopt.minimize does this)."
            )
        check_updates_match(updates, params)
        # The method works on one flat vector: explicitly sharded leaves are
        # replicated for it (concatenation needs one sharding), and the
        # results are resharded like the parameters at the end.
        given_params, params, updates = params, replicated(params), replicated(updates)
        flat, unravel_flat = ravel_pytree(params)
        dt = jnp.promote_types(flat.dtype, jnp.float32)  # bfloat16/float16: work in float32
        x_in = flat.astype(dt)
        unravel = lambda v: unravel_flat(v.astype(flat.dtype))
        eps = jnp.finfo(dt).eps
        lo, hi = bounds(params, dt)
        g_in = ravel_pytree(updates)[0].astype(dt)
        f_in = jnp.asarray(value_fn(params) if value is None else value, dt)

        def value_and_grad(z):
            f, g = jax.value_and_grad(lambda v: jnp.asarray(value_fn(unravel(v)), dt))(z)
            return f, g.astype(dt)

        # Project an infeasible point (at the first step, or when far outside: later
        # steps only carry round-off from params + updates).
        x = jnp.clip(x_in, lo, hi)
        gap = jnp.max(jnp.abs(x - x_in), initial=0.0)
        scale = 1 + jnp.max(jnp.abs(x_in), initial=0.0)
        moved = ((state.count == 0) & (gap > 0)) | (gap > jnp.sqrt(eps) * scale)
        f, g = jax.lax.cond(moved, value_and_grad, lambda z: (f_in, g_in), x)

        valid = jnp.arange(m) >= m - state.pairs
        theta = state.theta
        w = jnp.concatenate([state.y, theta * state.s], axis=0).T
        mid = _middle(state.ss, state.sy, theta, valid)
        xcp, c, active = _cauchy_point(x, g, lo, hi, w, mid, theta)
        d = _subspace_step(x, g, lo, hi, xcp, c, active, w, mid, theta) - x
        steepest = ~(g @ d < 0)
        d = jnp.where(steepest, jnp.clip(x - g, lo, hi) - x, d)

        safe = jnp.where(d == 0, 1.0, d)
        room = jnp.where(d > 0, (hi - x) / safe, jnp.where(d < 0, (lo - x) / safe, jnp.inf))
        a_max = jnp.minimum(jnp.min(room, initial=jnp.inf), MAX_STEP)
        first = state.count == 0
        bounded = jnp.isfinite(lo) | jnp.isfinite(hi)
        a_max = jnp.where(first & jnp.any(bounded), jnp.minimum(a_max, 1.0), a_max)
        dnorm = jnp.sqrt(d @ d)
        a0 = jnp.where(first & ~jnp.all(jnp.isfinite(lo) & jnp.isfinite(hi)),
                       1.0 / jnp.where(dnorm > 0, dnorm, 1.0), 1.0)
        a0 = jnp.minimum(a0, a_max).astype(dt)
        alpha, f_new, g_new, evals = _line_search(
            value_and_grad, x, d, lo, hi, f, g, a0, a_max.astype(dt), c1, c2, max_evals
        )
        ok = alpha > 0
        x_new = jnp.where(ok, jnp.clip(x + alpha * d, lo, hi), x)
        s, yv = x_new - x, g_new - g
        add = ok & (s @ yv > eps * (yv @ yv))
        S, Y, SS, SY, pairs, theta = _remember(
            (state.s, state.y, state.ss, state.sy, state.pairs, state.theta), s, yv, add,
            (~ok) | (steepest & (state.pairs > 0)),
        )
        new_params = unravel(x_new)
        grad = jax.tree_util.tree_map(lambda a, p: a.astype(p.dtype), unravel(g_new), params)
        new_state = LbfgsbState(
            count=state.count + 1, s=S, y=Y, ss=SS, sy=SY, pairs=pairs, theta=theta,
            value=f_new, grad=sharded_like(grad, given_params), linesearch_steps=evals,
        )
        # eager calls: state leaves on the params' mesh, grad sharded like them (follow_params)
        return (sharded_like(tree_diff(new_params, params), given_params),
                follow_params(new_state, given_params))

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
