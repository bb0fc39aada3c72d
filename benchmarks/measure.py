"""What the suite benchmarks share: a quiet pytest command, a timer, a run's report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
INIT = [sys.executable, "-m", "pytest_genopt.cli", "init"]


def environment(**extra: str) -> dict[str, str]:
    """This process's environment with a git identity for the runs' commits."""
    identity = {
        f"GIT_{role}_{field}": value
        for role in ("AUTHOR", "COMMITTER")
        for field, value in (("NAME", "bench"), ("EMAIL", "bench@x.invalid"))
    }
    return {**os.environ, **identity, **extra}


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Seconds ``command`` took in ``cwd`` (its output is discarded)."""
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=False)
    return time.perf_counter() - start


def last_report(project: Path) -> dict[str, Any]:
    """report.json of the project's last run."""
    runs = project / ".genopt" / "runs"
    last = (runs / "last").read_text().strip()
    report: dict[str, Any] = json.loads((runs / last / "report.json").read_text())
    return report
