# Two entry points: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-slow test-verl reproduce fuzz bench clean

setup: $(STAMP)

# The CPU build of torch must be installed before anything that depends on torch,
# otherwise pip resolves an unpinned torch to a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(VENV)/bin/shop-r1 demo --out outputs/demo

# The whole suite, then the tests that run verl itself in verl's own venv.
test: setup test-verl
	$(PY) -m pytest

test-slow: setup
	$(PY) -m pytest -m slow

# Table 2 for a small model over 3 seeds (synthetic training data, the sample's test split).
reproduce: setup
	$(VENV)/bin/shop-r1 reproduce --out outputs/reproduce --seeds 3 --jobs 3

# verl pins transformers<5.11 (pyproject's verl extra), so the tests that run verl itself get
# their own venv rather than downgrading the main one.
VENV_VERL := .venv-verl
$(VENV_VERL)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV_VERL)
	$(VENV_VERL)/bin/python -m pip install --upgrade pip
	$(VENV_VERL)/bin/python -m pip install torch==2.13.0
	$(VENV_VERL)/bin/python -m pip install -e '.[dev,verl]'
	touch $@

test-verl: $(VENV_VERL)/.installed
	$(VENV_VERL)/bin/python -m pytest tests/test_integration_verl.py

FUZZ_MINUTES ?= 5
fuzz: setup
	$(PY) -m pip install atheris
	$(PY) fuzz/run.py --minutes $(FUZZ_MINUTES)

# Every benchmark at its default size, except the paper-size store (8.8 GB): run that one
# by hand with `$(PY) benchmarks/bench_store.py` (it checks free disk first).
bench: setup
	for b in benchmarks/bench_*.py benchmarks/scale.py; do \
		case $$b in */bench_store.py) $(PY) $$b --sessions 5000 || exit 1;; \
		*) $(PY) $$b || exit 1;; esac; done

clean:
	rm -rf $(VENV) $(VENV_VERL) build *.egg-info .pytest_cache .hypothesis
