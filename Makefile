# The README's commands. `make demo` runs the whole pipeline on local Kafka and Cassandra; `make test` runs
# every test but the fault suite (`make faults`). All create the virtualenv and install everything on first use.
VENV    ?= .venv
PYTHON  ?= python3
# onnxruntime flavour: cpu or gpu (mutually exclusive extras)
ORT     ?= cpu
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-$(strip $(ORT))

.PHONY: demo test faults faults-short faults-cluster bench bench-gpu lint observability-check deploy-check up down clean

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

# The 3-node scenario alone (tests/faults/test_cluster.py, also part of `make faults`): a cluster of its own,
# `infra up --nodes 3` under .scorecast/faults-cluster on 127.0.0.1-3 (Kafka 29092/29093, Cassandra 29042/27000).
faults-cluster: $(STAMP)
	$(BIN)/pytest -m faults tests/faults/test_cluster.py

bench: $(STAMP)
	$(BIN)/scorecast infra up
	$(BIN)/python -m benchmarks

# CPU vs CUDA for the example models (docs/performance.md, "GPU"): export needs the train extra, run only
# numpy, onnxruntime(-gpu) and the files. `make ORT=gpu bench-gpu` on a GPU machine; CPU columns elsewhere.
GPU_MODELS ?= reports/gpu-models
bench-gpu: $(STAMP)
	$(BIN)/python -m benchmarks.bench_gpu export $(GPU_MODELS)
	$(BIN)/python -m benchmarks.bench_gpu run $(GPU_MODELS)

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

# The Helm chart (infra/helm/scorecast): `helm lint`, `helm template` of the default and the ci/*-values.yaml
# variants, every manifest validated offline (built-in kinds with kubernetes-validate's schemas, KEDA and
# ServiceMonitor with infra/helm/crd-schemas), then the chart-against-code tests. helm is built once with
# `go install` from the Go module proxy into .scorecast/tools (a few minutes on two cores). Not in CI.
HELM_VERSION ?= v3.16.4
HELM_BIN     := .scorecast/tools/bin/helm
CHART        := infra/helm/scorecast
RENDERED     := .scorecast/deploy-check
$(HELM_BIN):
	GOFLAGS=-mod=mod GOBIN=$(abspath $(dir $(HELM_BIN))) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

deploy-check: $(STAMP) $(HELM_BIN)
	$(BIN)/pip install --quiet 'kubernetes-validate>=1.30'
	$(HELM_BIN) lint --strict $(CHART)
	mkdir -p $(RENDERED)
	$(HELM_BIN) template prod $(CHART) --kube-version 1.30.0 > $(RENDERED)/default.yaml
	for values in $(CHART)/ci/*-values.yaml; do \
	  $(HELM_BIN) template prod $(CHART) --kube-version 1.30.0 --values $$values > $(RENDERED)/$$(basename $$values .yaml).yaml || exit 1; \
	done
	$(BIN)/python -m tests.unit.deploy.validate_manifests --kubernetes 1.25.0 --kubernetes 1.37.0 $(RENDERED)/*.yaml
	HELM=$(abspath $(HELM_BIN)) $(BIN)/pytest -q tests/unit/deploy

up: $(STAMP)
	$(BIN)/scorecast infra up

down: $(STAMP)
	$(BIN)/scorecast infra down

clean:
	-$(BIN)/scorecast infra down --purge
	-SCORECAST_INFRA_DIR=.scorecast/faults $(BIN)/scorecast infra down --purge
	-SCORECAST_INFRA_DIR=.scorecast/secure $(BIN)/scorecast infra down --purge
	-SCORECAST_INFRA_DIR=.scorecast/faults-cluster $(BIN)/scorecast infra down --purge
	rm -rf $(VENV) .scorecast .mypy_cache .ruff_cache .pytest_cache
