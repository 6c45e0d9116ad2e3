"""Job-completion triggers through the API and ``lockgate apply``: a definition's trigger
is live once it is written, and a definition that would close a trigger cycle is refused
(problem+json naming the cycle at the upstream that closes it), with nothing written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import select
from typer.testing import CliRunner

from service.commands import workflows as workflow_commands
from service.store.models.completion import CompletionTrigger
from tests.api.conftest import Api, api  # noqa: F401  (the API server fixture)
from tests.factories import simple_workflow

runner = CliRunner()


def chained(name: str, *upstreams: str, **block: Any) -> dict[str, Any]:
    selectors = [{"workflow": upstream} for upstream in upstreams]
    return simple_workflow(name, trigger={"job_completion": {"upstreams": selectors, **block}})


def stored_triggers(api: Api) -> dict[str, list[dict[str, Any]]]:  # noqa: F811
    with api.sessions() as session:
        rows = session.scalars(select(CompletionTrigger)).all()
        return {row.workflow_name: list(row.upstreams) for row in rows}


def test_writing_a_workflow_writes_its_trigger(api: Api) -> None:  # noqa: F811
    created = api.client.post("/api/v1/workflows?format=seed", json=chained("b", "a"))
    assert created.status_code == 201, created.text
    assert "trigger" not in created.json()["job_settings"]
    assert stored_triggers(api) == {"b": [{"workflow": "a"}]}

    replaced = api.client.put(
        "/api/v1/workflows/b?format=seed", json=chained("b", "a", condition="ANY")
    )
    assert replaced.status_code == 200, replaced.text
    with api.sessions() as session:
        assert session.scalars(select(CompletionTrigger)).one().condition == "ANY"

    assert api.client.put("/api/v1/workflows/b?format=seed", json=simple_workflow("b")).is_success
    assert stored_triggers(api) == {}


def test_a_workflow_that_closes_a_cycle_is_refused_and_nothing_is_written(api: Api) -> None:  # noqa: F811
    for document in (chained("b", "a"), chained("c", "b")):
        assert api.client.post("/api/v1/workflows?format=seed", json=document).status_code == 201

    refused = api.client.post("/api/v1/workflows?format=seed", json=chained("a", "x", "c"))
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    body = refused.json()
    assert body["title"] == "Trigger cycle"
    assert body["errors"] == [
        {
            "path": "$.trigger.job_completion.upstreams[1]",
            "message": "trigger cycle: a → b → c → a",
        }
    ]
    assert api.client.get("/api/v1/workflows/a").status_code == 404

    itself = api.client.put("/api/v1/workflows/c?format=seed", json=chained("c", "c"))
    assert itself.status_code == 422
    assert itself.json()["errors"][0]["message"] == "trigger cycle: c → c"
    assert stored_triggers(api) == {"b": [{"workflow": "a"}], "c": [{"workflow": "b"}]}
    source = api.client.get("/api/v1/workflows/c").json()["source"]
    assert source["trigger"]["job_completion"]["upstreams"] == [{"workflow": "b"}]

    # Breaking the chain first makes the same workflow acceptable.
    assert api.client.put("/api/v1/workflows/c?format=seed", json=simple_workflow("c")).is_success
    assert (
        api.client.post("/api/v1/workflows?format=seed", json=chained("a", "c")).status_code == 201
    )


def test_apply_refuses_a_cycle_among_its_files_before_writing_any(
    tmp_path: Path,
    api: Api,  # noqa: F811
) -> None:
    (tmp_path / "a.json").write_text(json.dumps(chained("a", "b")))
    (tmp_path / "b.json").write_text(json.dumps(chained("b", "a")))
    app = typer.Typer()
    workflow_commands.register(app)
    key = api.client.headers["Authorization"].removeprefix("Bearer ")
    env = {"LOCKGATE_API_URL": str(api.client.base_url), "LOCKGATE_API_KEY": key}
    result = runner.invoke(app, ["apply", "-f", str(tmp_path), "--yes"], env=env)
    assert result.exit_code == 1
    assert "$.trigger.job_completion.upstreams[0]: trigger cycle: a → b → a" in result.output
    assert "$.trigger.job_completion.upstreams[0]: trigger cycle: b → a → b" in result.output
    assert api.client.get("/api/v1/workflows").json()["items"] == []
