# Holdfast: two commands for a newcomer.
#   make run   installs what is missing, builds, serves on http://127.0.0.1:8080
#   make test  installs what is missing, builds, runs every test suite
# Both are idempotent: a second run skips what is already in place.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

DATA_DIR ?= ./holdfast-data
HOST ?= 127.0.0.1
PORT ?= 8080
PYTEST_ARGS ?=
VENV := .venv
BINARY := .build/debug/holdfast

.PHONY: help run test cluster build build-tests setup-run setup-test test-swift test-e2e lint format clean

help:
	@echo "make run    - install what is missing, build, serve on http://$(HOST):$(PORT) (data in $(DATA_DIR))"
	@echo "make test   - install what is missing, build, run Swift, PostgreSQL contract and end-to-end tests"
	@echo "make cluster - three nodes on this machine behind a round-robin front on http://127.0.0.1:8080 (state in ./holdfast-cluster)"
	@echo "make lint   - check formatting with swift format"

setup-run:
	@scripts/setup.sh run

setup-test:
	@scripts/setup.sh test

# holdfast-jail (C) sits beside holdfast: the host starts every sandbox and tmux client through it.
build:
	swift build --product holdfast
	swift build --product holdfast-jail

build-tests:
	swift build --build-tests

run: setup-run build
	$(BINARY) serve --data-dir $(DATA_DIR) --host $(HOST) --port $(PORT)

# Three nodes on this one machine (README, "Many nodes"): a throwaway PostgreSQL, an in-memory
# S3 (moto), shared secrets, nodes on 127.0.0.2-4:8080 and a round-robin front on
# 127.0.0.1:8080 (HOLDFAST_CLUSTER_PORT); state in ./holdfast-cluster (HOLDFAST_CLUSTER_DIR).
# Prints the operator's credentials; Ctrl-C stops everything.
cluster: setup-test build
	scripts/cluster.sh

# The Swift tests and the e2e suite share one throwaway PostgreSQL cluster, started and
# stopped by scripts/pg-cluster.sh; HOLDFAST_TEST_POSTGRES_URL points at it.
test: setup-test lint build-tests
	@scripts/pg-cluster.sh run -- $(MAKE) --no-print-directory test-swift test-e2e

test-swift:
	swift test --skip-build

test-e2e:
	$(VENV)/bin/python -m pytest e2e -v $(PYTEST_ARGS)

lint:
	swift format lint --strict --recursive Package.swift Sources Tests

format:
	swift format --in-place --recursive Package.swift Sources Tests

clean:
	rm -rf .build e2e/artifacts

# Benchmarks (bench/README.md): builds the release binaries in .build-release (nice'd), then
# runs resume latency, start latency, held-session capacity, backups, RPO under churn, ticket
# lists under wrk, SLA due dates, desktops (beside websockify) and files (beside nginx) at normal priority; the figures
# are printed and saved in bench/results/. Needs wrk for the ticket lists and nginx for the files.
.PHONY: bench
bench: setup-test
	nice -n 10 swift build -c release --scratch-path .build-release --product holdfast
	nice -n 10 swift build -c release --scratch-path .build-release --product holdfast-jail
	nice -n 10 swift build -c release --scratch-path .build-release --product HoldfastBench
	$(VENV)/bin/python bench/resume_latency.py
	$(VENV)/bin/python bench/start_latency.py
	.build-release/release/HoldfastBench --output bench/results/capacity.json
	$(VENV)/bin/python bench/backup_bench.py
	$(VENV)/bin/python bench/rpo_churn.py
	$(VENV)/bin/python bench/ticket_bench.py
	$(VENV)/bin/python bench/sla_bench.py
	$(VENV)/bin/python bench/density.py
	$(VENV)/bin/python bench/desktop_bench.py
	$(VENV)/bin/python bench/files_bench.py
	scripts/pg-cluster.sh run -- $(VENV)/bin/python bench/nodes_bench.py

# Churn soak (bench/README.md, issue 15): 200 terminal sessions for 10 minutes with random drops,
# silent links, resumes and expiries, S3 cut for 60 s and one kill -9 of the server; ~16 min
# after the build. Fails if a session or a file was lost, a close did not happen, or a process leaked.
.PHONY: soak
soak: setup-test
	nice -n 10 swift build -c release --scratch-path .build-release --product holdfast
	nice -n 10 swift build -c release --scratch-path .build-release --product holdfast-jail
	$(VENV)/bin/python bench/soak.py $(SOAK_ARGS)
