"""The Makefile's Azurite step when npm is missing: root installs it with apt-get, a
user through sudo, and a user without sudo (or a machine without apt-get) gets one clear
line saying what to install instead of a permission error half way.

make runs the real recipe with a PATH holding only stand-ins for id, sudo, apt-get and
npm that log their calls: installing system packages is not something a test does.
The stand-in `apt-get install` "installs" npm by putting the npm stand-in on that PATH.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.makefile_shims import run_make, shim, shim_user

INSTALL = ["apt-get update -qq", "apt-get install -y -qq nodejs npm"]
AZURITE = "npm install --prefix .tools azurite@"


def _make_tools(tmp_path: Path, *, uid: int, tools: set[str]) -> tuple[int, str, list[str]]:
    """`make tools` in tmp_path (no Azurite there yet) with ``tools`` and `id` on PATH;
    returns make's exit code, its stderr, and the calls made (other than to `id`)."""
    path, staged, log = tmp_path / "bin", tmp_path / "staged", tmp_path / "calls.log"
    log.touch()
    shim_user(path, log, uid=uid, sudo="sudo" in tools)
    shim(staged, "npm", log)
    if "npm" in tools:
        (path / "npm").symlink_to(staged / "npm")
    if "apt-get" in tools:
        install = f'[ "$1" = install ] && /bin/ln -s "{staged}/npm" "{path}/npm"\nexit 0\n'
        shim(path, "apt-get", log, then=install)
    return run_make(tmp_path, log, str(path), "tools")


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
