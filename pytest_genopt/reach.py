"""Which functions of the large file parameters each test executed.

A large Python file parameter is shown as an outline plus the regions the
evidence reached (:mod:`pytest_genopt.outline`); when a test fails by a wrong
value, no frame points into the file, so the functions it ran are recorded.
A profile hook sees only function calls (no line events) and is ignored for
code outside the watched files; it is not installed when another profiler is
active, and it never touches ``sys.settrace`` (coverage and debuggers use that).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Collection
    from types import CodeType, FrameType


class Reach:
    """Records the code objects of ``files`` (absolute paths) that run while started."""

    def __init__(self, files: Collection[str]) -> None:
        self.files = frozenset(os.path.realpath(f) for f in files)
        self.codes: set[CodeType] = set()
        self._watched: dict[str, bool] = {}
        self._active = False

    def start(self) -> None:
        """Begin recording a test (nothing happens if another profiler is installed)."""
        self.codes = set()
        if self.files and sys.getprofile() is None:
            sys.setprofile(self._profile)
            self._active = True

    def stop(self) -> None:
        if self._active and sys.getprofile() == self._profile:
            sys.setprofile(None)
        self._active = False

    def lines(self) -> list[tuple[str, int]]:
        """(file, first line) of each function recorded so far, sorted."""
        return sorted({(code.co_filename, code.co_firstlineno) for code in self.codes})

    def _profile(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        code = frame.f_code
        watched = self._watched.get(code.co_filename)
        if watched is None:
            watched = self._watched[code.co_filename] = (
                os.path.realpath(code.co_filename) in self.files
            )
        if watched:
            self.codes.add(code)
