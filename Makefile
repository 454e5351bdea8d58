# The README's two commands are `make demo` and `make test`; each sets up .venv first.
# .venv is a link to an environment keyed by a hash of requirements.txt (see .ci/ensure_venv).
PY := .venv/bin/python
COMPETITION ?= all
DEMO_OUT ?= demo_runs

.PHONY: venv test test-all demo bench lint

venv:
	@bash .ci/ensure_venv

test: venv
	$(PY) -m pytest

test-all: venv
	$(PY) -m pytest -m "slow or not slow"

demo: venv
	$(PY) -m competitions.demo --competition $(COMPETITION) --out $(DEMO_OUT)

bench: venv
	$(PY) -m benchmarks.run_all

lint: venv
	$(PY) -m ruff check .
