"""Which of the package's extras (``pytest-genopt[atari]``, ...) are installed."""

from __future__ import annotations

from importlib import metadata

from packaging.requirements import InvalidRequirement, Requirement

DISTRIBUTION = "pytest-genopt"


def missing(extra: str, distribution: str = DISTRIBUTION) -> list[str] | None:
    """The requirements of ``extra`` that are not installed (names, in declared order),
    or None when the distribution's metadata cannot say (e.g. not installed)."""
    try:
        declared = metadata.requires(distribution)
        provided = metadata.metadata(distribution).get_all("Provides-Extra") or []
    except metadata.PackageNotFoundError:
        return None
    if extra not in provided:
        return None
    found: list[str] = []
    for line in declared or ():
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        marker = requirement.marker
        if marker is None or not marker.evaluate({"extra": extra}):
            continue
        if requirement.name == distribution:  # an extra of extras, e.g. all
            for inner in sorted(requirement.extras):
                found.extend(n for n in missing(inner, distribution) or () if n not in found)
            continue
        if not _satisfied(requirement) and requirement.name not in found:
            found.append(requirement.name)
    return found


def _satisfied(requirement: Requirement) -> bool:
    try:
        version = metadata.version(requirement.name)
    except metadata.PackageNotFoundError:
        return False
    return requirement.specifier.contains(version, prereleases=True)


def status(extra: str) -> str:
    """``pytest-genopt[EXTRA] installed`` or what it lacks, for ``genopt list``."""
    lacking = missing(extra)
    if lacking is None:
        return f"needs pytest-genopt[{extra}]"
    if not lacking:
        return f"pytest-genopt[{extra}] installed"
    return f"needs pytest-genopt[{extra}]: {', '.join(lacking)} not installed"
