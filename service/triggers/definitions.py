"""The time and file triggers a workflow definition asks for, read from its Databricks
job settings (``schedule``; ``trigger.periodic``; ``trigger.file_arrival``).

Lockgate fires these itself, so the job it syncs to Databricks must not carry them
unpaused as well: the run engine pauses them in the job it syncs. The seed format takes
a ``trigger`` block in Databricks' own shape, with Lockgate's filters (``suffix``,
``glob``, ``trigger_on_overwrite``) inside ``file_arrival``.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.store.models import Workflow
from service.workflows import WorkflowInvalid, parse_workflow

PERIODIC_UNITS = {"MINUTES": 60, "HOURS": 3600, "DAYS": 86_400, "WEEKS": 604_800}


@dataclass(frozen=True)
class CronSpec:
    expression: str
    timezone: str
    paused: bool


@dataclass(frozen=True)
class PeriodicSpec:
    interval: int
    unit: str
    paused: bool

    @property
    def seconds(self) -> int:
        return self.interval * PERIODIC_UNITS[self.unit]


@dataclass(frozen=True)
class FileArrivalSpec:
    url: str
    min_time_between_triggers_seconds: int
    wait_after_last_change_seconds: int
    paused: bool
    suffix: str | None = None
    glob: str | None = None
    trigger_on_overwrite: bool = False


@dataclass(frozen=True)
class WorkflowTriggers:
    schedule: CronSpec | PeriodicSpec | None
    file_arrival: FileArrivalSpec | None
    parameters: dict[str, str]  # declared job parameters: name -> default


NONE = WorkflowTriggers(schedule=None, file_arrival=None, parameters={})


def workflow_triggers(workflow: Workflow) -> WorkflowTriggers:
    """What a stored workflow asks for; an invalid definition asks for nothing."""
    try:
        settings = parse_workflow(workflow.source).to_job_settings()
    except WorkflowInvalid:
        return NONE
    parameters = {
        str(p.get("name")): str(p.get("default", ""))
        for p in settings.get("parameters", [])
        if isinstance(p, dict)
    }
    trigger = settings.get("trigger") or workflow.source.get("trigger") or {}
    if not isinstance(trigger, dict):
        trigger = {}
    trigger_paused = trigger.get("pause_status") == "PAUSED"
    schedule: CronSpec | PeriodicSpec | None = None
    cron = settings.get("schedule")
    if isinstance(cron, dict) and cron.get("quartz_cron_expression"):
        schedule = CronSpec(
            expression=str(cron["quartz_cron_expression"]),
            timezone=str(cron.get("timezone_id") or "UTC"),
            paused=cron.get("pause_status") == "PAUSED",
        )
    periodic = trigger.get("periodic")
    if schedule is None and isinstance(periodic, dict):
        unit = str(periodic.get("unit", "")).upper()
        interval = periodic.get("interval")
        if unit in PERIODIC_UNITS and isinstance(interval, int) and interval > 0:
            schedule = PeriodicSpec(interval=interval, unit=unit, paused=trigger_paused)
    file_arrival: FileArrivalSpec | None = None
    arrival = trigger.get("file_arrival")
    if isinstance(arrival, dict) and isinstance(arrival.get("url"), str):
        file_arrival = FileArrivalSpec(
            url=arrival["url"],
            min_time_between_triggers_seconds=int(
                arrival.get("min_time_between_triggers_seconds") or 0
            ),
            wait_after_last_change_seconds=int(arrival.get("wait_after_last_change_seconds") or 0),
            paused=trigger_paused,
            suffix=arrival.get("suffix"),
            glob=arrival.get("glob"),
            trigger_on_overwrite=bool(arrival.get("trigger_on_overwrite", False)),
        )
    return WorkflowTriggers(schedule=schedule, file_arrival=file_arrival, parameters=parameters)
