"""``--genopt-resume``: read a run's events back and reconcile them with its branch.

Accepting a candidate is journal the intent, commit, move the branch, journal
the commit.  A kill between any two of these leaves the branch and the journal
disagreeing in a known way: a commit whose intent is journaled is adopted
(never made again); a branch that moved without one stops the resume.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from pytest_genopt.events import CommitMade, IterationEnded, RunStarted
from pytest_genopt.journal import read_events, resolve_run, run_dir
from pytest_genopt.state import fold
from pytest_genopt.workspace import WorkspaceError

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_genopt.events import CommitIntended, Event
    from pytest_genopt.workspace import Workspace


class ResumeRefused(ValueError):
    """The run cannot be resumed as it is; str(exc) is one line."""


def load(rootdir: Path, run: str) -> tuple[str, list[Event]]:
    """The run id ``run`` names (``last`` too) and its events; ResumeRefused when unusable."""
    try:
        run_id = resolve_run(rootdir, run)
        events = read_events(run_dir(rootdir, run_id) / "journal.jsonl")
    except (ValueError, OSError) as exc:
        raise ResumeRefused(str(exc)) from None
    if not events or not isinstance(events[0], RunStarted):
        raise ResumeRefused(f"run {run_id} never started (its journal has no start event first)")
    return run_id, events


def reconcile(events: list[Event], workspace: Workspace) -> list[Event]:
    """Events that bring the journal in line with the branch (to journal before resuming).

    Raises ResumeRefused when the branch moved in a way the journal does not explain.
    """
    state = fold(events)
    pending = state.unfinished
    expected, actual = state.head, workspace.head
    if pending is not None and pending.commit is not None and actual == expected:
        # committed and journaled, cut off before the iteration was closed
        return [IterationEnded(pending.sampled.iteration, 0.0)]
    if actual == expected:
        return []  # an intent without its commit is dropped: the iteration runs again
    intent = pending.intent if pending is not None else None
    if intent is not None and _made(intent, expected, workspace):
        return [
            CommitMade(intent.iteration, intent.candidate, actual, adopted=True),
            IterationEnded(intent.iteration, 0.0),
        ]
    raise ResumeRefused(
        f"branch '{workspace.branch}' is at {actual[:12]} but the journal of run "
        f"{workspace.run_id} ends at {expected[:12]} with no commit intended: something else "
        f"moved it; to resume, move it back with `git branch -f {workspace.branch} {expected}`"
    )


def _made(intent: CommitIntended, expected: str, workspace: Workspace) -> bool:
    """Whether the branch head is the commit ``intent`` announced."""
    if intent.parent != expected or workspace.parent(workspace.head) != expected:
        return False
    for path, digest in intent.files.items():
        try:
            text = workspace.read(path)
        except WorkspaceError:
            return False
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != digest:
            return False
    return True
