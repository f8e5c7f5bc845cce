# `make demo` and `make test` each set up .venv from the lock file first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SETUP := $(VENV)/.setup-done

.PHONY: setup demo test lint bench clean

setup: $(SETUP)

$(SETUP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

demo: $(SETUP)
	$(BIN)/snakemake --profile profiles/demo
	@echo "Open results/report.html"

lint: $(SETUP)
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile rules/
	$(BIN)/ruff check src tests scripts bench
	$(BIN)/black --check --quiet src tests scripts bench
	$(BIN)/hadolint containers/Dockerfile

test: lint
	$(BIN)/python -m pytest

# Benchmarks (bench/README.md): each prints a table and writes bench/results/<name>.json.
BENCHMARKS := pipeline training feature_cache inference workflow

bench: $(SETUP)
	for name in $(BENCHMARKS); do $(BIN)/python bench/bench_$$name.py || exit 1; done

clean:
	rm -rf results logs benchmarks .snakemake
