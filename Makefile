# The two Quickstart commands. Each creates .venv (if missing) and installs the project.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup submit test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip >/dev/null

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

# Main job: grade an assignment. Defaults to the week-2 reference solution (full marks);
# a student runs e.g. `make submit ID=week1/initialization FILE=assignments/week1/initialization.py`.
ID   ?= week2/optimization
FILE ?= tests/solutions/$(ID).py
submit: setup
	$(BIN)/grader submit $(ID) --file $(FILE)

# Whole test suite (slow behavioural tests included), two worker processes.
test: setup
	$(BIN)/python -m pytest -n 2 --dist worksteal --durations=15

bench: setup
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache
