# The README's commands. Each target creates the virtualenv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test test-fast lint format demo bench simulator clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# One pytest worker per core (pytest-xdist), each taking whole files: a file's module-scoped
# fixtures (a harvested world) are built once. 780 s serial, 430 s on 2 cores.
# `make test WORKERS=0` runs it in one process.
WORKERS ?= auto
PYTEST := $(PY) -m pytest -n $(WORKERS) --dist loadfile

test: lint
	$(PYTEST)

# The quick tier while working: everything but the end-to-end tests marked slow.
test-fast: lint
	$(PYTEST) -m "not slow"

demo: $(STAMP)
	$(PY) -m sgr_scrapy.demo --fresh

bench: $(STAMP)
	$(PY) -m bench

# The simulator in the foreground on a fixed port, for a harvest run by hand (README):
#   make simulator PORT=8765 ARGS="--likers 300 --latency-ms 100"
# ARGS: any option of `python -m sgr_scrapy.simulator --help`.
PORT ?= 8765
ARGS ?=
simulator: $(STAMP)
	$(PY) -m sgr_scrapy.simulator --port $(PORT) $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
