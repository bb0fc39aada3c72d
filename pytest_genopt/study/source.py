"""Where a study's runs start: a suite task or a git repository, as git bundles.

Every run clones a bundle, so a run never touches the source and the source travels to
another machine (a Ray worker) as one file.  A suite task is written once per starting
variant with ``genopt init`` into ``OUT/sources/<variant>/``; a git repository is
bundled at its committed state (every ref, so ``start=REV`` may name any of them).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_genopt.study.grid import RunSpec

__all__ = ["Source", "SourceError", "prepare_source"]


class SourceError(ValueError):
    """SOURCE cannot be used; the message is one line."""


@dataclass
class Source:
    """The prepared source: its bundles and what identifies its content."""

    kind: str  # "task" or "repository"
    name: str
    bundles: dict[str, Path] = field(default_factory=dict)  # variant (or "") -> bundle
    commits: dict[str, str] = field(default_factory=dict)  # variant (or "") -> HEAD commit
    warning: str | None = None

    def bundle_for(self, spec: RunSpec) -> Path:
        if self.kind == "task":
            return self.bundles[spec.value("start") or ""]
        return self.bundles[""]

    def options_for(self, spec: RunSpec) -> list[str]:
        """``--genopt-start=REV`` for a repository's ``start`` factor; a task's start
        is its variant, already written into its bundle."""
        start = spec.value("start")
        return [f"--genopt-start={start}"] if self.kind == "repository" and start else []


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["(no message)"]
        raise SourceError(f"git {args[0]} in {cwd}: {lines[-1]}")
    return done.stdout.strip()


def prepare_source(source: str, starts: list[str] | None, out: Path) -> Source:
    """Bundles of ``source`` for the starts the grid names, under ``out/sources``.

    Everything is checked before anything is written; bundles made by an earlier
    invocation of the same study are reused, so its runs resume from the same commits.
    """
    path = Path(source)
    if path.is_dir():
        return _repository(path.resolve(), out)
    from pytest_genopt.suites import all_tasks

    tasks = {task.id: task for task in all_tasks()}
    if source not in tasks:
        raise SourceError(
            f"{source}: neither a suite task (see `genopt list`) nor a git repository"
        )
    task = tasks[source]
    variants = starts or [""]
    for variant in variants:
        if variant and variant not in task.variants:
            raise SourceError(
                f"--grid start={variant}: task {source} has no such variant; "
                f"choose from {', '.join(task.variants)}"
            )
    prepared = Source(kind="task", name=source)
    for variant in variants:
        prepared.bundles[variant], prepared.commits[variant] = _task_bundle(
            task.id, variant, out / "sources"
        )
    return prepared


def _task_bundle(task_id: str, variant: str, sources: Path) -> tuple[Path, str]:
    from pytest_genopt.cli import find, init_task

    name = variant or "default"
    directory, bundle = sources / name, sources / f"{name}.bundle"
    if not bundle.exists():
        if directory.exists():  # an earlier invocation stopped between init and bundle
            _remove(directory)
        init_task(find(task_id), directory, variant or None)
        git(directory, "bundle", "create", "--quiet", str(bundle), "HEAD", "--all")
    return bundle, bundle_head(bundle)


def _repository(path: Path, out: Path) -> Source:
    try:
        top = Path(git(path, "rev-parse", "--show-toplevel"))
    except SourceError:
        raise SourceError(f"{path}: not a git repository (nor a suite task)") from None
    head = git(top, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    dirty = git(top, "status", "--porcelain", "--untracked-files=no")
    bundle = out / "sources" / "repository.bundle"
    if not bundle.exists():
        bundle.parent.mkdir(parents=True, exist_ok=True)
        git(top, "bundle", "create", "--quiet", str(bundle), "HEAD", "--all")
    commit = bundle_head(bundle)
    warning = None
    if commit != head:
        warning = (
            f"this study's runs start from {commit[:12]}, the commit it began with; "
            f"{top} is now at {head[:12]}"
        )
    elif dirty:
        warning = f"uncommitted changes in {top} are not part of the study (it runs {head[:12]})"
    return Source(
        kind="repository", name=str(top), bundles={"": bundle}, commits={"": commit},
        warning=warning,
    )  # fmt: skip


def bundle_head(bundle: Path) -> str:
    """The commit a clone of ``bundle`` checks out."""
    for line in git(bundle.parent, "bundle", "list-heads", str(bundle)).splitlines():
        commit, _, ref = line.partition(" ")
        if ref == "HEAD":
            return commit
    raise SourceError(f"{bundle}: a bundle without HEAD")


def _remove(directory: Path) -> None:
    import shutil

    shutil.rmtree(directory)
