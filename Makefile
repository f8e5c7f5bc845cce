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

.PHONY: setup demo test lint bench clean

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

# The whole suite on TensorFlow, then the tests marked `backends` (workflow included) on JAX.
test: lint
	$(BIN)/python -m pytest
	KERAS_BACKEND=jax $(BIN)/python -m pytest -m backends

# Benchmarks (bench/README.md): each prints a table and writes bench/results/<name>.json.
BENCHMARKS := pipeline training feature_cache inference workflow

bench: $(SETUP)
	for name in $(BENCHMARKS); do $(BIN)/python bench/bench_$$name.py || exit 1; done

clean:
	rm -rf results logs benchmarks .snakemake
