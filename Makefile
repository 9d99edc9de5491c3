# cpoms-kit: `make demo` and `make test` each do all the set-up they need on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup system-deps demo test bench bench-intake clean

# Debian packages the kit and its tests use: gpg, git, and chromium for the site's browser tests.
system-deps:
	@bash scripts/system-deps.sh

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[serve,test]'
	touch $(STAMP)

setup: system-deps $(STAMP)

demo: setup
	$(PY) -m cpoms_kit.demo

# Lint and type checks first (zero findings, config in pyproject.toml), then the suite.
test: setup
	$(PY) -m ruff check cpoms_kit plugins tests bench scripts
	$(PY) -m mypy
	$(PY) -m pytest -q -p no:cacheprovider

# The benchmark (issue 9): a synthetic school, then timings against the naive way in one run.
# `make bench ENTRIES=10000 PUPILS=500` for the trust-sized figures in the README (~10 minutes).
ENTRIES ?= 2000
PUPILS ?= 100
BENCH_DIR ?= /tmp/cpoms-bench-$(ENTRIES)
bench: setup
	test -d $(BENCH_DIR)/records || $(PY) bench/generate.py --entries $(ENTRIES) --pupils $(PUPILS) --out $(BENCH_DIR)
	$(PY) bench/run.py --repo $(BENCH_DIR)/records

# The staff intake under load (issue 18): 20 staff submitting at once to `cpoms serve` over loopback,
# POST to committed, pushed and alerted; 10,000 entries by default (generated once, then reused).
# `make bench-intake INTAKE_ENTRIES=2000` for a quick run.
INTAKE_ENTRIES ?= 10000
bench-intake: setup
	$(PY) bench/intake.py --entries $(INTAKE_ENTRIES) --out /tmp/cpoms-bench-intake-$(INTAKE_ENTRIES)

clean:
	rm -rf $(VENV) .demo .pytest_cache .hypothesis .mypy_cache .ruff_cache
