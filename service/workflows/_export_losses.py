"""What an export leaves out, said out loud.

A Jobs 2.2 body (or a bundle job) has no place for some things a workflow holds,
so ``export_document`` cannot carry them and a re-import does not get them back:

- the inline SQL text: the export references it as a workspace file, which must be
  published before Databricks runs the job;
- webhook URL routes: Databricks' ``webhook_notifications`` take notification-destination
  ids, not URLs (Lockgate sends these alerts itself);
- the ``lockgate`` block (run mode, workspace, concurrency, retry policy) and the
  ``trigger.job_completion`` block: Lockgate's own, not job settings.

Each loss is a warning at the place in the workflow's source that holds it, so the API
can return them beside the document and the CLI print them, instead of dropping them
without a word.
"""

from __future__ import annotations

from service.workflows._definition import WorkflowDefinition
from service.workflows._issues import Loc, SpecIssue, issue

ENGINE_BLOCK = "lockgate"


def export_warnings(definition: WorkflowDefinition) -> list[SpecIssue]:
    """One warning per thing the export of ``definition`` drops; empty when none."""
    found = _sql_text(definition) + _webhook_routes(definition)
    if definition.source.get(ENGINE_BLOCK):
        found.append(
            issue(
                (ENGINE_BLOCK,),
                "Lockgate's run options (mode, workspace, concurrency, retry) have no place "
                "in a Jobs body and are not in the export; add the block again after import",
            )
        )
    if definition.job_completion is not None:
        found.append(
            issue(
                ("trigger", "job_completion"),
                "Lockgate's job-completion trigger is fired by Lockgate and is not in the "
                "export; add the block again after import",
            )
        )
    return found


def _sql_text(definition: WorkflowDefinition) -> list[SpecIssue]:
    tasks = definition.to_job_settings().get("tasks", [])
    found: list[SpecIssue] = []
    for path in definition.workspace_files:
        position = next(
            (
                index
                for index, task in enumerate(tasks)
                if ((task.get("sql_task") or {}).get("file") or {}).get("path") == path
            ),
            None,
        )
        loc: Loc = ("tasks", position, "query") if position is not None else ("tasks",)
        found.append(
            issue(
                loc,
                f"the SQL text is not in the export, which runs the workspace file `{path}`: "
                "publish it there first (GET /api/v1/workflows/<name> returns the text under "
                "workspace_files)",
            )
        )
    return found


def _webhook_routes(definition: WorkflowDefinition) -> list[SpecIssue]:
    found: list[SpecIssue] = []
    _, webhooks = definition.alert_routes()
    found += _route_losses(("webhooks",), webhooks)
    for key, (_, task_webhooks) in definition.task_alert_routes().items():
        if key in definition.task_keys:
            position = definition.task_keys.index(key)
            found += _route_losses(("tasks", position, "webhook_notifications"), task_webhooks)
    return found


def _route_losses(loc: Loc, routes: dict[str, tuple[str, ...]]) -> list[SpecIssue]:
    return [
        issue(
            (*loc, event),
            f"{len(urls)} webhook URL(s) are not in the export: Databricks' "
            "webhook_notifications take notification-destination ids, not URLs; create "
            "destinations for them and list their ids there",
        )
        for event, urls in routes.items()
        if urls
    ]
