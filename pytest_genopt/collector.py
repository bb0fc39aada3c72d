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

import inspect
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_genopt import tracing
from pytest_genopt.evidence import DEFAULT_HOLDOUT_GROUP, Trial, clip_head, clip_tail
from pytest_genopt.frames import STDLIB_DIRS, Frames
from pytest_genopt.measures import measures_from, measures_json
from pytest_genopt.reach import Reach
from pytest_genopt.task_usage import clean

if TYPE_CHECKING:
    from collections.abc import Generator, Sequence

    from _pytest._code.code import ExceptionInfo

REPORT_ATTRIBUTE = "genopt"


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
        for directory in STDLIB_DIRS:
            if filename.startswith(directory):
                return filename[len(directory) :].replace(os.sep, "/")
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

    def __init__(self, rootdir: Path, horizon: int | None, regions: Sequence[str] = ()) -> None:
        self.names = PathNames(rootdir)
        self.horizon = horizon
        self.frames = Frames(self.names)
        self._markers: dict[str, dict[str, Any]] = {}
        self.reach = Reach([])
        self._active = False  # whether this recorder started the process's run
        self.watch(rootdir, regions)

    def watch(self, rootdir: Path, regions: Sequence[str]) -> None:
        """Record which functions of ``regions`` (rootdir-relative files) each test runs."""
        self.reach = Reach([str(rootdir / path) for path in regions])

    def pytest_configure(self) -> None:
        # this process runs tests for a run: trainables record their calls from now on,
        # those imported already (initial conftests, -p plugins) included
        tracing.activate()
        self._active = True

    def pytest_unconfigure(self) -> None:
        if self._active:
            self._active = False
            tracing.deactivate()

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        # validate markers up front: a typo stops the run before any test runs
        for item in items:
            marker = item.get_closest_marker("genopt")
            if marker is not None:
                self._markers[item.nodeid] = _marker_fields(item.nodeid, marker)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, object, object]:
        tracing.begin_test(self.horizon)
        self.reach.start()
        try:
            return (yield)
        finally:
            self.reach.stop()
            tracing.end_test()

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        data: dict[str, Any] = {}
        if report.failed and call.excinfo is not None:
            data.update(self._failure(item, call.excinfo))
        if call.when == "teardown":
            data.update(self._record(item))
        if data:
            setattr(report, REPORT_ATTRIBUTE, data)
        return report

    def _record(self, item: pytest.Item) -> dict[str, Any]:
        data: dict[str, Any] = dict(self._markers.get(item.nodeid, {}))
        reached = [f"{self.names(path)}:{line}" for path, line in self.reach.lines()]
        if reached:
            data["reached"] = reached
        record = tracing.current()
        if record is not None:
            data["score"] = record.score
            data["feedback"] = list(record.feedback)
            data["trace"] = tracing.render_trace(record, self.names.trainable_id)
            data["called"] = sorted({self.names.trainable_id(c[1]) for c in record.calls})
            if record.usage:
                data["usage"] = record.usage
            if record.measures:
                data["measures"] = measures_json(record.measures)
                # how the test measures is worth reading even when it passes
                test = test_location(item)
                if test is not None:
                    data["measuring_source"] = self.frames.test_source(test, None)
        return data

    def _failure(self, item: pytest.Item, excinfo: ExceptionInfo[BaseException]) -> dict[str, Any]:
        test = test_location(item)
        data: dict[str, Any] = {
            "message": clip_head(self.names.scrub(excinfo.exconly())),
            "traceback": self.frames.render(excinfo, test),
        }
        if test is not None:
            data["test_source"] = self.frames.test_source(test, excinfo)
        return data


def test_location(item: pytest.Item) -> tuple[str, int] | None:
    """(file, 0-based first line) of the code of ``item``'s test function, if it has one."""
    function = getattr(item, "obj", None)
    function = getattr(function, "__func__", function)  # unittest: a bound method
    try:
        code = inspect.unwrap(function).__code__  # type: ignore[arg-type]
    except (AttributeError, ValueError, TypeError):
        return None
    return code.co_filename, code.co_firstlineno - 1


def _marker_fields(nodeid: str, marker: pytest.Mark) -> dict[str, Any]:
    """Validate ``@pytest.mark.genopt(...)`` and return its fields as JSON."""
    unknown = set(marker.kwargs) - {"trainables", "holdout", "files"}
    if marker.args or unknown:
        raise pytest.UsageError(
            f"{nodeid}: @pytest.mark.genopt takes keyword arguments trainables=, holdout=, "
            f"files=; got {', '.join(sorted(unknown)) or 'positional arguments'}"
        )
    fields: dict[str, Any] = {}
    fields.update(_holdout_fields(nodeid, marker.kwargs.get("holdout", False)))
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


def _holdout_fields(nodeid: str, holdout: object) -> dict[str, Any]:
    """``holdout=True`` is the group "holdout"; a non-empty string names the group."""
    if isinstance(holdout, bool):
        return {"holdout": holdout, "holdout_group": DEFAULT_HOLDOUT_GROUP if holdout else ""}
    if isinstance(holdout, str) and holdout.strip():
        return {"holdout": True, "holdout_group": holdout.strip()}
    got = repr(holdout) if isinstance(holdout, str) else type(holdout).__name__
    raise pytest.UsageError(
        f"{nodeid}: genopt marker holdout= must be True, False or a non-empty group name, got {got}"
    )


_FAILURE_KEYS = ("message", "traceback", "test_source")


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
        message = test_source = ""
        frames: list[str] = []
        data: dict[str, Any] = {}
        for report in reports:
            extra = getattr(report, REPORT_ATTRIBUTE, None) or {}
            data.update({k: v for k, v in extra.items() if k not in _FAILURE_KEYS})
            if report.failed and outcome in ("passed", "skipped"):
                outcome = "failed" if report.when == "call" else "error"
                message = extra.get("message") or clip_head(report.longreprtext)
                frames = list(extra.get("traceback", ()))
                test_source = str(extra.get("test_source", ""))
            elif report.skipped and outcome == "passed":
                outcome = "skipped"
        last = reports[-1]
        output = last.capstdout + last.capstderr
        test_source = test_source or str(data.get("measuring_source", ""))
        return Trial(
            test=last.nodeid,
            outcome=outcome,  # type: ignore[arg-type]
            score=data.get("score"),
            message=message,
            traceback=tuple(frames),
            test_source=test_source,
            trace=tuple(data.get("trace", ())),
            stdout=clip_tail(self.names.scrub(output)),
            feedback=tuple(data.get("feedback", ())),
            holdout=bool(data.get("holdout", False)),
            holdout_group=str(data.get("holdout_group", "")),
            linked=tuple(data.get("linked", ())),
            called=tuple(data.get("called", ())),
            files=tuple(data.get("files", ())),
            reached=tuple(data.get("reached", ())),
            duration=sum(r.duration for r in reports),
            usage=clean(data.get("usage")),
            measures=measures_from(data.get("measures")),
        )
