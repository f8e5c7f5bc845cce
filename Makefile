# `make demo` and `make test` each set up .venv from the lock file first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The Keras backend config.yaml names (training.backend), whose CUDA build GPU=1 installs.
BACKEND ?= $(shell sed -n 's/^  backend: *\([a-z]*\).*/\1/p' config.yaml)
# GPU=1: the CUDA build of that backend; GPU=0: the CPU lock alone (what CI installs). By default
# GPU=1 wherever nvidia-smi lists a GPU.
GPU ?= $(shell nvidia-smi --list-gpus 2>/dev/null | grep -q '^GPU ' && echo 1 || echo 0)
JAX_CUDA ?= cuda12
CUDA_BUILD_tensorflow := tensorflow[and-cuda]==$(shell sed -n 's/^tensorflow_cpu==//p' requirements.lock)
CUDA_BUILD_jax := jax[$(JAX_CUDA)]==$(shell sed -n 's/^jax==//p' requirements.lock)
SETUP := $(VENV)/.setup-done

.PHONY: setup demo test lint bench image clean

setup: $(SETUP)

$(SETUP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
ifeq ($(GPU),1)
	@echo "GPU=1: installing $(CUDA_BUILD_$(BACKEND)) for the $(BACKEND) backend (make setup GPU=0 keeps the CPU build)"
	$(if $(filter tensorflow,$(BACKEND)),$(BIN)/python -m pip uninstall --quiet -y tensorflow-cpu)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "$(CUDA_BUILD_$(BACKEND))"
endif
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

# The whole suite on TensorFlow and, at the same time, the tests marked `backends` (workflow included) on
# JAX, each pass spread over PYTEST_WORKERS processes (pytest-xdist; one per core by default) that take
# one test at a time (tests/conftest.py says in which order). Run together, one pass's tests use the
# cores while the other's wait (for a shared run, a frozen workflow, a Snakemake starting). Each pass
# ends with its ten slowest tests, the JAX pass's output after the TensorFlow pass's; the last line is
# the wall time of both, pass or fail.
PYTEST_WORKERS ?= auto
PYTEST_TIMING := --durations=10
PYTEST := $(BIN)/python -m pytest --numprocesses $(PYTEST_WORKERS) --maxschedchunk 1 $(PYTEST_TIMING)

test: lint
	@start=$$(date +%s); jax_log=$$(mktemp /tmp/mribench-jax-pass.XXXXXX); \
	KERAS_BACKEND=jax $(PYTEST) -m backends >"$$jax_log" 2>&1 & jax_pass=$$!; \
	status=0; $(PYTEST) || status=$$?; \
	jax_status=0; wait $$jax_pass || jax_status=$$?; \
	echo "=== JAX pass: KERAS_BACKEND=jax pytest -m backends"; cat "$$jax_log"; rm -f "$$jax_log"; \
	[ $$status -ne 0 ] || status=$$jax_status; \
	echo "make test: $$(( $$(date +%s) - start )) s wall time ($$(nproc) cores, load $$(cut -d' ' -f1-3 /proc/loadavg)), $$([ $$status -eq 0 ] && echo passed || echo FAILED with status $$status)"; \
	exit $$status

# Benchmarks (bench/README.md): each prints a table and writes bench/results/<name>.json.
BENCHMARKS := pipeline training feature_cache inference workflow trace

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
