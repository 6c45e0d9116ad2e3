"""The ``trigger.job_completion`` block: read in every format, every problem at its JSON
path, never sent to Databricks; trigger cycles found before anything is written."""

from __future__ import annotations

from typing import Any

import pytest

from service.workflows import (
    WorkflowInvalid,
    export_document,
    export_warnings,
    parse_document,
    parse_workflow,
    plan_apply,
)
from service.workflows.completion import Upstream, status_matches, upstream_from_json
from service.workflows.trigger_cycles import find_trigger_cycles
from tests.workflows.conftest import notebook, workflow

UPSTREAMS = [
    {"workflow": "nightly-ingest"},
    {"job_id": 123},
    {"job_name": "ingest"},
    {"job_tag": {"team": "finance", "tier": "*"}},
]


def seed(block: dict[str, Any], name: str = "orders-daily", **trigger: Any) -> dict[str, Any]:
    return workflow(notebook("extract"), name=name, trigger={"job_completion": block, **trigger})


def jobs(block: Any, **trigger: Any) -> dict[str, Any]:
    return {
        "name": "orders",
        "tasks": [
            {
                "task_key": "a",
                "notebook_task": {"notebook_path": "/Shared/a"},
                "existing_cluster_id": "0101-abc",
            }
        ],
        "trigger": {"job_completion": block, **trigger},
    }


def test_a_seed_block_is_read_and_kept_out_of_the_job_settings() -> None:
    definition = parse_workflow(
        seed(
            {
                "if_status": "done",
                "condition": "any",
                "min_time_between_triggers_seconds": 90,
                "upstreams": UPSTREAMS,
                "workspace": "emea",
            }
        )
    )
    spec = definition.job_completion
    assert spec is not None
    assert (spec.if_status, spec.condition, spec.min_time_between_triggers_seconds) == (
        "DONE",
        "ANY",
        90,
    )
    assert spec.workspace == "emea" and not spec.paused
    assert [u.key for u in spec.upstreams] == [
        "workflow:nightly-ingest",
        "job_id:123",
        "job_name:ingest",
        'job_tag:{"team": "finance", "tier": "*"}',
    ]
    assert spec.upstreams[0].path == "$.trigger.job_completion.upstreams[0]"
    # Databricks has no such trigger: a trigger block holding only it is not sent at all.
    assert "trigger" not in definition.to_job_settings()
    assert "trigger" not in definition.export_job_settings()
    assert "job_completion" not in str(export_document(definition, "yaml"))
    # ... and the export says so.
    assert "$.trigger.job_completion" in [w.path for w in export_warnings(definition)]


def test_defaults_and_a_paused_trigger() -> None:
    spec = parse_workflow(
        seed({"upstreams": [{"workflow": "a"}]}, pause_status="PAUSED")
    ).job_completion
    assert spec is not None
    assert (spec.if_status, spec.condition, spec.min_time_between_triggers_seconds) == (
        "SUCCESS",
        "ALL",
        0,
    )
    assert spec.workspace == "default" and spec.paused


def test_jobs_json_and_bundles_take_the_block_too() -> None:
    definition = parse_workflow(jobs({"upstreams": [{"job_id": 7}]}))
    assert definition.format == "jobs"
    assert definition.job_completion is not None
    assert definition.job_completion.upstreams == (Upstream("job_id", 7),)
    assert "trigger" not in definition.to_job_settings()

    bundle = {
        "bundle": {"name": "b"},
        "resources": {"jobs": {"etl": jobs({"upstreams": [{"workflow": "up"}]})}},
    }
    [bundled] = parse_document(bundle)
    assert bundled.job_completion is not None
    assert bundled.job_completion.upstreams[0].path == (
        "$.resources.jobs.etl.trigger.job_completion.upstreams[0]"
    )


def test_the_upstream_parameters_are_declared_when_the_job_declares_parameters() -> None:
    declared = parse_workflow(
        seed(
            {"upstreams": [{"workflow": "a"}]},
            name="with-params",
        )
        | {"parameters": [{"name": "day", "default": ""}]}
    )
    names = [p["name"] for p in declared.to_job_settings()["parameters"]]
    assert names == [
        "day",
        "upstream_run_ids",
        "upstream_job_ids",
        "upstream_result_states",
        "upstream_workflows",
    ]
    assert declared.job_parameter_names == tuple(names)
    # Without job parameters the run takes notebook parameters, which need no declaring.
    plain = parse_workflow(seed({"upstreams": [{"workflow": "a"}]}))
    assert "parameters" not in plain.to_job_settings()
    assert plain.job_parameter_names == ()


