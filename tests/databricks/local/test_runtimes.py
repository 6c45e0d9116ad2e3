"""Task runtimes beyond notebooks: wheels, SQL on DuckDB, jars through java, configured
pipeline/dbt commands, and dbutils.fs / notebook.run / spark inside notebooks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.databricks.local.conftest import (
    TOKEN,
    Jobs,
    RunningBackend,
    notebook_task,
    start_backend,
    task_of,
    write_wheel,
)


def test_python_wheel_task_runs_an_entry_point_with_named_or_positional_parameters(
    jobs: Jobs, local_backend: RunningBackend
) -> None:
    wheel = local_backend.config.dbfs_root / "wheels" / "local_greeter-1.0-py3-none-any.whl"
    wheel.parent.mkdir(parents=True, exist_ok=True)
    write_wheel(wheel)
    library = [{"whl": "dbfs:/wheels/local_greeter-1.0-py3-none-any.whl"}]

    def wheel_task(key: str, **fields: object) -> dict[str, object]:
        body = {"package_name": "local-greeter", "entry_point": "greet", **fields}
        return {"task_key": key, "python_wheel_task": body, "libraries": library}

    job_id = jobs.create(
        wheel_task("named", named_parameters={"day": "{{job.start_time.iso_date}}"}),
        wheel_task("positional", parameters=["one", "two"]),
        wheel_task("failing", named_parameters={"fail": "yes"}),
        # An entry point of a package installed in the backend's environment.
        {
            "task_key": "installed",
            "python_wheel_task": {
                "package_name": "pip",
                "entry_point": "pip",
                "parameters": ["--version"],
            },
        },
    )
    run = jobs.wait(jobs.run_now(job_id))
    named = jobs.output(task_of(run, "named")["run_id"])["logs"]
    assert "argv ['--day=20" in named
    assert "argv ['one', 'two']" in jobs.output(task_of(run, "positional")["run_id"])["logs"]
    failing = task_of(run, "failing")
    assert failing["state"]["result_state"] == "FAILED"
    assert failing["state"]["state_message"] == "SystemExit: 3"
    installed = task_of(run, "installed")
    assert installed["state"]["result_state"] == "SUCCESS"
    assert "pip " in jobs.output(installed["run_id"])["logs"]


def test_sql_task_runs_on_duckdb_with_parameters(
    jobs: Jobs, local_backend: RunningBackend, request: object
) -> None:
    table = f"orders_{abs(hash(str(request))) % 10**8}"
    sql_file = local_backend.config.workspace_dir / "Tests" / "sql" / f"{table}.sql"
    sql_file.parent.mkdir(parents=True, exist_ok=True)
    sql_file.write_text(
        f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM (VALUES (1, 'eu', 10.5), "
        f"(2, 'us', 3.0), (3, 'eu', 7.25)) AS t(id, region, amount);"
    )
    job_id = jobs.create(
        {
            "task_key": "load",
            "sql_task": {"warehouse_id": "local", "file": {"path": f"/Tests/sql/{table}.sql"}},
        },
        {
            "task_key": "report",
            "depends_on": [{"task_key": "load"}],
            "sql_task": {
                "warehouse_id": "local",
                "query": {
                    "query_text": f"SELECT region, SUM(amount) AS total FROM {table} "
                    "WHERE region = :region GROUP BY region"
                },
                "parameters": {"region": "eu"},
            },
        },
        {"task_key": "saved", "sql_task": {"warehouse_id": "w", "query": {"query_id": "q-1"}}},
    )
    run = jobs.wait(jobs.run_now(job_id))
    report = jobs.output(task_of(run, "report")["run_id"])
    query_output = report["sql_output"]["query_output"]
    assert query_output["warehouse_id"] == "local"
    assert query_output["result"] == {
        "columns": ["region", "total"],
        "rows": [["eu", "17.75"]],
        "truncated": False,
    }
    saved = task_of(run, "saved")
    assert "saved queries (query.query_id)" in saved["state"]["state_message"]


def test_spark_jar_task_runs_the_main_class_with_java(
    jobs: Jobs, local_backend: RunningBackend, tmp_path: Path
) -> None:
    job: dict[str, Any] = {
        "task_key": "jar",
        "spark_jar_task": {"main_class_name": "Hello", "parameters": ["x", "y"]},
    }
    if shutil.which("javac") is None or shutil.which("jar") is None:
        # No JDK to build a jar with: the task must fail saying what is missing.
        run = jobs.wait(jobs.run_now(jobs.create(job)))
        assert "java" in task_of(run, "jar")["state"]["state_message"]
        return
    (tmp_path / "Hello.java").write_text(
        "public class Hello { public static void main(String[] a) {"
        ' System.out.println("jar args " + String.join(",", a)); } }'
    )
    subprocess.run(["javac", "Hello.java"], cwd=tmp_path, check=True)
    target = local_backend.config.dbfs_root / "jars" / f"hello-{tmp_path.name}.jar"
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["jar", "cf", str(target), "Hello.class"], cwd=tmp_path, check=True)
    job["libraries"] = [{"jar": f"dbfs:/jars/{target.name}"}]
    run = jobs.wait(jobs.run_now(jobs.create(job), jar_params=["p", "q"]))
    task = task_of(run, "jar")
    logs = jobs.output(task["run_id"])["logs"]
    assert task["state"]["result_state"] == "SUCCESS", logs
    assert "jar args p,q" in logs  # run-now jar_params replace the task's parameters


def test_dbutils_fs_notebook_run_and_spark(
    jobs: Jobs, notebook: Callable[..., str], local_backend: RunningBackend, tmp_path: Path
) -> None:
    child = notebook(
        "child", "x = dbutils.widgets.get('x')\ndbutils.notebook.exit(f'child saw {x}')"
    )
    folder = child.rsplit("/", 1)[0]
    main = notebook(
        "main",
        f"""
