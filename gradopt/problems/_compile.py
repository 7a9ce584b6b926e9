"""How the problems layer compiles its solver programs (``program``).

XLA's CPU backend (jaxlib 0.10) hands elementwise-and-reduce fusions to YNNPACK.
On this layer's reductions over the samples (a datafit's value, its dual, a
model's value: one per certificate, Anderson step and line search) that is
several times slower than XLA's own loops: ``sum(m (y - z)^2)`` over 10 240
float64 samples took about 220 µs with YNNPACK and 45 µs without, and a
100-alpha lasso path on a 10000×100 design spent almost half its time there
(docs/glm.md, "Reductions over the samples"). The solver programs therefore keep
YNNPACK for matrix products only. jaxlib versions without the option (0.6, for
instance) compile them with their defaults: the option is probed once, by
compiling an empty program, on the first call.
"""

from __future__ import annotations

import functools

import jax

#: XLA options of the solver programs: YNNPACK for dots only (its default also fuses
#: elementwise operations and reductions).
OPTIONS = {"xla_cpu_experimental_ynn_fusion_type":
           "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_DOT"}


@functools.lru_cache(maxsize=None)
def options() -> dict | None:
    """:data:`OPTIONS` where the installed jaxlib accepts them, else None."""
    try:
        jax.jit(lambda: 0, compiler_options=OPTIONS).lower().compile()
    except Exception:  # noqa: BLE001  (an unknown option: XlaRuntimeError / ValueError)
        return None
    return OPTIONS


def _top_level() -> bool:
    """Whether a call here is not being traced (a jit with ``compiler_options`` must be
    top-level: jitted, scanned, vmapped or differentiated calls take the plain one)."""
    try:
        from jax._src.core import trace_state_clean  # noqa: PLC0415
    except ImportError:  # a JAX without it: never use the options
        return False
    return trace_state_clean()


class program:
    """``jax.jit(fn, **jit_kwargs)``, compiled with :func:`options` when called at the top
    level (not under a trace: XLA options belong to a whole program), made on first use
    (the options are probed then, not at import). Attributes (``lower``, ``_cache_size``...)
    are those of the top-level ``jax.jit`` object."""

    def __init__(self, fn=None, **jit_kwargs):
        self._fn, self._kwargs, self._jits = fn, jit_kwargs, {}
        if fn is not None:
            functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        if self._fn is None:  # used as @program(static_argnames=...)
            return program(args[0], **self._kwargs)
        traced = any(isinstance(leaf, jax.core.Tracer)
                     for leaf in jax.tree_util.tree_leaves((args, kwargs)))
        return self._jit(not traced and _top_level())(*args, **kwargs)

    def _jit(self, top: bool):
        opts = options() if top else None
        key = opts is not None
        if key not in self._jits:
            self._jits[key] = jax.jit(self._fn, compiler_options=opts, **self._kwargs)
        return self._jits[key]

    def __getattr__(self, name):
        if name.startswith("__") or name in ("_fn", "_kwargs", "_jits"):
            raise AttributeError(name)
        return getattr(self._jit(True), name)
