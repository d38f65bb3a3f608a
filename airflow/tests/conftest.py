"""Shared set-up for the Airflow and compose tests (run by `make airflow-test`).

Airflow reads AIRFLOW_HOME when it is first imported, so it is set here, before any test
module imports it: every test session gets a throw-away home with a SQLite database,
migrated once; each DAG run test gets a copy of it, so runs never see each other's state.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "airflow" / "dags"
VENV_BIN = Path(sys.executable).parent

sys.path.insert(0, str(DAGS))  # the DAG module's helpers are tested directly too

_home = Path(tempfile.mkdtemp(prefix="ember-airflow-test-"))
atexit.register(shutil.rmtree, _home, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = str(_home)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"


def airflow_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMBER_")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        NO_COLOR="1",
    )
    return env


@pytest.fixture(scope="session")
def ember_bin() -> str:
    """The freshly built debug binary (`make airflow-test` builds it first);
    TEST_EMBER_BIN picks another."""
    target = os.environ.get("CARGO_TARGET_DIR") or str(Path.home() / ".cache/ember/target")
    path = os.environ.get("TEST_EMBER_BIN") or f"{target}/debug/ember"
    if not os.access(path, os.X_OK):
        pytest.fail(f"no ember binary at {path}: run `cargo build --bin ember` first")
    return path


@pytest.fixture(scope="session")
def migrated_db() -> Path:
    """An Airflow metadata database, migrated once per session."""
    home = _home / "template"
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [VENV_BIN / "airflow", "db", "migrate"],
        env=airflow_env(home),
        check=True,
        capture_output=True,
        text=True,
    )
    return home / "airflow.db"


@pytest.fixture
def airflow_home(migrated_db: Path, tmp_path: Path) -> Path:
    home = tmp_path / "airflow-home"
    home.mkdir()
    shutil.copy(migrated_db, home / "airflow.db")
    return home


@pytest.fixture
def stack() -> dict:
    """Where the local stack is: EMBER_SOURCE__BROKERS / the contact-point override if set,
    else 127.0.0.1 on KAFKA_PORT / CASSANDRA_PORT (the defaults of stack/stack.sh)."""
    return {
        "brokers": os.environ.get("EMBER_SOURCE__BROKERS")
        or f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}",
        "cassandra": os.environ.get("EMBER_SINKS__CREATED_USERS__CONTACT_POINTS")
        or f"127.0.0.1:{os.environ.get('CASSANDRA_PORT', '9042')}",
    }


@pytest.fixture
def names() -> dict:
    """A topic, consumer group and keyspace of this test's own."""
    tag = "af_" + uuid.uuid4().hex[:12]
    return {"topic": tag, "group": tag, "keyspace": tag}
