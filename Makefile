# Developer entry points. Each target runs the same command as the matching step of CI
# (.ci/run chains .ci/steps; these call .ci/steps too), so `make X` reproduces CI's X.
# The checks cover both modules: the library (.) and the CLI (cmd/redisalloc, its own go.mod).
#
#   make test         go test -race -count=1 ./...   in both (real-server suites skip without REDIS_URL)
#   make test-real    the same against a throwaway standalone Redis + 3-node cluster
#   make lint         golangci-lint v2.15.0 (config verify + run), pinned, not in go.mod
#   make fuzz         every fuzz target for FUZZTIME (default 10s) each
#   make bench        micro-benchmarks + benchmarks/ module (BENCHTIME, default 1x)
#   make cover        tests with coverage.out and a summary
#   make tidy-check   fails if `go mod tidy` would change a go.mod/go.sum (all four modules)
#   make api          regenerate api/redisallocator.txt after a change of the public API
#   make ci           the whole pipeline: bash .ci/run
#   make demo         the demo on an embedded Redis; ends after 20s (DEMO_FLAGS='--duration 0': until Ctrl-C)
#   make redis-up / redis-down    servers for a shell session, in REDIS_DIR (see below)

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

FUZZTIME ?= 10s
BENCHTIME ?= 1x
REDIS_DIR ?= $(or $(TMPDIR),/tmp)/redisallocator-redis
export FUZZTIME BENCHTIME

.PHONY: help test test-race test-real vet fmt-check lint lint-build fuzz bench cover tidy-check api ci demo redis-up redis-down clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  %-12s %s\n", $$1, $$2 }'

test: ## go test -race -count=1 ./... in the library and the CLI module
	bash .ci/steps test

test-race: test ## alias of test (the race detector is always on)

test-real: ## tests against a throwaway redis-server + 3-node cluster (started and stopped here)
	bash .ci/steps with-redis bash .ci/steps test

vet: ## go vet ./... in the library and the CLI module
	bash .ci/steps vet

fmt-check: ## gofmt -l on the tracked .go files
	bash .ci/steps gofmt

lint-build: ## build (or reuse) the pinned golangci-lint and time it
	bash .ci/steps lint-build

lint: ## golangci-lint config verify + run ./... in the library and the CLI module
	bash .ci/steps lint

fuzz: ## run every fuzz target for FUZZTIME each
	bash .ci/steps fuzz

bench: ## micro-benchmarks, then the benchmarks/ module, with real servers, BENCHTIME each
	bash .ci/steps with-redis bash -c 'bash .ci/steps bench && bash .ci/steps bench-module'

cover: ## tests with -coverprofile=coverage.out, against throwaway real servers
	bash .ci/steps with-redis bash .ci/steps cover

tidy-check: ## fail if go mod tidy would change go.mod/go.sum (library, cmd/redisalloc, benchmarks/, e2e/)
	bash .ci/steps tidy-check

api: ## regenerate api/redisallocator.txt (the public API record checked by internal/apidump's test)
	go run ./internal/cmd/apidump -w

ci: ## the whole CI pipeline
	bash .ci/run

demo: ## the demo on an embedded Redis, 20s by default (DEMO_FLAGS='--duration 0' runs until Ctrl-C)
	go run ./cmd/redisalloc demo $(DEMO_FLAGS)

# For a shell session:  make redis-up && source "$(make -s redis-env)" ... make redis-down
# or directly:          eval "$(.ci/redis-up /tmp/mydir)" ... .ci/redis-down /tmp/mydir
redis-up: ## start servers in REDIS_DIR and print their env
	bash .ci/redis-up $(REDIS_DIR)

redis-down: ## stop the servers in REDIS_DIR
	bash .ci/redis-down $(REDIS_DIR)

.PHONY: redis-env
redis-env:
	@echo $(REDIS_DIR)/env

clean: ## remove coverage output
	rm -f coverage.out coverage.html cmd/redisalloc/coverage.out cmd/redisalloc/coverage.html
