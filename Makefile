# Two commands: `make run` (embedded default, end to end) and `make test` (pytest).
# Both build .venv from pinned versions on a fresh machine (Python 3.11 + pip).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed
ALLEN_VENV := .venv-allen
ALLEN_STAMP := $(ALLEN_VENV)/.installed
CORES ?= 2
SNAKEMAKE_ARGS ?=

.PHONY: run test test-fast check venv allen-env lint report clean

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

# The whole suite, after the static checks (what CI runs, through .ci/run).
test: venv lint
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# The unit tests: no workflow run, no cluster, no allensdk environment (a few minutes).
test-fast: venv lint
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/python -m pytest \
		-m "not slow and not slurm and not allen" $(PYTEST_ARGS)

# Static checks: ruff lint and format, and Snakemake's own lint of the workflow.
lint: venv
	$(VENV)/bin/ruff check src tests workflow benchmarks
	$(VENV)/bin/ruff format --check src tests workflow benchmarks
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/snakemake --lint

report: venv
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/snakemake --cores $(CORES) --report results/report.html

clean:
	rm -rf results logs .snakemake
