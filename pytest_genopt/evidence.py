"""Trials, their value in the objective, the credit horizon and minibatch sampling."""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from pytest_genopt.measures import Measure, measures_from, measures_json
from pytest_genopt.protocol import EvidenceItem
from pytest_genopt.task_usage import clean

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

TrialOutcome = Literal["passed", "failed", "error", "skipped"]

#: captured output kept per trial (the tail: the end of a log says most)
OUTPUT_LIMIT = 2000
#: assertion messages kept per trial
MESSAGE_LIMIT = 2000
#: the group of a test marked ``holdout=True``
DEFAULT_HOLDOUT_GROUP = "holdout"
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
    #: the holdout group (``"holdout"`` for ``holdout=True``); "" when not a holdout test
    holdout_group: str = ""
    #: parameter ids or globs from ``@pytest.mark.genopt(trainables=...)``
    linked: tuple[str, ...] = ()
    #: ids of the trainables the test called
    called: tuple[str, ...] = ()
    #: whole files the test's marker makes trainable
    files: tuple[str, ...] = ()
    #: ``path:line`` of the functions of large file parameters the test ran
    reached: tuple[str, ...] = ()
    duration: float = 0.0
    #: task-model usage reported through ``genopt.usage``: model -> counter -> count
    usage: dict[str, dict[str, int]] = field(default_factory=dict)
    #: measured objectives by name: raw samples (``genopt.measure``)
    measures: dict[str, Measure] = field(default_factory=dict)
    #: what the measures make of the value, set by the controller against the run's
    #: start (:func:`pytest_genopt.measures.judged`); never read from a result file
    factor: float | None = None

    @property
    def counted(self) -> bool:
        """Whether the trial has a value in the objective (skipped tests do not)."""
        return self.outcome != "skipped"

    @property
    def group(self) -> str:
        """The holdout group this trial belongs to ("" when it is not a holdout test)."""
        if not self.holdout:
            return ""
        return self.holdout_group or DEFAULT_HOLDOUT_GROUP

    @property
    def value(self) -> float:
        """The objective contract: the last reported score, else 1.0 if passed, else 0.0;
        times the measures' factor when the test measured something."""
        value = self.score
        if value is None:
            value = 1.0 if self.outcome == "passed" else 0.0
        return value if self.factor is None else value * self.factor

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
            "holdout_group": self.holdout_group,
            "linked": list(self.linked),
            "called": list(self.called),
            "files": list(self.files),
            "reached": list(self.reached),
            "duration": self.duration,
            "usage": self.usage,
            **({"measures": measures_json(self.measures)} if self.measures else {}),
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
            holdout_group=str(data.get("holdout_group", "")),
            linked=tuple(data.get("linked", ())),
            called=tuple(data.get("called", ())),
            files=tuple(data.get("files", ())),
            reached=tuple(data.get("reached", ())),
            duration=float(data.get("duration", 0.0)),
            usage=clean(data.get("usage")),
            measures=measures_from(data.get("measures")),
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
    """Trials worth showing the optimizer: failing ones, those below the best value, and
    those whose measures count (a runtime has no best value).

    Holdout and skipped trials never qualify.
    """
    counted = [t for t in trials if t.counted and not t.holdout]
    if not counted:
        return []
    # a measured value (a speed-up of 40) says nothing about what other tests can reach
    best = ceiling(counted)
    return [t for t in counted if t.outcome != "passed" or t.factor is not None or t.value < best]


def ceiling(trials: Iterable[Trial]) -> float:
    """The highest value of the trials that measure nothing (0 when all measure)."""
    return max((t.value for t in trials if t.factor is None), default=0.0)


class Signature(NamedTuple):
    """What a failure says, whichever parametrization says it.

    Two trials with one signature are expected to teach the optimizer the same
    thing, so a minibatch shows distinct signatures before repeating one.
    """

    #: the node id without its ``[...]`` parameter part
    function: str
    #: the exception type leading the message (``AssertionError``), else ""
    exception: str
    #: the message's first line with numbers, quoted strings and addresses normalised
    shape: str


#: characters of a message's first line kept in its shape
SHAPE_LIMIT = 200
_EXCEPTION = re.compile(r"([A-Za-z_][\w.]*)\s*(?::|$)")
# one pass, so that digits inside an address or a quoted string are not numbers too
_VARIABLE = re.compile(
    r"(?P<address>0x[0-9a-fA-F]+)"
    r"|(?P<quoted>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?<![\w.])[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?"
)


def _normalised(match: re.Match[str]) -> str:
    if match.group("address"):
        return "0x…"
    return "'…'" if match.group("quoted") else "#"


