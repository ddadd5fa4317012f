PY ?= .venv/bin/python
.PHONY: dev setup lint test bench check conformance
setup:
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q -e '.[dev]'
dev: setup
	$(PY) -m workflows dev $(ARGS)
lint: setup
	$(PY) -m ruff check workflows tasks tests
	$(PY) -m ruff format --check workflows tasks tests
	$(PY) -m mypy
test: setup
	$(PY) -m pytest -n auto
bench: setup
	$(PY) -m workflows.bench $(ARGS)
check: lint test
