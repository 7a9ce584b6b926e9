"""Test configuration.

float64 is enabled for the whole suite, so that comparisons against float64
references (SciPy, CVXPY, scikit-learn) are meaningful. float32 behaviour is
tested by creating float32 arrays explicitly (``dtype=jnp.float32``), which
keep their dtype under x64.
"""

import jax

jax.config.update("jax_enable_x64", True)
