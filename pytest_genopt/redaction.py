"""Keep secrets on this machine: find them, blank them out of text and data.

Anything that leaves the process or lands on disk (prompts, API requests, exchange
files, cassettes, the journal, reports, commit messages) goes through :func:`redact`
or :func:`redact_text` first.  A secret is found two ways:

* by the NAME of the environment variable that holds it (:func:`is_secret_name`):
  names with ``PASSWORD``, ``PASSWD``, ``PASSPHRASE``, ``SECRET`` or ``TOKEN`` in a
  part, or ending in ``KEY``, hold a secret whatever its length; names that only
  mention ``KEY``, ``CREDENTIAL`` or ``AUTH`` somewhere count from 8 characters;
* by its SHAPE, wherever it appears and whether or not a variable holds it:
  Anthropic, OpenAI, GitHub, AWS and Slack tokens, private-key blocks, passwords in
  URLs (``scheme://user:pass@host``) and JWTs.

Values shorter than 8 characters are replaced only where they stand alone (not inside
a longer word), so a short password does not mangle ordinary text; values that are no
secret at all (``1``, ``true``, ``no``...) are never treated as one.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

__all__ = [
    "REDACTED",
    "is_secret_name",
    "looks_like_secret_file",
    "redact",
    "redact_text",
    "secret_values",
]

#: what a secret is replaced with
REDACTED = "[redacted]"

#: values of weakly named variables shorter than this are not secrets
MIN_SECRET_LENGTH = 8

# A name part that says "secret" outright: any length of value counts.
_STRONG_PART = re.compile(r"(PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN)S?", re.IGNORECASE)
_STRONG_END = re.compile(r"(^|[_.-])(API)?KEYS?$|APIKEY$", re.IGNORECASE)
# The earlier, looser rule (8 characters at least); AUTHOR and TOKENIZER are no secrets.
_WEAK_NAME = re.compile(r"KEY|CREDENTIAL|AUTH(?!OR)|TOKEN(?!IZ)|SECRET|PASSW", re.IGNORECASE)
_NOT_SECRET = frozenset({"", "0", "1", "true", "false", "yes", "no", "on", "off", "none", "null"})

_SHAPES = re.compile(
    "|".join(
        (
            r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY-----.*?(?:-----END[A-Z0-9 ]{0,40}PRIVATE"
            r" KEY-----|\Z)",
            r"(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{8,}",
            r"(?<![A-Za-z0-9_-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
            r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{30,}",
            r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{22,}",
            r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])",
            r"(?<![A-Za-z0-9])xox[abprs]-[A-Za-z0-9-]{10,}",
            r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}",
        )
    ),
    re.DOTALL,
)
# The password of scheme://user:password@host (the user name stays readable).
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^\s/:@]*):([^\s/@]+)@")
_AWS_KEY_ID = re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])")
# A secret access key: 40 characters of base64 with both cases (hex shas have one).
_AWS_SECRET = re.compile(
    r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]*[a-z])(?=[A-Za-z0-9/+]*[A-Z])[A-Za-z0-9/+]{40}"
    r"(?![A-Za-z0-9/+=])"
)
_AWS_SECRET_NAMED = re.compile(
    r"(aws_secret_access_key|secretaccesskey)(\W{1,4})([A-Za-z0-9/+]{40})", re.IGNORECASE
)

_ENV_EXAMPLES = ("example", "sample", "template", "dist")
_KEY_FILE = re.compile(
    r"(?:.*\.(?:pem|key|p12|pfx)|id_(?:rsa|dsa|ecdsa|ed25519)(?:_[^.]*)?|\.netrc|_netrc|\.pgpass)",
    re.IGNORECASE,
)
_PRIVATE_KEY_BLOCK = re.compile(rb"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY-----")
_SCAN_BYTES = 1 << 20


def is_secret_name(name: str) -> bool:
    """Whether an environment variable called ``name`` holds a secret (any case)."""
    return _strong_name(name) or bool(_WEAK_NAME.search(name))


def _strong_name(name: str) -> bool:
    parts = re.split(r"[^A-Za-z0-9]+", name)
    if any(_STRONG_PART.search(part) and _ends_with_word(part) for part in parts):
        return True
    return bool(_STRONG_END.search(name))


def _ends_with_word(part: str) -> bool:
    """``PGPASSWORD``, ``GHTOKEN``: the word ends the part (``TOKENIZERS`` does not)."""
    return bool(re.search(r"(PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN)S?$", part, re.IGNORECASE))


def secret_values(environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """Values of the variables whose name says they hold a secret (see the module).

    Longest first, without duplicates, so that a secret containing another is
    replaced as a whole.
    """
    found = set()
    for name, value in environ.items():
        if value.strip().lower() in _NOT_SECRET:
            continue
        if _strong_name(name) or (_WEAK_NAME.search(name) and len(value) >= MIN_SECRET_LENGTH):
            found.add(value)
    return tuple(sorted(found, key=lambda value: (-len(value), value)))


def redact_text(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret value and every secret-shaped token made ``[redacted]``."""
    # Longest first whatever the caller's order: a secret that contains another
    # must not be left half-replaced.  Empty strings would match everywhere.
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        if secret not in text:
            continue
        if len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, REDACTED)
        else:
            alone = rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])"
            text = re.sub(alone, REDACTED, text)
    return _redact_shapes(text)


def _redact_shapes(text: str) -> str:
    # A key id travels with its secret access key: look for both.
    aws = _AWS_KEY_ID.search(text) is not None
    text = _SHAPES.sub(REDACTED, text)
    if "://" in text:
        text = _URL_PASSWORD.sub(rf"\1\2:{REDACTED}@", text)
    text = _AWS_SECRET_NAMED.sub(rf"\1\2{REDACTED}", text)
    if aws:
        text = _AWS_SECRET.sub(REDACTED, text)
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


def looks_like_secret_file(path: Path) -> bool:
    """Whether a file is likely to hold secrets, by its name or a private-key block.

    By name: ``.env`` and ``.env.*``/``.envrc`` (not ``*.example``, ``*.sample``,
    ``*.template``, ``*.dist``), ``*.pem``, ``*.key``, ``*.p12``, ``*.pfx``,
    ``id_rsa``-style private keys (not ``*.pub``), ``.netrc``, ``.pgpass``.  By
    content: a ``-----BEGIN ... PRIVATE KEY-----`` line in its first megabyte.
    """
    name = path.name
    lower = name.lower()
    if lower == ".env" or lower.startswith((".env.", ".envrc")) or lower.endswith(".env"):
        return lower.rsplit(".", 1)[-1] not in _ENV_EXAMPLES
    if _KEY_FILE.fullmatch(name):
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(_SCAN_BYTES)
    except OSError:
        return False
    return bool(_PRIVATE_KEY_BLOCK.search(head))
