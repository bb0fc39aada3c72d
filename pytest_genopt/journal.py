"""The run's journal: ``.genopt/runs/<run-id>/journal.jsonl``, its one reader and writer.

Append-only, one event (:mod:`pytest_genopt.events`) per line with its
version, redacted, written with one ``write`` and fsync'd before
:meth:`Journal.write` returns, so that a run killed at any moment (even with
SIGKILL) can be resumed from it.  Text that UTF-8 cannot encode (a lone
surrogate) is stored as a JSON escape.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_genopt.events import EVENTS_VERSION, Event, EventError, from_json
from pytest_genopt.redaction import redact

if TYPE_CHECKING:
    from collections.abc import Sequence

JOURNAL_VERSION = EVENTS_VERSION
RUNS_DIR = Path(".genopt") / "runs"


def runs_dir(rootdir: Path) -> Path:
    return rootdir / RUNS_DIR


def run_dir(rootdir: Path, run_id: str) -> Path:
    return runs_dir(rootdir) / run_id


def describe(exc: OSError) -> str:
    """One line for a failed file operation, naming the path."""
    where = f" {exc.filename}" if exc.filename else ""
    return f"cannot write{where}: {exc.strerror or exc}"


def json_bytes(data: Any, *, indent: int | None = None) -> bytes:
    """UTF-8 JSON of ``data``; unencodable text (lone surrogates) as ``\\uXXXX`` escapes."""
    text = json.dumps(data, ensure_ascii=False, sort_keys=True, indent=indent)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(data, ensure_ascii=True, sort_keys=True, indent=indent).encode("ascii")


def encodable(text: str) -> str:
    """``text`` with what UTF-8 cannot encode (lone surrogates) as backslash escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


class Journal:
    """Appends events to one run's journal."""

    def __init__(self, path: Path, secrets: Sequence[str] = ()) -> None:
        self.path = path
        self.secrets = tuple(secrets)
        self.closed = False
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, event: Event) -> None:
        """Append one event; it is on disk when this returns, or the file is as it was.

        Raises OSError (with the journal's path) when the disk refuses.  The file
        is opened for each event: a run holds no descriptor between events.
        """
        if self.closed:
            raise ValueError(f"{self.path} is closed")
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        record = redact({**event.to_json(), "time": now}, self.secrets)
        line = json_bytes(record) + b"\n"
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(self.path)) from None
        try:
            _append(fd, line)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(self.path)) from None
        finally:
            os.close(fd)

    def close(self) -> None:
        self.closed = True


def _append(fd: int, line: bytes) -> None:
    """Write ``line`` at the end and fsync; on failure cut the file back (no torn line)."""
    size = os.fstat(fd).st_size
    try:
        written = 0
        while written < len(line):
            written += os.write(fd, line[written:])
        os.fsync(fd)
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
        raise


def read_events(path: Path) -> list[Event]:
    """The events of a journal; a torn last line (a kill mid-write) is ignored.

    Raises ValueError (one line, naming the file and line) for anything else
    that is not an event of this version.
    """
    events: list[Event] = []
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        lines = handle.readlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError:
            if number == len(lines) and not line.endswith("\n"):
                break  # the last line was cut off
            raise ValueError(f"{path}:{number}: not a JSON event") from None
        try:
            events.append(from_json(data))
        except EventError as exc:
            raise ValueError(f"{path}:{number}: {exc}") from None
    return events


def write_last(rootdir: Path, run_id: str) -> None:
    """Point ``runs/last`` at ``run_id`` (a small text file, replaced atomically)."""
    _write_atomic(runs_dir(rootdir) / "last", (run_id + "\n").encode("utf-8"))


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
    _write_atomic(path, json_bytes(data, indent=2) + b"\n")


def write_text_atomic(path: Path, text: str) -> None:
    _write_atomic(path, encodable(text).encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    _write_atomic(path, data)


def _write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` in one rename; on failure no temporary file is left.

    Raises OSError naming ``path``.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OSError(exc.errno, exc.strerror, str(path)) from None
