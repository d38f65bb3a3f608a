"""Static and spec checks of docker-compose.yml and the Dockerfile (no Docker engine here).

- `docker compose config -q` with the compose CLI built from the Go proxy
  (scripts/compose-plugin.sh, cached under ~/.cache/ember/tools): the file is valid
  Compose, with and without the `spark` profile, and a broken copy is refused;
- pinned images, healthchecks, dependency conditions, host ports;
- every EMBER_ variable set is one Ember reads: `ember check` accepts each service's set
  and lists every variable as applied, or the variable is one of RESERVED_ENV that
  something in that container reads;
- the Dockerfile builds the Makefile's binary target.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO

COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
REQUIRED = {
    "kafka",
    "schema-registry",
    "kafka-ui",
    "cassandra",
    "ember",
    "postgres",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "spark-master",
    "spark-worker",
}
AIRFLOW_SERVICES = {"airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def is_init_job(service: dict) -> bool:
    return str(service.get("restart", "")).strip() == "no"


def environment(service: dict) -> dict:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def reserved_env() -> set:
    text = (REPO / "src" / "config.rs").read_text()
    block = re.search(r"RESERVED_ENV: &\[&str\] = &\[(.*?)\];", text, re.S)
    assert block, "RESERVED_ENV not found in src/config.rs"
    return set(re.findall(r'"(EMBER_[A-Z0-9_]+)"', block.group(1)))


@pytest.fixture(scope="session")
def compose_cli() -> str:
    """Builds the compose CLI on first use (about two minutes), then reuses it."""
    out = subprocess.run(
        ["bash", str(REPO / "scripts" / "compose-plugin.sh")],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()[-1]


def compose_config(cli: str, file: Path, *extra: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    return subprocess.run(
        [cli, "-f", str(file), *extra, "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        cwd=file.parent,
    )


def test_compose_config_accepts_the_file(compose_cli):
    for extra in ([], ["--profile", "spark"]):
        out = compose_config(compose_cli, COMPOSE, *extra)
        assert out.returncode == 0, out.stderr


def test_compose_config_refuses_a_broken_dependency(compose_cli, tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        COMPOSE.read_text().replace(
            "condition: service_completed_successfully", "condition: service_finished", 1
        )
    )
    out = compose_config(compose_cli, broken)
    assert out.returncode != 0
    assert "depends_on.kafka-init.condition" in out.stderr, out.stderr


def test_every_service_of_the_stack_is_there(services):
    assert REQUIRED <= set(services)
    assert services["spark-master"]["profiles"] == ["spark"]
    assert services["spark-worker"]["profiles"] == ["spark"]
    assert all("profiles" not in s for n, s in services.items() if not n.startswith("spark"))


def test_images_are_pinned(services):
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name}: no image"
        repo, _, tag = image.rpartition(":")
        assert repo and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: {image}"
        if "build" in service:
            assert tag == "local" or re.fullmatch(r"\d+(\.\d+)+", tag), f"{name}: {image}"
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["cassandra"]["image"].startswith("cassandra:5.0.")
    assert services["airflow-apiserver"]["image"].endswith(":3.3.2")


def test_dockerfile_base_images_are_pinned():
    froms = re.findall(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), re.M)
    assert len(froms) == 3
    for image in froms:
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest", image
    assert any(f.startswith("apache/airflow:3.3.2") for f in froms)


def test_long_running_services_have_healthchecks(services):
    for name, service in services.items():
        if is_init_job(service):
            assert "healthcheck" not in service, name
            continue
        check = service.get("healthcheck")
        assert check and check.get("test"), f"{name}: no healthcheck"
        assert not check.get("disable"), name
        for key in ("interval", "timeout", "retries"):
            assert key in check, f"{name}: healthcheck without {key}"


def test_dependencies_wait_for_health_or_completion(services):
    for name, service in services.items():
        deps = service.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: depends_on must say which condition"
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on unknown {dep}"
            target = services[dep]
            want = (
                "service_completed_successfully" if is_init_job(target) else "service_healthy"
            )
            assert spec.get("condition") == want, f"{name} → {dep}: {spec}"
            if want == "service_healthy":
                assert "healthcheck" in target, f"{name} waits for {dep}, which has none"
            # A default-profile service must not wait for a profile-only one.
            if "profiles" not in service:
                assert "profiles" not in target, f"{name} → {dep}"


def host_ports(service: dict) -> list:
    ports = []
    for p in service.get("ports", []):
        if isinstance(p, dict):
            ports.append(int(p["published"]))
        else:
            parts = str(p).split(":")
            assert len(parts) >= 2, f"unpublished or random host port: {p}"
            ports.append(int(parts[-2]))
    return ports


def test_ember_health_is_its_ready_endpoint(services):
    ember = services["ember"]
    assert environment(ember)["EMBER_METRICS_ADDRESS"].endswith(":9400")
    test = " ".join(ember["healthcheck"]["test"])
    assert "/dev/tcp/127.0.0.1/9400" in test and "GET /health/ready" in test, test
    assert 9400 in host_ports(ember)


def test_host_ports_do_not_collide(services):
    seen = {}
    for name, service in services.items():
        for port in host_ports(service):
            assert port not in seen, f"port {port}: {seen.get(port)} and {name}"
            seen[port] = name
    assert seen[8080] == "airflow-apiserver" and seen[9092] == "kafka"


def test_ember_variables_are_ones_ember_reads(services, ember_bin):
    reserved = reserved_env()
    dag = (REPO / "airflow" / "dags" / "user_automation.py").read_text()
    main = (REPO / "src" / "main.rs").read_text()
    readers = {
        # What reads each reserved variable inside a container of the stack.
        "EMBER_LOG": "EMBER_LOG" in main,
        "EMBER_LOG_FORMAT": "EMBER_LOG_FORMAT" in main,
        "EMBER_BIN": '"EMBER_BIN"' in dag,
        "EMBER_PIPELINE": '"EMBER_PIPELINE"' in dag,
    }
    checked = 0
    for name, service in services.items():
        env = {k: v for k, v in environment(service).items() if k.startswith("EMBER_")}
        for var in env:
            if var in reserved:
                assert readers.get(var), f"{name}: {var} is reserved but nothing there reads it"
                if var in ("EMBER_BIN", "EMBER_PIPELINE"):
                    assert name in AIRFLOW_SERVICES, f"{name}: {var} is only for the DAG"
        overrides = {k: v for k, v in env.items() if k not in reserved}
        if not overrides:
            continue
        # `ember check` with exactly this service's overrides: unknown keys, malformed
        # names and values of the wrong type are errors, and each applied one is listed.
        out = subprocess.run(
            [ember_bin, "check", str(REPO / "pipelines" / "users.toml")],
            env={"PATH": os.environ.get("PATH", ""), "NO_COLOR": "1", **overrides},
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, f"{name}: {out.stderr}"
        for var, value in overrides.items():
            assert re.search(rf"^\s+{var} → \S+ = {re.escape(value)}$", out.stdout, re.M), (
                f"{name}: {var} not applied:\n{out.stdout}"
            )
            checked += 1
    assert checked >= 6


def test_an_unknown_ember_variable_would_be_caught(ember_bin):
    # The check above can fail: a misspelt key is refused by `ember check`.
    out = subprocess.run(
        [ember_bin, "check", str(REPO / "pipelines" / "users.toml")],
        env={"PATH": os.environ.get("PATH", ""), "EMBER_SOURCE__BROKER": "kafka:29092"},
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0


def test_airflow_services_mount_the_dag_folder_and_share_the_settings(services):
    common = None
    for name in AIRFLOW_SERVICES:
        service = services[name]
        assert "./airflow/dags:/opt/airflow/dags:ro" in service["volumes"], name
        env = environment(service)
        assert env["EMBER_PIPELINE"] == "/opt/ember/pipelines/users.toml"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
        common = common or env
        assert env == common, f"{name}: environment differs from the other Airflow services"
    assert services["airflow-scheduler"]["depends_on"]["cassandra"]["condition"] == "service_healthy"
    # The streaming service and the DAG's batch pass never share a consumer group.
    assert "EMBER_SOURCE__GROUP_ID" not in environment(services["ember"])
    assert environment(services["airflow-scheduler"])["EMBER_SOURCE__GROUP_ID"] != "ember-users"


def test_ember_service_runs_the_users_pipeline_from_the_image(services):
    ember = services["ember"]
    assert ember["build"]["target"] == "runtime"
    assert ember["command"][-1] == "/opt/ember/pipelines/users.toml"
    assert "COPY pipelines /opt/ember/pipelines" in DOCKERFILE.read_text()


def test_dockerfile_builds_the_makefiles_binary_target():
    makefile = (REPO / "Makefile").read_text()
    release = re.search(r"^release:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert release, "no release target in the Makefile"
    make_bins = re.findall(r"--bin\s+(\S+)", release.group(1))
    text = "\n".join(
        line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")
    )
    builds = re.findall(r"cargo build ([^\n\\]*)", text)
    assert len(builds) == 1, builds
    assert "--release" in builds[0] and "--release" in release.group(1)
    assert re.findall(r"--bin\s+(\S+)", builds[0]) == make_bins == ["ember"]
    assert "target/release/ember" in text


def test_builder_stage_has_what_librdkafka_needs():
    builder = DOCKERFILE.read_text().split("AS builder", 1)[1].split("\nFROM ", 1)[0]
    for pkg in ("cmake", "libcurl4-openssl-dev", "libsasl2-dev", "libssl-dev"):
        assert re.search(rf"\b{re.escape(pkg)}\b", builder), pkg


def test_kafka_is_one_kraft_node_with_a_valid_cluster_id(services):
    import base64

    env = environment(services["kafka"])
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert not any("ZOOKEEPER" in k for k in env)
    # `kafka-storage format` takes only a Kafka Uuid: 22 base64url characters, 16 bytes.
    cluster_id = env["CLUSTER_ID"]
    assert len(cluster_id) == 22
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
    # Containers and host clients each get a listener they can reach.
    assert "INTERNAL://kafka:29092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert "EXTERNAL://localhost:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    for name, service in services.items():
        brokers = environment(service).get("EMBER_SOURCE__BROKERS")
        assert brokers in (None, "kafka:29092"), name
