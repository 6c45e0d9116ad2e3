"""The Makefile's browser step: nothing to do when chromium is there; otherwise root
installs Debian's package with apt-get, a user through sudo, and a machine with neither
gets one line saying what to install (make test then stops before the suite).

make runs the real recipe with a PATH holding only stand-ins for id, sudo and apt-get
that log their calls; the stand-in `apt-get install` "installs" chromium by creating the
file the step checks for (CHROMIUM points into the test's folder).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.makefile_shims import run_make, shim, shim_user

INSTALL = ["apt-get update -qq", "apt-get install -y -qq chromium"]


def _make_browser(
    tmp_path: Path, *, uid: int, tools: set[str], present: bool = False
) -> tuple[int, str, list[str], bool]:
    path, log = tmp_path / "bin", tmp_path / "calls.log"
    chromium = tmp_path / "usr-bin" / "chromium"
    chromium.parent.mkdir()
    log.touch()
    if present:
        chromium.write_text("#!/bin/sh\n")
        chromium.chmod(0o755)
    shim_user(path, log, uid=uid, sudo="sudo" in tools)
    if "apt-get" in tools:
        install = (
            f'[ "$1" = install ] && printf "#!/bin/sh\\n" > "{chromium}" '
            f'&& /bin/chmod 755 "{chromium}"\nexit 0\n'
        )
        shim(path, "apt-get", log, then=install)
    code, stderr, calls = run_make(
        tmp_path, log, f"{path}:/nonexistent", "browser", f"CHROMIUM={chromium}"
    )
    return code, stderr, calls, chromium.exists()


def test_nothing_happens_when_chromium_is_there(tmp_path: Path) -> None:
    code, stderr, calls, _ = _make_browser(tmp_path, uid=0, tools={"apt-get", "sudo"}, present=True)
    assert (code, calls) == (0, []), stderr


def test_root_installs_chromium_with_apt_get(tmp_path: Path) -> None:
    code, stderr, calls, installed = _make_browser(tmp_path, uid=0, tools={"apt-get", "sudo"})
    assert code == 0, stderr
    assert calls == INSTALL and installed  # no sudo


def test_a_user_installs_chromium_through_sudo(tmp_path: Path) -> None:
    code, stderr, calls, installed = _make_browser(tmp_path, uid=1000, tools={"apt-get", "sudo"})
    assert code == 0, stderr
    assert calls == [f"sudo {INSTALL[0]}", INSTALL[0], f"sudo {INSTALL[1]}", INSTALL[1]]
    assert installed


@pytest.mark.parametrize(
    ("uid", "tools"),
    [(1000, {"apt-get"}), (0, set()), (1000, {"sudo"})],
    ids=["user-without-sudo", "root-without-apt-get", "user-without-apt-get"],
)
def test_without_a_way_to_install_it_stops_saying_what_to_install(
    tmp_path: Path, uid: int, tools: set[str]
) -> None:
    code, stderr, calls, _ = _make_browser(tmp_path, uid=uid, tools=tools)
    assert code != 0
    assert "make test needs Debian's chromium package" in stderr
    assert "apt-get install chromium" in stderr
    assert calls == []
