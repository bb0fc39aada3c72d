"""Was a candidate's evaluation honest?  The checks made outside the candidate's process.

Three checks stand between a candidate's results and a commit:

- :func:`tampering`: after each evaluation stage, every file of the candidate's tree
  is as the run's base left it, except the parameters the candidate edited, which
  hold exactly the proposed text (tests, ``conftest.py``, pytest's configuration,
  data: nothing is rewritten during an evaluation);
- the sentinel tests and the collected node ids (checked by
  :func:`pytest_genopt.evaluate.evaluate` from the worker's result);
- :func:`disagreement`: before a commit, a re-run in a fresh tree whose outcomes come
  from pytest's own ``--junitxml`` report must agree with the worker's.

Each gives a one-line reason the optimizer sees, or "" when all is well.  Paths the
unchanged start itself writes during its preflight evaluation are ``exempt``: they
are the tests' own output, not tampering.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_genopt import measures

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence
    from pathlib import Path

    from pytest_genopt.evidence import Trial
    from pytest_genopt.trees import Change

__all__ = ["RERUN_REASON", "differs", "disagreement", "tampering"]

RERUN_REASON = "results differ on a clean re-run"
#: changes named in a reason; the rest are counted
_SHOWN = 3


def tampering(
    changes: Sequence[Change],
    written: Mapping[str, str],
    directory: Path,
    exempt: Collection[str] = (),
) -> str:
    """Why the tree at ``directory`` shows tampering, or "".

    ``changes`` are the tree's differences from the base (rootdir-relative);
    ``written`` the candidate's edited files and their text.
    """
    found: list[str] = []
    for change in changes:
        if change.path in exempt:
            continue
        text = written.get(change.path)
        if text is not None and change.kind != "deleted" and _holds(directory / change.path, text):
            continue
        found.append(f"{change.kind} {change.path}")
    if not found:
        return ""
    more = f" (and {len(found) - _SHOWN} more)" if len(found) > _SHOWN else ""
    return ", ".join(found[:_SHOWN]) + more + " during evaluation"


def _holds(path: Path, text: str) -> bool:
    """Whether the file at ``path`` (not a link) holds exactly ``text`` as written."""
    try:
        return not path.is_symlink() and path.read_bytes() == text.encode("utf-8")
    except OSError:
        return False


def disagreement(
    worker: Mapping[str, Trial], rerun: Mapping[str, Trial], nodeids: Sequence[str]
) -> str:
    """Why the re-run's outcomes do not confirm the worker's for ``nodeids``, or "".

    Outcomes are compared as passed / not passed / skipped (a failure and an
    error are alike: junit and pytest may tell them apart differently); a
    score must be the same number; measures must have the same names and a
    measured value the same number (timings differ between processes).
    """
    for nodeid in nodeids:
        first, second = worker.get(nodeid), rerun.get(nodeid)
        if first is not None and second is not None and (first.measures or second.measures):
            measured = measures.disagreement(nodeid, first.measures, second.measures)
            if measured:
                return f"{RERUN_REASON}: {measured}"
        if first is None or not differs(first, second):
            continue
        if second is None:
            return f"{RERUN_REASON}: {nodeid} did not report on the re-run"
        if first.score != second.score and _kind(first) == _kind(second):
            return (
                f"{RERUN_REASON}: {nodeid} scored {first.score} under genopt's worker, "
                f"{second.score} on the re-run"
            )
        return (
            f"{RERUN_REASON}: {nodeid} {first.outcome} under genopt's worker, "
            f"{second.outcome} on the re-run"
        )
    return ""


def differs(first: Trial | None, second: Trial | None) -> bool:
    """Whether two trials of one test disagree: outcome (pass / fail / skip) or score."""
    if first is None or second is None:
        return first is not second
    return _kind(first) != _kind(second) or first.score != second.score


def _kind(trial: Trial) -> str:
    return "failed" if trial.outcome == "error" else trial.outcome
