"""Ctrl-C and SIGTERM: one way to stop a run, whichever of the two arrives.

A signal always sets the run's ``cancel`` event first; whether it then raises
:class:`KeyboardInterrupt` in the main thread depends on the phase:

* ``session`` (the tests run): every signal raises, as Ctrl-C always does;
  nothing of the run exists yet.
* ``preparing`` (the workspace and the journal are being made): none raises;
  the run stops at its first look at ``cancel``, so it is journaled and
  resumable instead of half made.
* ``running``: the first signal raises (the loop tells it from a ``python:``
  optimizer's own KeyboardInterrupt by ``cancel``; evaluations in other
  threads kill their test processes), later ones do not: the cleanup they
  would cut short (killing candidates, the journal's end, the report) is what
  makes the run resumable.
"""

from __future__ import annotations

import shlex
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import FrameType

#: the signals that stop a run
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupts:
    """SIGINT and SIGTERM handlers for the duration of a run (main thread only)."""

    def __init__(self, cancel: threading.Event) -> None:
        self.cancel = cancel
        #: the name of the first signal received ("SIGINT", "SIGTERM"), or None
        self.received: str | None = None
        #: "session", "preparing" or "running": see the module docstring
        self.phase = "session"
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        """Take over SIGINT and SIGTERM; a no-op outside the main thread."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        """Give the signals back to whoever had them before :meth:`install`."""
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.received is None
        if first:
            self.received = signal.Signals(signum).name
        self.cancel.set()  # before any KeyboardInterrupt: see the module docstring
        if self.phase == "session" or (self.phase == "running" and first):
            raise KeyboardInterrupt


def forward_signals(send: Callable[[int], None]) -> Callable[[], None]:
    """Pass SIGINT and SIGTERM on to ``send`` (e.g. a child's ``send_signal``)
    instead of stopping this process; returns a function restoring the handlers."""

    def handle(signum: int, frame: FrameType | None) -> None:
        send(signum)

    previous = {sig: signal.signal(sig, handle) for sig in STOP_SIGNALS}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def resume_command(args: Sequence[str], run_id: str, program: str | None = None) -> str:
    """The shell command continuing run ``run_id``: the same arguments, with
    ``--genopt-resume=<run>`` in place of any earlier one."""
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--genopt-resume":
            skip = True  # its value is the next argument
        elif not arg.startswith("--genopt-resume="):
            kept.append(arg)
    command = [*shlex.split(program or pytest_program()), *kept, f"--genopt-resume={run_id}"]
    return shlex.join(command)


def pytest_program() -> str:
    """How pytest was started: ``python -m pytest`` or the name of its script."""
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0.endswith(("__main__.py", "-c")) or not argv0:
        return "python -m pytest"
    name = argv0.replace("\\", "/").rsplit("/", 1)[-1]
    return name if name in ("pytest", "py.test") else "python -m pytest"
