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

import pytest  # noqa: E402

_MAPS = "/proc/self/maps"
try:
    with open("/proc/sys/vm/max_map_count") as f:
        _MAP_BUDGET = int(f.read()) // 2
except (OSError, ValueError):  # not Linux: no such limit to watch
    _MAP_BUDGET = None


def _map_count() -> int:
    with open(_MAPS, "rb") as f:
        return sum(1 for _ in f)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Drop JAX's compiled programs after each test module.

    Each CPU executable keeps its machine code in memory maps of its own, and a
    pytest-xdist worker that runs half the suite kept tens of thousands of them
    (28 000 after three test files): past the kernel's ``vm.max_map_count``
    (65 530 by default) LLVM's next allocation fails, and the worker dies with a
    segmentation fault or an abort inside XLA's compiler, in whichever test
    compiles then (the "random" crashes in test_lasso_implicit.py and
    test_estimators_glm.py). Test modules share no programs, so clearing costs
    only the compilations each module does anyway; the map count then stays near
    1 500 between modules.
    """
    yield
    jax.clear_caches()


@pytest.fixture(autouse=True)
def _watch_memory_maps():
    """Within a module, clear the caches when the map count passes half the limit
    (the slow check_estimator modules compile hundreds of programs)."""
    yield
    if _MAP_BUDGET is not None and _map_count() > _MAP_BUDGET:
        jax.clear_caches()
