"""The DAG folder imports cleanly and `user_automation` is shaped as specified."""

from __future__ import annotations

from datetime import timedelta

import pytest

from conftest import DAGS

TASKS = ["stream_data_from_api", "process_users", "check_quality"]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


@pytest.fixture(scope="module")
def dag(dagbag):
    return dagbag.dags["user_automation"]


def test_dag_folder_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dag_ids) == ["user_automation"]


def test_tasks_and_dependencies_are_exactly_the_chain(dag):
    assert sorted(dag.task_ids) == sorted(TASKS)
    edges = {(up, down) for down in dag.task_ids for up in dag.get_task(down).upstream_task_ids}
    assert edges == {
        ("stream_data_from_api", "process_users"),
        ("process_users", "check_quality"),
    }


def test_schedule_is_daily_without_catch_up(dag):
    assert dag.schedule == "@daily"
    assert dag.catchup is False
    assert dag.max_active_runs == 1


def test_params_have_defaults_for_count_duration_api_url_seed(dag):
    params = {k: dag.params[k] for k in dag.params}
    assert params == {"count": 1000, "duration": None, "api_url": None, "seed": None}


def test_every_task_retries_with_a_delay_and_has_a_timeout(dag):
    for task in dag.tasks:
        assert task.retries >= 1, task.task_id
        assert task.retry_delay >= timedelta(seconds=10), task.task_id
        assert task.execution_timeout is not None, task.task_id
        assert timedelta(0) < task.execution_timeout <= timedelta(hours=1), task.task_id


def test_binary_and_pipeline_come_from_variables_or_environment(monkeypatch, tmp_path):
    import user_automation as module

    monkeypatch.setenv("EMBER_BIN", "/opt/ember/bin/ember")
    monkeypatch.setenv("EMBER_PIPELINE", str(tmp_path / "p.toml"))
    assert module.ember_bin() == "/opt/ember/bin/ember"
    assert module.ember_pipeline() == tmp_path / "p.toml"
    # An Airflow Variable wins over the environment.
    monkeypatch.setenv("AIRFLOW_VAR_EMBER_BIN", "/usr/local/bin/ember")
    assert module.ember_bin() == "/usr/local/bin/ember"
    monkeypatch.delenv("EMBER_PIPELINE")
    assert module.ember_pipeline() == DAGS.parents[1] / "pipelines" / "users.toml"


def test_seed_comes_from_the_param_then_the_logical_date_then_the_run_id():
    from datetime import datetime, timezone

    import user_automation as module

    day = datetime(2026, 11, 26, tzinfo=timezone.utc)
    assert module.run_seed({"seed": 7}, {"logical_date": day}) == 7
    assert module.run_seed({"seed": None}, {"logical_date": day}) == 20261126
    by_run = module.run_seed({}, {"logical_date": None, "run_id": "manual__x"})
    assert by_run == module.run_seed({}, {"logical_date": None, "run_id": "manual__x"})
