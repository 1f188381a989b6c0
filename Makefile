# neurodeploy: every target installs into .venv first when it is missing or stale.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.neurodeploy-installed
DEMO_DIR ?= build/demo

.PHONY: install test test-all lint demo clean

install: $(STAMP)

# lava-nc 0.10 / lava-dl 0.6 declare Python < 3.11: install them without their
# metadata checks and without their dependencies, which requirements.txt pins instead
# (see ../shared/ENVIRONMENT.md). Constraints go on every pip call.
$(STAMP): requirements.txt constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install -r requirements.txt -c constraints.txt
	$(PIP) install --no-deps --ignore-requires-python -c constraints.txt lava-nc==0.10.0 lava-dl==0.6.0
	$(PIP) install --no-deps --no-build-isolation -e .
	touch $(STAMP)

test: $(STAMP) lint
	$(PY) -m pytest -q

# The layering contract (.importlinter), linted on a non-editable install (tools/check_layers.py says why).
lint: $(STAMP)
	$(PY) tools/check_layers.py

# Everything, including the long Lava simulator runs.
test-all: $(STAMP)
	$(PY) -m pytest -q -m ''

demo: $(STAMP)
	$(VENV)/bin/neurodeploy export toy-residual --target loihi --out $(DEMO_DIR) --force
	$(VENV)/bin/neurodeploy validate $(DEMO_DIR)
	$(VENV)/bin/neurodeploy report $(DEMO_DIR)
	@echo "bundle: $(DEMO_DIR)   report: $(DEMO_DIR)/report.md"

clean:
	rm -rf build .pytest_cache
