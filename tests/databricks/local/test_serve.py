"""serve_local_backend as a process of its own: SIGTERM stops it and its task processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx

from tests.databricks.local.conftest import Jobs, notebook_task, process_is_gone, wait_for_file
from tests.servers import free_port

SERVE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from service.databricks.local import LocalBackendConfig, serve_local_backend
    root = Path(sys.argv[1])
    config = LocalBackendConfig(
        workspace_dir=root / "workspace", dbfs_root=root / "dbfs", runs_dir=root / "runs"
    )
    serve_local_backend(config, host="127.0.0.1", port=int(sys.argv[2]))
    """
)


def test_sigterm_stops_the_server_and_kills_running_tasks(tmp_path: Path) -> None:
    port = free_port()
    notebook = tmp_path / "workspace" / "Shared" / "sleep.py"
    notebook.parent.mkdir(parents=True)
    notebook.write_text(
        "# Databricks notebook source\n"
        "import os, time\n"
        "open(dbutils.widgets.get('pid_file'), 'w').write(str(os.getpid()))\n"
        "time.sleep(300)\n"
    )
    server = subprocess.Popen([sys.executable, "-c", SERVE, str(tmp_path), str(port)])
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/.well-known/databricks-config")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.05)
        with httpx.Client(base_url=url, headers={"Authorization": "Bearer t"}) as client:
            jobs = Jobs(client)
            pid_file = tmp_path / "task.pid"
            job_id = jobs.create(
                notebook_task("sleep", "/Shared/sleep", params={"pid_file": str(pid_file)})
            )
            jobs.run_now(job_id)
            task_pid = int(wait_for_file(pid_file))

        server.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal it caught.
        assert server.wait(timeout=20) in (0, -signal.SIGTERM)
        deadline = time.monotonic() + 5
        while not process_is_gone(task_pid):
            assert time.monotonic() < deadline, f"task process {task_pid} survived the server"
            time.sleep(0.05)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
