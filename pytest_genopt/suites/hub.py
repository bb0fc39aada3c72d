"""What the suites share about their data: the one-line error, and failing at once when
the Hugging Face Hub cannot answer (``datasets`` would otherwise retry for many seconds)."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

__all__ = ["DataError", "check_hub"]

_PROBE_SECONDS = 3.0


class DataError(ValueError):
    """A task's data cannot be made or read; the message is one line."""


def check_hub(dataset: str, alternatives: str) -> None:
    """Raise DataError, naming ``alternatives``, when the Hub is unreachable and
    ``datasets`` is not told to work offline from its cache."""
    offline_mode = (
        os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1"
    )
    if not offline_mode and not _reachable():
        raise DataError(
            f"the Hugging Face Hub is unreachable, so {dataset} cannot be read: {alternatives}"
        )


def _reachable() -> bool:
    endpoint = urlsplit(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname or "", port), _PROBE_SECONDS):
            return True
    except OSError:
        return False
