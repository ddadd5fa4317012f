PY ?= .venv/bin/python
# pip runs only when pyproject.toml is newer than the stamp of what was installed: `make dev` starts
# in a second, not after 19 s of pip. `dev` needs the runtime only; lint and test add the dev tools.
RUNTIME := .venv/.installed-runtime
DEVTOOLS := .venv/.installed-dev
.PHONY: dev setup tools lint test bench check conformance
# `test` installs its tools before the venv is made (python3-venv may be one of them): keep order.
.NOTPARALLEL:
.venv/bin/python:
	python3 -m venv .venv
$(RUNTIME): pyproject.toml | .venv/bin/python
	$(PY) -m pip install -q -e .
	touch $@
$(DEVTOOLS): pyproject.toml | .venv/bin/python
	$(PY) -m pip install -q -e '.[dev]'
	touch $@ $(RUNTIME)
setup: $(DEVTOOLS)
dev: $(RUNTIME)
	$(PY) -m workflows dev $(ARGS)
lint: $(DEVTOOLS)
	$(PY) -m ruff check workflows tasks tests
	$(PY) -m ruff format --check workflows tasks tests
	$(PY) -m mypy
# chromium, aws-sam-cli and checkov, as CI installs them (a quick no-op once there): see .ci/install-tools.
INSTALL_TOOLS ?= bash .ci/install-tools
tools:
	$(INSTALL_TOOLS)
test: tools $(DEVTOOLS)
	$(PY) -m pytest -n auto
bench: $(RUNTIME)
	$(PY) -m workflows.bench $(ARGS)
check: lint test
