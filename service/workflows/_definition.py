"""``WorkflowDefinition``: the one internal model every input format becomes.

Whatever was written (the seed ``workflow_config``, Databricks Jobs JSON, an Asset Bundle
job), a definition holds the same things: the Jobs 2.2 settings Lockgate sends to
Databricks, the alert routes Lockgate delivers itself, the workspace files a task needs
published first (inline SQL), and the warnings found while reading it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from service.workflows._issues import SpecIssue
from service.workflows.completion import JobCompletionSpec

ROUTE_EVENTS = ("on_start", "on_success", "on_failure")

# Alert targets per event: {"on_start": (...), "on_success": (...), "on_failure": (...)}.
RouteTable = dict[str, tuple[str, ...]]
SourceFormat = Literal["seed", "jobs", "bundle"]


def empty_routes() -> RouteTable:
    return {event: () for event in ROUTE_EVENTS}


@dataclass(frozen=True, kw_only=True)
class WorkflowDefinition:
    name: str
    source: dict[str, Any]  # the document as stored: what the user wrote, in its format
    warnings: tuple[SpecIssue, ...]
    task_keys: tuple[str, ...]
    job_parameter_names: tuple[str, ...]
    format: SourceFormat = "seed"
    # Workspace path -> file text that must exist before the job runs (the seed's inline
    # SQL, referenced from ``sql_task.file``). Whoever creates the job publishes these.
    workspace_files: Mapping[str, str] = field(default_factory=dict)
    # Lockgate's job-completion trigger (``trigger.job_completion``): fired by Lockgate,
    # never part of the job settings (see ``service.workflows.completion``).
    job_completion: JobCompletionSpec | None = None
    _job_settings: dict[str, Any] = field(repr=False)
    _email_routes: RouteTable = field(repr=False, default_factory=empty_routes)
    _webhook_routes: RouteTable = field(repr=False, default_factory=empty_routes)
    _task_routes: dict[str, tuple[RouteTable, RouteTable]] = field(repr=False, default_factory=dict)

    def to_job_settings(self, *, inline_sql: bool = False) -> dict[str, Any]:
        """Databricks Jobs 2.2 settings (a jobs/create body); a fresh copy each call.

        With ``inline_sql``, a sql_task whose file is one of ``workspace_files`` carries
        the text itself as ``sql_task.query.query_text`` instead: an extension only the
        local backend reads (a real workspace needs the file published and referenced).
        """
        settings = copy.deepcopy(self._job_settings)
        # Lockgate's own run options, which Jobs JSON and bundles carry beside the job's
        # keys: never sent to Databricks.
        settings.pop("lockgate", None)
        if inline_sql and self.workspace_files:
            for task in _tasks(settings):
                sql = task.get("sql_task")
                if not isinstance(sql, dict):
                    continue
                path = (sql.get("file") or {}).get("path")
                if isinstance(path, str) and path in self.workspace_files:
                    del sql["file"]
                    sql["query"] = {"query_text": self.workspace_files[path]}
        return settings

    def export_job_settings(self) -> dict[str, Any]:
        """Jobs 2.2 settings for Databricks to run without Lockgate: ``to_job_settings``
        plus the email routes as ``email_notifications`` (Lockgate normally sends those
        itself). Webhook URL routes have no Jobs form (Databricks takes destination ids)."""
        settings = self.to_job_settings()
        _merge_email(settings, self._email_routes)
        for task in _tasks(settings):
            routes = self._task_routes.get(task.get("task_key", ""))
            if routes is not None:
                _merge_email(task, routes[0])
        return settings

    def alert_routes(self) -> tuple[RouteTable, RouteTable]:
        """(email, webhook) targets per ``on_start`` / ``on_success`` / ``on_failure``.

        Lockgate sends these itself; they are not part of the job settings.
        """
        return dict(self._email_routes), dict(self._webhook_routes)

    def task_alert_routes(self) -> dict[str, tuple[RouteTable, RouteTable]]:
        """Per task key, the (email, webhook) routes of tasks that declare their own
        ``email_notifications`` / ``webhook_notifications``; other tasks are absent."""
        return {
            key: (dict(email), dict(webhook)) for key, (email, webhook) in self._task_routes.items()
        }


def _tasks(settings: dict[str, Any]) -> list[dict[str, Any]]:
    tasks = [task for task in settings.get("tasks", []) if isinstance(task, dict)]
    nested = [
        task["for_each_task"]["task"]
        for task in tasks
        if isinstance(task.get("for_each_task"), dict)
        and isinstance(task["for_each_task"].get("task"), dict)
    ]
    return tasks + nested


def _merge_email(target: dict[str, Any], routes: RouteTable) -> None:
    events = {event: list(addresses) for event, addresses in routes.items() if addresses}
    if events:
        target["email_notifications"] = {**target.get("email_notifications", {}), **events}


def routes_from(value: Any) -> RouteTable:
    """Takes ``on_start``/``on_success``/``on_failure`` lists out of a checked mapping,
    ordered and de-duplicated (an address listed twice gets one message)."""
    mapping = value if isinstance(value, Mapping) else {}
    return {
        event: tuple(dict.fromkeys(str(v) for v in mapping.get(event) or ()))
        for event in ROUTE_EVENTS
    }
