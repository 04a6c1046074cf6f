# AegisAI developer entry points. `make run` and `make test` work on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
PROTO_SRC := $(wildcard protos/aegis/v1/*.proto)
# Every Python dependency, direct and transitive, pinned with hashes (pip-tools; make lock).
LOCK := requirements.lock
PIP_COMPILE_FLAGS := --generate-hashes --allow-unsafe --strip-extras --all-extras \
	--no-emit-index-url --no-emit-find-links
AUDIT ?= $(or $(AEGIS_AUDIT_BACKEND),embedded)
# INGEST=kinesis: the stream consumer beside the mesh, its streams on a local moto server.
INGEST ?= none
EVENTS ?= 2000
# Logs, pid files, audit data and models of the local cluster.
STATE ?= .aegis
# Trained models, where the agents and the router read them (AEGIS_AGENT_MODEL_DIR's default).
MODELS ?= .aegis/models
# TLS=1: the local cluster speaks mutual TLS, certificates in $(STATE)/tls (docs/operations.md).
TLS ?=
TLS_FLAG := $(if $(TLS),--tls)

.PHONY: help install lock proto proto-check proto-lint lint test test-unit test-service \
        test-integration models train evaluate bench ecs-render ecs-check ecs-images cluster-up cluster-down cluster-status run clean

# The settings a target reads, resolved as this make would use them (override: make run EVENTS=500).
HELP_VARIABLES := PYTHON AUDIT INGEST EVENTS STATE MODELS TLS UPGRADE REPOSITORY TAG PUSH

help:  ## list the targets, then the variables they read with their values now
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' -v state='$(STATE)' -v models='$(MODELS)' \
		'{gsub(/\$$\(STATE\)/, state, $$2); gsub(/\$$\(MODELS\)/, models, $$2); printf "  %-18s %s\n", $$1, $$2}'
	@echo
	@echo "Variables (make TARGET NAME=value):"
	@$(foreach v,$(HELP_VARIABLES),printf "  %-18s %s\n" "$(v)" "$(if $($(v)),$($(v)),(unset))";)

install: $(STAMP)  ## venv + every dependency (idempotent)

# Exactly the locked set, hash-checked. A new venv gets it from pip (which brings pip-sync);
# an existing one from pip-sync, which first removes what the lock no longer lists (so that a
# package replaced by another shipping the same module cannot delete the newcomer's files).
# The project itself goes in editable, with no dependency of its own resolved.
$(STAMP): $(LOCK) pyproject.toml package-lock.json
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/pip-sync || $(PY) -m pip install -qq --require-hashes --no-deps -r $(LOCK)
	$(BIN)/pip-sync -q --pip-args "--no-deps -qq" $(LOCK)
	$(PY) -m pip install -qq --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	npm ci --silent --no-audit --no-fund
	touch $@

lock: $(STAMP)  ## refresh requirements.lock after a dependency changed in pyproject.toml (UPGRADE=1: newest of everything)
	$(BIN)/pip-compile -q $(PIP_COMPILE_FLAGS) $(if $(UPGRADE),--upgrade) -o $(LOCK) pyproject.toml

proto: $(STAMP)  ## regenerate the Python code beside the protos
	$(PY) -m grpc_tools.protoc -I protos --python_out=protos --grpc_python_out=protos \
		--pyi_out=protos $(PROTO_SRC)

proto-lint: $(STAMP)  ## buf lint (STANDARD rules)
	npx --no-install buf lint

proto-check: $(STAMP) proto-lint  ## fail when the generated code is stale
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	$(PY) -m grpc_tools.protoc -I protos --python_out=$$tmp --grpc_python_out=$$tmp \
		--pyi_out=$$tmp $(PROTO_SRC) && \
	for f in $$tmp/aegis/v1/*; do \
		cmp -s $$f protos/aegis/v1/$$(basename $$f) || { echo "stale: protos/aegis/v1/$$(basename $$f) (run make proto)"; exit 1; }; \
	done && \
	$(PY) -c 'import aegis.v1.router_pb2_grpc' && echo "generated code is up to date"

lint: $(STAMP)  ## ruff + mypy
	$(BIN)/ruff check .
	$(BIN)/mypy .

test: $(STAMP) proto-check ecs-check lint  ## everything CI runs
	$(BIN)/pytest -q tests

test-unit: $(STAMP)  ## pytest tests/unit only (no gRPC)
	$(BIN)/pytest -q tests/unit

test-service: $(STAMP)  ## pytest tests/service only (real in-process servers)
	$(BIN)/pytest -q tests/service

test-integration: $(STAMP)  ## pytest tests/integration only (whole local clusters)
	$(BIN)/pytest -q tests/integration

ecs-render: $(STAMP)  ## regenerate ecs/ (CloudFormation, compose, image ignore file) from the registry
	$(PY) -m ecs.render

ecs-check: $(STAMP)  ## fail when ecs/ is stale; cfn-lint the template; hadolint the Dockerfile
	$(PY) -m ecs.render --check
	$(BIN)/cfn-lint ecs/template.yaml
	$(BIN)/hadolint --failure-threshold info ecs/docker/Dockerfile

ecs-images: $(STAMP)  ## build (PUSH=1: and push) every image: REPOSITORY=... TAG=...
	$(PY) -m ecs.images --repository $(REPOSITORY) --tag $(TAG) $(if $(PUSH),--push)

bench: $(STAMP) models  ## benchmarks (small models first if none): realistic histories, meshes vs the transport ceiling; JSON targets + plot in $(STATE)/bench; TLS=1: all over mutual TLS
	$(PY) -m bench.run --state-dir $(STATE)/bench $(TLS_FLAG)

cluster-up: $(STAMP)  ## every service in the background, once all are SERVING; AUDIT=embedded|aws|moto; INGEST=kinesis: the stream consumer too; TLS=1: mutual TLS
	$(BIN)/aegis cluster up --audit $(AUDIT) --ingest $(INGEST) --state-dir $(STATE) $(TLS_FLAG)

cluster-down: $(STAMP)  ## graceful stop of the local cluster
	$(BIN)/aegis cluster down --state-dir $(STATE)

cluster-status: $(STAMP)  ## pid, port and health of each local service
	$(BIN)/aegis cluster status --state-dir $(STATE) $(TLS_FLAG)

models: $(STAMP)  ## small default models, only where none of these features exist (make run does this first)
	test -f $(MODELS)/network/model.pt || $(PY) -m aegis_cli.train_network --small --quiet --out $(MODELS)/network
	$(BIN)/aegis train --small --if-missing --model-dir $(MODELS)

train: $(STAMP)  ## full models: the GNN first, then behavior, detection and the combiner over all
	$(PY) -m aegis_cli.train_network --events 200000 --out $(MODELS)/network
	$(BIN)/aegis train --model-dir $(MODELS)

evaluate: $(STAMP)  ## held-out world through a fresh cluster; report in $(STATE)/evaluation
	$(BIN)/aegis evaluate --model-dir $(MODELS) --state-dir $(STATE)/evaluate-cluster \
		--out $(STATE)/evaluation

run: $(STAMP) models  ## the main job: models if missing, cluster up, replay logins, serve until Ctrl-C
	$(BIN)/aegis cluster run --events $(EVENTS) --audit $(AUDIT) --ingest $(INGEST) --state-dir $(STATE) $(TLS_FLAG)

clean:  ## remove the venv, node_modules and local cluster state
	rm -rf $(VENV) node_modules .aegis
