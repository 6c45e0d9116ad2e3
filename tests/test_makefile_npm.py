"""The Makefile's Azurite step when npm is missing: root installs it with apt-get, a
user through sudo, and a user without sudo (or a machine without apt-get) gets one clear
line saying what to install instead of a permission error half way.

make runs the real recipe with a PATH holding only stand-ins for id, sudo, apt-get and
npm that log their calls: installing system packages is not something a test does.
The stand-in `apt-get install` "installs" npm by putting the npm stand-in on that PATH.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

MAKEFILE = Path(__file__).resolve().parents[1] / "Makefile"
MAKE = shutil.which("make")
INSTALL = ["apt-get update -qq", "apt-get install -y -qq nodejs npm"]
AZURITE = "npm install --prefix .tools azurite@"

# `make test` runs this suite, so make is there; without it this fails, it never skips.
assert MAKE is not None, "make is not installed"


def _shim(folder: Path, name: str, log: Path, then: str = "") -> None:
    """A command that appends "name args" to the log, then runs ``then`` (shell)."""
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(f'#!/bin/sh\nprintf "%s\\n" "{name} $*" >> "{log}"\n{then}')
    path.chmod(0o755)


def _make_tools(tmp_path: Path, *, uid: int, tools: set[str]) -> tuple[int, str, list[str]]:
    """`make tools` in tmp_path (no Azurite there yet) with ``tools`` and `id` on PATH;
    returns make's exit code, its stderr, and the calls made (other than to `id`)."""
    path, staged, log = tmp_path / "bin", tmp_path / "staged", tmp_path / "calls.log"
    log.touch()
    _shim(path, "id", log, then=f'[ "$1" = -u ] && echo {uid}\n')
    _shim(staged, "npm", log)
    if "npm" in tools:
        (path / "npm").symlink_to(staged / "npm")
    if "sudo" in tools:
        _shim(path, "sudo", log, then='exec "$@"\n')
    if "apt-get" in tools:
        install = f'[ "$1" = install ] && /bin/ln -s "{staged}/npm" "{path}/npm"\nexit 0\n'
        _shim(path, "apt-get", log, then=install)
    result = subprocess.run(
        [str(MAKE), "--no-print-directory", "-f", str(MAKEFILE), "tools"],
        cwd=tmp_path,
        env={"PATH": str(path), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    calls = [c for c in log.read_text().splitlines() if not c.startswith("id ")]
    return result.returncode, result.stderr, calls


def test_root_installs_npm_with_apt_get(tmp_path: Path) -> None:
    code, stderr, calls = _make_tools(tmp_path, uid=0, tools={"apt-get", "sudo"})
    assert code == 0, stderr
    assert calls[:2] == INSTALL  # no sudo
    assert calls[2].startswith(AZURITE) and len(calls) == 3


def test_a_user_installs_npm_through_sudo(tmp_path: Path) -> None:
    code, stderr, calls = _make_tools(tmp_path, uid=1000, tools={"apt-get", "sudo"})
    assert code == 0, stderr
    assert calls[:4] == [f"sudo {INSTALL[0]}", INSTALL[0], f"sudo {INSTALL[1]}", INSTALL[1]]
    assert calls[4].startswith(AZURITE) and len(calls) == 5


@pytest.mark.parametrize(
    ("uid", "tools"),
    [(1000, {"apt-get"}), (0, set()), (1000, {"sudo"})],
    ids=["user-without-sudo", "root-without-apt-get", "user-without-apt-get"],
)
def test_without_a_way_to_install_npm_it_stops_saying_what_to_install(
    tmp_path: Path, uid: int, tools: set[str]
) -> None:
    code, stderr, calls = _make_tools(tmp_path, uid=uid, tools=tools)
    assert code != 0
    assert "make test needs npm (Node.js) for Azurite" in stderr
    assert "install Node.js and npm" in stderr
    assert calls == []  # nothing was tried: no apt-get, no sudo, no npm


def test_with_npm_it_installs_nothing_else(tmp_path: Path) -> None:
    code, stderr, calls = _make_tools(tmp_path, uid=1000, tools={"npm", "apt-get", "sudo"})
    assert code == 0, stderr
    assert len(calls) == 1 and calls[0].startswith(AZURITE)
