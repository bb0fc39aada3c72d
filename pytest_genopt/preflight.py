"""Preflight: the unchanged start, evaluated once as a candidate before any backend call.

A candidate runs somewhere else than the session did: in a tree of its own under
``.genopt/``, in a sandbox, without secrets, with the session's options switched off
by name.  When the unchanged start does not give there what it gave in the session,
every later decision would blame the optimizer for the environment.  So, before the
first token is spent, the start is evaluated as a candidate and compared with the
session, test by test (outcome and score, :func:`pytest_genopt.integrity.differs`):

- the evaluation fails (shadowing that could not be mapped, a crash, a patched
  runner, other tests collected): the run stops with one line;
- tests differ: they are evaluated once more; those that differ again the same way
  depend on where they run, and the run stops with one line naming them and the
  likely cause; the others changed between two runs of the same code: they are
  *flaky*, listed in the report and left out of acceptance;
- files the start itself writes in its tree are *exempt* from the tamper check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_genopt.integrity import differs

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from pytest_genopt.evaluate import Evaluation
    from pytest_genopt.evidence import Trial

__all__ = ["Preflight", "PreflightFailed", "preflight"]

_SHOWN = 3


class PreflightFailed(Exception):
    """The start does not evaluate as a candidate as it did in the session (one line)."""


@dataclass(frozen=True)
class Preflight:
    """What the preflight found."""

    #: the start's trials as a candidate
    trials: dict[str, Trial]
    #: tests whose outcome changed between two runs of the unchanged start
    flaky: tuple[str, ...]


def preflight(
    first: Evaluation,
    session: Mapping[str, Trial] | None,
    again: Callable[[list[str]], Evaluation],
    *,
    hint: str = "",
) -> Preflight:
    """Judge the start's evaluation ``first`` against the ``session``'s trials.

    ``session`` is None when the session ran something else than the start
    (``--genopt-start``, a resume): then only the evaluation itself is judged.
    ``again`` evaluates the start once more for the given node ids.  Raises
    :class:`PreflightFailed` with one line when the run must not begin.
    """
    if first.status != "ok":
        raise PreflightFailed(f"the start does not evaluate as a candidate: {_cause(first)}")
    if session is None:
        return Preflight(dict(first.trials), ())
    differing = [i for i, t in session.items() if differs(t, first.trials.get(i))]
    if not differing:
        return Preflight(dict(first.trials), ())
    second = again(differing)
    if second.status != "ok":
        raise PreflightFailed(f"the start does not evaluate as a candidate: {_cause(second)}")
    stable = [i for i in differing if not differs(first.trials.get(i), second.trials.get(i))]
    if stable:
        raise PreflightFailed(_placement(stable, session, first.trials, hint))
    return Preflight(dict(first.trials), tuple(differing))


def _cause(evaluation: Evaluation) -> str:
    reason = evaluation.reason
    if evaluation.status == "shadowed":
        return f"{reason}; genopt could not map that import to the candidate's tree"
    if evaluation.status == "tampered":
        return (
            f"{reason}; a plugin or conftest.py of the project changes which tests run or "
            "how they report"
        )
    return reason


def _placement(
    nodeids: Sequence[str], session: Mapping[str, Trial], tree: Mapping[str, Trial], hint: str
) -> str:
    """The one line naming tests that differ in a candidate tree, and the likely cause
    (``hint`` when the caller knows one: the session and evaluations ran differently)."""
    shown = []
    for nodeid in nodeids[:_SHOWN]:
        here, there = session[nodeid], tree[nodeid]
        shown.append(f"{nodeid} ({here.outcome} in this session, {there.outcome} there)")
    more = f" and {len(nodeids) - _SHOWN} more" if len(nodeids) > _SHOWN else ""
    messages = " ".join(tree[n].message for n in nodeids)
    skipped = all(tree[n].outcome == "skipped" for n in nodeids)
    return (
        f"{len(nodeids)} test(s) give other results in a candidate tree than in this "
        f"session: {', '.join(shown)}{more}; likely cause: {hint or _likely(messages, skipped)}"
    )


def _likely(messages: str, skipped: bool) -> str:
    if skipped:  # e.g. translations compiled at install, which git ignores
        return (
            "the tests skip where something they look for is missing: files git ignores "
            "(build outputs) are not in candidate trees; commit them or deselect the tests"
        )
    if "ModuleNotFoundError" in messages or "ImportError" in messages:
        return "an import that resolves outside the candidate's tree"
    if "FileNotFoundError" in messages or "No such file" in messages:
        return "files the tests read are missing from the tree (ignored or untracked files?)"
    if "PermissionError" in messages or "Read-only file system" in messages:
        return "the tests write outside the candidate's tree (the sandbox forbids it)"
    return "tests that depend on where they run (absolute paths, the working folder)"
