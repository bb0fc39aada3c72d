"""Accepting a candidate: pure decisions over trial values, in exact arithmetic.

A decision has two stages (DESIGN.md, "Objective"): :meth:`AcceptancePolicy.screen`
looks at the minibatch only, so that a candidate that cannot win costs only its
batch run; :meth:`AcceptancePolicy.decide` looks at the full non-holdout set and
is asked only when the screen held.  Both are pure functions of the current
best's :class:`Standing`, the candidate's, the batch and the settings.

"Strictly higher" and "at least" are decided on exact sums: every float is a
dyadic rational, so the values are scaled to one common power-of-two
denominator and summed as integers.  Float summation depends on the order of
the terms and once called an exact tie 1e-16 higher.

Built in: ``strict`` (the contract as written) and ``paired`` (the contract,
plus an exact one-sided sign test over the per-test differences).  Other
names come from plugins through the ``pytest_genopt_acceptance`` hook.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    import pytest

    from pytest_genopt.evidence import Trial
    from pytest_genopt.measures import Measure

#: significance level of the paired policy's sign test
PAIRED_ALPHA = Fraction(1, 20)

#: names accepted besides those a plugin provides (kept in sync with BUILTIN below)
ACCEPTED = "strict, paired, or a name a plugin provides through pytest_genopt_acceptance"


@dataclass(frozen=True)
class Standing:
    """One version's results on some tests: each counted test's value, and which passed.

    Skipped tests have no value in the objective and are absent from ``values``.
    """

    values: Mapping[str, float]
    passed: frozenset[str] = frozenset()
    #: the raw measures of the tests that measured something (``genopt.measure``)
    measures: Mapping[str, Mapping[str, Measure]] = field(default_factory=dict)

    @classmethod
    def of(cls, trials: Iterable[Trial]) -> Standing:
        trials = list(trials)
        return cls(
            {t.test: t.value for t in trials if t.counted},
            frozenset(t.test for t in trials if t.outcome == "passed"),
            {t.test: t.measures for t in trials if t.counted and t.measures},
        )

    def on(self, tests: Iterable[str]) -> Standing:
        """This standing restricted to ``tests``."""
        keep = set(tests)
        return Standing(
            {t: v for t, v in self.values.items() if t in keep},
            self.passed & frozenset(keep),
            {t: m for t, m in self.measures.items() if t in keep},
        )


@dataclass(frozen=True)
class Verdict:
    """A stage's decision and its reason (one line, shown to the optimizer and the user)."""

    accepted: bool
    reason: str


@runtime_checkable
class AcceptancePolicy(Protocol):
    """Decides whether a candidate replaces the current best.

    ``screen`` sees the minibatch only; ``decide`` the full non-holdout set
    and is called only when ``screen`` accepted.  Both must be pure: the same
    standings, batch and flag give the same verdict whatever the order of
    the tests.
    """

    @property
    def name(self) -> str: ...

    def screen(self, best: Standing, candidate: Standing, batch: Sequence[str]) -> Verdict: ...

    def decide(
        self,
        best: Standing,
        candidate: Standing,
        batch: Sequence[str],
        *,
        allow_regressions: bool,
    ) -> Verdict: ...


# ------------------------------------------------------------------ arithmetic


