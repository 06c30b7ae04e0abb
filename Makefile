# Aisle: `make demo` runs the product, `make test` runs the tests. Both set themselves up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.aisle-installed
BROKER ?= embedded
MODE ?= kiosk

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
	$(PY) scripts/demo.py --broker $(BROKER) --mode $(MODE)

test: setup
	$(PY) -m pytest -q -p no:cacheprovider

lint: setup
	$(VENV)/bin/ruff check .

# Each prints its table; docs/benchmarks.md records the figures with machine and date.
bench: setup
	$(PY) bench/scan_bench.py --markdown
	$(PY) bench/edge_cache.py
	$(PY) bench/stock_fanout.py
	$(PY) bench/recognition_bench.py --markdown
	$(PY) bench/kiosk_bench.py --markdown
	$(PY) bench/abuse.py

clean:
	rm -rf demo-out test-artifacts var .pytest_cache
