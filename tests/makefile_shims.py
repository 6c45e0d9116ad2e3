"""Running one of the Makefile's install steps against stand-in commands.

make runs the real recipe with a PATH holding only shims for id, sudo and apt-get (and
whatever a test adds) that append "name args" to a log: installing system packages is
not something a test does.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

MAKEFILE = Path(__file__).resolve().parents[1] / "Makefile"
MAKE = shutil.which("make")

# `make test` runs this suite, so make is there; without it this fails, it never skips.
assert MAKE is not None, "make is not installed"


def shim(folder: Path, name: str, log: Path, then: str = "") -> None:
    """A command that appends "name args" to the log, then runs ``then`` (shell)."""
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(f'#!/bin/sh\nprintf "%s\\n" "{name} $*" >> "{log}"\n{then}')
    path.chmod(0o755)


def shim_user(folder: Path, log: Path, *, uid: int, sudo: bool) -> None:
    """`id -u` answering ``uid``, and a `sudo` that runs its command (if ``sudo``)."""
    shim(folder, "id", log, then=f'[ "$1" = -u ] && echo {uid}\n')
    if sudo:
        shim(folder, "sudo", log, then='exec "$@"\n')


def run_make(tmp_path: Path, log: Path, path: str, *arguments: str) -> tuple[int, str, list[str]]:
    """make ``arguments`` in tmp_path with PATH ``path``; returns its exit code, its
    stderr, and the calls logged (other than to `id`)."""
    assert MAKE is not None
    result = subprocess.run(
        [MAKE, "--no-print-directory", "-f", str(MAKEFILE), *arguments],
        cwd=tmp_path,
        env={"PATH": path, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    calls = [c for c in log.read_text().splitlines() if not c.startswith("id ")]
    return result.returncode, result.stderr, calls
