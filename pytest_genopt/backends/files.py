"""How backends write files: redacted, escaped and atomic, in one place.

Every text a backend leaves on disk (exchange requests, prompts, status
files, cassettes) goes through :func:`write_redacted`, so the one redaction
step of :mod:`pytest_genopt.redaction` guards all of them.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import TYPE_CHECKING

from pytest_genopt.protocol import escaped_text
from pytest_genopt.redaction import redact_text

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path


def write_redacted(path: Path, text: str, secrets: Sequence[str]) -> None:
    """Write ``text`` to ``path`` atomically with secrets redacted and lone surrogates escaped."""
    write_atomic(path, redact_text(escaped_text(text), secrets))


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` so that readers see the old file or the whole new one.

    A temporary file in the same directory is fsync'd, then renamed over ``path``.
    Text UTF-8 cannot encode (lone surrogates) is written escaped, never a crash.
    """
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(
            handle, "w", encoding="utf-8", errors="backslashreplace", newline=""
        ) as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
