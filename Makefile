# hitexport — see README.md. Every target works on a fresh machine with Go,
# Java 17 + Maven and Python: the scripts install what is missing under .local/.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/hitexport
export GOFLAGS := -buildvcs=false

# FAULT_SIZE: small (CI) or large — the number of hits and kills of the fault suite.
FAULT_SIZE ?= small

.PHONY: all build vet test test-unit test-integration test-faults services services-down demo demo-stop bench clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/hitexport

vet:
	$(GO) vet ./...
	$(GO) vet -tags integration ./itest/...

## test: every test — unit (with fuzz seed corpora), OCSF schema validation,
## integration and fault suites against the real Kafka and S3 server.
test: vet test-unit services test-integration test-faults

test-unit:
	scripts/ocsf-setup.sh
	$(GO) test -count=1 -timeout 10m ./...

test-integration: services
	scripts/chromium.sh >/dev/null
	$(GO) test -count=1 -timeout 5m -tags integration -run 'TestConnFetcher' -v ./pipeline/ 2>&1 | scripts/gotest-summary.sh
	$(GO) test -count=1 -timeout 20m -tags integration -run 'TestExport|TestCheck|TestHostile|TestSecrets|TestOps|TestTLS' -v ./itest/ 2>&1 | scripts/gotest-summary.sh

test-faults: services
	FAULT_SIZE=$(FAULT_SIZE) $(GO) test -count=1 -timeout $(if $(filter large,$(FAULT_SIZE)),90m,20m) -tags integration -run 'TestFault' -v ./itest/ 2>&1 | scripts/gotest-summary.sh
	# The suite above runs in the window layout (the default). The partition layout (for very high
	# volume) under an S3 outage and a rebalance with a zombie writer; the whole suite in it:
	# HITEXPORT_IT_LAYOUT=partition make test-faults.
	HITEXPORT_IT_LAYOUT=partition FAULT_SIZE=$(FAULT_SIZE) $(GO) test -count=1 -timeout 20m -tags integration -run 'TestFaultS3Outage|TestFaultRebalance' -v ./itest/ 2>&1 | scripts/gotest-summary.sh

services:
	scripts/services.sh up

services-down: demo-stop
	scripts/services.sh down

demo: build services
	scripts/demo.sh
	scripts/demo-integrations.sh

demo-stop:
	-kill -TERM $$(cat .local/demo/exporter.pid 2>/dev/null) 2>/dev/null; rm -f .local/demo/exporter.pid

bench: build services
	scripts/bench.sh

clean:
	rm -rf bin
