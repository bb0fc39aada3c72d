"""One line of the run's progress on pytest's terminal, on a line of its own."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest


def terminal_line(config: pytest.Config, line: str) -> None:
    """Write ``line`` on the session's terminal (when it has one) and flush it.

    pytest ends its progress row (``....  [100%]``) only when it writes its
    summary, so a line written in between would be glued onto it; the row is
    ended first (``ensure_newline`` knows only about rows it started itself).
    """
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    writer = getattr(reporter, "_tw", None)
    if getattr(writer, "width_of_current_line", 0):
        reporter.write("\n")
    reporter.write_line(line)
    reporter.flush()  # someone may be waiting to read it
