# The two commands of the README: `make up` (the local stack) and `make test` (the whole suite).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

NPM_STAMP := frontend/node_modules/.installed
# the peer of `alphapulse bench e2e` (docs/performance.md): cryptofeed in its own Python 3.13
PEER_VENV ?= .venv-cryptofeed
PEER_STAMP := $(PEER_VENV)/.installed

.PHONY: up test install peer lint bench clean dashboard dashboard-test audit

$(STAMP): pyproject.toml constraints.txt setup.py services/alphapulse/collectors/_speedups.pyx services/alphapulse/relay/_fastpath.pyx
	@test -x $(PY) || "$$(bash .ci/find-python)" -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

$(PEER_STAMP): constraints-peer.txt
	@test -x $(PEER_VENV)/bin/python || "$$(bash .ci/find-python 3.13)" -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/python -m pip install -q --upgrade pip
	$(PEER_VENV)/bin/python -m pip install -q -c constraints-peer.txt cryptofeed pyzmq
	@touch $(PEER_STAMP)

peer: $(PEER_STAMP)

$(NPM_STAMP): frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	@touch $(NPM_STAMP)

# the dashboard: built into frontend/dist, which `alphapulse api` serves at /
dashboard: $(NPM_STAMP)
	cd frontend && npm run build

dashboard-test: $(NPM_STAMP)
	cd frontend && npm test

up: $(STAMP)
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory dashboard; \
	  else echo "npm not found: the API will serve a page explaining how to build the dashboard"; fi
	$(VENV)/bin/alphapulse up $(ARGS)

test: $(STAMP) $(PEER_STAMP) dashboard-test dashboard
	@bash .ci/ensure-services
	$(PY) -m pytest -m "not slow" $(ARGS)

# known vulnerabilities in the pinned Python dependencies and the dashboard's (docs/security.md);
# needs the network (PyPI's vulnerability data, the npm registry): not part of `make test`
audit: $(STAMP) $(NPM_STAMP)
	$(VENV)/bin/pip-audit -r constraints.txt --no-deps --disable-pip --strict --progress-spinner off
	cd frontend && npm audit --audit-level=low

lint: $(STAMP)
	$(VENV)/bin/ruff check services operator e2e
	$(VENV)/bin/ruff format --check services operator e2e
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) $(PEER_VENV) .alphapulse
