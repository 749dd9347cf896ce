# Timeline: `make run` serves the bundled corpus on http://127.0.0.1:8000, `make test` is what CI runs.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=

# Unless the caller chose PYTHON, build the venv with python3.11 when the machine has it.
ifeq ($(origin PYTHON),file)
VENV_PYTHON := $(shell command -v python3.11 2>/dev/null || echo $(PYTHON))
else
VENV_PYTHON := $(PYTHON)
endif

.PHONY: venv run test lint fmt bench clean distclean

# What `make run` prints to try a write: the README's first event, inline, so it runs as pasted.
# A line ends in `\$(nothing)` to print its backslash: make would join it to the next line.
nothing :=
define CURL_EXAMPLE
  curl -X POST http://$(HOST):$(PORT)/api/events \$(nothing)
       -H "Authorization: Bearer $$(cat .timeline/local-token)" \$(nothing)
       -H 'Content-Type: application/json' \$(nothing)
       -d '{"type": "development_reported", "kind": "transfer", "stage": "delivered",
            "title": "North Korea delivered munitions containers to Russia",
            "actors": {"supplier": "PRK", "recipient": "RUS"},
            "item": {"category": "munitions_unspecified"}, "occurred": "2023-09-07/2023-10-01",
            "report": {"source": {"originator": "US Government", "channel": "imagery"},
                       "asserted_on": "2023-10-13", "reliability": "B", "credibility": 2,
                       "figure": {"unit": "container", "qualifier": "more_than", "value": 1000}}}'
endef
export CURL_EXAMPLE

venv: $(VENV)/.installed

# Reinstalls only when pyproject.toml is newer than the stamp.
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(VENV_PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: venv
	$(BIN)/timeline seed
	@mkdir -p .timeline
	@$(BIN)/timeline tokens create --name "local-$$(date +%Y%m%d-%H%M%S)" --role editor > .timeline/local-token
	@echo
	@echo "Local editor token (also in .timeline/local-token):"
	@echo "  $$(cat .timeline/local-token)"
	@echo "Append an event (paste it as is in another shell, in this folder):"
	@printf '%s\n' "$$CURL_EXAMPLE"
	@echo "Open http://$(HOST):$(PORT)/ in a browser; the API is described at http://$(HOST):$(PORT)/api/schema"
	@echo
	$(BIN)/timeline serve --host $(HOST) --port $(PORT)

test: venv
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: venv
	$(BIN)/python bench/queries.py
	$(BIN)/python bench/rebuild.py

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis test-artifacts
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
