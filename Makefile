# distlab — two commands do all set-up (see README.md):
#   make lab    create .venv, install distlab + JupyterLab, open JupyterLab on the course
#   make test   create/update .venv, install the test extras, start the real servers the lock
#               tests use (Redis, ZooKeeper, PostgreSQL on 127.0.0.1), run the whole suite,
#               stop the servers again (also when tests fail or make is interrupted)
# Both are idempotent: a stamp file per extra is refreshed only when pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
PYTEST_ARGS ?=
# Two pytest workers, each test file kept in one worker (tests share real servers by namespace).
# PYTEST_JOBS= runs the suite in one process.
PYTEST_JOBS ?= -n 2 --dist loadfile
LAB_PORT ?= 8888
# JupyterLab refuses to run as root unless told; containers and CI machines often are root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
# KEEP_SERVICES=1 leaves the servers running after `make test` (stop them: make services-down)
KEEP_SERVICES ?=

.PHONY: help lab test venv setup-lab setup-test system-deps grader-deps nbgrader-deps browser-deps bench bench-locks services-up services-down clean

help:
	@echo "make lab    - set up .venv and open JupyterLab on the course (no servers needed)"
	@echo "make test   - set up .venv with test extras and run the whole suite"
	@echo "make grader-deps   - install the grader's sandbox (bubblewrap), as root"
	@echo "make bench  - run the benchmarks (distlab bench sim / tree / zab / viz / grade)"
	@echo "make bench-locks   - lock cycles/s, ours beside redis-py and kazoo on real servers"
	@echo "make services-up   - start Redis, ZooKeeper (standalone + 3-server ensemble), PostgreSQL"
	@echo "make services-down - stop them (by their pid files)"
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

# The grader's sandbox: bubblewrap (and an interpreter its unprivileged uid can run).
# Instructors run this once on the grading machine; make test needs it for the sandbox tests.
grader-deps:
	@sh scripts/grader-deps.sh --require

# nbgrader lives in a venv of its own (its dependencies and JupyterLab extensions stay out of .venv);
# the test that runs `nbgrader generate_assignment` on every solution uses it.
nbgrader-deps: | $(PY)
	@sh scripts/nbgrader-venv.sh "$(PY)" .venv-nbgrader

# The browser tests need Debian's Chromium and the Playwright driver; in CI a failure here is
# fatal (the tests would fail anyway), elsewhere they then skip with a message.
browser-deps: setup-test
	@sh scripts/browser/ensure-chromium.sh "$(PY)" || [ -z "$$CI" ]

# JupyterLab's own default_url wins over ServerApp's, so LabApp's is the one to set. The
# settings in scripts/lab-settings/ make Markdown files open rendered (Markdown Preview), so the
# first page is the course's contents, not its source; right-click > Open With > Editor edits.
lab: setup-lab
	@sh scripts/system-deps.sh --warn
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" --ServerApp.port=$(LAB_PORT) \
		--LabApp.default_url=/lab/tree/course/README.md \
		--LabApp.app_settings_dir="$(CURDIR)/scripts/lab-settings" $(ALLOW_ROOT)

# The real servers come up before pytest and go down after it, whatever pytest says. If one
# fails to start, the suite still runs: its tests fail and show that server's log.
test: setup-test system-deps grader-deps nbgrader-deps browser-deps
	@status=0; \
	trap '[ -n "$(KEEP_SERVICES)" ] || bash scripts/services/down.sh; exit 130' INT TERM; \
	bash scripts/services/up.sh || { status=$$?; echo "distlab: a server did not start; its tests will fail" >&2; }; \
	DISTLAB_SERVICES=1 NBGRADER="$(CURDIR)/.venv-nbgrader/bin/nbgrader" $(PY) -m pytest $(PYTEST_JOBS) $(PYTEST_ARGS) || status=$$?; \
	[ -n "$(KEEP_SERVICES)" ] || bash scripts/services/down.sh; \
	exit $$status

# Real servers for the lock tests and benchmarks, on 127.0.0.1 (installed with apt-get if missing).
services-up:
	@bash scripts/services/up.sh

services-down:
	@bash scripts/services/down.sh

bench: setup-test
	$(BIN)/distlab bench sim
	$(BIN)/distlab bench tree
	$(BIN)/distlab bench zab
	$(BIN)/distlab bench viz
	$(BIN)/distlab bench grade

# Starts the servers it needs if they are not running, and stops those again afterwards.
bench-locks: setup-test
	$(BIN)/distlab bench locks

clean:
	rm -rf "$(VENV)" .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
