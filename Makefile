# Orka Secrets. Every target installs what it needs (Node 24, npm packages, Debian packages,
# the Kubernetes binaries), says what it is doing, and caches it under ~/.cache/orka-secrets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# Node >= 22.19 first on PATH for every recipe (the machine's Node 20 is too old).
NODE_BIN := $(shell hack/ensure-node.sh)
export PATH := $(NODE_BIN):$(PATH)

DEPS_STAMP := node_modules/.orka-deps

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(DEPS_STAMP): package.json package-lock.json
	@echo ">> installing npm dependencies (npm ci, Node $$(node --version))"
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

.PHONY: deps
deps: $(DEPS_STAMP) ## install npm dependencies

.PHONY: lint
lint: $(DEPS_STAMP) ## type-check and lint
	@echo ">> type-checking (tsc --noEmit)"
	npx tsc -p tsconfig.json --noEmit
	@echo ">> linting (eslint)"
	npx eslint .

.PHONY: test-unit
test-unit: $(DEPS_STAMP) ## unit tests of pure code
	@echo ">> unit tests"
	npx vitest run --project unit

.PHONY: test
test: lint test-unit ## everything CI runs: lint, unit and integration tests

.PHONY: bench
bench: $(DEPS_STAMP) ## benchmarks: prints tables, each row against a baseline of the same run
	@echo ">> core benchmarks"
	npx tsx test/bench/core.ts

.PHONY: clean
clean: ## remove build output (the cache in ~/.cache/orka-secrets stays)
	rm -rf dist
