"""Test configuration.

float64 is enabled for the whole suite, so that comparisons against float64
references (SciPy, CVXPY, scikit-learn) are meaningful. float32 behaviour is
tested by creating float32 arrays explicitly (``dtype=jnp.float32``), which
keep their dtype under x64.

"""

import os

# Fast compilation: LLVM's optimization level 0 for the CPU code XLA emits.
# The suite's problems are small, so compiling is most of its time and running
# the unoptimized code costs little (the whole suite: 17 -> 12 min on 2 cores);
# the arithmetic XLA asks for is the same, only its machine code is slower.
# Examples, benchmarks and user code run at XLA's default level;
# GRADOPT_TEST_FAST_COMPILE=0 runs the suite at it too.
if os.environ.get("GRADOPT_TEST_FAST_COMPILE", "1") != "0" and \
        "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
