# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench mutants clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/dse run search_spaces/quickstart.toml

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python benchmarks/analog_step.py
	$(BIN)/python benchmarks/engine_overhead.py

# Mutation score per module (issue 16); slow (tens of minutes on 2 cores), so not part of `make test`.
mutants: install
	$(BIN)/python benchmarks/mutants.py

clean:
	rm -rf $(VENV) results/*/
