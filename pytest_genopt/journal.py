"""The run's journal: ``.genopt/runs/<run-id>/journal.jsonl``.

Append-only, one JSON event per line, flushed and fsync'd after each event so
that a run killed at any moment (even with SIGKILL) can be resumed from it.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any

JOURNAL_VERSION = 1
RUNS_DIR = Path(".genopt") / "runs"


def runs_dir(rootdir: Path) -> Path:
    return rootdir / RUNS_DIR


def run_dir(rootdir: Path, run_id: str) -> Path:
    return runs_dir(rootdir) / run_id


class Journal:
    """Appends events to one run's journal."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())

    def write(self, event: str, **fields: Any) -> None:
        """Append one event; it is on disk when this returns."""
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        record = {"event": event, "time": now, **fields}
        self._file.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The events of a journal; a torn last line (a kill mid-write) is ignored."""
    events: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                if line.endswith("\n"):
                    raise ValueError(f"{path}:{number}: not a JSON event") from None
                break  # the last line was cut off
            if isinstance(event, dict):
                events.append(event)
    return events


def write_last(rootdir: Path, run_id: str) -> None:
    """Point ``runs/last`` at ``run_id`` (a small text file, replaced atomically)."""
    target = runs_dir(rootdir) / "last"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".last.{os.getpid()}")
    tmp.write_text(run_id + "\n", encoding="utf-8")
    os.replace(tmp, target)


def resolve_run(rootdir: Path, run: str) -> str:
    """The run id named by ``--genopt-resume`` (``last`` reads ``runs/last``).

    Raises ValueError with a one-line message when there is no such run.
    """
    if run == "last":
        last = runs_dir(rootdir) / "last"
        try:
            run = last.read_text(encoding="utf-8").strip()
        except OSError:
            raise ValueError(f"no earlier run to resume: {last} does not exist") from None
    if not (run_dir(rootdir, run) / "journal.jsonl").is_file():
        raise ValueError(f"no run {run!r} to resume: {run_dir(rootdir, run)} has no journal")
    return run


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that readers never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
