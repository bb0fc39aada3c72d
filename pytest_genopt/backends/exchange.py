"""The ``exchange:DIR`` backend: a person, or any outside agent, is the optimizer.

File protocol (one numbered exchange per proposal, ``n`` = 1, 2, ...)::

    DIR/<n>.prompt.md       written by pytest-genopt: the prompt an LLM would read
    DIR/<n>.request.json    written by pytest-genopt: the protocol-v1 Request
    DIR/<n>.response.json   written by the optimizer: a protocol-v1 Response

- ``DIR`` is created when missing.  Both request files are written atomically
  (a temporary file in ``DIR``, fsync'd, then renamed), the prompt first: once
  ``<n>.request.json`` exists, both files are complete.  Temporary files start
  with ``.`` and end with ``.tmp``; ignore them.
- The optimizer answers by writing ``<n>.response.json``:
  ``{"edits": [{"parameter": ID, "text": NEW}
  | {"parameter": ID, "search": OLD, "replace": NEW}], "rationale": WHY}``.
  Write it atomically too (write a temporary file in ``DIR``, then rename it).
- The run polls for the answer.  It is read as soon as it parses as JSON, or
  once its content has stayed the same for two polls; then text that is not
  JSON is an invalid proposal (with the parser's reason), which the optimizer
  sees in the next request's ``history``.  A malformed Response is likewise an
  invalid proposal, never a crash.
- An answer file that is already there when a request is written is used as
  is, so a resumed run (numbering continued with ``start=``) picks up an answer
  given while it was down.  Use a fresh ``DIR`` for each new run.
- No answer within ``timeout`` seconds stops the run (:class:`BackendFatal`).
- Files are never deleted: ``DIR`` is the transcript of the run.

The backend prints nothing; whoever watches ``DIR`` decides how to notify.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_genopt.backends import BackendFatal, Proposal, Usage, proposal_from_raw
from pytest_genopt.prompt import render

if TYPE_CHECKING:
    from pytest_genopt.protocol import Request

#: polls an unparsable answer must stay unchanged before it is taken as final
STABLE_POLLS = 2


class ExchangeBackend:
    """Writes numbered request files into ``directory`` and waits for the answer file.

    ``timeout`` is how long one proposal may take (seconds); ``poll`` the time
    between looks at the answer file; ``start`` the number of the first
    exchange (a resumed run continues its numbering); ``name`` replaces the
    default ``exchange:<directory>`` (e.g. to show the spec as the user wrote it).
    """

    name: str

    def __init__(
        self,
        directory: Path,
        *,
        timeout: float = 3600.0,
        poll: float = 0.2,
        start: int = 1,
        name: str | None = None,
    ) -> None:
        if not timeout > 0 or not poll > 0:
            raise ValueError(f"timeout and poll must be positive, got {timeout} and {poll}")
        if start < 1:
            raise ValueError(f"start must be at least 1, got {start}")
        self.directory = Path(directory)
        self.timeout = timeout
        self.poll = poll
        self.name = name if name is not None else f"exchange:{directory}"
        self._next = start
        self._lock = threading.Lock()

    def propose(self, request: Request) -> Proposal:
        """Write the next request, wait for its answer and validate it.

        Raises :class:`BackendFatal` when the files cannot be written or no
        answer comes within ``timeout``.
        """
        with self._lock:  # candidates may be proposed from several threads
            number = self._next
            self._next += 1
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # the prompt first: the request file's appearance is the "ready" signal
            write_atomic(self.directory / f"{number}.prompt.md", render(request).text)
            write_atomic(self.directory / f"{number}.request.json", request.dumps())
        except OSError as exc:
            raise BackendFatal(
                f"exchange: cannot write the request into {self.directory}: {exc.strerror or exc}"
            ) from None
        return self._await(self.directory / f"{number}.response.json")

    def worst_case(self, request: Request) -> Usage:
        """Zero: the outside optimizer's spending is not ours to count."""
        return Usage()

    def close(self) -> None:
        """Nothing to release."""

    def _await(self, path: Path) -> Proposal:
        deadline = time.monotonic() + self.timeout
        previous: bytes | None = None
        unchanged = 0
        while True:
            data = _read(path)
            if data is not None:
                try:
                    return proposal_from_raw(json.loads(data))
                except ValueError as exc:  # bad JSON or bad encoding
                    # maybe still being written: only an unchanged file is final
                    # (or whatever is there when time is up: an answer, if a bad one)
                    unchanged = unchanged + 1 if data == previous else 0
                    previous = data
                    if unchanged >= STABLE_POLLS or time.monotonic() >= deadline:
                        return Proposal(
                            response=None,
                            invalid_reason=f"{path.name} is not valid JSON: {exc}",
                            raw=data.decode("utf-8", errors="replace"),
                        )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BackendFatal(f"exchange: no answer in {path} after {self.timeout:g} s")
            time.sleep(min(self.poll, remaining))


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BackendFatal(f"exchange: cannot read {path}: {exc.strerror or exc}") from None


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` so that readers see the old file or the whole new one.

    A temporary file in the same directory is fsync'd, then renamed over ``path``.
    """
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
