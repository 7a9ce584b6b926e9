# Two commands set everything up from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: demo test test-slow test-min bench examples clean

# `make test-min`: the suite against the dependency floors pyproject.toml
# declares (jax, jaxlib, optax, chex pinned to exactly their minimum versions
# by .ci/min_pins.py), in its own environment so it never disturbs .venv.
MIN_VENV := .venv-min
MIN_PY := $(MIN_VENV)/bin/python

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.examples: $(VENV)/bin/activate pyproject.toml
	$(PIP) install -q -e ".[examples]"
	touch $@

$(VENV)/.test: $(VENV)/bin/activate pyproject.toml
	$(PIP) install -q -e ".[test,examples]"
	touch $@

$(VENV)/.bench: $(VENV)/bin/activate pyproject.toml
	$(PIP) install -q -e ".[bench]"
	touch $@

$(MIN_VENV)/.test: pyproject.toml .ci/min_pins.py
	rm -rf $(MIN_VENV)
	$(PYTHON) -m venv $(MIN_VENV)
	$(MIN_PY) -m pip install -q --upgrade pip
	$(PYTHON) .ci/min_pins.py > $(MIN_VENV)/pins.txt
	$(MIN_PY) -m pip install -q -c $(MIN_VENV)/pins.txt -e ".[test]"
	$(MIN_PY) -m pip list 2>/dev/null | grep -iE '^(jax|jaxlib|optax|chex|numpy|scipy) '
	touch $@

demo: $(VENV)/.examples
	$(PY) examples/quickstart.py

# `make test` skips the tests marked slow; `make test-slow` runs only those: scikit-learn's
# check_estimator suites (one compile per dataset shape) and the docs tier (every docstring
# example and every code block of docs/*.md, run as written). CI (.ci/run) runs both, and
# `make test-min`. Test files are spread over two processes (pytest-xdist, one file per
# process at a time): most of the suite's time is XLA compilation, one core each.
PYTEST_ARGS := -n 2 --dist loadfile

test: $(VENV)/.test
	$(PY) -m pytest tests -m "not slow" $(PYTEST_ARGS) --durations=15

test-slow: $(VENV)/.test
	$(PY) -m pytest tests -m slow $(PYTEST_ARGS)

test-min: $(MIN_VENV)/.test
	$(MIN_PY) -m pytest tests $(PYTEST_ARGS)

examples: $(VENV)/.examples
	@for f in examples/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

bench: $(VENV)/.bench
	$(PY) benchmarks/step_overhead.py
	$(PY) benchmarks/proximal.py
	$(PY) benchmarks/lasso.py
	$(PY) benchmarks/glm.py
	$(PY) benchmarks/ridge.py
	$(PY) benchmarks/first_result.py
	$(PY) benchmarks/minimize_overhead.py
	$(PY) benchmarks/lbfgsb.py
	$(PY) benchmarks/scaling.py

clean:
	rm -rf $(VENV) $(MIN_VENV) build *.egg-info .pytest_cache
