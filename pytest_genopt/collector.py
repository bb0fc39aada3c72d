"""Turn pytest's test reports into Trials.

Two halves, because under pytest-xdist they run in different processes:

- :class:`TrialRecorder` runs where tests run (the session, an xdist worker,
  an evaluation subprocess).  It opens a :class:`~pytest_genopt.tracing.TestRecord`
  per test and attaches what it recorded to the reports as plain JSON
  (the ``genopt`` attribute), which pytest serializes with the report.
- :class:`TrialCollector` runs where reports arrive and folds the phases of
  each test into one :class:`~pytest_genopt.evidence.Trial`.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_genopt import tracing
from pytest_genopt.evidence import Trial, clip_head, clip_tail

if TYPE_CHECKING:
    from collections.abc import Generator, Sequence

    from _pytest._code.code import ExceptionInfo, TracebackEntry

REPORT_ATTRIBUTE = "genopt"
_MAX_FRAMES = 100

_HIDDEN_DIRS = tuple(
    str(Path(module.__file__).resolve().parent) + os.sep
    for module in (pytest, __import__("_pytest"), __import__("pluggy"), __import__("pytest_genopt"))
    if module.__file__
)


class PathNames:
    """Render file paths relative to rootdir so evidence is the same on any machine."""

    def __init__(self, rootdir: Path) -> None:
        self.rootdir = rootdir.resolve()
        self._cache: dict[str, str] = {}

    def __call__(self, filename: str | os.PathLike[str]) -> str:
        key = os.fspath(filename)
        name = self._cache.get(key)
        if name is None:
            name = self._cache[key] = self._relative(key)
        return name

    def _relative(self, filename: str) -> str:
        path = Path(filename)
        try:
            return path.resolve().relative_to(self.rootdir).as_posix()
        except (ValueError, OSError):
            pass
        parts = path.parts
        if "site-packages" in parts:
            return "<site-packages>/" + "/".join(parts[parts.index("site-packages") + 1 :])
        return path.name

    def scrub(self, text: str) -> str:
        """Replace the absolute rootdir in free text with nothing (paths become relative)."""
        root = str(self.rootdir) + os.sep
        return text.replace(root, "")

    def trainable_id(self, info: tracing.TrainableInfo) -> str:
        return f"{self(info.filename)}::{info.qualname}"


class TrialRecorder:
    """Records each test and attaches JSON evidence to its reports."""

    def __init__(self, rootdir: Path, horizon: int | None) -> None:
        self.names = PathNames(rootdir)
        self.horizon = horizon
        self._statements = Statements()
        self._markers: dict[str, dict[str, Any]] = {}

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # validate markers up front: a typo stops the run before any test runs
        for item in items:
            marker = item.get_closest_marker("genopt")
            if marker is not None:
                self._markers[item.nodeid] = _marker_fields(item.nodeid, marker)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, object, object]:
        tracing.begin_test(self.horizon)
        try:
            return (yield)
        finally:
            tracing.end_test()

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        data: dict[str, Any] = {}
        if report.failed and call.excinfo is not None:
            data["message"] = clip_head(self.names.scrub(call.excinfo.exconly()))
            data["traceback"] = self._frames(call.excinfo)
        if call.when == "teardown":
            data.update(self._record(item))
        if data:
            setattr(report, REPORT_ATTRIBUTE, data)
        return report

    def _record(self, item: pytest.Item) -> dict[str, Any]:
        data: dict[str, Any] = dict(self._markers.get(item.nodeid, {}))
        record = tracing.current()
        if record is not None:
            data["score"] = record.score
            data["feedback"] = list(record.feedback)
            data["trace"] = tracing.render_trace(record, self.names.trainable_id)
            data["called"] = sorted({self.names.trainable_id(c[1]) for c in record.calls})
        return data

    def _frames(self, excinfo: ExceptionInfo[BaseException]) -> list[str]:
        entries = [
            e for e in excinfo.traceback if not e.ishidden(excinfo) and not _hidden_path(e)
        ] or list(excinfo.traceback)[-1:]  # all in pytest's own code: where it raised
        return [self._frame(e) for e in entries[-_MAX_FRAMES:]]

    def _frame(self, entry: TracebackEntry) -> str:
        try:
            line = self._statements(entry).strip()
        except Exception:  # source can vanish (generated code, deleted files)
            line = ""
        head = f"{self.names(entry.path)}:{entry.lineno + 1} in {entry.name}"
        if not line:
            return head
        return f"{head}\n    " + "\n    ".join(line.splitlines()[:6])


class Statements:
    """The source of the statement around a frame's line, each file parsed once.

    pytest's ``TracebackEntry.statement`` parses the whole file again for
    every frame; with a few dozen failures that was most of an evaluation.
    """

    def __init__(self) -> None:
        self._spans: dict[str, list[tuple[int, int]]] = {}

    def __call__(self, entry: TracebackEntry) -> str:
        source = entry.frame.code.fullsource
        if source is None:
            return ""
        lines, lineno = source.lines, entry.lineno
        key = os.fspath(entry.path)
        spans = self._spans.get(key)
        if spans is None:
            spans = self._spans[key] = statement_spans("\n".join(lines))
        start, end = statement_at(spans, lines, lineno)
        return "\n".join(lines[start : end + 1])


def statement_spans(text: str) -> list[tuple[int, int]]:
    """(first, last) 0-based lines of every statement in ``text``; a compound
    statement spans its header only.  [] when ``text`` does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    spans = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.stmt, ast.excepthandler)):
            continue
        start, end = node.lineno - 1, (node.end_lineno or node.lineno) - 1
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            end = max(start, body[0].lineno - 2)
        spans.append((start, end))
    return spans


