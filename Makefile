# Aisle: `make demo` runs the product, `make test` runs the tests. Both set themselves up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.aisle-installed
BROKER ?= embedded

.PHONY: setup system-packages venv demo test lint bench clean

setup: system-packages venv

system-packages:
	@bash scripts/system-packages.sh

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

demo: setup
	$(PY) scripts/demo.py --broker $(BROKER)

test: setup
	$(PY) -m pytest -q -p no:cacheprovider

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	$(PY) bench/stock_fanout.py

clean:
	rm -rf demo-out test-artifacts var .pytest_cache
