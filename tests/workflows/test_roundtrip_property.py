"""Property: import -> export -> import is a fixed point, for all three formats.

Random seed documents are imported; their export as Jobs JSON is imported as Jobs JSON,
their export as bundle YAML as a bundle; each import gives the same job settings and
alert routes, and exporting again gives the same document.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from service.workflows import (
    WorkflowDefinition,
    export_document,
    export_text,
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
        return {"type": "sql", "warehouse_id": "w", "query": "SELECT '" + draw(_KEYS) + "'"}
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
        if kind in ("notebook", "script", "wheel", "jar"):
            task["job_cluster_key"] = draw(st.sampled_from(clusters))
        earlier = keys[:position]
        if earlier:
            task["depends_on"] = draw(st.lists(st.sampled_from(earlier), max_size=2, unique=True))
        if draw(st.booleans()):
            task["email_notifications"] = {"on_failure": draw(_EMAILS)}
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
        "tasks": tasks,
    }
    if draw(st.booleans()):
        document["schedule"] = {"cron": draw(_CRON), "timezone": "Europe/Amsterdam"}
    if draw(st.booleans()):
        document["parameters"] = [{"name": "day", "default": draw(_VALUE)}]
    return document


def _same(first: WorkflowDefinition, second: WorkflowDefinition) -> None:
    assert second.name == first.name
    assert second.to_job_settings() == first.to_job_settings()
    assert second.alert_routes()[0] == first.alert_routes()[0]
    assert {k: v[0] for k, v in second.task_alert_routes().items()} == {
        k: v[0] for k, v in first.task_alert_routes().items()
    }
    assert second.export_job_settings() == first.export_job_settings()


@settings(max_examples=60, deadline=None)
@given(seed_documents())
def test_import_export_import_is_a_fixed_point(document: dict[str, Any]) -> None:
    seed = parse_workflow(document)
    for fmt, expected in (("json", "jobs"), ("yaml", "bundle")):
        exported = export_document(seed, fmt)  # type: ignore[arg-type]
        [imported] = parse_document(load_document(export_text(seed, fmt)))  # type: ignore[arg-type]
        assert imported.format == expected
        _same(seed, imported)
        assert export_document(imported, fmt) == exported  # type: ignore[arg-type]
        # and once more from the re-imported format itself
        [again] = parse_document(export_document(imported, fmt))  # type: ignore[arg-type]
        _same(imported, again)
