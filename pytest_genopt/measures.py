"""Measured objectives: runtimes and sizes a test reports, judged against the run's start.

A test declares what it measures in one line, ``genopt.measure("runtime", fn, *args)``
(the median of repeated timings) or ``genopt.measure("size", value)``.  The trial
carries the raw samples (:class:`Measure`); the controller, which alone knows the
run's start, turns them into the test's value:

- each measure's **level**: a number's value; a timing's median *calibrated* by a
  reference workload timed after each sample (a fixed pure-Python loop), so that the
  machine running faster or slower between two evaluations (other load, a virtual
  machine's stolen time) cancels out;
- its **ratio** to the start's level, oriented so that higher is better
  (``start / now`` when lower is better, ``now / start`` when higher is);
- the test's **factor**, the weighted geometric mean of its ratios (a measure twice
  as good and another twice as bad cancel out); its value is the ordinary value
  (score, else 1 or 0 by outcome) times the factor, so a failing test is worth 0
  however fast, and the start's value is unchanged by measuring it;
- under ``--genopt-accept=paired`` a timing counts as changed only when its samples
  differ significantly (:func:`timing_change`: a one-sided exact Mann-Whitney U test)
  and its median moved by more than :data:`MIN_EFFECT`.

Timings are taken in the candidate's process, like every other result; the clean
re-run before a commit must measure the same names and values, and its own timings
must confirm the decision.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import re
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from statistics import median
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from pytest_genopt.evidence import Trial

__all__ = [
    "Baseline",
    "Measure",
    "disagreement",
    "factor",
    "judged",
    "levels_of",
    "measures_from",
    "measures_json",
    "timing_change",
]

#: a timing (seconds per call) or a value
KINDS = ("time", "value")
BETTER = ("lower", "higher")
#: a measure's name: short, printable, usable as a report key
NAME = re.compile(r"[A-Za-z_][\w.-]{0,63}")
#: most timed repeats one call may ask for (the exact U distribution stays cheap)
MAX_REPEAT = 50
#: each timed sample lasts at least this long (a fast function is looped)
SAMPLE_SECONDS = 1e-3
MAX_LOOPS = 10**6
#: under ``paired``, a timing must also move by more than this factor to count: six
#: evaluations of unchanged code in one run measured 0.98-1.26 times the start's
#: calibrated median on a loaded 2-core virtual machine (most within 8%)
MIN_EFFECT = 1.2
#: iterations of the reference workload (about 0.5 ms of pure Python)
REFERENCE_LOOPS = 10_000

#: test -> measure name -> the start's level
Baseline = dict[str, dict[str, float]]

# bound at import, before any candidate code runs: patching ``time.perf_counter`` in a
# candidate does not change what its timings read
_clock = time.perf_counter


@dataclass(frozen=True)
class Measure:
    """One measure of one trial: its kind, direction, weight and raw samples."""

    kind: str  # "time" (seconds per call) or "value"
    better: str  # "lower" or "higher"
    weight: float
    samples: tuple[float, ...]
    #: a timing's reference workload, timed after each sample (seconds)
    reference: tuple[float, ...] = ()

    @property
    def median(self) -> float:
        """The samples' median, in their own unit (seconds per call for a timing)."""
        return float(median(self.samples))

    @property
    def level(self) -> float:
        """What is compared: a value's median; a timing's median in reference units."""
        return float(median(self.levels))

    @property
    def levels(self) -> tuple[float, ...]:
        """Each sample's level (calibrated for a timing with its reference)."""
        if self.kind == "value" or len(self.reference) != len(self.samples):
            return self.samples
        return tuple(s / r for s, r in zip(self.samples, self.reference, strict=True))

    def to_json(self) -> dict[str, Any]:
        data = {
            "kind": self.kind,
            "better": self.better,
            "weight": self.weight,
            "samples": list(self.samples),
        }
        return {**data, "reference": list(self.reference)} if self.reference else data

    @classmethod
    def from_json(cls, data: Any) -> Measure:
        """The measure in ``data``; ValueError when it is not one (a candidate may write it)."""
        if not isinstance(data, dict):
            raise ValueError("a measure is an object")
        kind, better, weight = data.get("kind"), data.get("better"), data.get("weight")
        samples = data.get("samples")
        if kind not in KINDS or better not in BETTER:
            raise ValueError(f"unknown kind {kind!r} or direction {better!r}")
        if not isinstance(samples, list) or not 1 <= len(samples) <= MAX_REPEAT:
            raise ValueError(f"samples must be a list of 1 to {MAX_REPEAT} numbers")
        numbers = tuple(_positive(s) for s in samples)
        reference = data.get("reference", []) if kind == "time" else []
        if kind == "time" and (not isinstance(reference, list) or len(reference) != len(numbers)):
            # uncalibrated, a timing would compare machine speeds, not code
            raise ValueError("a timing needs one reference time per sample")
        calibration = tuple(_positive(r) for r in reference)
        return cls(str(kind), str(better), _positive(weight), numbers, calibration)