root = 'dbfs:/tests/{tmp_path.name}'
dbutils.fs.mkdirs(root + '/in')
dbutils.fs.put(root + '/in/a.txt', 'hello', overwrite=True)
dbutils.fs.cp(root + '/in/a.txt', '/Volumes/main/raw/{tmp_path.name}/b.txt')
names = [f.name for f in dbutils.fs.ls(root + '/in')]
volume = dbutils.fs.head('/Volumes/main/raw/{tmp_path.name}/b.txt')
relative = dbutils.notebook.run('child', 30, {{'x': 'rel'}})
absolute = dbutils.notebook.run('{folder}/child', 30, {{'x': 'abs'}})
try:
    spark.range(1)
    spark_state = 'available'
except Exception as exc:
    spark_state = str(exc)
dbutils.notebook.exit(repr((names, volume, relative, absolute, spark_state)))
""",
    )
    run = jobs.wait(jobs.run_now(jobs.create(notebook_task("main", main))))
    output = jobs.output(task_of(run, "main")["run_id"])
    assert run["state"]["result_state"] == "SUCCESS", output
    names, volume, relative, absolute, spark_state = eval(output["notebook_output"]["result"])
    assert names == ["a.txt"] and volume == "hello"
    assert (relative, absolute) == ("child saw rel", "child saw abs")
    assert (local_backend.config.dbfs_root / "Volumes/main/raw" / tmp_path.name / "b.txt").is_file()
    if spark_state != "available":
        assert "pyspark is not installed" in spark_state


def test_pipeline_and_dbt_run_a_configured_local_command(tmp_path: Path) -> None:
    script = tmp_path / "stand_in.py"
    script.write_text(
        "import sys\nprint('stand-in', sys.argv[1:])\nsys.exit(0 if 'bad' not in sys.argv else 2)\n"
    )
    command = f"{sys.executable} {script}"
    with (
        start_backend(tmp_path, pipeline_command=command, dbt_command=command) as backend,
        httpx.Client(
            base_url=backend.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        ) as client,
    ):
        jobs = Jobs(client)
        job_id = jobs.create(
            {"task_key": "p", "pipeline_task": {"pipeline_id": "sales", "full_refresh": True}},
            {"task_key": "d", "dbt_task": {"commands": ["dbt deps", "dbt run --select bad"]}},
        )
        run = jobs.wait(jobs.run_now(job_id))
        pipeline_logs = jobs.output(task_of(run, "p")["run_id"])["logs"]
        assert "stand-in ['sales', '--full-refresh']" in pipeline_logs
        dbt = task_of(run, "d")
        assert dbt["state"]["result_state"] == "FAILED"
        assert "exited with code 2" in dbt["state"]["state_message"]
        assert "stand-in ['deps']" in jobs.output(dbt["run_id"])["logs"]


FAKE_PYSPARK_SQL = """
class SparkSession:
    created = 0

    class Builder:
        def master(self, url):
            self.url = url
            return self

        def getOrCreate(self):
            SparkSession.created += 1
            return SparkSession(self.url)

    builder = Builder()

    def __init__(self, master_url):
        self.master_url = master_url

    def range(self, n):
        return list(range(n))
"""


def test_spark_is_a_local_session_when_pyspark_is_installed(
    jobs: Jobs,
    notebook: Callable[..., str],
    local_backend: RunningBackend,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The wiring of ``spark`` (find pyspark, build a local[*] session once, delegate to
    it), with a stand-in pyspark on the task's PYTHONPATH: real pyspark needs a JVM and is
    not a dependency. It proves the wiring, not Spark."""
    (tmp_path / "pyspark" / "sql").mkdir(parents=True)
    (tmp_path / "pyspark" / "__init__.py").write_text("")
    (tmp_path / "pyspark" / "sql" / "__init__.py").write_text(FAKE_PYSPARK_SQL)
    # Task processes inherit the backend's environment (the backend runs in this process).
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    script = local_backend.config.dbfs_root / "spark" / f"{tmp_path.name}.py"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(
        "from pyspark.sql import SparkSession\n"
        "print('file saw', spark.master_url, spark.range(2), SparkSession.created)\n"
    )
    path = notebook(
        "uses_spark",
        "from pyspark.sql import SparkSession\n"
        "first = (spark.master_url, spark.range(3))\n"
        "dbutils.notebook.exit(repr((first, spark.range(1), SparkSession.created)))",
    )
    job_id = jobs.create(
        notebook_task("nb", path),
        {"task_key": "file", "spark_python_task": {"python_file": f"dbfs:/spark/{script.name}"}},
    )
    run = jobs.wait(jobs.run_now(job_id))
    output = jobs.output(task_of(run, "nb")["run_id"])
    assert run["state"]["result_state"] == "SUCCESS", output
    assert output["notebook_output"]["result"] == "(('local[*]', [0, 1, 2]), [0], 1)"
    assert "file saw local[*] [0, 1] 1" in jobs.output(task_of(run, "file")["run_id"])["logs"]
