"""runs/repair: which tasks a repair reruns, and the request's checks.

A repair reruns the tasks named in ``rerun_tasks``, or every task whose latest attempt
did not succeed (``rerun_all_failed_tasks``: FAILED, TIMEDOUT, CANCELED, UPSTREAM_*
...), plus with ``rerun_dependent_tasks`` everything downstream of them. The run must
have ended; after its first repair every repair must name the latest one
(``latest_repair_id``), so two clients cannot repair the same state twice.
"""

from __future__ import annotations

from ._errors import invalid_parameter, invalid_state
from ._legacy_params import parse_legacy_params
from ._payload import JsonObject, get_bool, get_int, get_str_list, get_str_map
from ._records import RunRecord
from ._states import SUCCESSFUL_RESULTS


def tasks_to_rerun(run: RunRecord, payload: JsonObject) -> list[str]:
    """Validate a repair request against the run; the task keys to rerun, in settings order."""
    if not run.is_terminal:
        raise invalid_state(
            f"Run {run.run_id} is still active ({run.life_cycle_state.value}); only a run "
            "that has ended can be repaired"
        )
    latest = run.latest_repair_id
    given = (
        None
        if payload.get("latest_repair_id") is None
        else get_int(payload, "latest_repair_id", "", default=0)
    )
    if latest is not None and given != latest:
        raise invalid_parameter(
            f"latest_repair_id must be {latest}, the latest repair of run {run.run_id}"
            + ("" if given is None else f" (got {given})")
        )
    if latest is None and given is not None:
        raise invalid_parameter(f"run {run.run_id} has not been repaired; omit latest_repair_id")
    keys = [task.task_key for task in run.tasks_spec]
    named = get_str_list(payload, "rerun_tasks", "")
    all_failed = get_bool(payload, "rerun_all_failed_tasks", "", default=False)
    if named and all_failed:
        raise invalid_parameter("set rerun_tasks or rerun_all_failed_tasks, not both")
    unknown = [key for key in named if key not in keys]
    if unknown:
        raise invalid_parameter(f"rerun_tasks: {', '.join(unknown)} not a task of this run")
    if all_failed:
        chosen = {
            key
            for key, attempt in run.latest_attempts.items()
            if attempt.termination is None
            or attempt.termination.result_state not in SUCCESSFUL_RESULTS
        }
    else:
        chosen = set(named)
    if get_bool(payload, "rerun_dependent_tasks", "", default=False):
        chosen |= _downstream_of(run, chosen)
    if not chosen:
        raise invalid_parameter(
            "the repair reruns no task: name rerun_tasks, or set rerun_all_failed_tasks on a "
            "run with failed tasks"
        )
    return [key for key in keys if key in chosen]


def repair_parameters(run: RunRecord, payload: JsonObject) -> None:
    """Parameters given with the repair go over the run's (job_parameters, legacy params:
    ``LegacyParams.merged_with``)."""
    job_parameters = get_str_map(payload, "job_parameters", "")
    undeclared = sorted(set(job_parameters) - set(run.job_parameter_defaults))
    if undeclared:
        raise invalid_parameter(
            f"job_parameters {', '.join(undeclared)} are not defined in the job's parameters"
        )
    legacy_params = parse_legacy_params(payload)  # checked before anything changes
    run.job_parameters.update(job_parameters)
    run.legacy_params = run.legacy_params.merged_with(legacy_params)


def _downstream_of(run: RunRecord, keys: set[str]) -> set[str]:
    found: set[str] = set()
    frontier = set(keys)
    while frontier:
        frontier = {
            task.task_key
            for task in run.tasks_spec
            if task.task_key not in found | keys and frontier & set(task.depends_on)
        }
        found |= frontier
    return found