def _positive(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{value!r} is not a number")
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{number} is not a finite number above 0")
    return number


def measures_from(data: Any) -> dict[str, Measure]:
    """The well-formed measures in a trial's JSON ``measures`` field (others are dropped)."""
    if not isinstance(data, dict):
        return {}
    found: dict[str, Measure] = {}
    for name, value in data.items():
        if isinstance(name, str) and NAME.fullmatch(name):
            try:
                found[name] = Measure.from_json(value)
            except ValueError:
                continue
    return found


def measures_json(measures: Mapping[str, Measure]) -> dict[str, Any]:
    return {name: m.to_json() for name, m in sorted(measures.items())}


# ---------------------------------------------------------------- taking measures


def checked(name: Any, better: Any, weight: Any) -> tuple[str, str, float]:
    """The arguments every ``genopt.measure`` call shares, checked (TypeError/ValueError)."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ValueError(
            f"genopt.measure() takes a name of letters, digits, '_', '.', '-' "
            f"(at most 64, not starting with a digit), got {name!r}"
        )
    if better not in BETTER:
        raise ValueError(f"genopt.measure() takes better='lower' or 'higher', got {better!r}")
    if isinstance(weight, bool) or not isinstance(weight, (int, float)):
        raise TypeError(f"genopt.measure() takes weight as a number, got {type(weight).__name__}")
    if not (math.isfinite(weight) and weight > 0):
        raise ValueError(f"genopt.measure() takes a finite weight above 0, got {weight}")
    return name, str(better), float(weight)


def value_measure(value: Any, better: str, weight: float) -> Measure:
    """A measured number (a size, a count): one sample, which must be above 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"genopt.measure() takes a callable to time or a number, got {type(value).__name__}"
        )
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"genopt.measure() takes a finite number above 0, got {value}")
    return Measure("value", better, weight, (float(value),))