def function_id(test: str) -> str:
    """``tests/t.py::test_a[1-x]`` -> ``tests/t.py::test_a`` (ids without parameters unchanged)."""
    path, sep, rest = test.partition("::")
    # parameter ids may hold "::" and "[": the first "[" after the path starts them
    name, bracket, _ = rest.partition("[")
    if not bracket or not test.endswith("]"):
        return test
    return path + sep + name


def parameter_id(test: str) -> str:
    """The ``[...]`` parameter part of a node id without its brackets ("" when none)."""
    function = function_id(test)
    return test[len(function) + 1 : -1] if function != test else ""


def signature(trial: Trial) -> Signature:
    """The trial's failure signature: test function, exception type, message shape."""
    # bounded before the regexes: a hostile message's first line may be very long
    first = trial.message.strip().partition("\n")[0][: 4 * SHAPE_LIMIT]
    found = _EXCEPTION.match(first)
    exception = ""
    if found and found.group(1).rpartition(".")[2][:1].isupper():
        exception = found.group(1)
    shape = _VARIABLE.sub(_normalised, first)
    return Signature(function_id(trial.test), exception, shape[:SHAPE_LIMIT])


@dataclass
class MinibatchSampler:
    """Seeded, epoch-complete sampling of trials into diverse minibatches.

    **Epoch-complete**: within an epoch every pool test is drawn once before
    any is drawn again; with a fixed pool no test is drawn an (m+1)-th time
    while another has been drawn fewer than m times.  A batch that ends an
    epoch takes the epoch's last tests and fills up with tests of the next
    one (never repeating a test within the batch); only those belong to the
    new epoch.  The pool may change between draws (tests get fixed or break)
    and the sampler follows it.

    **Diverse**: among the tests a draw may take, those of failure signatures
    (:func:`signature`) not yet in this batch come first; a signature repeats
    within the batch only when every available signature is in it once (then
    twice, and so on).  Epoch-completeness wins over diversity, so a draw
    takes, in this order: unseen tests of signatures not yet in the batch,
    unseen tests of repeated signatures, then the next epoch's tests in the
    same order.  Between equally repeated signatures, the one with fewer tests
    drawn in this epoch comes first, so signatures are used up evenly and
    the epoch's last batches stay mixed; remaining ties follow a seeded
    shuffle.

    **Seeded and resumable**: every draw is a function of (seed, number of
    draws, tests seen in this epoch, pool), and :meth:`state` is that plain
    data; older states (``{"seen": [...], "draws": n}``) restore unchanged.
    """

    batch_size: int
    seed: int
    seen: set[str] = field(default_factory=set)
    draws: int = 0

    def sample(self, pool: Sequence[Trial]) -> list[Trial]:
        """Draw up to ``batch_size`` distinct trials from ``pool`` (its order is irrelevant)."""
        by_test = {t.test: t for t in pool}
        signatures = {test: signature(t) for test, t in by_test.items()}
        # one generator per draw keeps every draw reproducible from (seed, draws, seen)
        rng = random.Random(f"{self.seed}:{self.draws}")
        self.draws += 1
        fresh = set(by_test) - self.seen
        chosen = _diverse(fresh, signatures, self.seen, [], self.batch_size, rng)
        self.seen.update(chosen)
        if len(chosen) < self.batch_size:
            # epoch over: the rest of the batch is the start of the next one
            rest = set(by_test) - set(chosen)
            more = _diverse(rest, signatures, set(), chosen, self.batch_size - len(chosen), rng)
            self.seen = set(more)
            chosen += more
        return [by_test[test] for test in chosen]

    def state(self) -> dict[str, Any]:
        return {"seen": sorted(self.seen), "draws": self.draws}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.seen = set(state.get("seen", ()))
        self.draws = int(state.get("draws", 0))


def _diverse(
    candidates: set[str],
    signatures: Mapping[str, Signature],
    seen: set[str],
    chosen: Sequence[str],
    count: int,
    rng: random.Random,
) -> list[str]:
    """Up to ``count`` candidates, signatures least in ``chosen``, then in ``seen``, first."""
    groups: dict[Signature, list[str]] = {}
    for test in sorted(candidates):
        groups.setdefault(signatures[test], []).append(test)
    order = sorted(groups)
    rng.shuffle(order)
    for key in sorted(groups):
        rng.shuffle(groups[key])
        groups[key].reverse()  # popped from the end: the shuffled order's first comes first
    rank = {key: i for i, key in enumerate(order)}
    in_batch = Counter(signatures[t] for t in chosen)
    in_epoch = Counter(signatures[t] for t in seen if t in signatures)
    picked: list[str] = []
    while len(picked) < count and groups:
        key = min(groups, key=lambda k: (in_batch[k], in_epoch[k], rank[k]))
        picked.append(groups[key].pop())
        in_batch[key] += 1
        if not groups[key]:
            del groups[key]
    return picked
