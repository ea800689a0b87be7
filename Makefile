# The two Quickstart commands. Each creates .venv (if missing) and installs the project.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup sandbox submit test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip >/dev/null

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e ".[dev]"
	touch $@

# The grader runs student code in a bubblewrap sandbox (README: Security). A fresh Debian or
# Ubuntu machine lacks it: as root, install it; otherwise say how (grading still works, not
# isolated, and the sandbox tests fail saying so).
# $(call ensure_debian,CHECK,PACKAGES,WHAT): when the shell test CHECK fails, install the Debian
# PACKAGES as root with apt-get, or else say how (WHAT names what needs them).
define ensure_debian
	@$(1) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing $(2) ($(3) needs it)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null; \
	  else \
	    echo "note: $(3) needs: sudo apt-get install $(2)"; \
	  fi; }
endef

sandbox:
	$(call ensure_debian,command -v bwrap >/dev/null 2>&1,bubblewrap libseccomp2,the grader's sandbox)
	@# The grading service's tests start a throwaway PostgreSQL cluster (initdb, pg_ctl).
	$(call ensure_debian,ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1,postgresql,the grading service's test suite)
	@# The service's pages are tested in Debian's chromium, driven by Playwright (no download).
	$(call ensure_debian,test -x /usr/bin/chromium,chromium,the grading service's browser test)

setup: $(VENV)/.installed sandbox

# Main job: grade an assignment the way a student does. Defaults to the week-2 stub in
# assignments/ (every part "not implemented yet" until you fill it in); e.g.
# `make submit ID=week1/initialization` or `make submit ID=week2/optimization FILE=my_copy.py`.
# Reference solutions (grader/course/<id>/solution.py) are graded by the tests and benchmarks.
ID   ?= week2/optimization
FILE ?= assignments/$(ID).py
submit: setup
	$(BIN)/grader submit $(ID) --file $(FILE)

# Whole test suite (slow behavioural tests included), two worker processes.
test: setup
	$(BIN)/python -m pytest -n 2 --dist worksteal --durations=15

bench: setup
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache
