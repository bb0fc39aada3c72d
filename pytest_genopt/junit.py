"""Read the outcomes of a re-run from pytest's own ``--junitxml`` report.

The clean re-run before a commit (see :mod:`pytest_genopt.integrity`) takes its
outcomes from pytest's junit reporter, not from genopt's result channel.  This
module is the one reader of that file.  A test case is matched to a node id the
way pytest names it: the node id's path, dotted and without ``.py``, plus its
classes make ``classname``; its last part (with parameters) is ``name``.  A
test's score travels as the ``genopt_score`` property, its task-model usage as
``genopt_usage`` (JSON).
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from pytest_genopt.evidence import Trial, TrialOutcome
from pytest_genopt.measures import Measure, measures_from
from pytest_genopt.task_usage import clean

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from pytest_genopt.task_usage import TaskUsage

__all__ = ["JunitError", "junit_key", "read_junit"]

#: a report larger than this is not read (a candidate may write there)
MAX_BYTES = 64 * 2**20
SCORE_PROPERTY = "genopt_score"
USAGE_PROPERTY = "genopt_usage"
MEASURES_PROPERTY = "genopt_measures"


class JunitError(Exception):
    """The report is missing, too large or not junit XML (one line)."""


def junit_key(nodeid: str) -> tuple[str, str]:
    """(classname, name) of ``nodeid`` in pytest's junit report."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def read_junit(path: Path, nodeids: Iterable[str]) -> dict[str, Trial]:
    """The Trials (outcome and score only) of ``nodeids`` found in the report at ``path``.

    A node id whose junit name is shared with another (they cannot be told
    apart) or that has no test case is left out.
    """
    wanted: dict[tuple[str, str], str | None] = {}
    for nodeid in nodeids:
        key = junit_key(nodeid)
        wanted[key] = None if key in wanted else nodeid
    try:
        if os.path.getsize(path) > MAX_BYTES:
            raise JunitError(f"the junit report is larger than {MAX_BYTES // 2**20} MiB")
        root = ET.parse(path).getroot()
    except OSError as exc:
        raise JunitError(f"no junit report: {exc.strerror or exc}") from None
    except ET.ParseError as exc:
        raise JunitError(f"the junit report is not XML: {exc}") from None
    found: dict[str, Trial] = {}
    for case in root.iter("testcase"):
        match = wanted.get((case.get("classname", ""), case.get("name", "")))
        if match is None:
            continue
        trial = _trial(match, case)
        earlier = found.get(match)
        # a test failing in its call and erring in teardown has two cases: worst wins
        if earlier is None or _RANK[trial.outcome] > _RANK[earlier.outcome]:
            found[match] = trial
    return found


_RANK: dict[str, int] = {"skipped": 0, "passed": 1, "failed": 2, "error": 3}


def _trial(nodeid: str, case: ET.Element) -> Trial:
    outcome: TrialOutcome = "passed"
    if case.find("error") is not None:
        outcome = "error"
    elif case.find("failure") is not None:
        outcome = "failed"
    elif case.find("skipped") is not None:
        outcome = "skipped"
    score = None
    usage: TaskUsage = {}
    measures: dict[str, Measure] = {}
    for prop in case.iter("property"):
        if prop.get("name") == SCORE_PROPERTY:
            try:
                score = float(prop.get("value", ""))
            except ValueError:
                score = None
        elif prop.get("name") == USAGE_PROPERTY:
            try:
                usage = clean(json.loads(prop.get("value", "")))
            except (ValueError, RecursionError):  # a candidate may have written it
                usage = {}
        elif prop.get("name") == MEASURES_PROPERTY:
            try:
                measures = measures_from(json.loads(prop.get("value", "")))
            except (ValueError, RecursionError):
                measures = {}
    return Trial(test=nodeid, outcome=outcome, score=score, usage=usage, measures=measures)