def time_samples(
    function: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    repeat: int,
    first: float,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``repeat`` timed samples of ``function(*args, **kwargs)`` (seconds per call), each
    followed by one of the reference workload (seconds).

    ``first`` is how long one call took: a sample loops the call enough times to last
    about :data:`SAMPLE_SECONDS`.  The garbage collector is paused, as ``timeit`` does,
    and so are this thread's profile and trace functions (genopt's record of executed
    functions, coverage): they would slow every call, and calls unevenly.
    """
    loops = max(1, min(MAX_LOOPS, math.ceil(SAMPLE_SECONDS / max(first, 1e-9))))
    collecting, profile, trace = gc.isenabled(), sys.getprofile(), sys.gettrace()
    gc.disable()
    sys.setprofile(None)
    sys.settrace(None)
    try:
        samples, reference = [], []
        for _ in range(repeat):
            started = _clock()
            for _ in range(loops):
                function(*args, **kwargs)
            samples.append(max((_clock() - started) / loops, 1e-12))
            started = _clock()
            _reference_workload()
            reference.append(max(_clock() - started, 1e-12))
    finally:
        sys.settrace(trace)
        sys.setprofile(profile)
        if collecting:
            gc.enable()
    return tuple(samples), tuple(reference)


def _reference_workload() -> int:
    """A fixed piece of pure-Python work: how fast the interpreter runs right now."""
    total = 0
    for number in range(REFERENCE_LOOPS):
        total += number & 7
    return total


def clock() -> float:
    """The clock timings read, as bound when genopt was imported."""
    return _clock()


def repeats(repeat: Any) -> int:
    if isinstance(repeat, bool) or not isinstance(repeat, int):
        raise TypeError(f"genopt.measure() takes repeat as an int, got {type(repeat).__name__}")
    if not 1 <= repeat <= MAX_REPEAT:
        raise ValueError(f"genopt.measure() takes repeat from 1 to {MAX_REPEAT}, got {repeat}")
    return repeat


# ---------------------------------------------------------------- judging them


def judged(trials: Mapping[str, Trial], baseline: Baseline) -> dict[str, Trial]:
    """``trials`` with each measuring trial's factor against ``baseline`` and a feedback
    line per measure (what the optimizer reads of it)."""
    judged: dict[str, Trial] = {}
    for nodeid, trial in trials.items():
        if not trial.measures:
            judged[nodeid] = trial
            continue
        start = baseline.get(trial.test, {})
        lines = tuple(describe(n, m, start.get(n)) for n, m in sorted(trial.measures.items()))
        # a trial judged before (from the run's cache) holds the same lines already
        kept = tuple(line for line in trial.feedback if line not in lines)
        judged[nodeid] = dataclasses.replace(
            trial, factor=factor(trial.measures, start), feedback=(*kept, *lines)
        )
    return judged


def levels_of(trials: Iterable[Trial]) -> Baseline:
    """The level of every measure of every trial that has measures (the start's: the
    run's baseline)."""
    return {t.test: {name: m.level for name, m in t.measures.items()} for t in trials if t.measures}


def ratio(measure: Measure, start: float) -> float:
    """How many times better than ``start`` the measure's level is (1: the same)."""
    now = measure.level
    return start / now if measure.better == "lower" else now / start


def factor(measures: Mapping[str, Measure], start: Mapping[str, float]) -> float | None:
    """The weighted geometric mean of the ratios to ``start`` (None: nothing to compare)."""
    pairs = [(m.weight, ratio(m, start[n])) for n, m in measures.items() if n in start]
    if not pairs:
        return None
    total = sum(weight for weight, _ in pairs)
    return math.exp(sum(weight * math.log(r) for weight, r in pairs) / total)


def describe(name: str, measure: Measure, start: float | None) -> str:
    """One feedback line: the median and spread, and the ratio to the start."""
    if measure.kind == "time":
        low, high = min(measure.samples), max(measure.samples)
        line = (
            f"measure {name!r}: {seconds(measure.median)} per call, the median of "
            f"{len(measure.samples)} timings ({seconds(low)} to {seconds(high)})"
        )
    else:
        line = f"measure {name!r}: {measure.median:g}"
    if start is None:
        return line + "; the start did not measure it, so it does not count"
    ratio_text = f"{ratio(measure, start):.3f} times as good as the start"
    if measure.kind == "value":
        return f"{line}; {ratio_text} ({measure.better} is better, weight {measure.weight:g})"
    return (
        f"{line}; {ratio_text} ({measure.better} is better, weight {measure.weight:g}), "
        "comparing timings each divided by a reference loop timed right after it, so "
        "not exactly the ratio of the times shown; timings of unchanged code differ "
        "by up to about a quarter between evaluations"
    )


def seconds(value: float) -> str:
    """A duration in the unit that reads best: 1.23 s, 45.6 ms, 789 µs, 12 ns."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value * 1e9:.3g} ns"


def timing_change(before: Measure, after: Measure, alpha: Fraction) -> int:
    """+1 when ``after`` is significantly better than ``before``, -1 worse, else 0.

    A value, which repeats exactly, is compared by its number.  A timing is compared
    by its samples (one-sided exact Mann-Whitney U test at ``alpha``) and must also
    move by more than :data:`MIN_EFFECT`: samples taken in one process agree more
    closely than two processes do, so significance alone would call drift a change.
    """
    if before.kind != after.kind or before.better != after.better:
        return 0
    if after.kind == "value":
        change = after.median - before.median
        sign = (change > 0) - (change < 0)
        return sign if after.better == "higher" else -sign
    lower = after.better == "lower"
    moved = max(before.level, after.level) / min(before.level, after.level)
    if moved <= MIN_EFFECT:
        return 0
    if mann_whitney_p(after.levels, before.levels, lower) <= alpha:
        return 1
    if mann_whitney_p(before.levels, after.levels, lower) <= alpha:
        return -1
    return 0


def mann_whitney_p(first: tuple[float, ...], second: tuple[float, ...], lower: bool) -> Fraction:
    """P(U >= u) under the null hypothesis, where U counts the pairs in which ``first``'s
    sample beats ``second``'s (is lower when ``lower``; a tie counts half)."""
    twice = 0  # 2U, so that ties stay whole
    for x in first:
        for y in second:
            twice += 2 if (x < y if lower else x > y) else (1 if x == y else 0)
    counts = _u_counts(len(first), len(second))
    at_least = sum(c for u, c in enumerate(counts) if 2 * u >= twice)
    return Fraction(at_least, math.comb(len(first) + len(second), len(first)))


@cache
def _u_counts(m: int, n: int) -> tuple[int, ...]:
    """How many of the C(m+n, m) orderings give U = 0, 1, ..., m*n (no ties)."""
    if m == 0 or n == 0:
        return (1,)
    # the largest of all m + n samples is either one of the first m (it beats all n)
    # or one of the second n (it beats none)
    top = _u_counts(m - 1, n)
    rest = _u_counts(m, n - 1)
    counts = [0] * (m * n + 1)
    for u, c in enumerate(top):
        counts[u + n] += c
    for u, c in enumerate(rest):
        counts[u] += c
    return tuple(counts)


def disagreement(test: str, worker: Mapping[str, Measure], rerun: Mapping[str, Measure]) -> str:
    """Why a clean re-run's measures do not confirm the worker's, or "".

    The same names and kinds, and each value the same number.  Timings are not
    compared here: two processes time differently (a test run alone in a batch and
    after the whole suite differed fivefold on a real library); the re-run's own
    timings must instead confirm the decision (:meth:`Optimization._rerun`).
    """
    if set(worker) != set(rerun):
        return (
            f"{test} measured {sorted(worker)} under genopt's worker, {sorted(rerun)} on the re-run"
        )
    for name in sorted(worker):
        first, second = worker[name], rerun[name]
        if first.kind != second.kind or first.better != second.better:
            return f"{test}'s measure {name!r} changed kind on the re-run"
        if first.kind == "value" and first.samples != second.samples:
            return (
                f"{test}'s measure {name!r} was {first.median:g} under genopt's worker, "
                f"{second.median:g} on the re-run"
            )
    return ""
