# Two entry points: `make demo` (set up, prepare the default corpus, train the tiny crawler
# on CPU, evaluate it, write a record) and `make test` (set up, run the test suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first and pinned: the CPU wheel of 2.13.0, not an unpinned CUDA build
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/pgolf demo

test: $(STAMP)
	$(BIN)/python -m pytest -q
