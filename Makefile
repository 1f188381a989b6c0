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
$(STAMP): requirements.txt requirements-writers.txt constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install -r requirements.txt -c constraints.txt
	$(PIP) install --no-deps --ignore-requires-python -c constraints.txt lava-nc==0.10.0 lava-dl==0.6.0
	# test-only NIR writers (sinabs, rockpool) without their dependencies: sinabs' nir/nirtorch pins are
	# older than ours (requirements-writers.txt says why)
	$(PIP) install --no-deps -c constraints.txt -r requirements-writers.txt
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

# The demo: a real rainy photo (examples/images/real-010.png, source in examples/images/SOURCES.md),
# the shipped esdnet-tiny exported at 64x64 and its centre 64x64 crop validated on the Lava float
# simulator against torch float64 (the Loihi issue's thresholds: 99.9 %, 60 dB), the whole photo
# derained by torch, the report written (report.html; the report runs the bundle's own files,
# `split`, which the validation just showed equal to Lava spike for spike, in a tenth of the time),
# a summary printed; then toy-residual validated on Lava too.
# The bundle is also quantized to Loihi 2 integers (calibrated on examples/images/calib, another
# rainy photo) and the whole photo derained by the integer emulator too.
DEMO_PHOTO ?= examples/images/real-010.png
ND := $(VENV)/bin/neurodeploy

demo: $(STAMP)
	@mkdir -p $(DEMO_DIR)
	$(ND) export esdnet-tiny --target loihi --out $(DEMO_DIR)/esdnet-tiny --size 64 64 --force \
		--quantize int --calib examples/images/calib
	$(ND) validate $(DEMO_DIR)/esdnet-tiny --executor lava-float --image $(DEMO_PHOTO) --min-agreement 99.9 --min-psnr 60
	$(ND) derain esdnet-tiny $(DEMO_PHOTO) --out $(DEMO_DIR)/derained
	$(ND) derain $(DEMO_DIR)/esdnet-tiny $(DEMO_PHOTO) --executor emulator --out $(DEMO_DIR)/derained-int
	$(ND) report $(DEMO_DIR)/esdnet-tiny --executor split --image $(DEMO_PHOTO) --summary
	$(ND) export toy-residual --target loihi --out $(DEMO_DIR)/toy-residual --size 32 32 --force
	$(ND) validate $(DEMO_DIR)/toy-residual --executor lava-float --image $(DEMO_PHOTO)
	@echo "derained photo: $(DEMO_DIR)/derained/$(notdir $(DEMO_PHOTO)) (torch), $(DEMO_DIR)/derained-int/$(notdir $(DEMO_PHOTO)) (integer emulator)   report: $(DEMO_DIR)/esdnet-tiny/report.html"

clean:
	rm -rf build .pytest_cache
