# cpoms-kit: `make demo` and `make test` each do all the set-up they need on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup system-deps demo test bench clean

# Debian packages the kit and its tests use: gpg, git, and chromium for the site's browser tests.
system-deps:
	@bash scripts/system-deps.sh

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

setup: system-deps $(STAMP)

demo: setup
	$(PY) -m cpoms_kit.demo

test: setup
	$(PY) -m pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) .demo .pytest_cache .hypothesis
