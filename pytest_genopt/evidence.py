"""Trials, their value in the objective, the credit horizon and minibatch sampling."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pytest_genopt.protocol import EvidenceItem

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

TrialOutcome = Literal["passed", "failed", "error", "skipped"]

#: captured output kept per trial (the tail: the end of a log says most)
OUTPUT_LIMIT = 2000
#: assertion messages kept per trial
MESSAGE_LIMIT = 2000
#: how a folded run of library frames starts (the credit horizon does not count these)
FOLD_MARK = "… "


@dataclass(frozen=True)
class Trial:
    """One test's result with everything the optimizer may learn from it.

    Plain data: it crosses process boundaries (xdist workers, evaluation
    subprocesses) as JSON through :meth:`to_json` / :meth:`from_json`.
    """

    test: str
    outcome: TrialOutcome
    score: float | None = None
    message: str = ""
    traceback: tuple[str, ...] = ()
    #: the failing test function's numbered source, its failing line marked
    test_source: str = ""
    trace: tuple[Any, ...] = ()
    stdout: str = ""
    feedback: tuple[str, ...] = ()
    holdout: bool = False
    #: parameter ids or globs from ``@pytest.mark.genopt(trainables=...)``
    linked: tuple[str, ...] = ()
    #: ids of the trainables the test called
    called: tuple[str, ...] = ()
    #: whole files the test's marker makes trainable
    files: tuple[str, ...] = ()
    #: ``path:line`` of the functions of large file parameters the test ran
    reached: tuple[str, ...] = ()
    duration: float = 0.0

    @property
    def counted(self) -> bool:
        """Whether the trial has a value in the objective (skipped tests do not)."""
        return self.outcome != "skipped"

    @property
    def value(self) -> float:
        """The objective contract: the last reported score, else 1.0 if passed, else 0.0."""
        if self.score is not None:
            return self.score
        return 1.0 if self.outcome == "passed" else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "test": self.test,
            "outcome": self.outcome,
            "score": self.score,
            "message": self.message,
            "traceback": list(self.traceback),
            "test_source": self.test_source,
            "trace": list(self.trace),
            "stdout": self.stdout,
            "feedback": list(self.feedback),
            "holdout": self.holdout,
            "linked": list(self.linked),
            "called": list(self.called),
            "files": list(self.files),
            "reached": list(self.reached),
            "duration": self.duration,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Trial:
        score = data.get("score")
        return cls(
            test=str(data["test"]),
            outcome=data["outcome"],
            score=None if score is None else float(score),
            message=str(data.get("message", "")),
            traceback=tuple(data.get("traceback", ())),
            test_source=str(data.get("test_source", "")),
            trace=tuple(data.get("trace", ())),
            stdout=str(data.get("stdout", "")),
            feedback=tuple(data.get("feedback", ())),
            holdout=bool(data.get("holdout", False)),
            linked=tuple(data.get("linked", ())),
            called=tuple(data.get("called", ())),
            files=tuple(data.get("files", ())),
            reached=tuple(data.get("reached", ())),
            duration=float(data.get("duration", 0.0)),
        )

    def evidence(self, horizon: int | None) -> EvidenceItem:
        """This trial as learning evidence, truncated to the credit horizon."""
        if self.outcome == "skipped":
            raise ValueError(f"skipped test {self.test} gives no evidence")
        return EvidenceItem(
            test=self.test,
            outcome=self.outcome,
            value=self.value,
            message=self.message,
            traceback=truncate_frames(self.traceback, horizon),
            test_source=self.test_source,
            # steps and calls were each bounded by the horizon while recording
            trace=self.trace,
            stdout=self.stdout,
            feedback=self.feedback,
        )


def truncate(items: Sequence[Any], horizon: int | None) -> tuple[Any, ...]:
    """The last ``horizon`` items (all of them when horizon is None)."""
    if horizon is None:
        return tuple(items)
    if horizon == 0:
        return ()
    return tuple(items[-horizon:])


def truncate_frames(frames: Sequence[str], horizon: int | None) -> tuple[str, ...]:
    """The last ``horizon`` frames of project code, with the folded library runs
    (:data:`FOLD_MARK` lines) between and after them."""
    if horizon is None:
        return tuple(frames)
    kept: list[str] = []
    counted = 0
    for frame in reversed(frames):
        folded = frame.startswith(FOLD_MARK)
        if not folded and counted == horizon:
            break
        kept.append(frame)
        counted += not folded
    kept.reverse()
    while counted and kept[0].startswith(FOLD_MARK):  # a caller's run, outside the horizon
        kept.pop(0)
    return tuple(kept) if horizon else ()


def clip_tail(text: str, limit: int = OUTPUT_LIMIT) -> str:
    """Keep the end of ``text`` within ``limit`` characters, saying what was dropped."""
    if len(text) <= limit:
        return text
    return f"[... {len(text) - limit} characters dropped]\n" + text[-limit:]


def clip_head(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Keep the start of ``text`` within ``limit`` characters, saying what was dropped."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} characters dropped]"


def objective(trials: Iterable[Trial]) -> float | None:
    """Mean value of the counted trials; None when there are none."""
    values = [t.value for t in trials if t.counted]
    if not values:
        return None
    return sum(values) / len(values)


def improvable(trials: Iterable[Trial]) -> list[Trial]:
    """Trials worth showing the optimizer: failing ones and those below the best value.

    Holdout and skipped trials never qualify.
    """
    counted = [t for t in trials if t.counted and not t.holdout]
    if not counted:
        return []
    best = max(t.value for t in counted)
    return [t for t in counted if t.outcome != "passed" or t.value < best]


@dataclass
class MinibatchSampler:
    """Seeded, epoch-shuffled sampling of trials into minibatches.

    Within an epoch every candidate test is drawn once before any is drawn
    again; the pool may change between draws (tests get fixed or break) and
    the sampler follows it.  Its state is plain data so a run can be resumed.
    """

    batch_size: int
    seed: int
    seen: set[str] = field(default_factory=set)
    draws: int = 0

    def sample(self, pool: Sequence[Trial]) -> list[Trial]:
        """Draw up to ``batch_size`` trials from ``pool`` (order by test id is irrelevant)."""
        by_test = {t.test: t for t in pool}
        # one generator per draw keeps every draw reproducible from (seed, draws, seen)
        rng = random.Random(f"{self.seed}:{self.draws}")
        self.draws += 1
        fresh = sorted(set(by_test) - self.seen)
        rng.shuffle(fresh)
        chosen = fresh[: self.batch_size]
        if len(chosen) < self.batch_size:
            # epoch over: start the next one, without repeating a test in this batch
            self.seen = set()
            rest = sorted(set(by_test) - set(chosen))
            rng.shuffle(rest)
            chosen += rest[: self.batch_size - len(chosen)]
        self.seen.update(chosen)
        return [by_test[test] for test in chosen]

    def state(self) -> dict[str, Any]:
        return {"seen": sorted(self.seen), "draws": self.draws}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.seen = set(state.get("seen", ()))
        self.draws = int(state.get("draws", 0))
