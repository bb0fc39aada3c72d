"""The run's state, folded from its events: iterations, history, usage, head.

:func:`fold` is a pure function of the event list; the loop, ``--genopt-resume``,
the report and the terminal summary all read the run through it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_genopt.backends import Usage
from pytest_genopt.events import (
    CandidateEvaluated,
    CommitIntended,
    CommitMade,
    HoldoutEvaluated,
    IterationEnded,
    IterationSampled,
    ProposalReceived,
    RunEnded,
    RunResumed,
    RunStarted,
    TaskUsed,
)
from pytest_genopt.task_usage import TaskUsage, merge

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pytest_genopt.events import Event
    from pytest_genopt.protocol import Decision, HistoryEntry


@dataclass
class Attempt:
    """One proposal of one iteration and what became of it."""

    candidate: int
    decision: Decision
    reason: str
    rationale: str = ""
    edits: list[dict[str, Any]] = field(default_factory=list)
    batch_objective: float | None = None
    objective: float | None = None
    commit: str | None = None
    diff: str = ""
    notes: list[str] = field(default_factory=list)
    moved: list[dict[str, Any]] = field(default_factory=list)
    #: no pytest ran for it: every stage came from earlier evaluations (``reused``)
    cached: bool = False
    reused: list[dict[str, Any]] = field(default_factory=list)
    #: levels of the measured objectives when fully evaluated: test -> name -> level
    measures: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class IterationRecord:
    """One complete iteration as the report shows it."""

    iteration: int
    decision: str
    reason: str
    seconds: float
    batch_objective: float | None = None
    objective: float | None = None
    batch: list[str] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    #: ``{"objective", "groups", "reused"}`` when the holdout tests ran after it
    holdout: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration,
            "decision": self.decision,
            "batch_objective": self.batch_objective,
            "objective": self.objective,
            "reason": self.reason,
            "seconds": round(self.seconds, 3),
            "batch": self.batch,
            "attempts": [a.to_json() for a in self.attempts],
            "holdout": self.holdout,
        }


@dataclass
class Unfinished:
    """The iteration under way: the events seen since it was sampled."""

    sampled: IterationSampled
    proposals: dict[int, ProposalReceived] = field(default_factory=dict)
    evaluations: dict[int, CandidateEvaluated] = field(default_factory=dict)
    intent: CommitIntended | None = None
    commit: CommitMade | None = None


@dataclass(frozen=True)
class Holdout:
    """The holdout tests' objective, overall and per group, on the parameters at ``head``."""

    head: str
    objective: float | None
    groups: dict[str, float | None]


@dataclass
class RunState:
    """Everything the events say about a run."""

    start: RunStarted | None = None
    backend: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    best: dict[str, Any] = field(default_factory=dict)  # objective / passed / failed
    records: list[IterationRecord] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    sampler: dict[str, Any] = field(default_factory=dict)
    head: str = ""  # the branch tip the journal knows of
    unfinished: Unfinished | None = None
    stopped: str = ""
    failed: bool = False
    holdout_best: float | None = None
    holdout_best_groups: dict[str, float | None] = field(default_factory=dict)
    #: the latest holdout result and the branch head it was measured at
    holdout_known: Holdout | None = None
    task_usage: TaskUsage = field(default_factory=dict)
    resumed: bool = False

    @property
    def history(self) -> list[HistoryEntry]:
        return [e for r in self.records for e in history_entries(r.iteration, r.attempts)]

    @property
    def accepted_commits(self) -> list[str]:
        return [a.commit for r in self.records for a in r.attempts if a.commit]


def fold(events: Sequence[Event]) -> RunState:
    """The state of a run after ``events`` (pure: the same list gives the same state)."""
    state = RunState()
    for event in events:
        _apply(state, event)
    return state


