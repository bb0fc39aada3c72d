"""What an attempt teaches the next request: its edits as a diff, and the tests it moved.

A rejected candidate was evaluated too; without what its evaluation showed,
the optimizer sees the same traces of the same kept artifact again and again.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from pytest_genopt.evidence import Trial

#: characters of an attempt's diff kept in the history
DIFF_LIMIT = 4000
#: tests whose change an attempt's history entry shows
MOVED_LIMIT = 8
_MESSAGE_LIMIT = 240


def edit_diff(read: Callable[[str], str], files: Mapping[str, str]) -> str:
    """A unified diff of ``files`` (path -> new text) against their current text."""
    parts: list[str] = []
    for path in sorted(files):
        before = read(path).splitlines(keepends=True)
        after = files[path].splitlines(keepends=True)
        lines = difflib.unified_diff(before, after, f"a/{path}", f"b/{path}", n=2)
        parts.extend(line if line.endswith("\n") else line + "\n" for line in lines)
    text = "".join(parts)
    if len(text) > DIFF_LIMIT:
        cut = text.rfind("\n", 0, DIFF_LIMIT) + 1
        text = text[:cut] + f"[... {len(text) - cut} characters of the diff left out]\n"
    return text


def moved(best: Mapping[str, Trial], tried: Mapping[str, Trial]) -> tuple[list[Any], int]:
    """The tests whose value or failure message the attempt changed, regressions first,
    at most :data:`MOVED_LIMIT` of them, and how many there were in all."""
    changes: list[tuple[int, str, Trial, Trial]] = []
    for test, trial in tried.items():
        before = best.get(test)
        if before is None or not trial.counted or before.holdout:
            continue
        if trial.value < before.value:
            rank = 0
        elif trial.value > before.value:
            rank = 1
        elif trial.outcome != "passed" and _first_line(trial) != _first_line(before):
            rank = 2  # still failing, differently: what the edit did shows here
        else:
            continue
        changes.append((rank, test, before, trial))
    changes.sort(key=lambda c: (c[0], c[1]))
    return [_entry(b, t) for _, _, b, t in changes[:MOVED_LIMIT]], len(changes)


def _entry(before: Trial, trial: Trial) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "test": trial.test,
        "best": before.value,
        "value": trial.value,
        "outcome": trial.outcome,
    }
    if trial.outcome != "passed":
        entry["message"] = _first_line(trial)
    return entry


def _first_line(trial: Trial) -> str:
    line = trial.message.strip().split("\n", 1)[0] if trial.message else ""
    return line if len(line) <= _MESSAGE_LIMIT else line[:_MESSAGE_LIMIT] + "…"
