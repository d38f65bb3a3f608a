# Ember — the two commands: `make demo` and `make test`.
# Builds share one target folder outside the clone so a fresh clone on the
# same machine (CI) reuses earlier builds; override CARGO_TARGET_DIR freely.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/ember/target
export EMBER_STACK_CACHE ?= $(HOME)/.cache/ember/stack
CARGO ?= cargo
STACK := bash stack/stack.sh
# The fault tests' own stack instance (tests/faults.rs starts it; `down` stops it).
FAULTS_STACK := EMBER_STACK_DIR=$(CARGO_TARGET_DIR)/tmp/faults-stack KAFKA_PORT=19092 \
	KAFKA_CONTROLLER_PORT=19093 CASSANDRA_PORT=19042 CASSANDRA_STORAGE_PORT=17000 \
	CASSANDRA_JMX_PORT=17199 bash stack/stack.sh

.PHONY: all build release prereqs-up prereqs-demo prereqs-test demo-intro up down status logs demo test lint unit integration chaos security \
	fmt clean bench airflow-venv compose-plugin airflow-test compose-check airflow fuzz

all: build

build:
	$(CARGO) build --workspace

release:
	$(CARGO) build --release --bin ember

## Prerequisites, checked in seconds before anything is built or started: missing Debian
## packages are installed as root (or with passwordless sudo), otherwise named with the
## command that installs them (scripts/prereqs.sh).
prereqs-up:
	@bash scripts/prereqs.sh up
prereqs-demo:
	@bash scripts/prereqs.sh demo
prereqs-test:
	@bash scripts/prereqs.sh test

## Local stack (Kafka KRaft + Cassandra as local processes)
up: prereqs-up
	$(STACK) up

# Also stops the instances tests/faults.rs and tests/security.rs start on their own ports
# (a no-op where they are not running).
down:
	$(STACK) down
	@if [ -d $(CARGO_TARGET_DIR)/tmp/faults-stack ]; then $(FAULTS_STACK) down; fi
	bash stack/secure-stack.sh down

status:
	$(STACK) status

logs:
	$(STACK) logs

## Quick start: build (release), stack up, produce 100k users, run, check.
demo: prereqs-demo demo-intro release up
	EMBER_BIN=$(CARGO_TARGET_DIR)/release/ember bash scripts/demo.sh

## What CI runs: lint, unit tests, then integration tests on the real stack.
test: prereqs-test lint unit up integration airflow-test

# What the demo is about to do, and how long the first build takes on a small machine.
demo-intro:
	@bash scripts/demo.sh --intro

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# --benches: criterion runs every stage benchmark once, untimed, so they never rot
# (the timed runs are `cargo bench -p ember-benches`).
unit:
	$(CARGO) test --workspace --lib --bins --benches

integration:
	$(CARGO) test --workspace --test '*'

## Performance: `cargo bench -p ember-benches` runs the criterion stage benchmarks;
## `make bench` runs Ember, Spark and the sink's ceiling on one stack in one run and writes
## benches/results/<date>.json, a PNG chart and benches/RESULTS.md (benches/bench.py;
## BENCH_ARGS='--skip-spark --records 200000' for a quick one).
BENCH_ARGS ?=
bench: prereqs-demo up
	$(CARGO) build --release -p ember -p ember-benches --bin ember --bin sink-ceiling
	EMBER_BIN=$(CARGO_TARGET_DIR)/release/ember SINK_CEILING_BIN=$(CARGO_TARGET_DIR)/release/sink-ceiling \
		python3 benches/bench.py $(BENCH_ARGS)

## The long fault tests: kill -9 five times in a 200,000-record run, minutes
## of idleness, longer outages (tests/faults.rs; the short version is in `test`).
chaos: up
	CHAOS=1 $(CARGO) test --test faults --test fencing -- --nocapture

## Only the security tests (TLS/SASL/passwords/identifiers): they start their own secured
## stack instance (stack/secure-stack.sh: ports 29092/29093, 29042/27000/27199).
security:
	$(CARGO) test --test security

fmt:
	$(CARGO) fmt --all

## Airflow (airflow/) and Docker Compose
# The Airflow venv: built once from airflow/constraints.txt, cached under
# ~/.cache/ember/airflow-venv (see airflow/venv.sh).
airflow-venv:
	bash airflow/venv.sh

# The docker compose CLI, built once from the Go module proxy (no Docker engine here).
compose-plugin:
	bash scripts/compose-plugin.sh

