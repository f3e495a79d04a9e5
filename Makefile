# distlab — two commands do all set-up (see README.md):
#   make lab    create .venv, install distlab + JupyterLab, open JupyterLab on the course
#   make test   create/update .venv, install the test extras, run the whole suite
# Both are idempotent: a stamp file per extra is refreshed only when pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
PYTEST_ARGS ?=
LAB_PORT ?= 8888

.PHONY: help lab test venv setup-lab setup-test system-deps bench clean

help:
	@echo "make lab    - set up .venv and open JupyterLab on the course (no servers needed)"
	@echo "make test   - set up .venv with test extras and run the whole suite"
	@echo "make bench  - run the benchmarks (distlab bench sim / tree)"
	@echo "make clean  - remove .venv and caches"

# The interpreter check and venv creation live in a script so their error messages can be clear.
$(PY):
	@sh scripts/make-venv.sh "$(PYTHON)" "$(VENV)"

venv: $(PY)

$(VENV)/.installed-lab: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[lab]'
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $@

setup-lab: $(VENV)/.installed-lab
setup-test: $(VENV)/.installed-test

# Graphviz's `dot` is a system package: installed with apt-get where we are root, otherwise a
# message names the command to run. The lab only warns; the tests need it.
system-deps:
	@sh scripts/system-deps.sh --require

lab: setup-lab
	@sh scripts/system-deps.sh --warn
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --ServerApp.port=$(LAB_PORT) \
		--ServerApp.default_url=/lab/tree/course/README.md

test: setup-test system-deps
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup-test
	$(BIN)/distlab bench sim
	$(BIN)/distlab bench tree

clean:
	rm -rf "$(VENV)" .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
