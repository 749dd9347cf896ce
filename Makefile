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
  curl -sS -X POST http://$(HOST):$(PORT)/api/events \$(nothing)
       -H "Authorization: Bearer $$(cat .timeline/local-token)" \$(nothing)
       -H 'Content-Type: application/json' \$(nothing)
       -w '\n' -d '{"type": "development_reported", "kind": "transfer", "stage": "delivered",
            "title": "Example: a monitor counts North Korean shells delivered to a Russian depot",
            "actors": {"supplier": "PRK", "recipient": "RUS"},
            "item": {"category": "munitions_unspecified"}, "occurred": "2024-03",
            "report": {"source": {"originator": "Example Monitor", "channel": "monitor_report"},
                       "asserted_on": "2024-04-02", "reliability": "C", "credibility": 3,
                       "figure": {"unit": "round", "qualifier": "about", "value": 5000}}}'
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
	@# a second `make run` beside a server on the port stops here, before it revokes that
	@# server's token
	$(BIN)/timeline serve --check --host $(HOST) --port $(PORT)
	$(BIN)/timeline seed
	@mkdir -p .timeline
	@# one live local token: the new one is made first, then the one of the previous run is
	@# revoked (if its database is still there), so a run that fails to make one keeps the old
	@name="local-$$(date +%Y%m%d-%H%M%S)"; (umask 077; \
	  $(BIN)/timeline tokens create --name "$$name" --role editor > .timeline/local-token.new) && \
	  { test ! -f .timeline/local-token-name || \
	    $(BIN)/timeline tokens revoke "$$(cat .timeline/local-token-name)" 2>/dev/null || true; } && \
	  mv .timeline/local-token.new .timeline/local-token && echo "$$name" > .timeline/local-token-name
	@echo
	@echo "Local editor token (also in .timeline/local-token):"
	@echo "  $$(cat .timeline/local-token)"
	@echo "Append an event (paste it as is in another shell, in this folder). It stays in the log"
	@echo "for good, as every event does: to start again without it, stop the server and remove"
	@echo "the database file (timeline.db, unless TIMELINE_DATABASE names another)."
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
	$(BIN)/python bench/overview.py

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis test-artifacts
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
