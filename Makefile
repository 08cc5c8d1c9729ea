# The two commands of the README: `make up` (the local stack) and `make test` (the whole suite).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: up test install lint bench clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || "$$(bash .ci/find-python)" -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

up: $(STAMP)
	$(VENV)/bin/alphapulse up $(ARGS)

test: $(STAMP)
	@bash .ci/ensure-services
	$(PY) -m pytest -m "not slow" $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check services operator e2e
	$(VENV)/bin/ruff format --check services operator e2e
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .alphapulse
