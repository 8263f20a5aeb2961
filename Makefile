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
	npx tsc -p src/dashboard/web/tsconfig.json --noEmit
	@echo ">> linting (eslint)"
	npx eslint .

.PHONY: test-unit
test-unit: $(DEPS_STAMP) ## unit tests of pure code
	@echo ">> unit tests"
	npx vitest run --project unit

.PHONY: k8s-binaries
k8s-binaries: ## build and cache etcd + Kubernetes 1.20 binaries (about 10 minutes, once)
	@hack/k8s-binaries.sh >/dev/null

.PHONY: test-integration
test-integration: build ## integration tests against a real etcd + kube-apiserver (the sidecar runs compiled, as in the image)
	@hack/apt-install.sh --why "completion scripts checked in each shell; promtool checks the alerts and metrics" zsh fish prometheus
	@echo ">> Kubernetes binaries (built once from Debian's source package, then cached)"
	@bin=$$(hack/k8s-binaries.sh); echo "   $$bin"; \
	  echo ">> integration tests (one control plane for the run, a namespace per test)"; \
	  ORKA_K8S_BIN=$$bin npx vitest run --project integration

.PHONY: cli-binary
cli-binary: $(DEPS_STAMP) ## the standalone CLI for machines without Node (a Node single executable): dist/orka-secrets-linux-x64
	@hack/cli-binary.sh >/dev/null

.PHONY: release
release: build ## release artifacts in dist/release/: the chart (as helm package makes it), the npm tarball, the CLI for linux-x64 and linux-arm64, a CycloneDX SBOM, SHA256SUMS (docs/release.md)
	@hack/release.sh

.PHONY: test-package
test-package: build ## the CLI as people install it (npm pack into an empty prefix, make cli-binary with no Node) and make release's artifacts (about five minutes)
	@bin=$$(hack/k8s-binaries.sh); ORKA_K8S_BIN=$$bin npx vitest run --project package

.PHONY: demo
demo: build ## the main job: the whole flow on a real local control plane, narrated, cleaned up
	@echo ">> Orka Secrets demo (first run builds Kubernetes from Debian sources: about 10 minutes)"
	@bin=$$(hack/k8s-binaries.sh); ORKA_K8S_BIN=$$bin npx tsx test/env/demo.ts

.PHONY: test-image
test-image: $(DEPS_STAMP) ## the image from the Dockerfile, exercised with testcontainers (starts dockerd if needed)
	@echo ">> Docker engine and the local base image (Debian bookworm + Node 24; built once, then cached)"
	@base=$$(hack/docker.sh); echo "   $$base"; \
	  echo ">> image tests (testcontainers: build from the Dockerfile, run the sidecar read-only)"; \
	  ORKA_BASE_IMAGE=$$base npx vitest run --project image

.PHONY: test-e2e
test-e2e: build ## end to end on a single-node cluster (kubelet + Docker): image, chart, pods with the sidecar, the Secrets page in Chromium
	@echo ">> Kubernetes binaries, Docker engine, base and pause images"
	@bin=$$(hack/k8s-binaries.sh); ORKA_K8S_BIN=$$bin hack/docker.sh >/dev/null; \
	  hack/apt-install.sh --why "kube-proxy; the Secrets page as the chart deploys it, in Chromium" conntrack chromium; \
	  echo ">> e2e tests (single-node cluster: controller-manager, scheduler, kubelet, kube-proxy)"; \
	  ORKA_K8S_BIN=$$bin npx vitest run --project e2e

.PHONY: test-browser
test-browser: build ## the Secrets page in Debian's Chromium (Playwright) against a real control plane, operator and sidecar
	@hack/apt-install.sh --why "Playwright drives Debian's Chromium; no browser download" chromium
	@bin=$$(hack/k8s-binaries.sh); echo ">> browser tests (screenshots in test-results/dashboard/)"; \
	  ORKA_K8S_BIN=$$bin npx vitest run --project browser

.PHONY: dashboard
dashboard: build ## the Secrets page on a local control plane with the operator and a tenant with sample secrets; prints its URL
	@bin=$$(hack/k8s-binaries.sh); ORKA_K8S_BIN=$$bin npx tsx test/env/dashboard-demo.ts

.PHONY: test
test: lint test-unit test-integration test-package test-browser test-image test-e2e ## everything CI runs: lint, unit, integration, package, browser, image and e2e tests

.PHONY: cluster-up
cluster-up: $(DEPS_STAMP) ## start the local control plane for a person; prints the kubeconfig
	@npx tsx test/env/cluster.ts up

