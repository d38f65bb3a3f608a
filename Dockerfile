# syntax=docker/dockerfile:1
# Ember images, built from one Rust stage:
#   runtime  (default) the ember binary on a slim Debian: `docker compose` runs it as the
#            always-on streaming pipeline (service `ember`);
#   airflow  apache/airflow with the same binary and pipeline files, so the DAG's tasks can
#            run `ember produce | run | landed` (services airflow-*).
# The binary target is the one the Makefile builds (`cargo build --release --bin ember`).

# ---- builder --------------------------------------------------------------------------
# bookworm: the oldest glibc of the images below, so the binary runs on all of them.
FROM rust:1.95-slim-bookworm AS builder
# The bundled librdkafka is built with CMake and includes curl/curl.h and sasl/sasl.h even
# with those features off; openssl-sys needs libssl-dev and pkg-config.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      cmake make g++ pkg-config perl \
      libcurl4-openssl-dev libsasl2-dev libssl-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin ember \
 && install -m 0755 target/release/ember /usr/local/bin/ember

# ---- runtime --------------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# `ldd ember`: libssl/libcrypto 3 and zlib besides glibc (no curl, no SASL at run time).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/ember --create-home ember
COPY --from=builder /usr/local/bin/ember /usr/local/bin/ember
COPY pipelines /opt/ember/pipelines
COPY sql /opt/ember/sql
USER ember
# The default checkpoint (.ember/checkpoints/<group>) lands here: mount a volume.
WORKDIR /var/lib/ember
ENTRYPOINT ["ember"]
CMD ["run", "/opt/ember/pipelines/users.toml"]

# ---- airflow --------------------------------------------------------------------------
FROM apache/airflow:3.3.2-python3.12 AS airflow
COPY --from=builder /usr/local/bin/ember /usr/local/bin/ember
COPY pipelines /opt/ember/pipelines
COPY sql /opt/ember/sql
USER root
# Checkpoint of the DAG's consumer group (a named volume takes this owner).
RUN mkdir -p /opt/airflow/ember && chown airflow:0 /opt/airflow/ember
USER airflow
