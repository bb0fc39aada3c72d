"""One run of a study: clone the source bundle, run pytest with the run's options, and
describe the outcome as a record.

A job is plain data (it travels to Ray workers): ``id``, ``config``, ``repeat``,
``seed`` and ``args`` (the pytest arguments).  The record is the study's unit of
storage (``OUT/runs/<folder>/record.json``):

``{"study_record": 1, "id", "config", "repeat", "seed", "status", "error", "seconds",
"exit", "run", "report"}`` where ``status`` is ``finished`` (the run ended and wrote its
report, whatever its tests did), ``interrupted`` (stopped by Ctrl-C; resumable) or
``failed`` (``error`` says why in one line).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["RECORD_VERSION", "execute", "read_record", "record_of", "write_record"]

RECORD_VERSION = 1
#: pytest exit statuses of a run that ended normally: its tests passed, or some failed
_ENDED = (0, 1)
_INTERRUPTED = 2


def execute(
    job: dict[str, Any],
    bundle: Path,
    folder: Path,
    started: Callable[[subprocess.Popen[bytes]], None] = lambda process: None,
) -> dict[str, Any]:
    """Run ``job`` in ``folder/project`` (cloned from ``bundle`` unless an interrupted
    attempt left it there, which is then resumed) and return its record."""
    begin = time.monotonic()
    project = folder / "project"
    resume = _resumable_run(project)
    if resume is None and project.exists():
        import shutil

        shutil.rmtree(project)  # a failed attempt: start again from the source
    if not project.exists():
        error = _clone(bundle, project)
        if error is not None:
            return _record(job, "failed", error, begin, None, project)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *job["args"]]
    if resume is not None:
        command.append(f"--genopt-resume={resume}")
    log = folder / "pytest.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            command,
            cwd=project,
            env=_environment(project),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches it once, through the study
        )
        started(process)
        status = process.wait()
    if status in _ENDED and _last_report(project) is not None:
        return _record(job, "finished", None, begin, status, project)
    if status == _INTERRUPTED and _last_report(project) is not None:
        return _record(job, "interrupted", None, begin, status, project)
    return _record(job, "failed", _failure(log, status), begin, status, project)


def _clone(bundle: Path, project: Path) -> str | None:
    project.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["git", "clone", "--quiet", str(bundle), str(project)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode == 0:
        return None
    lines = done.stderr.strip().splitlines() or ["(no message)"]
    return f"cannot clone {bundle}: {lines[-1]}"


def _environment(project: Path) -> dict[str, str]:
    """This environment, with an identity for the run's commits when git has none."""
    from pytest_genopt.cli import FALLBACK_IDENTITY

    env = dict(os.environ)
    done = subprocess.run(
        ["git", "config", "user.email"], cwd=project, capture_output=True, check=False
    )
    if done.returncode != 0 and not env.get("GIT_AUTHOR_EMAIL"):
        env.update(FALLBACK_IDENTITY)
    return env


def _runs(project: Path) -> Path:
    return project / ".genopt" / "runs"


def _last_run(project: Path) -> str | None:
    last = _runs(project) / "last"
    return last.read_text(encoding="utf-8").strip() if last.is_file() else None


def _last_report(project: Path) -> dict[str, Any] | None:
    run = _last_run(project)
    path = _runs(project) / run / "report.json" if run else None
    if path is None or not path.is_file():
        return None
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return report


def _resumable_run(project: Path) -> str | None:
    """The id of the project's last run when it was interrupted (so it can go on)."""
    report = _last_report(project)
    if report is None or not str(report.get("stopped", "")).startswith("interrupted"):
        return None
    return _last_run(project)


def _failure(log: Path, status: int) -> str:
    """The line of the log that says what went wrong, or the exit status: the run's own
    stop line first, then pytest's usage error, then the last error-looking line."""
    import re

    text = log.read_text(encoding="utf-8", errors="replace")
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines()]
    checks: list[Callable[[str], bool]] = [
        lambda line: line.startswith("genopt: run ") and ": stopped: " in line,
        lambda line: line.startswith(("ERROR:", "genopt: error")),
        lambda line: line.startswith("E   ") or "Error:" in line,
    ]
    for wanted in checks:
        found = [line for line in lines if wanted(line)]
        if found:
            return f"pytest exited with status {status}: {found[-1][:300]}"
    return f"pytest exited with status {status} (see pytest.log)"


def _record(
    job: dict[str, Any],
    status: str,
    error: str | None,
    begin: float,
    exit_status: int | None,
    project: Path,
) -> dict[str, Any]:
    report = _last_report(project) if status != "failed" else None
    return record_of(
        job,
        status,
        error,
        seconds=round(time.monotonic() - begin, 3),
        exit_status=exit_status,
        run=_last_run(project) if report is not None else None,
        report=report,
    )


def record_of(
    job: dict[str, Any],
    status: str,
    error: str | None,
    *,
    seconds: float | None = None,
    exit_status: int | None = None,
    run: str | None = None,
    report: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The record of ``job``: how it ended, and its report when it wrote one."""
    return {
        "study_record": RECORD_VERSION,
        "id": job["id"],
        "config": dict(job["config"]),
        "repeat": job["repeat"],
        "seed": job["seed"],
        "status": status,
        "error": error,
        "seconds": seconds,
        "exit": exit_status,
        "run": run,
        "report": report,
    }


def write_record(folder: Path, record: dict[str, Any]) -> None:
    """``folder/record.json``, written whole or not at all."""
    from pytest_genopt.journal import write_json_atomic

    write_json_atomic(folder / "record.json", record)


def read_versioned(path: Path, key: str, version: int) -> dict[str, Any] | None:
    """The JSON object in ``path`` whose ``key`` is ``version``; None when there is no
    such file, or it is not JSON, or not of this version (a stranger's file)."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get(key) != version:
        return None
    return data


def read_record(folder: Path) -> dict[str, Any] | None:
    """The record in ``folder``, or None when there is none (or none of ours)."""
    return read_versioned(folder / "record.json", "study_record", RECORD_VERSION)
