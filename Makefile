# Aisle: `make demo` runs the product, `make test` runs the tests. Both set themselves up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# One stamp per installed extra (.venv/.aisle-dev, .aisle-demo, ...): a second `make test` installs nothing.
STAMP = $(VENV)/.aisle-$(1)
CONSTRAINTS := constraints.txt
BROKER ?= embedded
MODE ?= kiosk
# The shared data sets (never committed): the app's product photos and the benchmarks read them from here.
DATA ?= ../shared/data
export AISLE_GROCERY ?= $(abspath $(DATA)/grocery)

.PHONY: setup system-packages venv demo backend test lint bench clean

setup: system-packages venv

system-packages:
	@bash scripts/system-packages.sh

# The extras per role are in pyproject.toml; constraints.txt holds the exact versions they were tested with.
$(VENV)/.aisle-%: pyproject.toml $(CONSTRAINTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e '.[$*]'
	@touch $@

venv: $(call STAMP,dev)

demo: system-packages $(call STAMP,demo)
	$(PY) scripts/demo.py --broker $(BROKER) --mode $(MODE)

# The store backend alone (no Kivy) against a broker you run: make backend BROKER_URL=mqtt://127.0.0.1:1883
BROKER_URL ?= mqtt://127.0.0.1:1883
backend: $(call STAMP,backend)
	$(PY) -m backend serve --broker $(BROKER_URL) --db var/store.db

test: setup
	$(PY) -m pytest -q -p no:cacheprovider

lint: setup
	$(VENV)/bin/ruff check .

# Each prints its table; docs/benchmarks.md records the figures with machine and date.
bench: setup
	$(PY) -m bench.scan_bench --markdown --data $(DATA)/barcodes
	$(PY) -m bench.edge_cache
	$(PY) -m bench.stock_fanout
	$(PY) -m bench.recognition_bench --markdown --data $(DATA)/grocery
	$(PY) -m bench.kiosk_bench --markdown
	$(PY) -m bench.abuse

clean:
	rm -rf demo-out test-artifacts var .pytest_cache
