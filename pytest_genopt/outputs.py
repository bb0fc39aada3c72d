"""Read-only checks of every path a run will write, made before it writes anything.

Nothing here creates, opens for writing or removes a file: writability is
asked of the operating system (``os.access``, which also answers for
read-only mounts), so a refusal leaves no trace.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_genopt.config import Settings

#: the run's own directory under the rootdir and the subdirectories a run writes in
GENOPT_DIR = ".genopt"
_GENOPT_SUBDIRS = ("runs", "worktrees")


class OutputRefused(Exception):
    """A path the run would write cannot be written; ``str(exc)`` is one line."""


def check_directory(path: Path, what: str) -> None:
    """Refuse unless ``path`` is a writable directory, or could be made as one."""
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise OutputRefused(f"{what} {path} is not a directory")
        if not os.access(path, os.W_OK | os.X_OK):
            raise OutputRefused(f"{what} {path} is not writable")
        return
    parent = _existing_ancestor(path)
    if not parent.is_dir():
        raise OutputRefused(f"{what} {path} cannot be created: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputRefused(f"{what} {path} cannot be created: {parent} is not writable")


def check_file(path: Path, what: str) -> None:
    """Refuse unless ``path`` can be (re)written atomically: a temporary file
    in its directory, renamed over it."""
    if path.is_dir():
        raise OutputRefused(f"{what} {path} is a directory")
    check_directory(path.parent, f"{what} {path}: directory")


def check_outputs(rootdir: Path, settings: Settings) -> None:
    """Every path the run described by ``settings`` writes; raises OutputRefused."""
    if settings.evidence is not None:
        # a first request is all such a session writes
        check_file(settings.evidence, "--genopt-evidence:")
        return
    genopt = rootdir / GENOPT_DIR
    check_directory(genopt, "genopt: the run directory")
    for name in _GENOPT_SUBDIRS:
        check_directory(genopt / name, "genopt: the run directory")
    if settings.resume is not None:
        check_directory(genopt / "runs" / settings.run_id, "genopt: the run directory")
    if settings.report is not None:
        check_file(settings.report, "--genopt-report:")
    if settings.record is not None:
        check_file(settings.record, "--genopt-record:")


def _existing_ancestor(path: Path) -> Path:
    for parent in path.parents:
        if parent.exists():
            return parent
    return path.parents[-1] if path.parents else path
