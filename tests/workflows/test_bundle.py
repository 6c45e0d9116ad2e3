"""Asset Bundle YAML: jobs from databricks.yml and its includes, variables, targets and
paths relative to the bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.workflows import (
    WorkflowInvalid,
    load_document,
    parse_bundle,
    parse_document,
    parse_workflow,
    read_definitions,
)

MAIN = """
bundle:
  name: shop
include:
  - resources/*.yml
variables:
  warehouse:
    default: wh-dev
  day:
    default: "{{job.start_time.iso_date}}"
workspace:
  root_path: /Workspace/Shared/.bundle/shop/${bundle.target}
targets:
  dev:
    default: true
  prod:
    variables:
      warehouse: wh-prod
    resources:
      jobs:
        orders:
          tasks:
            - task_key: load
              max_retries: 3
resources:
  jobs:
    orders:
      name: orders
      permissions:
        - level: CAN_VIEW
          group_name: users
      tasks:
        - task_key: load
          notebook_task:
            notebook_path: ../src/load.ipynb
            base_parameters:
              day: ${var.day}
          environment_key: default
        - task_key: report
          depends_on: [{task_key: load}]
          sql_task:
            warehouse_id: ${var.warehouse}
            query: {query_id: q-1}
      environments:
        - environment_key: default
          spec: {client: "1"}
"""

INCLUDED = """
resources:
  jobs:
    refunds:
      tasks:
        - task_key: run
          spark_python_task:
            python_file: ../src/refunds.py
          environment_key: default
      environments:
        - environment_key: default
          spec: {client: "1"}
"""


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    (tmp_path / "resources").mkdir()
    (tmp_path / "databricks.yml").write_text(MAIN)
    (tmp_path / "resources" / "refunds.yml").write_text(INCLUDED)
    return tmp_path


def _load(path: Path) -> dict[str, object]:
    return load_document(path.read_bytes(), content_type="application/yaml")


def test_each_job_of_the_bundle_and_its_includes_is_a_workflow(bundle_dir: Path) -> None:
    orders, refunds = parse_bundle(_load(bundle_dir / "databricks.yml"), base_dir=bundle_dir)
    assert (orders.name, refunds.name) == ("orders", "refunds")
    assert orders.format == refunds.format == "bundle"
    settings = orders.to_job_settings()
    load, report = settings["tasks"]
    assert (
        load["notebook_task"]["notebook_path"]
        == "/Workspace/Shared/.bundle/shop/dev/files/src/load"
    )
    assert load["notebook_task"]["base_parameters"]["day"] == "{{job.start_time.iso_date}}"
    assert report["sql_task"]["warehouse_id"] == "wh-dev"
    assert "permissions" not in settings
    assert any(w.path == "$.resources.jobs.orders.permissions" for w in orders.warnings)
    python_file = refunds.to_job_settings()["tasks"][0]["spark_python_task"]["python_file"]
    assert python_file == "/Workspace/Shared/.bundle/shop/dev/files/src/refunds.py"


def test_a_target_overrides_variables_and_merges_tasks_by_key(bundle_dir: Path) -> None:
    orders, _ = parse_bundle(
        _load(bundle_dir / "databricks.yml"), base_dir=bundle_dir, target="prod"
    )
    load, report = orders.to_job_settings()["tasks"]
    assert report["sql_task"]["warehouse_id"] == "wh-prod"
    assert load["max_retries"] == 3 and "notebook_task" in load
    assert load["notebook_task"]["notebook_path"].startswith("/Workspace/Shared/.bundle/shop/prod/")


def test_stored_source_reads_back_without_the_bundle_directory(bundle_dir: Path) -> None:
    for definition in parse_bundle(_load(bundle_dir / "databricks.yml"), base_dir=bundle_dir):
        again = parse_workflow(definition.source)
        assert again.to_job_settings() == definition.to_job_settings()
        assert again.format == "bundle"


def test_directory_with_databricks_yml_is_read_as_one_bundle(bundle_dir: Path) -> None:
    [result] = read_definitions(bundle_dir)
    assert not result.errors
    assert [d.name for d in result.definitions] == ["orders", "refunds"]


@pytest.mark.parametrize(
    ("text", "path", "fragment"),
    [
        ("include: [x.yml]\nresources: {jobs: {a: {tasks: []}}}", "$.include", "bundle directory"),
        ("resources: {jobs: {}}", "$.resources.jobs", "defines no jobs"),
        (
            "resources: {jobs: {a: {tasks: [{task_key: t, notebook_task: {notebook_path: /x},"
            " existing_cluster_id: '${var.cluster}'}]}}}",
            "$.resources.jobs.a.tasks[0].existing_cluster_id",
            "`${var.cluster}` names a variable the bundle does not declare",
        ),
        (
            "resources: {jobs: {a: {tasks: [{task_key: t, notebook_task: {notebook_path: /x},"
            " job_cluster_key: nope}]}}}",
            "$.resources.jobs.a.tasks[0].job_cluster_key",
            "names job cluster 'nope'",
        ),
        ("resources: {jobs: {a: [1]}}", "$.resources.jobs.a", "must be a mapping"),
        (
            "targets: {dev: {}}\nresources: {jobs: {a: {tasks: []}}}",
            "$.resources.jobs.a.tasks",
            "no tasks",
        ),
    ],
)
def test_invalid_bundles(text: str, path: str, fragment: str) -> None:
    with pytest.raises(WorkflowInvalid) as caught:
        parse_document(load_document(text, content_type="application/yaml"))
    assert any(e.path == path and fragment in e.message for e in caught.value.errors), (
        caught.value.errors
    )


def test_errors_in_an_included_file_name_the_file(bundle_dir: Path) -> None:
    (bundle_dir / "resources" / "broken.yml").write_text(
        "resources: {jobs: {b: {tasks: [{task_key: t}]}}}"
    )
    [result] = read_definitions(bundle_dir)
    assert any(
        e.path == "$.resources.jobs.b.tasks[0]" and e.message.startswith("in resources/broken.yml:")
        for e in result.errors
    ), result.errors


def test_parse_workflow_refuses_a_bundle_of_several_jobs() -> None:
    text = (
        "resources: {jobs: {"
        "a: {tasks: [{task_key: t, notebook_task: {notebook_path: /x}}]},"
        "b: {tasks: [{task_key: t, notebook_task: {notebook_path: /x}}]}}}"
    )
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(load_document(text, content_type="application/yaml"))
    assert "defines 2 jobs" in caught.value.errors[0].message


COMPLEX = """
bundle: {name: shop}
variables:
  cluster:
    type: complex
    default:
      spark_version: 15.4.x-scala2.12
      node_type_id: ${var.node}
      num_workers: 2
  node:
    default: Standard_DS3_v2
  shared_cluster:
    lookup: {cluster: shared-analytics}
targets:
  dev: {default: true}
  big:
    variables:
      cluster:
        spark_version: 15.4.x-scala2.12
        node_type_id: Standard_E8_v3
        autoscale: {min_workers: 2, max_workers: 8}
resources:
  jobs:
    nightly:
      job_clusters:
        - job_cluster_key: c
          new_cluster: ${var.cluster}
      tasks:
        - task_key: load
          notebook_task: {notebook_path: /Shared/load}
          job_cluster_key: c
        - task_key: adhoc
          notebook_task: {notebook_path: /Shared/adhoc}
          existing_cluster_id: ${var.shared_cluster}
"""


def test_a_complex_variable_used_as_a_whole_value_is_its_mapping() -> None:
    [definition] = parse_bundle(load_document(COMPLEX, content_type="application/yaml"))
    settings = definition.to_job_settings()
    assert settings["job_clusters"][0]["new_cluster"] == {
        "spark_version": "15.4.x-scala2.12",
        "node_type_id": "Standard_DS3_v2",  # interpolated inside the complex value too
        "num_workers": 2,
    }
    [big] = parse_bundle(load_document(COMPLEX, content_type="application/yaml"), target="big")
    assert big.to_job_settings()["job_clusters"][0]["new_cluster"]["autoscale"] == {
        "min_workers": 2,
        "max_workers": 8,
    }


def test_a_lookup_variable_is_left_to_bundle_deploy_with_a_warning() -> None:
    [definition] = parse_bundle(load_document(COMPLEX, content_type="application/yaml"))
    task = definition.to_job_settings()["tasks"][1]
    assert task["existing_cluster_id"] == "${var.shared_cluster}"
    [warning] = [w for w in definition.warnings if w.path.endswith("existing_cluster_id")]
    assert "resolved only by `databricks bundle deploy`" in warning.message
    assert "does not declare" not in warning.message
    # a target value makes it usable here
    with_value = COMPLEX.replace(
        "  dev: {default: true}", "  dev: {default: true, variables: {shared_cluster: 0101-x}}"
    )
    [resolved] = parse_bundle(load_document(with_value, content_type="application/yaml"))
    assert resolved.to_job_settings()["tasks"][1]["existing_cluster_id"] == "0101-x"


@pytest.mark.parametrize(
    ("use", "fragment"),
    [
        ("cluster-${var.cluster}", "use it as the whole value, not inside text"),
        ("${var.loop}", "contains itself"),
    ],
)
def test_complex_variables_misused_are_errors(use: str, fragment: str) -> None:
    text = COMPLEX.replace(
        "existing_cluster_id: ${var.shared_cluster}", f"existing_cluster_id: '{use}'"
    ).replace("  node:\n", "  loop:\n    type: complex\n    default: {a: '${var.loop}'}\n  node:\n")
    with pytest.raises(WorkflowInvalid) as caught:
        parse_bundle(load_document(text, content_type="application/yaml"))
    assert any(
        e.path.startswith("$.resources.jobs.nightly.tasks[1].existing_cluster_id")
        and fragment in e.message
        for e in caught.value.errors
    ), caught.value.errors