# The DAG's import and shape tests, real `airflow dags test` runs against the local stack
# (`make up` first; KAFKA_PORT / CASSANDRA_PORT or the EMBER_ overrides say where it is)
# with the debug ember, and the compose checks.
AIRFLOW_TEST_EMBER ?= $(CARGO_TARGET_DIR)/debug/ember
airflow-test:
	$(CARGO) build --workspace --bins
	venv=$$(bash airflow/venv.sh) && bash scripts/compose-plugin.sh >/dev/null && \
	TEST_EMBER_BIN=$(AIRFLOW_TEST_EMBER) $$venv/bin/python -m pytest -q -p no:cacheprovider --durations=5 airflow/tests

# The compose checks alone (no stack needed).
compose-check:
	$(CARGO) build --workspace --bins
	venv=$$(bash airflow/venv.sh) && bash scripts/compose-plugin.sh >/dev/null && \
	TEST_EMBER_BIN=$(AIRFLOW_TEST_EMBER) $$venv/bin/python -m pytest -q -p no:cacheprovider \
		airflow/tests/test_compose.py

# `airflow standalone` with the DAG loaded, against the local stack; UI on AIRFLOW_PORT
# (login admin, password in $(AIRFLOW_HOME_DIR)/simple_auth_manager_passwords.json.generated).
# Ctrl-C stops it. State (SQLite, logs) in .airflow/.
AIRFLOW_PORT ?= 8080
AIRFLOW_HOME_DIR ?= $(CURDIR)/.airflow
airflow: up
	$(CARGO) build --workspace --bins
	venv=$$(bash airflow/venv.sh) && mkdir -p $(AIRFLOW_HOME_DIR) && \
	PATH=$$venv/bin:$$PATH \
	AIRFLOW_HOME=$(AIRFLOW_HOME_DIR) \
	AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/airflow/dags \
	AIRFLOW__CORE__LOAD_EXAMPLES=False \
	AIRFLOW__CORE__PARALLELISM=4 \
	AIRFLOW__API__PORT=$(AIRFLOW_PORT) \
	AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$(AIRFLOW_PORT)/execution/ \
	EMBER_BIN=$(AIRFLOW_TEST_EMBER) \
	EMBER_PIPELINE=$(CURDIR)/pipelines/users.toml \
	EMBER_SOURCE__BROKERS=$${EMBER_SOURCE__BROKERS:-127.0.0.1:$${KAFKA_PORT:-9092}} \
	EMBER_SINKS__CREATED_USERS__CONTACT_POINTS=$${EMBER_SINKS__CREATED_USERS__CONTACT_POINTS:-127.0.0.1:$${CASSANDRA_PORT:-9042}} \
	exec airflow standalone

## Fuzz the decode step (fuzz/, needs a nightly toolchain). Each target in
## FUZZ_TARGETS runs FUZZ_SECONDS, starting from the committed seeds in
## fuzz/corpus/<target>; what it learns goes to $(FUZZ_WORK)/corpus, crashes to
## fuzz/artifacts/<target>. `make test` does not fuzz: the unit tests replay
## the committed corpus through the same checks on stable.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= decode_users_created decode_any_schema
FUZZ_TOOLCHAIN ?= nightly
FUZZ_WORK ?= $(HOME)/.cache/ember/fuzz
FUZZ_TOOLS ?= $(HOME)/.cache/ember/tools
FUZZ_TARGET_DIR ?= $(HOME)/.cache/ember/fuzz-target
CARGO_FUZZ := $(FUZZ_TOOLS)/bin/cargo-fuzz

$(CARGO_FUZZ):
	CARGO_TARGET_DIR=$(FUZZ_TARGET_DIR)/install $(CARGO) install cargo-fuzz --locked --root $(FUZZ_TOOLS)

fuzz: $(CARGO_FUZZ)
	set -e; cd fuzz; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_WORK)/corpus/$$t; \
	  PATH="$(FUZZ_TOOLS)/bin:$$PATH" CARGO_TARGET_DIR=$(FUZZ_TARGET_DIR) \
	    $(CARGO) +$(FUZZ_TOOLCHAIN) fuzz run $$t $(FUZZ_WORK)/corpus/$$t corpus/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1; \
	done

clean:
	$(STACK) down || true
	bash stack/secure-stack.sh down || true
	$(CARGO) clean
