"""What a run tells people: report.json (a contract), report.md and terminal lines."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_genopt.task_usage import describe

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_genopt.evidence import Trial
    from pytest_genopt.state import IterationRecord, RunState

REPORT_VERSION = 1

#: the learning-curve picture next to report.md
CURVE_FILE = "curve.svg"


def summary_of(trials: dict[str, Trial]) -> dict[str, Any]:
    """objective / passed / failed of the non-holdout trials."""
    from pytest_genopt.evidence import objective

    counted = [t for t in trials.values() if t.counted and not t.holdout]
    value = objective(counted)
    return {
        "objective": value if value is not None else 0.0,
        "passed": sum(t.outcome == "passed" for t in counted),
        "failed": sum(t.outcome != "passed" for t in counted),
    }


def holdout_objective(trials: dict[str, Trial]) -> float | None:
    """The objective over all holdout trials (None when there are none that count)."""
    from pytest_genopt.evidence import objective

    return objective([t for t in trials.values() if t.holdout])


def holdout_groups(trials: dict[str, Trial]) -> dict[str, float | None]:
    """The objective of each holdout group's trials, groups sorted by name."""
    from pytest_genopt.evidence import objective

    groups = sorted({t.group for t in trials.values() if t.holdout})
    return {g: objective([t for t in trials.values() if t.group == g]) for g in groups}


def holdout_report(state: RunState) -> dict[str, Any]:
    """report.json's ``holdout``: overall and per group, at the start and for the best."""
    start = state.start
    baseline = start.holdout_groups if start is not None else {}
    best = state.holdout_best_groups
    return {
        "baseline": start.holdout_baseline if start is not None else None,
        "best": state.holdout_best,
        "groups": {
            g: {"baseline": baseline.get(g), "best": best.get(g)}
            for g in sorted({*baseline, *best})
        },
    }


def measures_report(state: RunState) -> dict[str, Any]:
    """report.json's ``measures``: each measured objective's level at the start and for
    the best (test -> name -> level); empty when no test measured anything."""
    start = state.start
    baseline = start.measures if start is not None else {}
    best = baseline
    for record in state.records:
        for attempt in record.attempts:
            if attempt.commit is not None and attempt.measures:
                best = attempt.measures
    return {"baseline": baseline, "best": best} if baseline else {}


def build_report(state: RunState) -> dict[str, Any]:
    """The report.json document of a run's state (its top-level fields are a contract)."""
    start = state.start
    if start is None:
        raise ValueError("a run without a start event has no report")
    commits = state.accepted_commits
    return {
        "report": REPORT_VERSION,
        "run": start.run,
        "branch": start.branch,
        "backend": state.backend,
        "settings": state.settings,
        "base": start.base,
        "baseline": start.baseline,
        "best": {**start.baseline, **state.best, "commit": commits[-1] if commits else None},
        "holdout": holdout_report(state),
        "measures": measures_report(state),
        "flaky": list(start.flaky),
        "iterations": [i.to_json() for i in state.records],
        "usage": state.usage.to_json(),
        "task_usage": state.task_usage,
        "stopped": state.stopped,
    }


def summary_lines(state: RunState) -> list[str]:
    """The terminal summary of a run: one line per iteration, then the outcome."""
    report = build_report(state)
    best_before: float | None = report["baseline"].get("objective")
    lines = []
    for record in state.records:
        lines.append(iteration_line(record, best_before))
        if record.decision == "accepted":
            best_before = record.objective
    accepted = sum(r.decision == "accepted" for r in state.records)
    lines.append(
        f"genopt: run {report['run']}: objective "
        f"{_fmt(report['baseline'].get('objective'))} -> {_fmt(report['best']['objective'])} "
        f"in {len(state.records)} iteration(s), {accepted} accepted; stopped: {state.stopped}"
    )
    if report["flaky"]:
        lines.append(
            f"genopt: left out as flaky (they changed between two runs of the start): "
            f"{', '.join(report['flaky'])}"
        )
    return lines


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def write_markdown(directory: Path, report: dict[str, Any], diffs: dict[str, str]) -> None:
    """Write report.md, and the learning curve it embeds, into the run's ``directory``.

    The picture never fails the run: when drawing fails, report.md says so in one
    line instead. Raises OSError when report.md cannot be written.
    """
    from pytest_genopt.journal import write_text_atomic

    curve = draw_curve(directory / CURVE_FILE, report)
    write_text_atomic(directory / "report.md", render_markdown(report, diffs, curve))


