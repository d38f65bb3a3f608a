# Ember — the two commands: `make demo` and `make test`.
# Builds share one target folder outside the clone so a fresh clone on the
# same machine (CI) reuses earlier builds; override CARGO_TARGET_DIR freely.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/ember/target
export EMBER_STACK_CACHE ?= $(HOME)/.cache/ember/stack
CARGO ?= cargo
STACK := bash stack/stack.sh

.PHONY: all build release up down status logs demo test lint unit integration fmt clean fuzz

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

fmt:
	$(CARGO) fmt --all

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
	$(CARGO) clean
