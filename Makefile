# Two commands set everything up from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: demo test bench examples clean

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

demo: $(VENV)/.examples
	$(PY) examples/quickstart.py

test: $(VENV)/.test
	$(PY) -m pytest tests

examples: $(VENV)/.examples
	@for f in examples/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

bench: $(VENV)/.bench
	$(PY) benchmarks/step_overhead.py
	$(PY) benchmarks/proximal.py
	$(PY) benchmarks/lasso.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