def draw_curve(path: Path, report: dict[str, Any]) -> str:
    """Draw the run's learning curve at ``path``; the markdown line that shows it, or
    the one line that says why there is none (a stale picture is removed then)."""
    from pytest_genopt.backends.python import describe_exception
    from pytest_genopt.curve import write_curve

    try:
        write_curve(report, path)
    except Exception as exc:  # a picture must never fail or lose a run
        line = f"No learning curve: drawing it failed: {describe_exception(exc)}."
    else:
        return f"![learning curve]({path.name})"
    # e.g. a directory in its place: the line says there is no picture
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)
    return line


@dataclass(frozen=True)
class AcceptedEdit:
    """One accepted iteration: its commit, rationale and the objective before and after."""

    iteration: int
    commit: str
    rationale: str
    before: float | None
    after: float | None
    #: each measured objective it moved: "name of test: level A -> B"
    measured: tuple[str, ...] = ()


def accepted_edits(report: dict[str, Any]) -> list[AcceptedEdit]:
    """The run's accepted edits in order, each with the objective it raised."""
    best = report["baseline"].get("objective")
    levels = (report.get("measures") or {}).get("baseline", {})
    found = []
    for iteration in report["iterations"]:
        for attempt in iteration["attempts"]:
            if attempt.get("commit"):
                after = attempt.get("measures") or {}
                found.append(
                    AcceptedEdit(
                        iteration["iteration"],
                        attempt["commit"],
                        attempt.get("rationale") or "",
                        best,
                        iteration.get("objective"),
                        _moved_levels(levels, after),
                    )
                )
                best = iteration.get("objective")
                levels = after or levels
    return found


def _moved_levels(before: dict[str, Any], after: dict[str, Any]) -> tuple[str, ...]:
    return tuple(
        f"{name} of {test}: level {before[test][name]:.4g} -> {level:.4g}"
        for test, names in sorted(after.items())
        for name, level in sorted(names.items())
        if name in before.get(test, {})
    )


def _measure_lines(measures: dict[str, Any]) -> list[str]:
    """The measured objectives' table: each level at the start and for the best."""
    if not measures:
        return []
    lines = [
        "## Measured objectives",
        "",
        "Levels, each judged as a ratio to the start's: a value's median, or a timing's "
        "median in units of a reference loop timed alongside (lower is better for both "
        "unless the test says otherwise).",
        "",
        "| test | measure | start | best | best / start |",
        "|---|---|---:|---:|---:|",
    ]
    for test, names in sorted(measures["baseline"].items()):
        for name, start in sorted(names.items()):
            best = measures["best"].get(test, {}).get(name)
            ratio = f"{best / start:.3g}" if best else "n/a"
            shown = f"{best:.4g}" if best else "n/a"
            lines.append(f"| `{test}` | {name} | {start:.4g} | {shown} | {ratio} |")
    return [*lines, ""]


def render_markdown(report: dict[str, Any], diffs: dict[str, str], curve: str = "") -> str:
    """A human summary fit for a pull-request body; ``curve`` is the learning curve's
    markdown line, shown above the iteration table."""
    baseline, best = report["baseline"], report["best"]
    lines = [
        f"# genopt run {report['run']}",
        "",
        f"Objective **{_fmt(baseline['objective'])} → {_fmt(best['objective'])}** "
        f"(passing tests {baseline['passed']} → {best['passed']} of "
        f"{baseline['passed'] + baseline['failed']}), backend `{report['backend']}`, "
        f"branch `{report['branch']}`.",
        "",
    ]
    lines += _holdout_lines(report["holdout"])
    if report["flaky"]:
        flaky = ", ".join(f"`{t}`" for t in report["flaky"])
        lines += [f"Left out as flaky (their outcome changed between two runs of the "
                  f"start): {flaky}.", ""]  # fmt: skip
    s = report["settings"]
    lines += [
        f"Settings: horizon {s['horizon'] if s['horizon'] is not None else 'all'}, "
        f"batch size {s['batch_size']}, candidates {s['candidates']}, seed {s['seed']}. "
        f"Stopped: {report['stopped']}.",
        "",
        *(_goal_lines(s.get("instructions") or "")),
        *([curve, ""] if curve else []),
        *_iteration_table(report["iterations"]),
    ]
    lines += _measure_lines(report.get("measures") or {})
    lines += _accepted_lines(report, diffs)
    rejected = [
        (it, a) for it in report["iterations"] for a in it["attempts"] if a["commit"] is None
    ]
    if rejected:
        lines += [f"## Rejected attempts ({len(rejected)})", ""]
        for it, attempt in rejected:
            lines.append(
                f"- iteration {it['iteration']}: {attempt['decision']}: {attempt['reason']}"
            )
        lines.append("")
    usage = report["usage"]
    lines += [
        "## Usage",
        "",
        f"{usage['input_tokens']} input tokens, {usage['output_tokens']} output tokens, "
        f"{usage['cache_read_input_tokens']} cache-read and "
        f"{usage['cache_creation_input_tokens']} cache-write tokens; "
        f"cost ${usage['cost_usd']:.4f}.",
        "",
    ]
    for model, counters in report.get("task_usage", {}).items():
        lines += [describe(model, counters) + ".", ""]
    return "\n".join(lines)