def statement_at(
    spans: list[tuple[int, int]], lines: Sequence[str], lineno: int
) -> tuple[int, int]:
    """The lines of the narrowest span holding ``lineno`` without the comments that end
    it (those between a header and its body); the line alone when no span holds it."""
    holding = [s for s in spans if s[0] <= lineno <= s[1]]
    if not holding:
        return lineno, lineno
    start, end = min(holding, key=lambda s: (s[1] - s[0], -s[0]))
    while end > start and lines[end].strip().startswith("#"):
        end -= 1
    return start, end


def _hidden_path(entry: TracebackEntry) -> bool:
    path = os.fspath(entry.path)
    return path.startswith(_HIDDEN_DIRS) or ("<" in path and ">" in path)


def _marker_fields(nodeid: str, marker: pytest.Mark) -> dict[str, Any]:
    """Validate ``@pytest.mark.genopt(...)`` and return its fields as JSON."""
    unknown = set(marker.kwargs) - {"trainables", "holdout", "files"}
    if marker.args or unknown:
        raise pytest.UsageError(
            f"{nodeid}: @pytest.mark.genopt takes keyword arguments trainables=, holdout=, "
            f"files=; got {', '.join(sorted(unknown)) or 'positional arguments'}"
        )
    fields: dict[str, Any] = {}
    holdout = marker.kwargs.get("holdout", False)
    if not isinstance(holdout, bool):
        raise pytest.UsageError(f"{nodeid}: genopt marker holdout= must be True or False")
    fields["holdout"] = holdout
    for key, dest in (("trainables", "linked"), ("files", "files")):
        value = marker.kwargs.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise pytest.UsageError(
                f"{nodeid}: genopt marker {key}= must be a list of strings, got {value!r}"
            )
        fields[dest] = [v.replace(os.sep, "/") for v in value]
    return fields


class TrialCollector:
    """Folds the setup/call/teardown reports of each test into one Trial."""

    def __init__(self, rootdir: Path) -> None:
        self.names = PathNames(rootdir)
        self.trials: dict[str, Trial] = {}
        self._phases: dict[str, list[pytest.TestReport]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._phases.setdefault(report.nodeid, []).append(report)
        if report.when == "teardown":
            trial = self._trial(self._phases.pop(report.nodeid))
            self.trials[trial.test] = trial

    def _trial(self, reports: list[pytest.TestReport]) -> Trial:
        outcome: str = "passed"
        message = ""
        frames: list[str] = []
        data: dict[str, Any] = {}
        for report in reports:
            extra = getattr(report, REPORT_ATTRIBUTE, None) or {}
            data.update({k: v for k, v in extra.items() if k not in ("message", "traceback")})
            if report.failed and outcome in ("passed", "skipped"):
                outcome = "failed" if report.when == "call" else "error"
                message = extra.get("message") or clip_head(report.longreprtext)
                frames = list(extra.get("traceback", ()))
            elif report.skipped and outcome == "passed":
                outcome = "skipped"
        last = reports[-1]
        output = last.capstdout + last.capstderr
        return Trial(
            test=last.nodeid,
            outcome=outcome,  # type: ignore[arg-type]
            score=data.get("score"),
            message=message,
            traceback=tuple(frames),
            trace=tuple(data.get("trace", ())),
            stdout=clip_tail(self.names.scrub(output)),
            feedback=tuple(data.get("feedback", ())),
            holdout=bool(data.get("holdout", False)),
            linked=tuple(data.get("linked", ())),
            called=tuple(data.get("called", ())),
            files=tuple(data.get("files", ())),
            duration=sum(r.duration for r in reports),
        )
