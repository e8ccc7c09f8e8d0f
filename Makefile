# Set-up happens on first use: `make run` and `make test` create .venv and install ptst into it when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch; GPU users: TORCH_SPEC='torch' (or install your own build first, it is kept).
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.ptst-installed

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/ptst run

test: install lint
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/lint-imports
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache
