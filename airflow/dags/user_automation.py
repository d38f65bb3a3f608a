"""`user_automation`: the classic stack's daily DAG, with Ember doing the work.

    stream_data_from_api ──▶ process_users ──▶ check_quality

- `stream_data_from_api` runs `ember produce`: users from the API at `api_url` when the
  param is set (randomuser.me format), otherwise from Ember's seeded generator, to the
  pipeline's Kafka topic. The seed comes from the `seed` param or, by default, from the
  run's logical date (20261126 for 2026-11-26), so every day adds new users and a cleared
  run re-sends the same users (same ids: the upserts make that harmless).
- `process_users` runs `ember run <pipeline> --trigger available-now`: everything up to the
  topic's end offsets, then exit.
- `check_quality` fails the run unless the rows written match what this run produced minus
  what was dead-lettered, both by `ember run`'s own count and by Cassandra: `ember landed`
  looks up this run's ids (recomputed from the seed) in the sink table, so rows of earlier
  runs, or rows under ids nobody produced, cannot make the check pass.

Where Ember is comes from Airflow Variables, else the environment, so one file serves the
local `make airflow` and Docker Compose:

    Variable `ember_bin`       env EMBER_BIN       default `ember` (on PATH)
    Variable `ember_pipeline`  env EMBER_PIPELINE  default `pipelines/users.toml` beside this
                                                   folder's parent (the repository layout)

Everything else (brokers, topic, keyspace, consumer group, checkpoint) is pipeline
configuration: the `EMBER_<KEY>` variables in the task's environment reach `ember`
unchanged. `ember` runs in the folder above the pipeline file's folder, where a relative
`checkpoint` (the default `.ember/checkpoints/<group>`) lives; deployments set
`EMBER_CHECKPOINT` to a persistent path.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import threading
import zlib
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param, Variable, get_current_context, task
from airflow.sdk.exceptions import AirflowException, AirflowFailException

log = logging.getLogger(__name__)

# This checkout, when the DAG is read from its airflow/dags folder.
_HERE = Path(__file__).resolve()
REPO = _HERE.parents[2] if len(_HERE.parents) > 2 else _HERE.parent


def ember_bin() -> str:
    return Variable.get("ember_bin", default=os.environ.get("EMBER_BIN") or "ember")


def ember_pipeline() -> Path:
    default = os.environ.get("EMBER_PIPELINE") or str(REPO / "pipelines" / "users.toml")
    return Path(Variable.get("ember_pipeline", default=default)).resolve()


def run_ember(*args: Any) -> dict:
    """Runs `ember <args> --summary-json`, logging its output line by line as it
    comes, and returns the summary (its last JSON line on stdout).

    A task timeout or kill interrupts the read: `ember` then gets SIGTERM (it finishes the
    batch in flight and commits) and, after 60 s, SIGKILL. A non-zero exit raises
    AirflowException, which the task's retries handle."""
    pipeline = ember_pipeline()
    cmd = [ember_bin(), *map(str, args), "--summary-json"]
    cwd = pipeline.parent.parent
    log.info("$ %s   (in %s)", shlex.join(cmd), cwd)
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env={**os.environ, "NO_COLOR": "1"},  # plain log lines in the task log
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    except OSError as e:
        raise AirflowException(
            f"cannot start {cmd[0]!r}: {e} (set the Variable ember_bin or EMBER_BIN)"
        ) from e

    def relay_stderr() -> None:  # ember's logs
        assert proc.stderr is not None
        for line in proc.stderr:
            log.info("ember: %s", line.rstrip())

    relay = threading.Thread(target=relay_stderr, daemon=True)
    relay.start()
    summary = None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            log.info("%s", line)
            if line.startswith("{"):
                try:
                    summary = json.loads(line)
                except ValueError:
                    pass
        code = proc.wait()
    except BaseException:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise
    relay.join(timeout=5)
    if code != 0:
        raise AirflowException(f"{shlex.join(cmd)} exited with status {code}")
    if not isinstance(summary, dict):
        raise AirflowException(f"{shlex.join(cmd)} printed no JSON summary")
    return summary


def run_seed(params: dict, context: dict) -> int:
    """The `seed` param, else the logical date as YYYYMMDD, else (a manual run
    without a logical date) a hash of the run id: stable across retries and
    clears of the same run."""
    if params.get("seed") is not None:
        return int(params["seed"])
    logical_date = context.get("logical_date")
    if logical_date is not None:
        return int(logical_date.strftime("%Y%m%d"))
    return zlib.crc32(context["run_id"].encode())


with DAG(
    dag_id="user_automation",
    description="randomuser API → Kafka → Ember (SQL) → Cassandra, then a count check",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # runs share the topic and consumer group: one at a time
    default_args={
        "owner": "ember",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
    },
    params={
        "count": Param(
            1000, type=["null", "integer"], minimum=1, description="users to produce"
        ),
        "duration": Param(
            None,
            type=["null", "string"],
            description='or produce for this long ("30s", "5m"); with count, whichever ends first',
        ),
        "api_url": Param(
            None,
            type=["null", "string"],
            description="a randomuser.me-format API; empty: Ember's seeded generator",
        ),
        "seed": Param(
            None,
            type=["null", "integer"],
            description="generator/API seed; default: the logical date as YYYYMMDD",
        ),
    },
    tags=["ember"],
    doc_md=__doc__,
) as dag:

    @task(execution_timeout=timedelta(minutes=15))
    def stream_data_from_api(params: dict | None = None) -> dict:
        context = get_current_context()
        params = params or {}
        seed = run_seed(params, context)
        args: list[Any] = ["produce", "--seed", seed]
        if params.get("count") is not None:
            args += ["--count", params["count"]]
        if params.get("duration"):
            args += ["--duration", params["duration"]]
        if params.get("api_url"):
            args += ["--api-url", params["api_url"]]
        summary = run_ember(*args)
        summary["seed"] = seed
        log.info(
            "produced %s user(s) with seed %s to %s",
            summary["produced"],
            seed,
            summary["topic"],
        )
        return summary

    @task(execution_timeout=timedelta(minutes=30))
    def process_users() -> dict:
        summary = run_ember("run", ember_pipeline(), "--trigger", "available-now")
        log.info(
            "read %s record(s): %s written, %s dead-lettered",
            summary["rows_in"],
            summary["written_total"],
            summary["rejected"],
        )
        return summary

    # A count mismatch is final (AirflowFailException: no retry); a failure to
    # reach Cassandra is retried like any other.
    @task(execution_timeout=timedelta(minutes=10))
    def check_quality() -> dict:
        ti = get_current_context()["ti"]
        produce = ti.xcom_pull(task_ids="stream_data_from_api")
        run = ti.xcom_pull(task_ids="process_users")
        if not produce or not run:
            raise AirflowFailException("the upstream tasks left no summaries in XCom")
        produced, seed = int(produce["produced"]), int(produce["seed"])
        landed = run_ember(
            "landed",
            ember_pipeline(),
            "--seed",
            seed,
            "--count",
            produced,
            *(["--api"] if produce["source"] == "api" else []),
        )
        counts = {
            "produced": produced,
            "rows_in": int(run["rows_in"]),
            "dead_lettered": int(run["rejected"]),
            "written": int(run["written_total"]),
            "in_cassandra": int(landed["found"]),
            "table": landed["table"],
            "seed": seed,
        }
        counts["expected"] = counts["produced"] - counts["dead_lettered"]
        problems = []
        if counts["written"] + counts["dead_lettered"] != counts["rows_in"]:
            problems.append(
                f"ember read {counts['rows_in']} record(s) but wrote {counts['written']} "
                f"and dead-lettered {counts['dead_lettered']}"
            )
        if counts["written"] != counts["expected"]:
            problems.append(
                f"ember wrote {counts['written']} row(s) from {counts['rows_in']} record(s), "
                f"but this run produced {produced} and {counts['dead_lettered']} were "
                f"dead-lettered (expected {counts['expected']}): records from outside this run "
                "were in the topic (a backlog of a failed run, another producer), or part of "
                "this run's were processed earlier (a retried process_users). Clear the whole "
                "run to re-check it."
            )
        if counts["in_cassandra"] != counts["expected"]:
            problems.append(
                f"{counts['table']} holds {counts['in_cassandra']} of this run's {produced} "
                f"user(s), expected {counts['expected']} "
                f"(missing e.g. {', '.join(landed.get('missing_sample', []))})"
            )
        counts["ok"] = not problems
        ti.xcom_push(key="counts", value=counts)
        log.info("counts: %s", json.dumps(counts))
        if problems:
            raise AirflowFailException("quality check failed: " + "; ".join(problems))
        log.info(
            "quality ok: %s produced, %s dead-lettered, %s written, %s in %s",
            produced,
            counts["dead_lettered"],
            counts["written"],
            counts["in_cassandra"],
            counts["table"],
        )
        return counts

    stream_data_from_api() >> process_users() >> check_quality()
