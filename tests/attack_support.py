"""Helpers of the adversarial tests: the user's repository fingerprint and process hunting.

A *fingerprint* is everything a run must leave as it found it in the user's
repository: HEAD, every ref but the run's own branch, the index file's bytes,
the stash, ``.git/config``, ``.git/info/exclude``, the hooks, the registered
worktrees, and the bytes of every file git does not ignore (tracked or not)
under the checkout, ``.genopt/`` left out (the run's own directory).

Processes are found through ``/proc`` (Linux): by a unique marker in their
argv, or by a working directory inside a given folder.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

#: the run's own directory, never part of the fingerprint
GENOPT_DIR = ".genopt"


def _git(path: Path, *args: str) -> str:
    # --no-optional-locks: reading must not refresh (rewrite) the index we fingerprint
    return subprocess.run(
        ["git", "--no-optional-locks", *args],
        cwd=path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def fingerprint(checkout: Path, *, run_branch: str) -> dict[str, Any]:
    """The state of the user's repository at ``checkout``, the run's branch left out."""
    git_dir = Path(_git(checkout, "rev-parse", "--absolute-git-dir").strip())
    refs = {}
    for line in _git(checkout, "for-each-ref", "--format=%(refname) %(objectname)").splitlines():
        name, _, sha = line.partition(" ")
        if name != f"refs/heads/{run_branch}":
            refs[name] = sha
    hooks_dir = git_dir / "hooks"
    hooks = (
        {p.name: _read(p) for p in sorted(hooks_dir.iterdir()) if p.is_file()}
        if hooks_dir.is_dir()
        else {}
    )
    listed = _git(checkout, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    names = sorted({n for n in listed.split("\0") if n and n.split("/")[0] != GENOPT_DIR})
    return {
        "HEAD": _read(git_dir / "HEAD"),
        "head sha": _git(checkout, "rev-parse", "HEAD").strip(),
        "refs": refs,
        "index": _read(git_dir / "index"),
        "stash": _git(checkout, "stash", "list"),
        "config": _read(git_dir / "config"),
        "info/exclude": _read(git_dir / "info" / "exclude"),
        "hooks": hooks,
        "worktrees": _git(checkout, "worktree", "list", "--porcelain"),
        "files": {name: _read(checkout / name) for name in names},
    }


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _delta(old: Any, new: Any) -> str:
    """What changed between two values: lines gone and lines new for text and bytes."""
    if isinstance(old, bytes | str) and isinstance(new, bytes | str) and type(old) is type(new):
        old_lines, new_lines = old.splitlines(), new.splitlines()
        gone = [line for line in old_lines if line not in new_lines][:3]
        added = [line for line in new_lines if line not in old_lines][:3]
        if (gone or added) and max(len(old_lines), len(new_lines)) > 1:
            return f"lines gone {_short(gone, 200)}, lines new {_short(added, 200)}"
    return f"{_short(old)} -> {_short(new)}"


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """One line per difference between two fingerprints; [] when they are equal."""
    found: list[str] = []
    for key in before:
        old, new = before[key], after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            for name in sorted(old.keys() | new.keys()):
                if name not in new:
                    found.append(f"{key}: {name} removed")
                elif name not in old:
                    found.append(f"{key}: {name} added ({_short(new[name])})")
                elif old[name] != new[name]:
                    found.append(f"{key}: {name} changed: {_delta(old[name], new[name])}")
        else:
            found.append(f"{key} changed: {_delta(old, new)}")
    return found


# ---------------------------------------------------------------------------- processes


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def processes_with(marker: str) -> list[int]:
    """Live (non-zombie) processes whose argv contains ``marker``."""
    needle = marker.encode()
    found = []
    for pid in _pids():
        with contextlib.suppress(OSError):
            if needle in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
    return found


def processes_in(directory: Path) -> list[int]:
    """Live processes whose working directory is ``directory`` or inside it."""
    root = directory.resolve()
    found = []
    for pid in _pids():
        with contextlib.suppress(OSError, ValueError):
            if Path(os.readlink(f"/proc/{pid}/cwd")).is_relative_to(root):
                found.append(pid)
    return found


def wait_for(find: Any, *, present: bool, timeout: float, at_least: int = 1) -> list[int]:
    """Poll ``find()`` every 0.1 s until it finds ``at_least`` processes (``present``) or
    none; the last answer when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        pids: list[int] = find()
        done = len(pids) >= at_least if present else not pids
        if done or time.monotonic() >= deadline:
            return pids
        time.sleep(0.1)


def kill_all(pids: list[int]) -> None:
    """SIGKILL the given processes (ones the test itself caused), ignoring the gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
