PY ?= .venv/bin/python
.PHONY: dev setup tools lint test bench check conformance
# `test` installs its tools before `setup` makes the venv (python3-venv may be one of them): keep order.
.NOTPARALLEL:
setup:
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q -e '.[dev]'
dev: setup
	$(PY) -m workflows dev $(ARGS)
lint: setup
	$(PY) -m ruff check workflows tasks tests
	$(PY) -m ruff format --check workflows tasks tests
	$(PY) -m mypy
# chromium, aws-sam-cli and checkov, as CI installs them (a quick no-op once there): see .ci/install-tools.
tools:
	bash .ci/install-tools
test: tools setup
	$(PY) -m pytest -n auto
bench: setup
	$(PY) -m workflows.bench $(ARGS)
check: lint test
