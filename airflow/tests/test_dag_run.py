"""`airflow dags test user_automation` against the real local stack (Kafka + Cassandra)
with the freshly built debug `ember`: the rows land, and check_quality fails, for real,
when the counts disagree.

Every test has its own topic, consumer group, keyspace and checkpoint (EMBER_ overrides
in the environment of `airflow dags test`, which the tasks pass on to `ember`) and its
own copy of the metadata database.
"""

from __future__ import annotations

import http.server
import json
import sqlite3
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

from conftest import REPO, VENV_BIN, airflow_env

DAY = "2026-11-26"  # the seed is then 20261126
SEED = 20261126


def dags_test(home, ember_bin, stack, names, tmp_path, conf, extra_env=None):
    env = airflow_env(home)
    env.update(
        EMBER_BIN=ember_bin,
        EMBER_PIPELINE=str(REPO / "pipelines" / "users.toml"),
        EMBER_SOURCE__BROKERS=stack["brokers"],
        EMBER_SINKS__CREATED_USERS__CONTACT_POINTS=stack["cassandra"],
        EMBER_SOURCE__TOPIC=names["topic"],
        EMBER_SOURCE__GROUP_ID=names["group"],
        EMBER_SINKS__CREATED_USERS__KEYSPACE=names["keyspace"],
        EMBER_CHECKPOINT=str(tmp_path / "checkpoint"),
        **(extra_env or {}),
    )
    started = time.monotonic()
    proc = subprocess.run(
        [VENV_BIN / "airflow", "dags", "test", "user_automation", DAY, "-c", json.dumps(conf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    seconds = time.monotonic() - started
    (tmp_path / "dags-test.log").write_text(proc.stdout + proc.stderr)
    print(f"airflow dags test: exit {proc.returncode} in {seconds:.1f} s")
    return proc, seconds


def task_states(home: Path) -> dict:
    with sqlite3.connect(home / "airflow.db") as db:
        return dict(
            db.execute(
                "SELECT task_id, state FROM task_instance WHERE dag_id = 'user_automation'"
            ).fetchall()
        )


def xcom(home: Path, task_id: str, key: str = "return_value"):
    with sqlite3.connect(home / "airflow.db") as db:
        row = db.execute(
            "SELECT value FROM xcom WHERE dag_id = 'user_automation' AND task_id = ? AND key = ?",
            (task_id, key),
        ).fetchone()
    assert row is not None, f"no XCom {key} from {task_id}"
    return json.loads(row[0])


def cql_count(ember_bin, stack, keyspace) -> int:
    out = subprocess.run(
        [
            ember_bin,
            "cql",
            "--contact-point",
            stack["cassandra"],
            "--tsv",
            f"SELECT COUNT(*) FROM {keyspace}.created_users",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip())


def tail(proc, n=60) -> str:
    return "\n".join((proc.stdout + proc.stderr).splitlines()[-n:])


def test_dags_test_lands_every_produced_user(airflow_home, ember_bin, stack, names, tmp_path):
    proc, seconds = dags_test(airflow_home, ember_bin, stack, names, tmp_path, {"count": 750})
    assert proc.returncode == 0, tail(proc)
    assert task_states(airflow_home) == {
        "stream_data_from_api": "success",
        "process_users": "success",
        "check_quality": "success",
    }
    produced = xcom(airflow_home, "stream_data_from_api")
    assert produced["produced"] == 750 and produced["seed"] == SEED
    assert produced["topic"] == names["topic"]
    run = xcom(airflow_home, "process_users")
    assert (run["rows_in"], run["written_total"], run["rejected"]) == (750, 750, 0)
    counts = xcom(airflow_home, "check_quality", "counts")
    assert counts == {
        "produced": 750,
        "rows_in": 750,
        "dead_lettered": 0,
        "written": 750,
        "in_cassandra": 750,
        "expected": 750,
        "table": f"{names['keyspace']}.created_users",
        "seed": SEED,
        "ok": True,
    }
    # The keyspace is this test's own: every row in it is one this run produced.
    assert cql_count(ember_bin, stack, names["keyspace"]) == 750
    print(f"check_quality counts: {json.dumps(counts)}; wall {seconds:.1f} s")


def test_check_quality_fails_when_the_topic_held_records_of_another_run(
    airflow_home, ember_bin, stack, names, tmp_path
):
    # A backlog: 40 users a failed earlier run produced but never processed.
    subprocess.run(
        [
            ember_bin,
            "produce",
            "--brokers",
            stack["brokers"],
            "--topic",
            names["topic"],
            "--seed",
            "1",
            "--count",
            "40",
        ],
        check=True,
        capture_output=True,
    )
    proc, _ = dags_test(airflow_home, ember_bin, stack, names, tmp_path, {"count": 200})
    assert proc.returncode != 0
    assert task_states(airflow_home) == {
        "stream_data_from_api": "success",
        "process_users": "success",
        "check_quality": "failed",
    }
    counts = xcom(airflow_home, "check_quality", "counts")
    # ember wrote 240 rows for a run that produced 200; this run's 200 are all there.
    assert (counts["rows_in"], counts["written"], counts["produced"]) == (240, 240, 200)
    assert counts["in_cassandra"] == 200 and counts["ok"] is False
    assert "records from outside this run" in proc.stdout + proc.stderr


def test_check_quality_fails_when_the_rows_are_not_this_runs_users(
    airflow_home, ember_bin, stack, names, tmp_path
):
    # A transform that loses the key: every record becomes a row, under another id (each
    # hex digit shifted by one: still a UUID, deterministic, so the SQL is accepted). A
    # COUNT(*) of the table would match the run's count; looking up this run's ids does not.
    sql = tmp_path / "lost_ids.sql"
    original = (REPO / "sql" / "created_users.sql").read_text()
    select = original.index("SELECT")
    lost_ids = original[select:].replace(
        "id,", "translate(id, '0123456789abcdef', '123456789abcdef0'),", 1
    )
    sql.write_text(original[:select] + lost_ids)
    proc, _ = dags_test(
        airflow_home,
        ember_bin,
        stack,
        names,
        tmp_path,
        {"count": 120},
        extra_env={"EMBER_SQL": str(sql)},
    )
    assert proc.returncode != 0
    assert task_states(airflow_home)["check_quality"] == "failed"
    counts = xcom(airflow_home, "check_quality", "counts")
    assert (counts["produced"], counts["written"], counts["in_cassandra"]) == (120, 120, 0)
    assert cql_count(ember_bin, stack, names["keyspace"]) == 120
    assert "holds 0 of this run's 120 user(s)" in proc.stdout + proc.stderr


class RandomUserPages(http.server.BaseHTTPRequestHandler):
    """A randomuser.me stand-in: `?results=N&page=P&seed=S` → N users, the same ones for
    the same query."""

    def do_GET(self):
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        n, page = int(query["results"][0]), int(query["page"][0])
        seed = query.get("seed", ["0"])[0]
        users = []
        for i in range(n):
            k = f"{seed}-{page}-{i}"
            users.append(
                {
                    "gender": "female" if i % 2 else "male",
                    "name": {"title": "Mx", "first": f"First{k}", "last": f"Last{k}"},
                    "location": {
                        "street": {"number": i + 1, "name": "Main Street"},
                        "city": "Lyon",
                        "state": "Rhône",
                        "country": "France",
                        "postcode": 69001 if i % 3 else f"N{i}",
                    },
                    "email": f"user{k}@example.com",
                    "login": {"uuid": k, "username": f"user{k}"},
                    "dob": {"date": "1990-01-02T03:04:05.000Z", "age": 36},
                    "registered": {"date": "2020-01-02T03:04:05.000Z", "age": 6},
                    "phone": "04-00-00-00-00",
                    "picture": {"medium": f"https://example.com/{k}.jpg"},
                }
            )
        body = json.dumps(
            {"results": users, "info": {"seed": seed, "results": n, "page": page, "version": "1.4"}}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_dags_test_with_an_api_url_lands_the_api_users(
    airflow_home, ember_bin, stack, names, tmp_path
):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RandomUserPages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/api/"
        proc, _ = dags_test(
            airflow_home, ember_bin, stack, names, tmp_path, {"count": 250, "api_url": url}
        )
    finally:
        server.shutdown()
    assert proc.returncode == 0, tail(proc)
    assert xcom(airflow_home, "stream_data_from_api")["source"] == "api"
    counts = xcom(airflow_home, "check_quality", "counts")
    assert (counts["produced"], counts["written"], counts["in_cassandra"]) == (250, 250, 250)
    assert cql_count(ember_bin, stack, names["keyspace"]) == 250


def test_dead_lettered_records_are_subtracted(airflow_home, ember_bin, stack, names, tmp_path):
    # A transform that fails on some rows: post codes that are not numbers cannot be cast,
    # so ember narrows the batch down to them and dead-letters them; the rest land.
    sql = tmp_path / "numeric_post_codes.sql"
    original = (REPO / "sql" / "created_users.sql").read_text()
    select = original.index("SELECT")
    sql.write_text(
        original[:select]
        + original[select:].replace("post_code,", "CAST(CAST(post_code AS INT) AS VARCHAR),", 1)
    )
    proc, _ = dags_test(
        airflow_home,
        ember_bin,
        stack,
        names,
        tmp_path,
        {"count": 300},
        extra_env={"EMBER_SQL": str(sql)},
    )
    assert proc.returncode == 0, tail(proc)
    counts = xcom(airflow_home, "check_quality", "counts")
    assert counts["produced"] == 300
    assert 0 < counts["dead_lettered"] < 300
    assert counts["written"] == counts["in_cassandra"] == 300 - counts["dead_lettered"]
    assert cql_count(ember_bin, stack, names["keyspace"]) == counts["written"]
