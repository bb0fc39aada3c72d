"""Take a run's result home: ``genopt review`` shows each accepted edit, ``genopt apply``
brings the run's net diff into the working tree as uncommitted changes (or writes it as
a patch file), the way a reviewer takes a patch rather than a merge.

Both read the run's report.json and the commits on its branch; neither writes to git's
refs, index or objects. ``apply`` refuses, changing nothing, when a file the diff touches
has uncommitted changes (or exists untracked), and when the diff does not apply.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from pytest_genopt.report import accepted_edits


class HandoverError(Exception):
    """A one-line reason why nothing was shown or changed."""


def load_run(directory: Path, run: str) -> tuple[str, dict[str, Any]]:
    """The run id and its report.json, for ``run`` (an id or ``last``) under ``directory``."""
    from pytest_genopt.journal import resolve_run, run_dir

    try:
        run_id = resolve_run(directory, run)
    except ValueError as exc:
        raise HandoverError(str(exc)) from None
    path = run_dir(directory, run_id) / "report.json"
    try:
        report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HandoverError(f"run {run_id} has no readable report ({path}: {exc})") from None
    return run_id, report


def git(top: Path, *args: str, stdin: bytes | None = None) -> bytes:
    """Run git in ``top``; a failure is a HandoverError with git's first line."""
    done = subprocess.run(
        ["git", "-C", str(top), *args], input=stdin, capture_output=True, check=False
    )
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines() or ["(no output)"]
        raise HandoverError(f"git {args[0]}: {lines[0]}")
    return done.stdout


def toplevel(directory: Path) -> Path:
    """The top level of the git repository holding ``directory``."""
    return Path(git(directory, "rev-parse", "--show-toplevel").decode().strip())


def review(directory: Path, run: str) -> str:
    """Each accepted edit: the objective it raised, its rationale and its diff."""
    run_id, report = load_run(directory, run)
    edits = accepted_edits(report)
    top = toplevel(directory)
    lines = [
        f"genopt run {run_id}: {len(edits)} accepted edit(s) on branch {report['branch']}, "
        f"objective {_value(report['baseline'].get('objective'))} -> "
        f"{_value(report['best'].get('objective'))}"
    ]
    for edit in edits:
        diff = git(top, "show", "--format=", "--binary", edit.commit).decode("utf-8", "replace")
        lines += [
            "",
            f"== iteration {edit.iteration}: objective {_value(edit.before)} -> "
            f"{_value(edit.after)} (commit {edit.commit[:12]})",
            *(f"   {line}" for line in edit.measured),
            *(f"   {line}" for line in (edit.rationale or "(no rationale given)").splitlines()),
            "",
            diff.rstrip("\n"),
        ]
    if not edits:
        lines.append("nothing was accepted: the checkout's code is the best found")
    return "\n".join(lines) + "\n"


def _value(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def net_diff(directory: Path, run: str, iteration: int | None) -> tuple[str, bytes, Path]:
    """The run's net diff (through ``iteration``'s accepted edit, else the last), as a
    binary-safe patch from the top level; with the run id and the top level."""
    run_id, report = load_run(directory, run)
    edits = accepted_edits(report)
    if not edits:
        raise HandoverError(f"run {run_id} accepted no edit: there is nothing to apply")
    if iteration is None:
        chosen = edits[-1]
    else:
        matching = [e for e in edits if e.iteration == iteration]
        if not matching:
            shown = ", ".join(str(e.iteration) for e in edits)
            raise HandoverError(
                f"run {run_id} accepted no edit at iteration {iteration}; accepted at: {shown}"
            )
        chosen = matching[-1]
    top = toplevel(directory)
    git(top, "cat-file", "-e", f"{chosen.commit}^{{commit}}")
    patch = git(top, "diff", "--binary", "--no-renames", report["base"], chosen.commit)
    return run_id, patch, top


def apply(directory: Path, run: str, iteration: int | None, patch_path: Path | None) -> str:
    """Apply the run's net diff to the working tree (or write it to ``patch_path``)."""
    run_id, patch, top = net_diff(directory, run, iteration)
    if patch_path is not None:
        if patch_path.exists():
            raise HandoverError(f"{patch_path} exists; choose a new file for the patch")
        try:
            patch_path.write_bytes(patch)
        except OSError as exc:
            raise HandoverError(f"cannot write {patch_path}: {exc.strerror or exc}") from None
        return f"genopt: wrote run {run_id}'s diff to {patch_path} (git apply {patch_path})"
    touched = _paths(git(top, "apply", "--numstat", "-z", "-", stdin=patch))
    busy = sorted(touched & _changed(top))
    if busy:
        shown = ", ".join(busy[:5]) + (f" and {len(busy) - 5} more" if len(busy) > 5 else "")
        raise HandoverError(
            f"the working tree has changes in {shown}, which run {run_id}'s diff also "
            "changes; commit or stash them first (nothing was applied)"
        )
    git(top, "apply", "--check", "-", stdin=patch)
    git(top, "apply", "-", stdin=patch)  # all or nothing: git apply is atomic
    return (
        f"genopt: applied run {run_id}'s diff to {len(touched)} file(s) in {top} as "
        "uncommitted changes (review with git diff)"
    )


def _paths(numstat: bytes) -> set[str]:
    """The paths of ``git apply --numstat -z`` output."""
    paths = set()
    for record in numstat.split(b"\0"):
        fields = record.split(b"\t", 2)
        if len(fields) == 3 and fields[2]:
            paths.add(fields[2].decode("utf-8", "surrogateescape"))
    return paths


def _changed(top: Path) -> set[str]:
    """Paths with uncommitted changes (staged, unstaged or untracked), from the top level."""
    status = git(top, "status", "--porcelain=v1", "-z", "--untracked-files=all")
    paths: set[str] = set()
    records = iter(status.split(b"\0"))
    for record in records:
        if len(record) < 4:
            continue
        paths.add(record[3:].decode("utf-8", "surrogateescape"))
        if record[:1] in (b"R", b"C"):  # a rename names its source next
            paths.add(next(records, b"").decode("utf-8", "surrogateescape"))
    return paths
