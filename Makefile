# Two commands for a newcomer: `make lab` opens the course, `make test` checks it.
# Override the torch requirement for another platform, e.g.
#   make test TORCH="torch --index-url https://download.pytorch.org/whl/cpu"
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NBVAL_TIMEOUT ?= 600
# Idle OpenMP threads sleep instead of spinning: on a busy or shared machine spinning threads steal the
# cores from the work (seen here: a 2-thread training step 5-17x slower under load).
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: lab test lint unit notebooks browser e2e clean natural-data

# Create the venv, install the CPU torch only when the venv has none (Colab-style: never replace a torch),
# then the package with its dev extra. Re-runs when pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install $(TORCH)
	$(PY) -m pip install -e ".[dev]"
	@touch $@

# Jupyter refuses to run as root unless told to (containers, Colab-like VMs); LAB_ARGS adds flags, e.g. --no-browser.
LAB_ARGS ?=
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab $(ROOT_FLAG) $(LAB_ARGS) notebooks/

lint: $(STAMP)
	$(VENV)/bin/ruff check tasnet_edu tests benchmarks scripts notebooks

# Package tests and, under tests/e2e, the browser and Colab checks (skipped, with the reason, without Chromium).
unit: $(STAMP)
	$(VENV)/bin/pytest -q tests

# Every notebook, in chapter order, executed top to bottom.
notebooks: $(STAMP)
	$(VENV)/bin/pytest -q --nbval-lax --nbval-cell-timeout=$(NBVAL_TIMEOUT) notebooks/

# The course as a reader meets it: JupyterLab in headless Chromium, and the Colab install path.
browser:
	bash scripts/install_browser.sh

e2e: $(STAMP)
	$(VENV)/bin/pytest -q tests/e2e

test: lint unit notebooks

# Recordings of people from Debian packages (no root), then held-out real mixtures (data/real: cv/ tt/) and
# training mixtures where each talker is a person or an espeak voice (data/mixed: tr/). See docs/data.md.
# The same three commands are part of course-small's recipe (its model card; a test keeps them in step).
natural-data: $(STAMP)
	$(VENV)/bin/tasnet-edu fetch-speech --cache data/natural-cache
	$(VENV)/bin/tasnet-edu make-data --out data/real --n-valid 150 --n-test 150 --speech natural --natural-cache data/natural-cache --seed 1
	$(VENV)/bin/tasnet-edu make-data --out data/mixed --n-train 6000 --speech all --natural-cache data/natural-cache --seed 2

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
