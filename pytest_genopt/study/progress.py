"""The study's progress view: runs done, running and failed, with an ETA.

On a terminal the line is redrawn in place; elsewhere (CI logs, pipes) one line is
printed each time a run starts or ends.  Each finished or failed run also gets its own
line, so the log says what happened to every run.
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    def __init__(self, total: int, skipped: int, jobs: int, stream: TextIO | None = None) -> None:
        self.total, self.jobs = total, jobs
        self.done, self.failed, self.running = skipped, 0, 0
        self._durations: list[float] = []
        self._began = time.monotonic()
        self._stream = stream or sys.stdout
        self._live = self._stream.isatty()

    def started(self) -> None:
        self.running += 1
        self._show()

    def ended(self, run_id: str, status: str, seconds: float | None, line: str) -> None:
        self.running -= 1
        if status == "failed":
            self.failed += 1
        elif status == "finished":
            self.done += 1
        if seconds is not None and status == "finished":
            self._durations.append(seconds)
        self._print(f"study: {run_id}: {status}: {line}")
        self._show()

    def eta(self) -> str:
        """Mean finished run time x the waves of runs left (``jobs`` at a time)."""
        left = self.total - self.done - self.failed
        if not self._durations or left <= 0:
            return "unknown" if left > 0 else "0 s"
        mean = sum(self._durations) / len(self._durations)
        return _duration(mean * math.ceil(left / self.jobs))

    def summary(self) -> str:
        waiting = self.total - self.done - self.failed - self.running
        return (
            f"study: {self.done}/{self.total} done, {self.running} running, "
            f"{self.failed} failed, {waiting} waiting; ETA {self.eta()}; "
            f"{_duration(time.monotonic() - self._began)} so far"
        )

    def _show(self) -> None:
        if self._live:
            self._stream.write("\r\x1b[2K" + self.summary())
            self._stream.flush()
        else:
            self._print(self.summary())

    def _print(self, text: str) -> None:
        if self._live:
            self._stream.write("\r\x1b[2K")
        self._stream.write(text + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._live:
            self._stream.write("\n")
            self._stream.flush()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
