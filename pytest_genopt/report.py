"""What a run tells people: report.json (a contract), report.md and terminal lines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_genopt.backends import Usage
    from pytest_genopt.evidence import Trial
    from pytest_genopt.protocol import Decision

REPORT_VERSION = 1


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

    def to_json(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "decision": self.decision,
            "reason": self.reason,
            "rationale": self.rationale,
            "edits": self.edits,
            "batch_objective": self.batch_objective,
            "objective": self.objective,
            "commit": self.commit,
        }


@dataclass
class IterationRecord:
    """One iteration as the report shows it."""

    iteration: int
    decision: str
    reason: str
    seconds: float
    batch_objective: float | None = None
    objective: float | None = None
    batch: list[str] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)

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
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IterationRecord:
        return cls(
            iteration=int(data["iteration"]),
            decision=str(data["decision"]),
            reason=str(data.get("reason", "")),
            seconds=float(data.get("seconds", 0.0)),
            batch_objective=data.get("batch_objective"),
            objective=data.get("objective"),
            batch=list(data.get("batch", [])),
            attempts=[
                Attempt(**{k: v for k, v in a.items() if k in Attempt.__dataclass_fields__})
                for a in data.get("attempts", [])
            ],
        )


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
    from pytest_genopt.evidence import objective

    return objective([t for t in trials.values() if t.holdout])


def build_report(
    *,
    run: str,
    branch: str,
    backend: str,
    settings: dict[str, Any],
    baseline: dict[str, Any],
    best: dict[str, Any],
    holdout: dict[str, float | None],
    iterations: list[IterationRecord],
    usage: Usage,
    stopped: str,
    base: str,
) -> dict[str, Any]:
    """The report.json document (its top-level fields are a contract)."""
    return {
        "report": REPORT_VERSION,
        "run": run,
        "branch": branch,
        "backend": backend,
        "settings": settings,
        "base": base,
        "baseline": baseline,
        "best": best,
        "holdout": holdout,
        "iterations": [i.to_json() for i in iterations],
        "usage": usage.to_json(),
        "stopped": stopped,
    }


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def render_markdown(report: dict[str, Any], diffs: dict[str, str]) -> str:
    """A human summary fit for a pull-request body."""
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
    holdout = report["holdout"]
    if holdout["baseline"] is not None:
        lines += [f"Holdout: {_fmt(holdout['baseline'])} → {_fmt(holdout['best'])}.", ""]
    s = report["settings"]
    lines += [
        f"Settings: horizon {s['horizon'] if s['horizon'] is not None else 'all'}, "
        f"batch size {s['batch_size']}, candidates {s['candidates']}, seed {s['seed']}. "
        f"Stopped: {report['stopped']}.",
        "",
        "| iteration | decision | batch objective | objective | seconds | reason |",
        "|---:|---|---:|---:|---:|---|",
    ]
    for it in report["iterations"]:
        reason = it["reason"].replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| {it['iteration']} | {it['decision']} | {_fmt(it['batch_objective'])} | "
            f"{_fmt(it['objective'])} | {it['seconds']:.1f} | {reason} |"
        )
    accepted = [
        (it, a) for it in report["iterations"] for a in it["attempts"] if a["commit"] is not None
    ]
    lines += ["", f"## Accepted edits ({len(accepted)})", ""]
    for it, attempt in accepted:
        lines += [
            f"### Iteration {it['iteration']}: commit {attempt['commit'][:12]}",
            "",
            attempt["rationale"] or "(no rationale given)",
            "",
            "```diff",
            diffs.get(attempt["commit"], "").rstrip("\n"),
            "```",
            "",
        ]
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
    return "\n".join(lines)


def iteration_line(record: IterationRecord, best_before: float | None) -> str:
    """One progress / summary line for an iteration."""
    objective = (
        f"objective {_fmt(best_before)} -> {_fmt(record.objective)}"
        if record.decision == "accepted"
        else f"objective {_fmt(record.objective)}"
    )
    return (
        f"genopt: iteration {record.iteration}: {record.decision:<8} {objective}, "
        f"batch {_fmt(record.batch_objective)}, {record.seconds:.1f} s: {record.reason}"
    )
