# LeadPulse: `make up` runs the product, `make test` runs the whole suite. Both set everything up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEVENV := $(BIN)/python -m config.devenv

.PHONY: up test lint format lock bench clean

$(BIN)/.installed: requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $@

up: $(BIN)/.installed
	$(DEVENV) up

test: $(BIN)/.installed lint
	$(DEVENV) run -- $(BIN)/pytest $(PYTEST_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/mypy .

format: $(BIN)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Regenerate the lock from pyproject.toml's dependencies (needs the package registry).
lock:
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv
	.lockenv/bin/pip install --quiet -e '.[dev]'
	.lockenv/bin/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock
	rm -rf .lockenv

bench: $(BIN)/.installed
	$(DEVENV) run -- $(BIN)/python -m bench $(BENCH)

clean:
	rm -rf $(VENV) .data
