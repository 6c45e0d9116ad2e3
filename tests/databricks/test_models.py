"""Parsing Jobs API responses into RunInfo / TaskRunInfo / RunOutput (pure; no server)."""

from __future__ import annotations

from typing import Any

import pytest
from databricks.sdk.service import jobs as sdk_jobs

from service.databricks import LifeCycleState, ResultState, RunInfo, RunOutput, TaskRunInfo
from tests.databricks.conftest import recorded

SDK_SHAPES = {
    "runs_get_failed_multitask.json": sdk_jobs.Run,
    "runs_list_active.json": sdk_jobs.ListRunsResponse,
    "runs_get_output_failed.json": sdk_jobs.RunOutput,
    "runs_get_output_notebook.json": sdk_jobs.RunOutput,
    "jobs_get.json": sdk_jobs.Job,
    "jobs_list.json": sdk_jobs.ListJobsResponse,
    "jobs_run_now.json": sdk_jobs.RunNowResponse,
    "runs_submit.json": sdk_jobs.SubmitRunResponse,
    "jobs_create.json": sdk_jobs.CreateResponse,
}


@pytest.mark.parametrize(("name", "sdk_class"), SDK_SHAPES.items())
def test_recorded_payloads_have_real_databricks_shapes(name: str, sdk_class: Any) -> None:
    # The SDK's generated dataclasses drop unknown fields and enum values on a round
    # trip, so equality proves every recorded field name and value is a real one.
    payload = recorded(name)
    assert sdk_class.from_dict(payload).as_dict() == payload


def test_failed_multitask_run_is_parsed_once_into_typed_fields() -> None:
    run = RunInfo.from_api(recorded("runs_get_failed_multitask.json"))

    assert run.run_id == 455644833
    assert run.job_id == 11223344
    assert run.run_name == "nightly-orders"
    assert run.life_cycle_state is LifeCycleState.TERMINATED
    assert run.result_state is ResultState.FAILED
    assert run.state_message.startswith("Task transform failed")
    assert run.start_time_ms == 1735689600000
    assert run.end_time_ms == 1735689720000
    assert run.run_page_url is not None and run.run_page_url.endswith("/run/455644833")
    assert run.termination_code == "RUN_EXECUTION_ERROR"
    assert run.is_terminal and not run.is_successful
    assert [t.task_key for t in run.tasks] == ["ingest", "transform"]
    ingest, transform = run.tasks
    assert ingest.is_successful
    assert transform == TaskRunInfo(
        task_key="transform",
        run_id=455644835,
        attempt_number=1,
        life_cycle_state=LifeCycleState.TERMINATED,
        result_state=ResultState.FAILED,
        state_message="Workload failed, see run output for details",
        start_time_ms=1735689660000,
        end_time_ms=1735689720000,
        termination_code="RUN_EXECUTION_ERROR",
    )


def test_active_run_has_no_result_and_zero_times_become_none() -> None:
    data = recorded("runs_list_active.json")["runs"][0]
    run = RunInfo.from_api(data)

    assert run.life_cycle_state is LifeCycleState.RUNNING
    assert run.result_state is None
    assert run.end_time_ms is None
    assert not run.is_terminal and not run.is_successful
    assert run.tasks[1].life_cycle_state is LifeCycleState.BLOCKED
    assert run.tasks[1].start_time_ms is None


def test_raw_payload_is_kept_but_out_of_repr_and_equality() -> None:
    data = recorded("runs_get_failed_multitask.json")
    run = RunInfo.from_api(data)
    assert run.raw["number_in_job"] == 455644833
    assert "raw" not in repr(run) and "number_in_job" not in repr(run)
    assert run == RunInfo.from_api({**data, "creator_user_name": "someone-else"})


def test_unknown_states_map_to_unknown_instead_of_raising() -> None:
    run = RunInfo.from_api(
        {
            "run_id": 1,
            "state": {"life_cycle_state": "HIBERNATING", "state_message": "zzz"},
            "tasks": [
                {
                    "run_id": 2,
                    "task_key": "a",
                    "state": {"life_cycle_state": "TERMINATED", "result_state": "PARTIAL_GLORY"},
                }
            ],
        }
    )
    assert run.life_cycle_state is LifeCycleState.UNKNOWN
    assert run.result_state is None
    assert not run.is_terminal
    assert run.tasks[0].result_state is ResultState.UNKNOWN
    assert run.tasks[0].is_terminal and not run.tasks[0].is_successful