def _accepted_lines(report: dict[str, Any], diffs: dict[str, str]) -> list[str]:
    """report.md's accepted edits: each with its objective change, rationale and diff."""
    accepted = accepted_edits(report)
    lines = ["", f"## Accepted edits ({len(accepted)})", ""]
    for edit in accepted:
        lines += [
            f"### Iteration {edit.iteration}: commit {edit.commit[:12]}, objective "
            f"{_objective(edit.before)} -> {_objective(edit.after)}",
            "",
            *(f"- {line}" for line in edit.measured),
            *([""] if edit.measured else []),
            edit.rationale or "(no rationale given)",
            "",
            "```diff",
            diffs.get(edit.commit, "").rstrip("\n"),
            "```",
            "",
        ]
    return lines


def _objective(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _goal_lines(goal: str) -> list[str]:
    """The user's goal (--genopt-instructions) as a quote, or nothing."""
    if not goal:
        return []
    return [
        "The goal, as given to the optimizer:",
        "",
        *(f"> {line}" for line in goal.split("\n")),
        "",
    ]


def _holdout_lines(holdout: dict[str, Any]) -> list[str]:
    if holdout["baseline"] is None:
        return []
    lines = [f"Holdout: {_fmt(holdout['baseline'])} → {_fmt(holdout['best'])}."]
    groups = holdout.get("groups", {})
    for group, values in groups.items():
        lines.append(f"- holdout `{group}`: {_fmt(values['baseline'])} → {_fmt(values['best'])}")
    return [*lines, ""]


def _iteration_table(iterations: list[dict[str, Any]]) -> list[str]:
    """The iterations as a table; a holdout column when any iteration evaluated it."""
    holdout = any(it.get("holdout") is not None for it in iterations)
    extra = (" holdout |", "---:|") if holdout else ("", "")
    lines = [
        f"| iteration | decision | batch objective | objective |{extra[0]} seconds | reason |",
        f"|---:|---|---:|---:|{extra[1]}---:|---|",
    ]
    for it in iterations:
        reason = it["reason"].replace("|", "\\|").replace("\n", " ")
        cell = f" {_holdout_cell(it.get('holdout'))} |" if holdout else ""
        lines.append(
            f"| {it['iteration']} | {it['decision']} | {_fmt(it['batch_objective'])} | "
            f"{_fmt(it['objective'])} |{cell} {it['seconds']:.1f} | {reason} |"
        )
    return lines


def _holdout_cell(holdout: dict[str, Any] | None) -> str:
    if holdout is None:
        return ""
    groups = ", ".join(f"{g} {_fmt(v)}" for g, v in holdout["groups"].items())
    text = _fmt(holdout["objective"]) + (f" ({groups})" if len(holdout["groups"]) > 1 else "")
    return text + (" (same best)" if holdout["reused"] else "")


def iteration_line(record: IterationRecord, best_before: float | None) -> str:
    """One progress / summary line for an iteration."""
    objective = (
        f"objective {_fmt(best_before)} -> {_fmt(record.objective)}"
        if record.decision == "accepted"
        else f"objective {_fmt(record.objective)}"
    )
    holdout = f", holdout {_fmt(record.holdout['objective'])}" if record.holdout is not None else ""
    return (
        f"genopt: iteration {record.iteration}: {record.decision:<8} {objective}, "
        f"batch {_fmt(record.batch_objective)}{holdout}{cached_note(record)}, "
        f"{record.seconds:.1f} s: {record.reason}"
    )


def cached_note(record: IterationRecord) -> str:
    """``, cached (...)`` when the attempt the line tells of was not evaluated again."""
    lead = next((a for a in record.attempts if a.decision == record.decision), None)
    if lead is None or not lead.cached or not lead.reused:
        return ""
    first = lead.reused[0]
    if "best" in first:
        return f", cached (the current best, {str(first['best'])[:12]})"
    return f", cached (iteration {first.get('iteration')} candidate {first.get('candidate')})"
