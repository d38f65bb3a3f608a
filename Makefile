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

.PHONY: all build release up down status logs demo test lint unit integration chaos fmt clean

all: build

build:
	$(CARGO) build --workspace

release:
	$(CARGO) build --release --bin ember

## Local stack (Kafka KRaft + Cassandra as local processes)
up:
	$(STACK) up

down:
	$(STACK) down
	@if [ -d $(CARGO_TARGET_DIR)/tmp/faults-stack ]; then $(FAULTS_STACK) down; fi

status:
	$(STACK) status

logs:
	$(STACK) logs

## Quick start: build (release), stack up, produce 100k users, run, check.
demo: release up
	EMBER_BIN=$(CARGO_TARGET_DIR)/release/ember bash scripts/demo.sh

## What CI runs: lint, unit tests, then integration tests on the real stack.
test: lint unit up integration

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --workspace --lib --bins

integration:
	$(CARGO) test --workspace --test '*'

## The long fault tests: kill -9 five times in a 200,000-record run, minutes
## of idleness, longer outages (tests/faults.rs; the short version is in `test`).
chaos: up
	CHAOS=1 $(CARGO) test --test faults -- --nocapture

fmt:
	$(CARGO) fmt --all

clean:
	$(STACK) down || true
	$(CARGO) clean
