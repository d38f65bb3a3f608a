# Ember — the two commands: `make demo` and `make test`.
# Builds share one target folder outside the clone so a fresh clone on the
# same machine (CI) reuses earlier builds; override CARGO_TARGET_DIR freely.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/ember/target
export EMBER_STACK_CACHE ?= $(HOME)/.cache/ember/stack
CARGO ?= cargo
STACK := bash stack/stack.sh

.PHONY: all build release up down status logs demo test lint unit integration security fmt clean

all: build

build:
	$(CARGO) build --workspace

release:
	$(CARGO) build --release --bin ember

## Local stack (Kafka KRaft + Cassandra as local processes)
up:
	$(STACK) up

# Also stops the secured instance tests/security.rs starts on its own ports (a no-op if it
# is not running).
down:
	$(STACK) down
	bash stack/secure-stack.sh down

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

## Only the security tests (TLS/SASL/passwords/identifiers): they start their own secured
## stack instance (stack/secure-stack.sh: ports 29092/29093, 29042/27000/27199).
security:
	$(CARGO) test --test security

fmt:
	$(CARGO) fmt --all

clean:
	$(STACK) down || true
	bash stack/secure-stack.sh down || true
	$(CARGO) clean
