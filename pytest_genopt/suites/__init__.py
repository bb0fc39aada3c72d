"""Benchmark suites shipped with pytest-genopt, as task templates.

A task is a starting artifact (one of several *variants*) plus the tests that
judge it, written into a new git repository by ``genopt init <suite>/<task>``.
Each suite package exposes ``tasks() -> list[Task]``; suites needing optional
extras still list their tasks without importing them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

#: suite name -> module exposing ``tasks()``
SUITES = {
    "atari": "pytest_genopt.suites.atari.tasks",
    "bbeh": "pytest_genopt.suites.bbeh.tasks",
    "mlagentbench": "pytest_genopt.suites.mlagentbench.tasks",
}


@dataclass(frozen=True)
class Task:
    """One task template: ``files`` shared by all variants, plus one starting artifact
    per variant.  Paths are relative to the template root, '/'-separated."""

    suite: str
    name: str
    description: str
    root: Path
    variants: tuple[str, ...]
    default_variant: str
    extra: str = ""
    #: for each variant, a sentence on what it starts from
    variant_descriptions: dict[str, str] = field(default_factory=dict)
    #: this task's own files, ``variants/<variant>/``, on top of the shared ones
    overlay: Path | None = None
    #: for a variant, the commands ``genopt init`` suggests next (else the usual ones)
    commands: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: files made from the task's data (``genopt init --data SOURCE``), or None
    data_files: Callable[[str | None], dict[str, str]] | None = None
    #: evaluation protocols (``genopt init --protocol NAME``), each with a sentence;
    #: the first is the default.  Empty: the task evaluates one way.
    protocols: dict[str, str] = field(default_factory=dict)
    #: the files that record a protocol (e.g. ``protocol.json``), given its name
    protocol_files: Callable[[str], dict[str, str]] | None = None

    @property
    def id(self) -> str:
        return f"{self.suite}/{self.name}"

    def files(self, variant: str | None = None, protocol: str | None = None) -> dict[str, str]:
        """The task's files for ``variant``: shared, the variant's, the task's own, then
        those recording ``protocol`` (default: the task's first)."""
        chosen = variant or self.default_variant
        if chosen not in self.variants:
            raise ValueError(
                f"task {self.id} has no variant {chosen!r}; choose one of "
                f"{', '.join(self.variants)}"
            )
        if protocol is not None and protocol not in self.protocols:
            offered = ", ".join(self.protocols) or "none: it evaluates one way"
            raise ValueError(
                f"task {self.id} has no protocol {protocol!r}; choose one of {offered}"
            )
        files: dict[str, str] = {}
        layers = [self.root / "common", self.root / "variants" / chosen]
        if self.overlay is not None:
            layers.append(self.overlay / "variants" / chosen)
        for base in layers:
            for path in sorted(base.rglob("*")):
                hidden = any(
                    part.startswith(".") or part == "__pycache__"
                    for part in path.relative_to(base).parts
                )
                if path.is_file() and not hidden:
                    files[path.relative_to(base).as_posix()] = path.read_text(encoding="utf-8")
        if self.protocol_files is not None and self.protocols:
            files.update(self.protocol_files(protocol or next(iter(self.protocols))))
        return files


def all_tasks() -> list[Task]:
    """Every task of every suite, sorted by id."""
    tasks: list[Task] = []
    for module in SUITES.values():
        tasks.extend(importlib.import_module(module).tasks())
    return sorted(tasks, key=lambda t: t.id)


def find_task(task_id: str) -> Task:
    """The task named ``suite/task``; ValueError with the known ids otherwise."""
    tasks = all_tasks()
    for task in tasks:
        if task.id == task_id:
            return task
    raise ValueError(
        f"unknown task {task_id!r}; known: {', '.join(t.id for t in tasks)} (see `genopt list`)"
    )