def _apply(state: RunState, event: Event) -> None:
    pending = state.unfinished
    if isinstance(event, RunStarted):
        state.start, state.backend, state.settings = event, event.backend, event.settings
        state.best, state.head = dict(event.baseline), event.base
        state.holdout_known = Holdout(event.base, event.holdout_baseline, event.holdout_groups)
    elif isinstance(event, RunResumed):
        # an iteration cut off by the kill is done again; its events stay on disk only
        state.unfinished, state.resumed = None, True
        state.backend, state.settings, state.best = event.backend, event.settings, event.summary
        state.head, state.stopped, state.failed = event.head, "", False
    elif isinstance(event, IterationSampled):
        state.unfinished = Unfinished(event)
    elif isinstance(event, ProposalReceived):
        state.usage = state.usage + Usage.from_json(event.usage)
        if pending is not None:
            pending.proposals[event.candidate] = event
    elif isinstance(event, CandidateEvaluated) and pending is not None:
        pending.evaluations[event.candidate] = event
    elif isinstance(event, CommitIntended) and pending is not None:
        pending.intent = event
    elif isinstance(event, CommitMade):
        state.head = event.sha
        if pending is not None:
            pending.commit = event
            accepted = pending.evaluations.get(event.candidate)
            if accepted is not None and accepted.summary is not None:
                state.best = dict(accepted.summary)
    elif isinstance(event, IterationEnded) and pending is not None:
        state.records.append(record_of(pending, event.seconds))
        state.sampler = pending.sampled.sampler
        state.unfinished = None
    elif isinstance(event, HoldoutEvaluated):
        _apply_holdout(state, event)
    elif isinstance(event, TaskUsed):
        state.task_usage = merge([state.task_usage, event.usage])
    elif isinstance(event, RunEnded):
        state.stopped, state.failed = event.stopped, event.failed
        state.holdout_best = event.holdout_best
        state.holdout_best_groups = dict(event.holdout_best_groups)


def _apply_holdout(state: RunState, event: HoldoutEvaluated) -> None:
    """Attach the holdout result to its (complete) iteration; remember it when it has one."""
    result: dict[str, Any] = {
        "objective": event.objective,
        "groups": dict(event.groups),
        "reused": event.reused,
    }
    if event.reason:
        result["reason"] = event.reason
    for record in reversed(state.records):
        if record.iteration == event.iteration:
            record.holdout = result
            break
    if event.objective is not None:
        state.holdout_known = Holdout(event.head, event.objective, dict(event.groups))


def attempt_of(proposal: ProposalReceived, evaluation: CandidateEvaluated | None) -> Attempt:
    """One proposal and its outcome as an Attempt."""
    index = proposal.candidate
    if proposal.error is not None:
        return Attempt(index, "error", f"backend error: {proposal.error}")
    response = proposal.response
    if response is None:
        return Attempt(index, "invalid", proposal.invalid or "invalid proposal")
    attempt = Attempt(
        index,
        "rejected",
        "not evaluated",
        rationale=str(response.get("rationale", "")),
        edits=list(response.get("edits", [])),
    )
    if evaluation is not None:
        attempt.decision = evaluation.decision  # type: ignore[assignment]
        attempt.reason = evaluation.reason
        attempt.batch_objective = evaluation.batch_objective
        attempt.objective = evaluation.objective
        attempt.diff, attempt.notes = evaluation.diff, list(evaluation.notes)
        attempt.moved = list(evaluation.moved)
        attempt.cached, attempt.reused = evaluation.cached, list(evaluation.reused)
        attempt.measures = dict(evaluation.measures)
    return attempt


def record_of(pending: Unfinished, seconds: float) -> IterationRecord:
    """A complete iteration's record."""
    attempts = [
        attempt_of(p, pending.evaluations.get(c)) for c, p in sorted(pending.proposals.items())
    ]
    if pending.commit is not None:
        for attempt in attempts:
            if attempt.candidate == pending.commit.candidate:
                attempt.commit = pending.commit.sha
                attempt.decision = "accepted"
    order = ("accepted", "rejected", "invalid", "error")
    decision = min((a.decision for a in attempts), key=order.index, default="error")
    lead = next((a for a in attempts if a.decision == decision), None)
    return IterationRecord(
        iteration=pending.sampled.iteration,
        decision=decision,
        reason=lead.reason if lead else "no proposal",
        seconds=seconds,
        batch_objective=lead.batch_objective if lead else None,
        objective=lead.objective if lead else None,
        batch=list(pending.sampled.batch),
        attempts=attempts,
    )


def history_entries(iteration: int, attempts: Sequence[Attempt]) -> list[HistoryEntry]:
    """An iteration's attempts as protocol history.

    Backend errors are left out: they proposed nothing, and the protocol's
    history decisions are accepted, rejected or invalid.
    """
    from pytest_genopt.protocol import Edit, HistoryEntry

    return [
        HistoryEntry(
            iteration,
            attempt.rationale,
            tuple(Edit.from_json(e) for e in attempt.edits),
            attempt.decision,
            attempt.reason,
            diff=attempt.diff,
            notes=tuple(attempt.notes),
            moved=tuple(attempt.moved),
        )
        for attempt in attempts
        if attempt.decision != "error"
    ]
