# `make run` and `make test` do all set-up on a fresh machine.
# torch is installed first so that a GPU user can choose their build, e.g.
#   make run TORCH_SPEC=torch==2.13.0 TORCH_INDEX_URL=<CUDA wheel index for your driver>
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX_URL ?=
PIP = $(VENV)/bin/python -m pip
STAMP = $(VENV)/.spanlab-installed

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL)) "$(TORCH_SPEC)"
	$(PIP) install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	HF_HUB_OFFLINE=1 $(VENV)/bin/spanlab

test: $(STAMP)
	$(VENV)/bin/ruff format --check core desktop tests
	$(VENV)/bin/ruff check core desktop tests
	$(VENV)/bin/lint-imports
	QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 $(VENV)/bin/python -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff format --check core desktop tests
	$(VENV)/bin/ruff check core desktop tests

clean:
	rm -rf $(VENV) build *.egg-info
