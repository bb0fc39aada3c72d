"""GitHub Actions: the run's report in the job summary, its outcome as step outputs.

When the controller (never an xdist worker or a candidate evaluation)
finishes a run that began (its workspace was made), and ``GITHUB_STEP_SUMMARY``
names a file, the run's ``report.md`` is appended to it; when ``GITHUB_OUTPUT``
names a file, the lines of :meth:`RunOutcome.outputs` are appended.  Other tools
of the same step write to these files too, so they are only ever appended to.
A file that cannot be written costs one warning line, never the run: the report
stays in the run's folder and the branch is as it was.

The runner's file-command variables (:data:`FILE_COMMANDS`) are also what a
candidate evaluation must not inherit: a candidate writing there would speak
for the job (:func:`pytest_genopt.evaluate.candidate_environment` drops them).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pytest_genopt.loop import Optimization

SUMMARY = "GITHUB_STEP_SUMMARY"
OUTPUT = "GITHUB_OUTPUT"
#: files through which a step talks to the runner: never handed to candidates
FILE_COMMANDS = (SUMMARY, OUTPUT, "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STATE")
#: the runner refuses a step's summary over 1 MiB (everything the step appended)
SUMMARY_LIMIT = 1024 * 1024
_FENCE = "\n```"


@dataclass(frozen=True)
class RunOutcome:
    """What the job's next steps need to know about a run that began."""

    run: str
    branch: str
    #: objectives of the start and of the best commit; None when the run stopped
    #: before its baseline was recorded
    baseline: float | None
    objective: float | None
    accepted: int
    pushed: bool
    #: report.md, when the run wrote one
    report: Path | None
    stopped: str
    failed: bool

    def outputs(self) -> dict[str, str]:
        """The step outputs, as text (an unknown objective is the empty string)."""
        return {
            "run": self.run,
            "branch": self.branch,
            "baseline": _number(self.baseline),
            "objective": _number(self.objective),
            "accepted": str(self.accepted),
            "pushed": "true" if self.pushed else "false",
            "report": str(self.report) if self.report is not None else "",
            "stopped": self.stopped,
        }

    def markdown(self) -> str:
        """report.md, or a few lines saying why there is none."""
        if self.report is not None:
            try:
                return self.report.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                pass  # told below like a report that was never written
        how = "failed" if self.failed else "stopped"
        return (
            f"# genopt run {self.run}\n\n"
            f"The run {how} before it wrote a report: {self.stopped}\n\n"
            f"Branch `{self.branch}`, {self.accepted} accepted edit(s).\n"
        )


def outcome_of(optimization: Optimization, *, pushed: bool) -> RunOutcome:
    """The outcome of ``optimization`` as its events tell it (redacted where it is text)."""
    from pytest_genopt.redaction import redact_text
    from pytest_genopt.report import build_report

    state = optimization.state()
    baseline = objective = None
    if state.start is not None:
        report = build_report(state)
        baseline = report["baseline"].get("objective")
        objective = report["best"].get("objective")
    report_md = optimization.dir / "report.md"
    return RunOutcome(
        run=optimization.settings.run_id,
        branch=optimization.workspace.branch,
        baseline=baseline,
        objective=objective,
        accepted=len(state.accepted_commits),
        pushed=pushed,
        report=report_md.resolve() if state.start is not None and report_md.is_file() else None,
        stopped=redact_text(state.stopped or optimization.stopped, optimization.secrets),
        failed=optimization.failed,
    )


def publish(
    optimization: Optimization, *, pushed: bool, environ: Mapping[str, str] = os.environ
) -> list[str]:
    """Append the run's report and outputs to the files ``environ`` names (if any).

    Returns one warning line per file that could not be written.
    """
    summary, output = environ.get(SUMMARY, ""), environ.get(OUTPUT, "")
    if not summary and not output:
        return []
    outcome = outcome_of(optimization, pushed=pushed)
    warnings = []
    if summary:
        try:
            append_summary(Path(summary), outcome.markdown())
        except OSError as exc:
            warnings.append(_warning(SUMMARY, summary, exc))
    if output:
        try:
            _append(Path(output), "".join(output_line(k, v) for k, v in outcome.outputs().items()))
        except OSError as exc:
            warnings.append(_warning(OUTPUT, output, exc))
    return warnings


def append_summary(path: Path, markdown: str) -> None:
    """Append ``markdown`` to the job summary ``path``, clipped to what the runner accepts."""
    used = path.stat().st_size if path.is_file() else 0
    separator = "\n" if used and not _ends_with_newline(path) else ""
    _append(path, separator + clip(markdown, SUMMARY_LIMIT - used - len(separator)))


def clip(markdown: str, room: int) -> str:
    """``markdown`` if its UTF-8 fits in ``room`` bytes, else its start and a closing note."""
    data = markdown.encode("utf-8")
    if len(data) <= room:
        return markdown
    note = (
        f"\n\n*[genopt: the report is {len(data):,} bytes, more than the job summary holds; "
        "the whole report is report.md in the run's folder]*\n"
    )
    keep = room - len(note.encode("utf-8")) - len(_FENCE)
    if keep <= 0:
        return ""
    kept = data[:keep].decode("utf-8", "ignore")
    # cut inside a diff block, the note would be shown as part of the diff
    return kept + (_FENCE if kept.count("```") % 2 else "") + note


def output_line(name: str, value: str) -> str:
    """One step output in the runner's format: ``name=value``, or the heredoc form
    (a delimiter the value does not contain) for a value with a line break."""
    if "\n" not in value and "\r" not in value:
        return f"{name}={value}\n"
    delimiter = f"ghadelimiter_{uuid.uuid4()}"
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def _append(path: Path, text: str) -> None:
    # one write in append mode: never truncates what other tools wrote
    with open(path, "a", encoding="utf-8", newline="") as fh:
        fh.write(text)


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def _number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _warning(variable: str, path: str, exc: OSError) -> str:
    return f"genopt: warning: {variable}={path} not written: {exc.strerror or exc}"
