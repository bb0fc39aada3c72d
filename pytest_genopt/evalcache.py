"""The run's evaluation cache: a candidate tree evaluated once is not evaluated again.

Key: the git tree id of the candidate's tree (:meth:`Workspace.tree_with`:
every file its evaluation sees) and the run's *options* (a digest of what
else changes results: horizon, timeout, workers, sandbox, memory, the
session's pytest arguments, the baseline's node ids, the Python and genopt
versions).  Value: each evaluation stage of that tree, as its status, reason
and Trials, with the iteration and candidate that ran it.  A lookup is a hit
when the stages stored for the tree cover every node id asked (a test's
result depends on the tree, not on which other tests share its process: the
loop already joins its batch and full stages from two processes), or when a
stage of the tree failed (a crash, a timeout, tampering: the same code fails
the same way).  A cancelled evaluation is never stored; the clean re-run
before a commit is never served from here.

The cache is this module's one file, ``runs/<run>/evaluations.jsonl``: one
stage a line, each with its ``version``, redacted, appended as the run goes,
read back once when a run is resumed.  A torn, unreadable, or other-version
line, or one of other options, is skipped: a miss only costs time.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_genopt.evidence import Trial

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from pathlib import Path

__all__ = ["CACHE_FILE", "CACHE_VERSION", "EvaluationCache", "Hit", "Stage", "options_key"]

CACHE_VERSION = 1
CACHE_FILE = "evaluations.jsonl"


def options_key(options: Mapping[str, Any]) -> str:
    """A digest of what, besides the tree, changes an evaluation's results."""
    from pytest_genopt import __version__

    data = {**options, "python": sys.version, "genopt": __version__}
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Stage:
    """One evaluation stage of a candidate tree, as stored."""

    tree: str
    options: str
    iteration: int
    candidate: int
    status: str
    reason: str
    trials: dict[str, Trial]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": CACHE_VERSION,
            "tree": self.tree,
            "options": self.options,
            "iteration": self.iteration,
            "candidate": self.candidate,
            "status": self.status,
            "reason": self.reason,
            "trials": [t.to_json() for t in self.trials.values()],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Stage:
        """Raises ValueError (or TypeError, KeyError) for anything that is not a stage."""
        if data.get("version") != CACHE_VERSION:
            raise ValueError(f"evaluation cache version {data.get('version')!r}")
        trials = [Trial.from_json(t) for t in data["trials"]]
        return cls(
            tree=str(data["tree"]),
            options=str(data["options"]),
            iteration=int(data["iteration"]),
            candidate=int(data["candidate"]),
            status=str(data["status"]),
            reason=str(data["reason"]),
            trials={t.test: t for t in trials},
        )


@dataclass(frozen=True)
class Hit:
    """What a lookup found: the asked trials (ok) or the stage that failed."""

    status: str
    reason: str
    trials: dict[str, Trial]
    #: the earlier evaluations reused: ``{"iteration", "candidate"}`` each
    origins: tuple[dict[str, int], ...]


class EvaluationCache:
    """The evaluated stages of one run, by tree; one writer (this process) appends."""

    def __init__(self, path: Path, options: str, secrets: Sequence[str] = ()) -> None:
        self.path = path
        self.options = options
        self.secrets = tuple(secrets)
        self._stages: dict[str, list[Stage]] = {}
        self._lock = threading.Lock()
        self._tree_locks: dict[str, threading.Lock] = {}

    @classmethod
    def load(cls, path: Path, options: str, secrets: Sequence[str] = ()) -> EvaluationCache:
        """The cache at ``path`` as an earlier process of the run left it (empty if none)."""
        cache = cls(path, options, secrets)
        for stage in _read(path):
            if stage.options == options:
                cache._stages.setdefault(stage.tree, []).append(stage)
        return cache

    def lock(self, tree: str) -> threading.Lock:
        """The lock to hold while looking up and evaluating ``tree`` (one evaluation at once)."""
        with self._lock:
            return self._tree_locks.setdefault(tree, threading.Lock())

    def lookup(self, tree: str, nodeids: Sequence[str]) -> Hit | None:
        """The stored results of ``nodeids`` on ``tree``, or None when they are not all known."""
        with self._lock:
            stages = list(self._stages.get(tree, ()))
        failed = next((s for s in stages if s.status != "ok"), None)
        if failed is not None:
            return Hit(failed.status, failed.reason, {}, (_origin(failed),))
        found: dict[str, Trial] = {}
        origins: list[dict[str, int]] = []
        for nodeid in nodeids:
            stage = next((s for s in stages if nodeid in s.trials), None)
            if stage is None:
                return None
            found[nodeid] = stage.trials[nodeid]
            if _origin(stage) not in origins:
                origins.append(_origin(stage))
        return Hit("ok", "", found, tuple(origins))

    def store(self, stage: Stage) -> None:
        """Keep ``stage`` and append it to the file (a write failure costs only the file)."""
        from pytest_genopt.journal import json_bytes
        from pytest_genopt.redaction import redact

        with self._lock:
            self._stages.setdefault(stage.tree, []).append(stage)
            line = json_bytes(redact(stage.to_json(), self.secrets)) + b"\n"
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    view = memoryview(line)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
            except OSError:
                pass  # the run goes on; a resumed run evaluates this tree again


def _origin(stage: Stage) -> dict[str, int]:
    return {"iteration": stage.iteration, "candidate": stage.candidate}


def _read(path: Path) -> Iterator[Stage]:
    """The stages in the file at ``path``; whatever cannot be read is skipped."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            lines = handle.readlines()
    except OSError:
        return
    for line in lines:
        try:
            yield Stage.from_json(json.loads(line))
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
