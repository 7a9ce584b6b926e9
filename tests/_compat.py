"""Test helpers that differ between the supported JAX versions (pyproject's floor and newer).

``jax.enable_x64`` (a context manager) is top-level from JAX 0.7; at the
floor (0.6.2) it lives in ``jax.experimental``, which newer releases dropped.
"""

import jax

try:
    enable_x64 = jax.enable_x64
except AttributeError:  # jax < 0.7
    from jax.experimental import enable_x64  # noqa: F401
