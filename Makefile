# The README's commands. `make demo` runs the whole pipeline on local Kafka and Cassandra; `make test` runs
# every test but the fault suite (`make faults`). All create the virtualenv and install everything on first use.
VENV    ?= .venv
PYTHON  ?= python3
# onnxruntime flavour: cpu or gpu (mutually exclusive extras)
ORT     ?= cpu
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-$(strip $(ORT))

.PHONY: demo test faults faults-short bench lint observability-check up down clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,$(strip $(ORT))]'
	rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP)
	$(BIN)/scorecast demo

test: $(STAMP)
	$(BIN)/pytest

# The fault suite (tests/faults): kill -9 / SIGTERM of a Kafka and Cassandra of its own (under
# .scorecast/faults, other ports), never of the services `make up` started. faults-short is CI's part of it.
faults: $(STAMP)
	$(BIN)/pytest -m faults tests/faults

faults-short: $(STAMP)
	$(BIN)/pytest -m "faults and not slow" tests/faults

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The operations kit: the offline lint (unit tests), then `promtool check rules` if promtool is installed
# (go install github.com/prometheus/prometheus/cmd/promtool@v0.316.0); not required by CI.
PROMTOOL ?= $(shell command -v promtool || echo $(shell go env GOPATH 2>/dev/null)/bin/promtool)
observability-check: $(STAMP)
	$(BIN)/pytest -q tests/unit/telemetry/test_ops_kit.py
	@if [ -x "$(PROMTOOL)" ]; then $(PROMTOOL) check rules infra/observability/prometheus/scorecast-alerts.yml; \
	else echo "promtool not found: rules checked by the unit tests only"; fi

up: $(STAMP)
	$(BIN)/scorecast infra up

down: $(STAMP)
	$(BIN)/scorecast infra down

clean:
	-$(BIN)/scorecast infra down --purge
	-SCORECAST_INFRA_DIR=.scorecast/faults $(BIN)/scorecast infra down --purge
	rm -rf $(VENV) .scorecast .mypy_cache .ruff_cache .pytest_cache
