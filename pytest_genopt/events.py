"""The run's events: what happened, in order, as typed and versioned plain data.

A run is the list of these events (written to ``journal.jsonl`` by
:mod:`pytest_genopt.journal`, their one reader and writer); resume state, the
history shown to the optimizer, report.json, report.md and the terminal
summary are all derived from that list (:mod:`pytest_genopt.state`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

#: written on every journal line as ``"version"``
EVENTS_VERSION = 2


class EventError(ValueError):
    """A journal line that is not an event of this version; str(exc) is one line."""


@dataclass(frozen=True)
class Event:
    """Base of all events; ``kind`` is the ``"event"`` field on disk."""

    kind: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {"event": self.kind, "version": EVENTS_VERSION, **data}


@dataclass(frozen=True)
class RunStarted(Event):
    """A new run: its settings, branch, start commit and baseline."""

    kind: ClassVar[str] = "start"
    run: str
    branch: str
    base: str
    backend: str
    settings: dict[str, Any]
    baseline: dict[str, Any]
    values: dict[str, float | None]
    holdout_baseline: float | None
    #: tests the preflight found flaky: left out of the baseline and of acceptance
    flaky: list[str] = field(default_factory=list)
    #: the holdout objective of each holdout group at the start
    holdout_groups: dict[str, float | None] = field(default_factory=dict)
    #: the start's level of each measured objective: test -> name -> level
    measures: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class RunResumed(Event):
    """``--genopt-resume`` took the run over at branch ``head``."""

    kind: ClassVar[str] = "resume"
    head: str
    backend: str
    settings: dict[str, Any]
    summary: dict[str, Any]  # objective / passed / failed of head, evaluated again
    adopted: str | None = None  # a commit found on the branch whose intent was journaled


@dataclass(frozen=True)
class IterationSampled(Event):
    """An iteration began with this minibatch; ``sampler`` is the state after drawing it."""

    kind: ClassVar[str] = "iteration"
    iteration: int
    batch: list[str]
    sampler: dict[str, Any]


@dataclass(frozen=True)
class ProposalReceived(Event):
    """One backend call: its raw reply (or error), validity and usage."""

    kind: ClassVar[str] = "proposal"
    iteration: int
    candidate: int
    raw: Any = None
    error: str | None = None
    invalid: str | None = None
    response: dict[str, Any] | None = None  # the protocol Response, when valid
    usage: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CandidateEvaluated(Event):
    """What became of one proposal: ``stage`` it reached, its values and the decision."""

    kind: ClassVar[str] = "candidate"
    iteration: int
    candidate: int
    stage: str  # "edit" (refused before evaluation), "batch", "full"
    decision: str
    reason: str
    batch_objective: float | None = None
    objective: float | None = None
    values: dict[str, float | None] = field(default_factory=dict)
    summary: dict[str, Any] | None = None  # objective / passed / failed when fully evaluated
    diff: str = ""  # the edits as a unified diff of the files they changed
    notes: list[str] = field(default_factory=list)  # edits left out, tests not shown
    moved: list[dict[str, Any]] = field(default_factory=list)  # see history.moved
    #: every stage it needed came from the run's evaluation cache: no pytest ran for it
    cached: bool = False
    #: the earlier evaluations reused, one per stage: ``{"stage", "iteration", "candidate"}``,
    #: or ``{"stage", "best"}`` (the branch head) for files identical to the current best
    reused: list[dict[str, Any]] = field(default_factory=list)
    #: the levels of the measured objectives when fully evaluated: test -> name -> level
    measures: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class CommitIntended(Event):
    """About to commit ``files`` (path -> sha256 of the text) on top of ``parent``."""

    kind: ClassVar[str] = "commit_intended"
    iteration: int
    candidate: int
    parent: str
    files: dict[str, str]
    message: str


@dataclass(frozen=True)
class CommitMade(Event):
    """The branch moved to ``sha``; ``adopted`` when found by a resume, not seen made."""

    kind: ClassVar[str] = "commit"
    iteration: int
    candidate: int
    sha: str
    adopted: bool = False


@dataclass(frozen=True)
class IterationEnded(Event):
    """An iteration is complete (a resume never does it again)."""

    kind: ClassVar[str] = "iteration_end"
    iteration: int
    seconds: float


@dataclass(frozen=True)
class HoldoutEvaluated(Event):
    """After ``iteration``, the holdout tests on the best parameters (the branch at ``head``).

    ``reused``: the best had not changed since the holdout tests last ran, so that
    result stands for this one; ``reason`` says why an evaluation gave no objective.
    """

    kind: ClassVar[str] = "holdout"
    iteration: int
    head: str
    objective: float | None
    groups: dict[str, float | None] = field(default_factory=dict)
    reused: bool = False
    reason: str = ""


@dataclass(frozen=True)
class TaskUsed(Event):
    """Task-model usage the tests of evaluations since the last such event reported."""

    kind: ClassVar[str] = "task_usage"
    usage: dict[str, dict[str, int]]


@dataclass(frozen=True)
class RunEnded(Event):
    """The run stopped: why, at which head, and whether it failed."""

    kind: ClassVar[str] = "end"
    stopped: str
    head: str
    failed: bool = False
    holdout_best: float | None = None
    holdout_best_groups: dict[str, float | None] = field(default_factory=dict)


EVENT_TYPES: dict[str, type[Event]] = {
    t.kind: t
    for t in (
        RunStarted,
        RunResumed,
        IterationSampled,
        ProposalReceived,
        CandidateEvaluated,
        CommitIntended,
        CommitMade,
        IterationEnded,
        HoldoutEvaluated,
        TaskUsed,
        RunEnded,
    )
}


def from_json(data: Any) -> Event:
    """The event a journal line holds; raises EventError naming what is wrong."""
    if not isinstance(data, dict):
        raise EventError("not a JSON object")
    kind = data.get("event")
    if data.get("version") != EVENTS_VERSION:
        raise EventError(
            f"{kind!r} event of version {data.get('version')!r}; "
            f"this pytest-genopt reads version {EVENTS_VERSION}"
        )
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise EventError(f"unknown event {kind!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    required = {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    missing = sorted(required - set(data))
    if missing:
        raise EventError(f"{kind!r} event lacks {', '.join(missing)}")
    try:
        return cls(**{k: v for k, v in data.items() if k in names})
    except TypeError as exc:  # pragma: no cover - names were checked above
        raise EventError(f"{kind!r} event: {exc}") from None
