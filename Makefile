# LeadPulse: `make up` runs the product, `make test` runs the whole suite. Both set everything up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEVENV := $(BIN)/python -m config.devenv

.PHONY: up test lint format lock bench clean browser deploy-tools imap-server

$(BIN)/.installed: requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $@

up: $(BIN)/.installed
	$(DEVENV) up

# The suite runs in two pytest-xdist workers (one per core here), a module per worker at a time (module-scoped
# servers and browsers stay in one process); PYTEST_ARGS="-n 0" runs it in one process.
PYTEST_ARGS ?= -n 2 --dist loadfile

test: $(BIN)/.installed lint browser deploy-tools imap-server
	$(DEVENV) run -- $(BIN)/pytest $(PYTEST_ARGS)

# The browser tests drive Debian's chromium: installed when missing, if we are root (else they skip, saying so).
browser:
	@command -v chromium >/dev/null 2>&1 || if [ "$$(id -u)" = 0 ]; then \
		(apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium) \
		|| echo "could not install chromium: the browser tests will be skipped"; \
	else echo "chromium is not installed and installing it needs root: the browser tests will be skipped"; fi

# tests/ops/test_deploy.py checks the nginx site with `nginx -t` and the units with `systemd-analyze verify`:
# Debian's nginx-light (a few hundred KB) and systemd are installed when missing, if we are root (else
# those two tests are skipped, saying so).
deploy-tools:
	@command -v nginx >/dev/null 2>&1 || if [ "$$(id -u)" = 0 ]; then \
		(apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx-light) \
		|| echo "could not install nginx-light: the nginx test will be skipped"; \
	else echo "nginx is not installed and installing it needs root: the nginx test will be skipped"; fi
	@command -v systemd-analyze >/dev/null 2>&1 || if [ "$$(id -u)" = 0 ]; then \
		(apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends systemd) \
		|| echo "could not install systemd: the systemd test will be skipped"; \
	else echo "systemd-analyze is not installed and installing it needs root: the systemd test will be skipped"; fi

# tests/tenant_apps/mail/test_imap.py syncs from a real IMAP server: Debian's dovecot-imapd, installed when
# missing, if we are root (else those tests are skipped, saying so). The tests run it themselves, on a free
# port with a configuration of their own; the package's own service is not started.
imap-server:
	@(command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]) || if [ "$$(id -u)" = 0 ]; then \
		(apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends dovecot-imapd) \
		|| echo "could not install dovecot-imapd: the IMAP tests will be skipped"; \
	else echo "dovecot is not installed and installing it needs root: the IMAP tests will be skipped"; fi

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/mypy .
	# the layers (pyproject.toml [tool.importlinter]): kernel, platform through context, api independence
	PYTHONPATH=. $(BIN)/lint-imports

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