@pytest.mark.parametrize(
    ("block", "path", "message"),
    [
        pytest.param(
            {"upstreams": [{"workflow": "a"}, {"job_id": 1, "job_name": "x"}]},
            "$.trigger.job_completion.upstreams[1]",
            "name exactly one of workflow, job_id, job_name, job_tag",
            id="two-selectors",
        ),
        pytest.param(
            {"upstreams": [{"job": 1}]},
            "$.trigger.job_completion.upstreams[0]",
            "name exactly one of workflow, job_id, job_name, job_tag (found job)",
            id="unknown-selector",
        ),
        pytest.param(
            {}, "$.trigger.job_completion.upstreams", "`upstreams` is required", id="no-upstreams"
        ),
        pytest.param(
            {"upstreams": []},
            "$.trigger.job_completion.upstreams",
            "a list of 1 to 100 entries",
            id="empty-upstreams",
        ),
        pytest.param(
            {"upstreams": [{"workflow": "a"}], "if_status": "OK"},
            "$.trigger.job_completion.if_status",
            "must be one of SUCCESS, FAILED, DONE, not 'OK'",
            id="if-status",
        ),
        pytest.param(
            {"upstreams": [{"workflow": "a"}], "condition": "SOME"},
            "$.trigger.job_completion.condition",
            "must be one of ALL, ANY",
            id="condition",
        ),
        pytest.param(
            {"upstreams": [{"workflow": "a"}], "min_time_between_triggers_seconds": -1},
            "$.trigger.job_completion.min_time_between_triggers_seconds",
            "at least 0",
            id="min-time",
        ),
        pytest.param(
            {"upstreams": [{"job_id": "123"}]},
            "$.trigger.job_completion.upstreams[0].job_id",
            "must be a Databricks job id",
            id="job-id-text",
        ),
        pytest.param(
            {"upstreams": [{"job_tag": {"team": 1}}]},
            "$.trigger.job_completion.upstreams[0].job_tag",
            "mapping of tag names to text values",
            id="job-tag-value",
        ),
        pytest.param(
            {"upstreams": [{"workflow": "has space"}]},
            "$.trigger.job_completion.upstreams[0].workflow",
            "must name a Lockgate workflow",
            id="workflow-name",
        ),
        pytest.param(
            {"upstreams": [{"job_id": 5}, {"job_id": 5}]},
            "$.trigger.job_completion.upstreams[1]",
            "names the same upstream as upstreams[0]",
            id="duplicate",
        ),
        pytest.param(
            {"upstreams": [{"job_id": 5}], "if_state": "FAILED"},
            "$.trigger.job_completion.if_state",
            "unknown key",
            id="unknown-key",
        ),
        pytest.param(
            {"upstreams": [{"job_id": 5}], "workspace": ""},
            "$.trigger.job_completion.workspace",
            "must name a workspace profile",
            id="workspace",
        ),
    ],
)
def test_every_problem_is_reported_at_its_path(
    block: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(WorkflowInvalid) as raised:
        parse_workflow(seed(block))
    found = [(e.path, e.message) for e in raised.value.errors]
    assert any(p == path and message in m for p, m in found), found


def test_a_second_trigger_kind_beside_it_is_refused_in_both_formats() -> None:
    both = {"periodic": {"interval": 1, "unit": "DAYS"}}
    for document in (seed({"upstreams": [{"job_id": 1}]}, **both), jobs({"upstreams": []}, **both)):
        with pytest.raises(WorkflowInvalid) as raised:
            parse_workflow(document)
        assert any(
            e.path == "$.trigger" and "exactly one of file_arrival" in e.message
            for e in raised.value.errors
        ), raised.value.errors
    with pytest.raises(WorkflowInvalid) as raised:
        parse_workflow({"settings": jobs("ALL")})
    assert [e.path for e in raised.value.errors] == ["$.settings.trigger.job_completion"]


@pytest.mark.parametrize(
    ("if_status", "result", "matches"),
    [
        ("SUCCESS", "SUCCESS", True),
        ("SUCCESS", "SUCCESS_WITH_FAILURES", True),
        ("SUCCESS", "FAILED", False),
        ("SUCCESS", "CANCELED", False),
        ("FAILED", "FAILED", True),
        ("FAILED", "TIMEDOUT", True),
        ("FAILED", "CANCELED", True),
        ("FAILED", "SUCCESS_WITH_FAILURES", False),
        ("DONE", "SKIPPED", True),
        ("DONE", "SUCCESS", True),
    ],
)
def test_the_outcome_filter_is_databricks_own(if_status: str, result: str, matches: bool) -> None:
    assert status_matches(if_status, result) is matches


def test_selectors_read_back_as_stored() -> None:
    spec = parse_workflow(seed({"upstreams": UPSTREAMS})).job_completion
    assert spec is not None
    assert [upstream_from_json(u.as_json()) for u in spec.upstreams] == list(spec.upstreams)


def _defined(name: str, *upstreams: str) -> Any:
    return parse_workflow(seed({"upstreams": [{"workflow": u} for u in upstreams]}, name=name))


def test_a_cycle_is_named_at_the_upstream_that_closes_it() -> None:
    stored = {"b": ["a"], "c": ["b"]}
    [cycle] = find_trigger_cycles(stored, [_defined("a", "x", "c")])
    assert cycle.message == "trigger cycle: a → b → c → a"
    assert cycle.path == "$.trigger.job_completion.upstreams[1]"

    [itself] = find_trigger_cycles({}, [_defined("a", "a")])
    assert itself.message == "trigger cycle: a → a"
    assert find_trigger_cycles(stored, [_defined("d", "c")]) == []
    # The applied definition replaces the stored one of its name: c no longer follows b.
    assert find_trigger_cycles(stored, [_defined("a", "c"), _defined("c", "x")]) == []


def test_apply_plans_refuse_a_cycle_before_any_change() -> None:
    remote = {"b": seed({"upstreams": [{"workflow": "a"}]}, name="b")}
    with pytest.raises(WorkflowInvalid) as raised:
        plan_apply([_defined("a", "b")], remote, prune=False)
    assert [(e.path, e.message) for e in raised.value.errors] == [
        ("$.trigger.job_completion.upstreams[0]", "trigger cycle: a → b → a")
    ]
    # Pruned, b goes away with its edge: no cycle.
    steps = plan_apply([_defined("a", "b")], remote, prune=True)
    assert [(s.action, s.name) for s in steps] == [("create", "a"), ("delete", "b")]
