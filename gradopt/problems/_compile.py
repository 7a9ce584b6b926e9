"""``jit``: ``jax.jit`` for the problems layer's own entry programs, compiled with
``COMPILER_OPTIONS`` where that is allowed and where they pay.

XLA's CPU compiler emits each fusion of a program as its own kernel. Its MLIR
fusion emitters (the default) take about 0.9 s longer than its LLVM elemental
emitters on a solve of the GLM engine (about 260 kernels: 2.2-3.0 s against
1.6-1.9 s for a first call on this project's 2-core host), and the solves then
run in about the same time (docs/glm.md, 'Compile time'). So the engine's
programs ask for the elemental emitters, except where ``when`` says no: the
solves of the proximal-Newton datafits (logistic, Poisson) that sweep ``X`` in
place, 20-30 % slower with them.

The options apply only to a call made at the top level on the CPU backend:
``jax.jit`` refuses compiler options on a jit nested in another trace (the
solve called inside a user's ``jax.jit``, ``vmap`` or ``grad``, where the
user's program decides), and other backends do not read ``xla_cpu_*``
options. Such calls run the same function through a plain ``jax.jit``.
"""

from __future__ import annotations

import functools

import jax

try:  # jax's own test for "no trace is active"; not public, so guarded
    from jax._src.core import trace_state_clean as _top_level
except ImportError:  # pragma: no cover - a jax without it: never pass the options
    def _top_level() -> bool:
        return False

COMPILER_OPTIONS = {"xla_cpu_use_fusion_emitters": False}


class jit:
    """``jax.jit(fun, **kwargs)``, compiled with ``COMPILER_OPTIONS`` when called at the
    top level with the CPU as JAX's default backend and ``when(*args, **kwargs)`` holds
    (default: always). ``lower``, ``_cache_size`` and the other attributes of a jitted
    function are those of the variant a call without arguments would use."""

    def __init__(self, fun, *, when=None, **kwargs):
        self._plain = jax.jit(fun, **kwargs)
        self._tuned = jax.jit(fun, compiler_options=COMPILER_OPTIONS, **kwargs)
        self._when = when
        functools.update_wrapper(self, fun)

    def _variant(self, *args, **kwargs):
        tuned = (_top_level() and jax.default_backend() == "cpu"
                 and (self._when is None or not args or self._when(*args, **kwargs)))
        return self._tuned if tuned else self._plain

    def __call__(self, *args, **kwargs):
        return self._variant(*args, **kwargs)(*args, **kwargs)

    def __getattr__(self, name):  # only for names the instance lacks
        if name in ("_plain", "_tuned", "_when"):  # before __init__ set them (copy, pickle)
            raise AttributeError(name)
        return getattr(self._variant(), name)
