"""Records to JSON documents and back, for the backend's SQLite file (``_persistence``).

Task specs are not stored twice: a run keeps its raw task list (as sent), parsed again
on load; a task run names its task by key (an iteration by its for-each task run). Live
process handles are not stored: a backend that restarts has no processes of the old one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._api_version import ApiVersion
from ._job_settings import JobSpec, parse_cluster_keys
from ._legacy_params import LegacyParams
from ._records import JobRecord, RepairRecord, RunRecord, TaskOutput, TaskRunRecord
from ._states import (
    LifeCycleState,
    ResultState,
    RunType,
    Termination,
    TerminationCode,
    TerminationType,
    TriggerType,
)
from ._task_settings import TaskSpec, parse_tasks

Document = dict[str, Any]


def termination_doc(termination: Termination | None) -> Document | None:
    if termination is None:
        return None
    return {
        "result_state": termination.result_state.value,
        "code": termination.code.value,
        "type": termination.type.value,
        "message": termination.message,
        "user_cancelled_or_timedout": termination.user_cancelled_or_timedout,
    }


def termination_from(doc: Document | None) -> Termination | None:
    if doc is None:
        return None
    return Termination(
        ResultState(doc["result_state"]),
        TerminationCode(doc["code"]),
        TerminationType(doc["type"]),
        doc["message"],
        bool(doc["user_cancelled_or_timedout"]),
    )


def run_doc(run: RunRecord) -> Document:
    return {
        "run_id": run.run_id,
        "run_type": run.run_type.value,
        "trigger": run.trigger.value,
        "run_name": run.run_name,
        "tasks": [dict(task.raw) for task in run.tasks_spec],
        "created_time": run.created_time,
        "timeout_seconds": run.timeout_seconds,
        "creator_user_name": run.creator_user_name,
        "job_id": run.job_id,
        "life_cycle_state": run.life_cycle_state.value,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "state_message": run.state_message,
        "queue_reason": run.queue_reason,
        "termination": termination_doc(run.termination),
        "idempotency_token": run.idempotency_token,
        "job_parameters": run.job_parameters,
        "job_parameter_defaults": run.job_parameter_defaults,
        **run.legacy_params.as_doc(),
        "queued_time": run.queued_time,
        "dequeued_time": run.dequeued_time,
        "queue_enabled": run.queue_enabled,
        "stop_reason": termination_doc(run.stop_reason),
        "raw_settings": run.raw_settings,
        "request_fingerprint": run.request_fingerprint,
        "parent_task_run_id": run.parent_task_run_id,
        "repair_history": [
            {
                "repair_id": entry.repair_id,
                "start_time": entry.start_time,
                "end_time": entry.end_time,
                "task_run_ids": entry.task_run_ids,
                "life_cycle_state": entry.life_cycle_state.value,
                "termination": termination_doc(entry.termination),
            }
            for entry in run.repair_history
        ],
    }


def run_from(doc: Document, jobs: dict[int, JobRecord]) -> RunRecord:
    raw_settings = dict(doc["raw_settings"])
    tasks = parse_tasks(
        {"tasks": doc["tasks"]}, "", cluster_keys=parse_cluster_keys(raw_settings, "")
    )
    job_id = doc["job_id"]
    return RunRecord(
        run_id=doc["run_id"],
        run_type=RunType(doc["run_type"]),
        trigger=TriggerType(doc["trigger"]),
        run_name=doc["run_name"],
        tasks_spec=tasks,
        created_time=doc["created_time"],
        timeout_seconds=doc["timeout_seconds"],
        creator_user_name=doc["creator_user_name"],
        job_id=job_id,
        job=jobs.get(job_id) if job_id is not None else None,
        life_cycle_state=LifeCycleState(doc["life_cycle_state"]),
        start_time=doc["start_time"],
        end_time=doc["end_time"],
        state_message=doc["state_message"],
        queue_reason=doc["queue_reason"],
        termination=termination_from(doc["termination"]),
        idempotency_token=doc["idempotency_token"],
        job_parameters=dict(doc["job_parameters"]),
        job_parameter_defaults=dict(doc["job_parameter_defaults"]),
        legacy_params=LegacyParams.from_doc(doc),
        # Absent in files of older backends:
        queued_time=doc.get("queued_time", 0),
        dequeued_time=doc.get("dequeued_time", 0),
        queue_enabled=doc.get("queue_enabled"),
        stop_reason=termination_from(doc["stop_reason"]),
        raw_settings=raw_settings,
        request_fingerprint=doc["request_fingerprint"],
        parent_task_run_id=doc["parent_task_run_id"],
        repair_history=[
            RepairRecord(
                repair_id=entry["repair_id"],
                start_time=entry["start_time"],
                end_time=entry["end_time"],
                task_run_ids=list(entry["task_run_ids"]),
                life_cycle_state=LifeCycleState(entry["life_cycle_state"]),
                termination=termination_from(entry["termination"]),
            )
            for entry in doc["repair_history"]
        ],
    )


def attempt_doc(attempt: TaskRunRecord) -> Document:
    output = attempt.output
    parent = attempt.for_each_parent
    return {
        "run_id": attempt.run_id,
        "parent_run_id": attempt.parent_run_id,
        "task_key": attempt.task_key,
        "attempt_number": attempt.attempt_number,
        "original_attempt_run_id": attempt.original_attempt_run_id,
        "life_cycle_state": attempt.life_cycle_state.value,
        "created_time": attempt.created_time,
        "start_time": attempt.start_time,
        "end_time": attempt.end_time,
        "state_message": attempt.state_message,
        "termination": termination_doc(attempt.termination),
        "output": None if output is None else vars(output),
        "scratch_dir": None if attempt.scratch_dir is None else str(attempt.scratch_dir),
        "repair_id": attempt.repair_id,
        "condition_outcome": attempt.condition_outcome,
        "resolved_condition": attempt.resolved_condition,
        "child_run_id": attempt.child_run_id,
        "iteration_inputs": attempt.iteration_inputs,
        "for_each_parent_id": None if parent is None else parent.run_id,
        "iteration_index": attempt.iteration_index,
        "process_group_id": attempt.process_group_id,
    }


def attempt_from(doc: Document, task: TaskSpec, parent: TaskRunRecord | None) -> TaskRunRecord:
    resolved = doc["resolved_condition"]
    return TaskRunRecord(
        run_id=doc["run_id"],
        parent_run_id=doc["parent_run_id"],
        task=task,
        attempt_number=doc["attempt_number"],
        original_attempt_run_id=doc["original_attempt_run_id"],
        life_cycle_state=LifeCycleState(doc["life_cycle_state"]),
        created_time=doc["created_time"],
        start_time=doc["start_time"],
        end_time=doc["end_time"],
        state_message=doc["state_message"],
        termination=termination_from(doc["termination"]),
        output=None if doc["output"] is None else TaskOutput(**doc["output"]),
        scratch_dir=None if doc["scratch_dir"] is None else Path(doc["scratch_dir"]),
        repair_id=doc["repair_id"],
        condition_outcome=doc["condition_outcome"],
        resolved_condition=None if resolved is None else (resolved[0], resolved[1]),
        child_run_id=doc["child_run_id"],
        iteration_inputs=doc["iteration_inputs"],
        for_each_parent=parent,
        iteration_index=doc["iteration_index"],
        process_group_id=doc.get("process_group_id"),  # absent in files of older backends
    )


def job_doc(job: JobRecord) -> Document:
    return {
        "job_id": job.job_id,
        "created_time": job.created_time,
        "creator_user_name": job.creator_user_name,
        "settings": dict(job.spec.raw),
        "created_with": job.created_with.value,
    }


def job_from(doc: Document, spec: JobSpec) -> JobRecord:
    return JobRecord(
        job_id=doc["job_id"],
        spec=spec,
        created_time=doc["created_time"],
        creator_user_name=doc["creator_user_name"],
        created_with=ApiVersion(doc.get("created_with", ApiVersion.V2_2.value)),
    )
