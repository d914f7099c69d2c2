# Two commands on a fresh machine: `make run` and `make test`. Everything they need is installed here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
INTEROP := tests/interop
NODE_INSTALLED := $(INTEROP)/node_modules/.installed
N8N := tests/n8n
N8N_INSTALLED := $(N8N)/node_modules/.installed

.PHONY: run test lint typecheck cfn-lint pytest install node chromium bench clean check-deploy deploy

run: install node
	$(BIN)/wagate serve

test: install node chromium lint typecheck cfn-lint pytest

install: $(INSTALLED)

$(INSTALLED): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[dev]'
	touch $@

# Baileys (pinned) is the reference peer of the web engine's interop tests; they skip without node.
node: $(NODE_INSTALLED) $(N8N_INSTALLED)

# WhatsApp's protobufs are generated from the .proto inside the pinned npm package (never committed).
$(NODE_INSTALLED): $(INTEROP)/package.json $(INTEROP)/package-lock.json | install
	@if command -v npm >/dev/null; then \
		(cd $(INTEROP) && npm ci --no-audit --no-fund --loglevel=error) && \
		$(BIN)/python -m connector.engines.web.proto.build && touch $@; \
	else echo "npm not found: the interop tests against Baileys will be skipped"; fi

# The n8n Evolution node (pinned) whose requests tests/e2e/test_evolution_clients.py replays. Its scripts
# are not run: its preinstall insists on pnpm, and nothing in it is built on install.
$(N8N_INSTALLED): $(N8N)/package.json $(N8N)/package-lock.json
	@if command -v npm >/dev/null; then \
		(cd $(N8N) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) && touch $@; \
	else echo "npm not found: the n8n node's replay will be skipped"; fi

# Headless Chromium for the dashboard's browser tests: Debian's package (playwright never downloads one).
# Installed only when missing and we can (root, apt); otherwise those tests skip and say why.
chromium:
	@if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else echo "chromium not found: the dashboard's browser tests will be skipped"; fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/vulture

typecheck: install
	$(BIN)/mypy

cfn-lint: install
	$(BIN)/cfn-lint template.yaml

pytest: install
	$(BIN)/pytest

# What `sam build && sam deploy` need (SAM CLI, python3.12 or Docker, AWS credentials): says what is missing.
check-deploy:
	@$(PYTHON) -m local.deploy_check

# Builds with python3.12 when it runs here, else in SAM's build container; then deploys (asks the first time).
deploy: check-deploy
	@if python3.12 -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; \
	then sam build; else sam build --use-container; fi
	sam deploy --guided

bench: install
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .wagate .pytest_cache .mypy_cache .ruff_cache $(INTEROP)/node_modules
