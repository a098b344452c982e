# tuneyard: `make run` serves on the embedded default, `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: run test test-fast check lint types format venv clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/tuneyard serve

# Every tier, on every core (pytest-xdist): the integration tier's servers, workers and
# clusters are each a test's own, on free ports. Then the browser tests (tests/browser), in a
# process of their own: they share one server and one Chromium, and Playwright's sync API
# leaves an event loop running in its thread. Screenshots: test-output/browser/.
test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -n auto -m "not browser"
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m browser tests/browser

# The fast tiers only (no server, no worker that trains): unit, contract, dialects, on
# every core (pytest-xdist); under 60 s on 2 cores.
test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -n auto tests/unit tests/contract tests/dialects

lint: $(STAMP)
	$(BIN)/ruff check tuneyard tests bench
	$(BIN)/ruff format --check tuneyard tests bench

types: $(STAMP)
	$(BIN)/mypy

check: lint types test

format: $(STAMP)
	$(BIN)/ruff format tuneyard tests bench
	$(BIN)/ruff check --fix tuneyard tests bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
