# The companion's commands. A fresh clone needs only Python 3.11 and the package registries:
# `make book` creates .venv, installs the project and the vendored JavaScript, executes every chapter
# (quick mode, cached) and builds the HTML book into _build/html. `make test` also runs the tests.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
ENV_STAMP := $(VENV)/.gdln-installed
VENDOR_STAMP := book/_vendor/static/.complete
# `make book CHAPTERS="framework xor"` builds a book of those chapters only (plus the plain pages)
CHAPTERS ?=
# `make book MODE=full DEVICE=cuda` executes the chapters in full mode on a GPU
MODE ?= quick
DEVICE ?= auto
# `make book RESULTS=archive` shows each chapter's archived full-mode run (results/<chapter>/) where one stands
RESULTS ?= build

.PHONY: all env vendor book run test chromium clean help
all: book

help:
	@echo "make book      environment + vendored JS + execute chapters (quick, cached) + HTML in _build/html"
	@echo "make test      make book, then the whole test suite (claims, chapters, HTML offline checks)"
	@echo "make env       only create/refresh .venv (pip install -e '.[book,test]')"
	@echo "make chromium  install Debian chromium for the headless browser check (needs root + apt)"
	@echo "make clean     remove _build"

env: $(ENV_STAMP)
# pyproject pins torch==2.13.0, so pip never pulls an unpinned (CUDA) torch.
$(ENV_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[book,test]'
	touch $@

vendor: $(VENDOR_STAMP)
$(VENDOR_STAMP): book/_vendor/fetch.py
	$(PYTHON) book/_vendor/fetch.py
	touch $@

book: env vendor
	$(PY) -m gdln.book build --mode $(MODE) --device $(DEVICE) --results $(RESULTS) $(CHAPTERS)

test: book
	$(PY) -m pytest -q || { rc=$$?; [ $$rc -eq 5 ] && echo "pytest collected no tests" || exit $$rc; }

chromium:
	command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends chromium; }

clean:
	rm -rf _build