def exact_sum(values: Iterable[float]) -> Fraction:
    """The exact sum of finite floats (integers over one power-of-two denominator)."""
    ratios = [v.as_integer_ratio() for v in values]
    if not ratios:
        return Fraction(0)
    common = max(d for _, d in ratios)  # each denominator is a power of two
    return Fraction(sum(n * (common // d) for n, d in ratios), common)


def exact_mean(values: Iterable[float]) -> Fraction:
    """The exact mean of finite floats; 0 when there are none (as the loop always counted)."""
    values = list(values)
    return exact_sum(values) / len(values) if values else Fraction(0)


def objective(standing: Standing, tests: Iterable[str] | None = None) -> Fraction:
    """The exact objective of ``standing`` (on ``tests`` only, when given)."""
    if tests is None:
        return exact_mean(standing.values.values())
    return exact_mean(standing.values[t] for t in set(tests) if t in standing.values)


def objective_value(standing: Standing) -> float:
    """The objective as a float to record: the exact mean correctly rounded.

    A value that is not finite (only a forged result has one) makes it nan or
    infinite, as float arithmetic would.
    """
    values = list(standing.values.values())
    if all(math.isfinite(v) for v in values):
        return float(exact_mean(values))
    return sum(values) / len(values)


def rank(standing: Standing) -> tuple[bool, Fraction]:
    """A key ordering standings by exact objective; one with a non-finite value ranks last."""
    if nonfinite(standing):
        return False, Fraction(0)
    return True, objective(standing)


def nonfinite(*standings: Standing) -> str:
    """A reason naming the first test with a value that is not a finite number, or ""."""
    for standing in standings:
        for test in sorted(standing.values):
            if not math.isfinite(standing.values[test]):
                return f"test {test} has a value that is not a finite number"
    return ""


def regressions(best: Standing, candidate: Standing) -> list[str]:
    """Tests that passed in ``best`` and fail or error in ``candidate`` (sorted)."""
    return sorted(t for t in best.passed if t in candidate.values and t not in candidate.passed)


def shown(value: Fraction) -> str:
    """An objective as reasons show it: four decimals."""
    return f"{float(value):.4f}"


def unshown(one: Fraction, other: Fraction) -> str:
    """ " (a difference of D)" when two objectives differ by less than :func:`shown` shows,
    else "": scores such as 23/42 are rounded floats, so two sets of them with the same
    mean can differ in the 17th decimal, which decides "below" and "above" all the same."""
    if one == other or shown(one) != shown(other):
        return ""
    return f" (a difference of {float(abs(one - other)):.2g})"


def moved(before: Fraction, after: Fraction) -> str:
    """ "A -> B", with the difference when the decimals shown hide it."""
    return f"{shown(before)} -> {shown(after)}{unshown(before, after)}"


def breaks(broken: Sequence[str]) -> str:
    """The one-line reason for broken tests: the first three by name, then a count."""
    names = ", ".join(broken[:3]) + (f" and {len(broken) - 3} more" if len(broken) > 3 else "")
    return f"breaks {len(broken)} passing test(s): {names}"


def sign_test(improved: int, worsened: int) -> Fraction:
    """Exact one-sided sign test: P(X >= improved) for X ~ Binomial(improved + worsened, 1/2).

    Ties (unchanged tests) are left out before calling, as the test prescribes.
    """
    if improved < 0 or worsened < 0:
        raise ValueError(f"sign_test: counts must be >= 0, not {improved}, {worsened}")
    n = improved + worsened
    return Fraction(sum(math.comb(n, j) for j in range(improved, n + 1)), 2**n)


def fewest_improved(changed: int, alpha: Fraction = PAIRED_ALPHA) -> int | None:
    """How many of ``changed`` tests must improve to pass the sign test (None: it cannot)."""
    for improved in range(changed + 1):
        if sign_test(improved, changed - improved) <= alpha:
            return improved
    return None


# -------------------------------------------------------------------- policies


@dataclass(frozen=True)
class StrictPolicy:
    """The contract as written: batch strictly higher; full set at least as good, no regressions."""

    name: str = "strict"

    def screen(self, best: Standing, candidate: Standing, batch: Sequence[str]) -> Verdict:
        problem = nonfinite(best.on(batch), candidate.on(batch))
        if problem:
            return Verdict(False, problem)
        before, after = objective(best, batch), objective(candidate, batch)
        if after > before:
            return Verdict(True, f"batch objective {moved(before, after)}")
        return Verdict(
            False,
            f"batch objective {shown(after)} is not above {shown(before)}{unshown(before, after)}",
        )

    def decide(
        self,
        best: Standing,
        candidate: Standing,
        batch: Sequence[str],
        *,
        allow_regressions: bool,
    ) -> Verdict:
        problem = nonfinite(best, candidate)
        if problem:
            return Verdict(False, problem)
        old, new = objective(best), objective(candidate)
        if new < old:
            return Verdict(
                False, f"objective {shown(new)} is below the best {shown(old)}{unshown(old, new)}"
            )
        broken = regressions(best, candidate)
        if broken and not allow_regressions:
            return Verdict(False, breaks(broken))
        before, after = objective(best, batch), objective(candidate, batch)
        return Verdict(True, f"objective {moved(old, new)}, batch {moved(before, after)}")


@dataclass(frozen=True)
class PairedPolicy(StrictPolicy):
    """Strict, plus significance: per-test differences pass an exact one-sided sign test.

    Meant for noisy objectives (game episodes, sampled data), where a higher
    mean on one batch is often the luck of the draw.  The screen is strict's:
    a candidate whose batch is not higher costs only its batch run.
    """

    name: str = "paired"
    alpha: Fraction = PAIRED_ALPHA

    def decide(
        self,
        best: Standing,
        candidate: Standing,
        batch: Sequence[str],
        *,
        allow_regressions: bool,
    ) -> Verdict:
        strict = super().decide(best, candidate, batch, allow_regressions=allow_regressions)
        if not strict.accepted:
            return strict
        counts = paired_counts(best, candidate, self.alpha)
        p = sign_test(counts.improved, counts.worsened)
        changed = counts.improved + counts.worsened
        said = f"paired: {counts.improved} of {changed} changed test(s) improved"
        if p <= self.alpha:
            return Verdict(True, f"{strict.reason}; {said}, sign test p = {float(p):.4f}")
        if counts.measured_better and not counts.measured_worse and not counts.worsened:
            # one test's repeated timings are evidence enough on their own
            tests = ", ".join(counts.measured_better[:3])
            return Verdict(
                True, f"{strict.reason}; paired: measured significantly better in {tests}"
            )
        return Verdict(
            False,
            f"{said}; sign test p = {float(p):.4f} is above {float(self.alpha):g}"
            + ("" if not counts.measured_noise else f"; {counts.noise_note()}"),
        )


@dataclass(frozen=True)
class PairedCounts:
    """The per-test changes the paired policy weighs."""

    improved: int
    worsened: int
    #: tests whose measures changed significantly, for the better or the worse
    measured_better: list[str]
    measured_worse: list[str]
    #: tests whose value moved only within their measures' noise (counted as ties)
    measured_noise: list[str]

    def noise_note(self) -> str:
        names = ", ".join(self.measured_noise[:3])
        return f"measured changes within noise in {names}"


def paired_counts(
    best: Standing, candidate: Standing, alpha: Fraction = PAIRED_ALPHA
) -> PairedCounts:
    """How many tests valued on both sides got better and how many worse (exactly).

    A test that measured something changes only when its measures do significantly
    (:func:`pytest_genopt.measures.timing_change`); otherwise it counts as a tie.
    """
    from pytest_genopt.measures import timing_change

    improved = worsened = 0
    better: list[str] = []
    worse: list[str] = []
    noise: list[str] = []
    for test in sorted(best.values.keys() & candidate.values.keys()):
        # two floats compare exactly; a difference of floats might not
        before, after = best.values[test], candidate.values[test]
        direction = (after > before) - (after < before)
        old, new = best.measures.get(test), candidate.measures.get(test)
        # a test that started or stopped passing changed for real, whatever it measured
        same_outcome = (test in best.passed) == (test in candidate.passed)
        if direction and old and new and same_outcome:
            changes = {timing_change(old[n], new[n], alpha) for n in old.keys() & new.keys()}
            if direction not in changes:
                noise.append(test)
                continue
            (better if direction > 0 else worse).append(test)
        improved += direction > 0
        worsened += direction < 0
    return PairedCounts(improved, worsened, better, worse, noise)


STRICT = StrictPolicy()
PAIRED = PairedPolicy()
BUILTIN: dict[str, AcceptancePolicy] = {STRICT.name: STRICT, PAIRED.name: PAIRED}


def accept(
    policy: AcceptancePolicy,
    best: Standing,
    candidate: Standing,
    batch: Sequence[str],
    *,
    allow_regressions: bool,
) -> Verdict:
    """Both stages as one function: ``decide`` only when ``screen`` held.

    The loop runs the stages apart (the full set is evaluated only after the
    screen); this is the same decision in one call.
    """
    screened = policy.screen(best.on(batch), candidate.on(batch), batch)
    if not screened.accepted:
        return screened
    return policy.decide(best, candidate, batch, allow_regressions=allow_regressions)


def policy_named(config: pytest.Config, name: str, where: str) -> AcceptancePolicy:
    """The built-in policy ``name``, or the one a plugin provides; pytest.UsageError if none.

    ``where`` names the option or ini key the name came from.
    """
    import pytest

    if name in BUILTIN:
        return BUILTIN[name]
    policy = config.hook.pytest_genopt_acceptance(config=config, name=name)
    if policy is None:
        raise pytest.UsageError(f"{where}: unknown policy {name!r}; expected {ACCEPTED}")
    if not isinstance(policy, AcceptancePolicy):
        raise pytest.UsageError(
            f"{where}: the policy a plugin made for {name!r} is a {type(policy).__name__}, "
            "not an AcceptancePolicy (name, screen, decide)"
        )
    return policy
