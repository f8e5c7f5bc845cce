# `make demo` and `make test` each set up .venv from the lock file first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SETUP := $(VENV)/.setup-done

.PHONY: setup demo test lint bench image clean

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

# The container image (containers/Dockerfile) with podman, or docker where podman is not installed,
# tagged mribench:<version>, and its docker-archive (both engines' `save` format) that `apptainer build`
# takes (containers/apptainer.def). BASE_IMAGE=<image with Python 3.11 and pip> builds on another base.
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
ENGINE ?= $(shell command -v podman || command -v docker)
IMAGE ?= mribench:$(VERSION)
IMAGE_ARCHIVE ?= mribench_$(VERSION).tar
BASE_IMAGE ?=
IMAGE_BUILD_FLAGS ?=

image:
	@test -n "$(ENGINE)" || { echo "make image: neither podman nor docker is installed" >&2; exit 1; }
	$(ENGINE) build $(IMAGE_BUILD_FLAGS) $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) \
		-f containers/Dockerfile -t $(IMAGE) .
	rm -f $(IMAGE_ARCHIVE)
	$(ENGINE) save -o $(IMAGE_ARCHIVE) $(IMAGE)
	@echo "Built $(IMAGE) and $(IMAGE_ARCHIVE) (apptainer build mribench_$(VERSION).sif containers/apptainer.def)"

clean:
	rm -rf results logs benchmarks .snakemake
