# Salus: `make run` and `make test` do their own set-up (venv, install).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= ./var/demo

.PHONY: run test check lint typecheck unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/salus demo --data-dir $(DATA_DIR)

check: lint typecheck

lint: $(STAMP)
	$(BIN)/ruff check mailserver gateway crypto directory storage config tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) check
	$(BIN)/pytest -q -n 2 --dist loadgroup

# Each benchmark prints its own command and table (docs/benchmarks.md). imap needs Debian's
# dovecot-imapd, submission's Postfix rows need postfix, scale needs a PostgreSQL.
BENCHES := crypto openpgp documents directory_import submission relay imap scale
bench: $(STAMP)
	for b in $(BENCHES); do $(BIN)/python -m bench.$$b || exit 1; done

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