def test_unknown_life_cycle_with_a_result_counts_as_terminal() -> None:
    # result_state only ever appears on ended runs, whatever the life cycle is called.
    run = RunInfo.from_api(
        {"run_id": 1, "state": {"life_cycle_state": "ARCHIVED", "result_state": "SUCCESS"}}
    )
    assert run.life_cycle_state is LifeCycleState.UNKNOWN
    assert run.is_terminal and run.is_successful


def test_a_run_without_state_is_unknown_not_an_error() -> None:
    run = RunInfo.from_api({"run_id": 7})
    assert run.life_cycle_state is LifeCycleState.UNKNOWN
    assert run.tasks == () and not run.is_terminal


@pytest.mark.parametrize(
    ("life_cycle", "result", "terminal", "successful"),
    [
        ("QUEUED", None, False, False),
        ("PENDING", None, False, False),
        ("RUNNING", None, False, False),
        ("TERMINATING", None, False, False),
        ("BLOCKED", None, False, False),
        ("WAITING_FOR_RETRY", None, False, False),
        ("TERMINATED", "SUCCESS", True, True),
        ("TERMINATED", "SUCCESS_WITH_FAILURES", True, True),
        ("TERMINATED", "FAILED", True, False),
        ("TERMINATED", "TIMEDOUT", True, False),
        ("TERMINATED", "CANCELED", True, False),
        ("TERMINATED", "UPSTREAM_FAILED", True, False),
        ("TERMINATED", "EXCLUDED", True, False),
        ("SKIPPED", None, True, False),
        ("SKIPPED", "MAXIMUM_CONCURRENT_RUNS_REACHED", True, False),
        ("INTERNAL_ERROR", None, True, False),
        ("INTERNAL_ERROR", "FAILED", True, False),
    ],
)
def test_run_terminal_and_successful(
    life_cycle: str, result: str | None, terminal: bool, successful: bool
) -> None:
    state: dict[str, Any] = {"life_cycle_state": life_cycle}
    if result is not None:
        state["result_state"] = result
    run = RunInfo.from_api({"run_id": 1, "state": state})
    assert (run.is_terminal, run.is_successful) == (terminal, successful)


def test_an_excluded_task_is_not_a_failure() -> None:
    # run_if AT_LEAST_ONE_FAILED / ALL_FAILED unmet: the task is EXCLUDED, which counts
    # as success, so a repair must not re-run it.
    task = TaskRunInfo.from_api(
        {
            "run_id": 3,
            "task_key": "on_failure",
            "state": {"life_cycle_state": "TERMINATED", "result_state": "EXCLUDED"},
        }
    )
    assert task.is_successful


@pytest.mark.parametrize(
    ("status", "life_cycle", "result"),
    [
        ({"state": "RUNNING"}, LifeCycleState.RUNNING, None),
        ({"state": "WAITING"}, LifeCycleState.WAITING_FOR_RETRY, None),
        (
            {"state": "TERMINATED", "termination_details": {"code": "SUCCESS"}},
            LifeCycleState.TERMINATED,
            ResultState.SUCCESS,
        ),
        (
            {"state": "TERMINATED", "termination_details": {"code": "USER_CANCELED"}},
            LifeCycleState.TERMINATED,
            ResultState.CANCELED,
        ),
        (
            {"state": "TERMINATED", "termination_details": {"code": "DRIVER_ERROR"}},
            LifeCycleState.TERMINATED,
            ResultState.FAILED,
        ),
    ],
)
def test_status_is_read_when_the_deprecated_state_is_absent(
    status: dict[str, Any], life_cycle: LifeCycleState, result: ResultState | None
) -> None:
    run = RunInfo.from_api({"run_id": 1, "status": status})
    assert (run.life_cycle_state, run.result_state) == (life_cycle, result)


def test_run_output_of_a_failed_task() -> None:
    output = RunOutput.from_api(recorded("runs_get_output_failed.json"))
    assert output.error == "ZeroDivisionError: division by zero"
    assert output.error_trace is not None and "Traceback" in output.error_trace
    assert output.logs == "reading orders for 2025-01-01\n"
    assert output.notebook_result is None
    assert output.metadata is not None and output.metadata.result_state is ResultState.FAILED
    # Traces and logs can be megabytes: they stay out of repr.
    assert "Traceback" not in repr(output) and "reading orders" not in repr(output)


def test_run_output_of_a_notebook_keeps_its_exit_value() -> None:
    output = RunOutput.from_api(recorded("runs_get_output_notebook.json"))
    assert output.notebook_result == '{"rows": 1200}'
    assert output.notebook_result_truncated is False
    assert output.error is None
    empty_exit = RunOutput.from_api({"notebook_output": {"result": ""}})
    assert empty_exit.notebook_result == ""
