"""Keep secrets on this machine: find them in the environment, blank them out of data.

Anything that leaves the process for good (cassettes, and whatever else is
shared or committed) goes through :func:`redact` first.  A secret is the value
of an environment variable whose name says it is one (``ANTHROPIC_API_KEY``,
``GITHUB_TOKEN``, ``AWS_SECRET_ACCESS_KEY``, ``DB_PASSWORD``...); short values
are left alone because replacing them would mangle ordinary text.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

#: what a secret is replaced with
REDACTED = "[redacted]"

#: values shorter than this are not treated as secrets (too likely to occur by chance)
MIN_SECRET_LENGTH = 8

_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH", re.IGNORECASE)


_SECRET_ONLY_NAME = re.compile(
    r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH(?!OR)", re.IGNORECASE
)


def is_secret_name(name: str) -> bool:
    """Whether a variable called ``name`` holds a secret, going by its name alone.

    ``GIT_AUTHOR_NAME`` and the like are not secrets (tests that commit need them).
    """
    return bool(_SECRET_ONLY_NAME.search(name))


def secret_values(environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """Values (at least 8 characters) of variables whose name looks like a secret's.

    Names match ``KEY``, ``TOKEN``, ``SECRET``, ``PASSWORD``, ``PASSWD``,
    ``CREDENTIAL`` or ``AUTH`` anywhere, in any case.  Longest first, without
    duplicates, so that a secret containing another is replaced as a whole.
    """
    found = {
        value
        for name, value in environ.items()
        if _SECRET_NAME.search(name) and len(value) >= MIN_SECRET_LENGTH
    }
    return tuple(sorted(found, key=lambda value: (-len(value), value)))


def redact_text(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every occurrence of every secret replaced by ``[redacted]``."""
    # Longest first whatever the caller's order: a secret that contains another
    # must not be left half-replaced.  Empty strings would match everywhere.
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact(value: Any, secrets: Sequence[str]) -> Any:
    """A deep copy of a JSON-like value with secrets replaced in every string.

    Dictionary keys are redacted too; lists and tuples keep their type; other
    values (numbers, booleans, ``None``, anything unknown) are returned as they are.
    """
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, dict):
        return {redact(key, secrets): redact(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item, secrets) for item in value]
    if isinstance(value, tuple):
        return tuple(redact(item, secrets) for item in value)
    return value
