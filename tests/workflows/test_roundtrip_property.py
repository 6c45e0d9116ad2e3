"""Property: import -> export -> import is a fixed point, for all three formats.

Random seed documents are imported; their export as Jobs JSON is imported as Jobs JSON,
their export as bundle YAML as a bundle; each import gives the same job settings and
alert routes, and exporting again gives the same document.

A Jobs body has no place for three things a seed holds: the inline SQL text (a workspace
file), webhook URL routes and the ``lockgate`` engine block. Those are the expected
losses of the first export: each must be gone after it and named by ``export_warnings``;
after that, nothing more is lost.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from service.runs.options import EngineOptions, engine_options
from service.settings import Settings
from service.workflows import (
    WorkflowDefinition,
    export_document,
    export_text,
    export_warnings,
    load_document,
    parse_document,
    parse_workflow,
)

_KEYS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=12)
_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20)
_VALUE = st.one_of(
    _TEXT,
    st.sampled_from(
        ["{{job.start_time}}", "{{start_date}}", "{{job.run_id}}", "x-{{job.id}}", "{{job_id}}"]
    ),
)
_CRON = st.sampled_from(["0 2 * * *", "*/15 * * * 1-5", "0 0 6 ? * MON", "30 4 1 * *", "@daily"])
_EMAILS = st.lists(st.sampled_from(["a@example.com", "b@example.org", "ops@x.io"]), max_size=2)
_URLS = st.lists(st.sampled_from(["https://hooks.example.com/a", "https://x.io/b?c=1"]), max_size=2)
_ENGINE = st.fixed_dictionaries(
    {"mode": st.sampled_from(["job", "one_time"])},
    optional={
        "retry": st.fixed_dictionaries({"max_attempts": st.integers(1, 5)}),
        "concurrency": st.fixed_dictionaries({"on_limit": st.sampled_from(["queue", "skip"])}),
    },
)
_SETTINGS = Settings()


def _task_body(kind: str, draw: st.DrawFn) -> dict[str, Any]:
    if kind == "notebook":
        return {
            "notebook_path": "/Shared/" + draw(_KEYS),
            "parameters": draw(st.dictionaries(_KEYS, _VALUE, max_size=3)),
        }
    if kind == "script":
        return {
            "type": "python",
            "python_file": "dbfs:/s/" + draw(_KEYS) + ".py",
            "parameters": draw(st.lists(_VALUE, max_size=3)),
        }
    if kind == "wheel":
        return {"type": "python", "package_name": draw(_KEYS), "entry_point": "main"}
    if kind == "jar":
        return {"main_class_name": "com.x." + draw(_KEYS)}
    if kind == "sql-text":
        reference = draw(st.sampled_from(["", "{{start_date}}", "{{job.run_id}}", "{{job_id}}"]))
        text = f"SELECT '{draw(_KEYS)}', '{reference}'"
        return {"type": "sql", "warehouse_id": "w", "query": text}
    if kind == "sql-query":
        return {"type": "sql", "warehouse_id": "w", "query_id": draw(_KEYS)}
    return {"type": "dlt", "pipeline_id": draw(_KEYS), "full_refresh": draw(st.booleans())}


@st.composite
def seed_documents(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(_KEYS, min_size=1, max_size=6, unique=True))
    clusters = draw(st.lists(_KEYS, min_size=1, max_size=2, unique=True))
    tasks = []
    for position, key in enumerate(keys):
        kind = draw(
            st.sampled_from(["notebook", "script", "wheel", "jar", "sql-text", "sql-query", "dlt"])
        )
        task: dict[str, Any] = {"task_key": key, "type": kind, **_task_body(kind, draw)}
        # Databricks' compute rules: a jar task needs a cluster, a SQL or pipeline task
        # takes none (the Jobs checks refuse the seed otherwise).
        if kind == "jar" and draw(st.booleans()):
            task["existing_cluster_id"] = "0101-" + draw(_KEYS)
        elif kind in ("notebook", "script", "wheel", "jar"):
            task["job_cluster_key"] = draw(st.sampled_from(clusters))
        earlier = keys[:position]
        if earlier:
            task["depends_on"] = draw(st.lists(st.sampled_from(earlier), max_size=2, unique=True))
        if draw(st.booleans()):
            task["email_notifications"] = {"on_failure": draw(_EMAILS)}
        if draw(st.booleans()):
            task["webhook_notifications"] = {"on_start": draw(_URLS)}
        task["max_retries"] = draw(st.integers(-1, 3))
        tasks.append(task)
    document: dict[str, Any] = {
        "name": draw(st.text(alphabet="abcxyz-_.019", min_size=1, max_size=20)).strip(".") or "wf",
        "tags": draw(st.dictionaries(_KEYS, _TEXT, max_size=3)),
        "job_clusters": [
            {"cluster_key": key, "autoscale": draw(st.booleans()), "num_workers": 2}
            for key in clusters
        ],
        "notifications": {"on_failure": draw(_EMAILS), "on_success": draw(_EMAILS)},
        "webhooks": {"on_failure": draw(_URLS)},
        "tasks": tasks,
    }
    if draw(st.booleans()):
        document["schedule"] = {"cron": draw(_CRON), "timezone": "Europe/Amsterdam"}
    if draw(st.booleans()):
        document["parameters"] = [{"name": "day", "default": draw(_VALUE)}]
    if draw(st.booleans()):
        document["lockgate"] = draw(_ENGINE)
    return document


def _same(first: WorkflowDefinition, second: WorkflowDefinition, *, exported: bool) -> None:
    """``second`` read back what ``first`` exported (``exported``) or re-read its export
    in the same format: the same job, the same routes, nothing lost but the expected."""
    assert second.name == first.name
    assert second.to_job_settings() == first.to_job_settings()
    assert second.alert_routes()[0] == first.alert_routes()[0]
    assert _task_emails(second) == _task_emails(first)
    assert second.export_job_settings() == first.export_job_settings()
    if exported:
        _lost_and_said(first, second)
    else:
        assert second.workspace_files == first.workspace_files
        assert _webhooks(second) == _webhooks(first)
        assert _engine(second) == _engine(first)


def _lost_and_said(first: WorkflowDefinition, second: WorkflowDefinition) -> None:
    """The expected losses: gone after the export, and each named by a warning."""
    said = {warning.path for warning in export_warnings(first)}
    expected: set[str] = set()
    # inline SQL text: the export runs it as a workspace file it cannot carry
    assert second.workspace_files == {}
    settings = first.to_job_settings()
    for position, task in enumerate(settings["tasks"]):
        if (task.get("sql_task") or {}).get("file", {}).get("path") in first.workspace_files:
            expected.add(f"$.tasks[{position}].query")
    # webhook URL routes: Databricks takes destination ids
    assert not any(urls for table in _webhooks(second).values() for urls in table.values())
    for where, table in _webhooks(first).items():
        expected |= {f"{where}.{event}" for event, urls in table.items() if urls}
    # the lockgate block: Lockgate's own, not a job setting
    without_block = replace(
        first, source={k: v for k, v in first.source.items() if k != "lockgate"}
    )
    assert _engine(second) == _engine(without_block)
    if first.source.get("lockgate"):
        expected.add("$.lockgate")
    assert said == expected
    assert export_warnings(second) == []  # nothing more to lose


def _task_emails(definition: WorkflowDefinition) -> dict[str, dict[str, tuple[str, ...]]]:
    routes = definition.task_alert_routes().items()
    return {key: email for key, (email, _) in routes if any(email.values())}


def _webhooks(definition: WorkflowDefinition) -> dict[str, dict[str, tuple[str, ...]]]:
    tables = {"$.webhooks": definition.alert_routes()[1]}
    for key, (_, webhook) in definition.task_alert_routes().items():
        position = definition.task_keys.index(key)
        tables[f"$.tasks[{position}].webhook_notifications"] = webhook
    return tables


def _engine(definition: WorkflowDefinition) -> EngineOptions:
    return engine_options(definition, _SETTINGS)


@settings(max_examples=60, deadline=None)
@given(seed_documents())
def test_import_export_import_is_a_fixed_point(document: dict[str, Any]) -> None:
    seed = parse_workflow(document)
    for fmt, expected in (("json", "jobs"), ("yaml", "bundle")):
        exported = export_document(seed, fmt)  # type: ignore[arg-type]
        [imported] = parse_document(load_document(export_text(seed, fmt)))  # type: ignore[arg-type]
        assert imported.format == expected
        _same(seed, imported, exported=True)
        assert export_document(imported, fmt) == exported  # type: ignore[arg-type]
        # and once more from the re-imported format itself
        [again] = parse_document(export_document(imported, fmt))  # type: ignore[arg-type]
        _same(imported, again, exported=False)
