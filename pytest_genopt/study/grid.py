"""A study's grid: factors, their values and repeats, as one specification per run.

A factor is named like the pytest option it sets, without ``--genopt-`` and with
underscores (``horizon``, ``batch_size``, ``candidates``, ``backend``); ``start`` is
special: a suite task's starting variant, or ``--genopt-start=REV`` for a git source.
Every run of repeat ``r`` gets the seed ``seed + r`` whatever its configuration, so
configurations are compared on the same random draws (common random numbers).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass

__all__ = ["GridError", "RunSpec", "parse_grid", "run_specs"]

#: options the study sets itself for every run: varying them would break the study
RESERVED = {
    "seed": "each run's seed is --seed + its repeat",
    "iterations": "use --iterations",
    "resume": "the study resumes interrupted runs itself",
    "branch": "each run names its own branch",
    "report": "each run writes its report where the study reads it",
    "push": "push the run branches after the study",
}
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+-]")


class GridError(ValueError):
    """A malformed --grid or --repeats; the message is one line."""


@dataclass(frozen=True)
class RunSpec:
    """One run of the study: a configuration (factor -> value), its repeat and seed."""

    config: tuple[tuple[str, str], ...]
    repeat: int
    seed: int

    @property
    def label(self) -> str:
        """``horizon=1,batch_size=3``: the configuration, in the grid's factor order."""
        return ",".join(f"{name}={value}" for name, value in self.config) or "default"

    @property
    def id(self) -> str:
        """``horizon=1,batch_size=3/r0``: unique within a study, stable across re-runs."""
        return f"{self.label}/r{self.repeat}"

    @property
    def folder(self) -> str:
        """The run's folder under ``runs/``: the id, made safe for any file system."""
        safe = _UNSAFE.sub("_", self.label)
        if safe != self.label:  # keep two labels that sanitize alike apart
            safe += "~" + hashlib.sha256(self.label.encode()).hexdigest()[:8]
        return f"{safe}/r{self.repeat}"

    def value(self, factor: str) -> str | None:
        return dict(self.config).get(factor)

    def options(self) -> list[str]:
        """The pytest options of this configuration (``start`` is the source's business)."""
        return [
            f"--genopt-{name.replace('_', '-')}={value}"
            for name, value in self.config
            if name != "start"
        ]


def parse_grid(entries: list[str]) -> dict[str, list[str]]:
    """``["horizon=1,10,all", "batch_size=1,3"]`` -> factors with their values, in order."""
    factors: dict[str, list[str]] = {}
    for entry in entries:
        name, sep, values = entry.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not _NAME.fullmatch(name):
            raise GridError(f"--grid {entry!r}: expected NAME=V1,V2,... (e.g. horizon=1,10,all)")
        if name in RESERVED:
            raise GridError(f"--grid {name}: not a factor of a study ({RESERVED[name]})")
        if name in factors:
            raise GridError(f"--grid {name}: given twice")
        items = [v.strip() for v in values.split(",")]
        if not all(items):
            raise GridError(f"--grid {entry!r}: an empty value")
        if len(set(items)) != len(items):
            raise GridError(f"--grid {entry!r}: a value given twice")
        factors[name] = items
    return factors


def run_specs(factors: dict[str, list[str]], repeats: int, seed: int) -> list[RunSpec]:
    """Every configuration x repeat, repeat-major: the first repeat of every configuration
    comes first, so a study stopped early still compares every configuration."""
    if repeats < 1:
        raise GridError(f"--repeats must be >= 1, got {repeats}")
    names = list(factors)
    configs = [
        tuple(zip(names, values, strict=True))
        for values in itertools.product(*(factors[n] for n in names))
    ]
    return [
        RunSpec(config=config, repeat=repeat, seed=seed + repeat)
        for repeat in range(repeats)
        for config in configs
    ]