.PHONY: run
run: $(DEPS_STAMP) ## run the operator on this machine against the control plane of cluster-up
	@dir=$$(cat $${ORKA_CACHE_DIR:-$$HOME/.cache/orka-secrets}/cluster-dir 2>/dev/null) && [ -f "$$dir/kubeconfig" ] || { echo "no control plane: run make cluster-up first"; exit 1; }; \
	  export KUBECONFIG=$$dir/kubeconfig; \
	  echo ">> installing the CRD and the namespace orka-system"; \
	  kubectl apply -f crds/orkasecret.yaml; \
	  kubectl get ns orka-system >/dev/null 2>&1 || kubectl create namespace orka-system; \
	  echo ">> starting the operator (Ctrl-C stops it gracefully)"; \
	  ORKA_KUBECONFIG=$$dir/kubeconfig ORKA_HTTP_ADDRESS=127.0.0.1 exec node --import tsx src/operator/main.ts

.PHONY: cluster-down
cluster-down: $(DEPS_STAMP) ## stop the control plane started by cluster-up
	@npx tsx test/env/cluster.ts down

.PHONY: build
build: $(DEPS_STAMP) ## compile TypeScript to dist/, bundle the Secrets page, and the image's entrypoint into dist/bundle (what the image runs)
	npx tsc -p tsconfig.json
	node hack/build-dashboard.mjs
	node hack/build-bundle.mjs

.PHONY: version
version: ## stamp VERSION (X.Y.Z) into package.json, the chart and CHANGELOG.md: the one place a release's version is set
	@test -n "$(VERSION)" || { echo "usage: make version VERSION=X.Y.Z"; exit 2; }
	node hack/set-version.mjs $(VERSION)

.PHONY: bench
bench: build ## benchmarks: prints tables, each row against a baseline of the same run; the whole output also goes to bench-results/last.log
	@mkdir -p bench-results
	@$(MAKE) --no-print-directory bench-parts 2>&1 | tee bench-results/last.log

.PHONY: check-claims
check-claims: $(DEPS_STAMP) ## the measured figures in README.md and docs/ against the last make bench (bench-results/last.log)
	npx tsx hack/check-claims.ts --log bench-results/last.log

# The parts of make bench; docs/claims.yaml names them (hack/check-claims.ts reads this recipe).
.PHONY: bench-parts
bench-parts:
	@echo ">> core benchmarks"
	npx tsx test/bench/core.ts
	@echo ">> orka-secrets refs over 10,000 workflow files vs grep -rn"
	npx tsx test/bench/refs.ts
	@echo ">> orka-secrets run: 100 MB holding 50 values through run vs cat, line delay, start-up vs node -e 0"
	@bin=$$(hack/k8s-binaries.sh); ORKA_K8S_BIN=$$bin npx tsx test/bench/run.ts
	@echo ">> process start-up: the image's bundle vs tsc's files with node_modules"
	@bin=$$(hack/k8s-binaries.sh); ORKA_K8S_BIN=$$bin npx tsx test/bench/startup.ts
	@echo ">> time bounds the docs promise (revocation, silent stream, stale limit, reconnect, leader step-down) vs the documented value"
	@bin=$$(hack/k8s-binaries.sh); ORKA_K8S_BIN=$$bin npx tsx test/bench/bounds.ts
	@echo ">> operator at scale (BENCH_OPERATOR_N=1000,10000; takes several minutes)"
	@bin=$$(hack/k8s-binaries.sh); ORKA_K8S_BIN=$$bin npx tsx test/bench/operator.ts
	@echo ">> sidecar under load (autocannon), cold resolves, propagation, memory"
	@bin=$$(hack/k8s-binaries.sh); ORKA_K8S_BIN=$$bin npx tsx test/bench/sidecar.ts
	@echo ">> resolver cost: operator CPU per 5-name resolve vs apiserver CPU per Secret GET, memory per change stream"
	@bin=$$(hack/k8s-binaries.sh); ORKA_K8S_BIN=$$bin npx tsx test/bench/resolver.ts
	@echo ">> operator memory across 2,000 change streams, before and after they close (glibc malloc vs the chart's jemalloc)"
	@hack/apt-install.sh --why "the allocator the image preloads into the operator" libjemalloc2
	@bin=$$(hack/k8s-binaries.sh); ORKA_K8S_BIN=$$bin npx tsx test/bench/streams.ts
	@echo ">> pod admission through the webhook"
	@bin=$$(hack/k8s-binaries.sh); ORKA_K8S_BIN=$$bin npx tsx test/bench/webhook.ts
	@echo ">> an unauthenticated flood of unfinished AdmissionReviews: operator RSS before (main) and after the listeners' limits"
	@bin=$$(hack/k8s-binaries.sh); ORKA_K8S_BIN=$$bin npx tsx test/bench/attack-webhook-flood.ts
	@echo ">> the Secrets page: 1,000 and 10,000 secrets (first list interactive, a filter keystroke, server memory) in Chromium vs kubectl get osec"
	@bin=$$(hack/k8s-binaries.sh); ORKA_K8S_BIN=$$bin npx tsx test/bench/dashboard.ts

.PHONY: clean
clean: ## remove build output (the cache in ~/.cache/orka-secrets stays)
	rm -rf dist
