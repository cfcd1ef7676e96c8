# Two commands: `make run` (embedded default, end to end) and `make test` (pytest).
# Both build .venv from pinned versions on a fresh machine (Python 3.11 + pip).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed
ALLEN_VENV := .venv-allen
ALLEN_STAMP := $(ALLEN_VENV)/.installed
CORES ?= 2
SNAKEMAKE_ARGS ?=

.PHONY: run test venv allen-env lint report clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $(STAMP)

# allensdk pins an old numpy/pandas: it gets its own environment, built only when needed.
allen-env: $(ALLEN_STAMP)

$(ALLEN_STAMP): envs/allensdk-requirements.txt
	$(PYTHON) -m venv $(ALLEN_VENV)
	$(ALLEN_VENV)/bin/pip install --quiet --upgrade pip
	$(ALLEN_VENV)/bin/pip install --quiet -r envs/allensdk-requirements.txt
	touch $(ALLEN_STAMP)

run: venv
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/snakemake --cores $(CORES) $(SNAKEMAKE_ARGS)

test: venv
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check src tests workflow benchmarks

report: venv
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/snakemake --cores $(CORES) --report results/report.html

clean:
	rm -rf results logs .snakemake
