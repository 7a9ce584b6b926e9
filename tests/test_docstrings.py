"""The examples in docstrings are run, so that documented output stays true.

The examples are written for JAX's defaults (float32), which is what a user
who copies them gets, so they run with ``jax_enable_x64`` switched off for the
duration of the test (the rest of the suite runs in float64, see conftest.py).
"""

import doctest
import importlib
import pkgutil

import jax
import pytest

import gradopt
from _compat import enable_x64

# The slow tier (`make test-slow`, run by CI): these runs compile every documented
# example again, in float32, and are a check of the docs more than of the code.
pytestmark = pytest.mark.slow

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(gradopt.__path__, prefix="gradopt.")
)


def test_package_has_doctests():
    finder = doctest.DocTestFinder()
    n = sum(
        len([t for t in finder.find(importlib.import_module(m)) if t.examples])
        for m in MODULES
    )
    assert n >= 20, f"only {n} docstrings with examples found"


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    with enable_x64(False):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples failed in {name}"
