"""The task model's response cache on disk: one JSON file per Messages API request.

A request's key is the SHA-256 of its canonical JSON (model, prompt, every
parameter), so an unchanged program asks nothing twice, and a cache folder can be
committed, shipped and replayed for deterministic CI.  Entries are written
atomically (a temporary file renamed into place), so concurrent writers of one key
leave one whole entry.  This module is the format's only reader and writer.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["CACHE_VERSION", "ModelCache", "request_key"]

CACHE_VERSION = 1


def request_key(request: dict[str, Any]) -> str:
    """The cache key of a Messages API request body."""
    canonical = json.dumps(request, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ModelCache:
    """Responses by request, under ``directory`` (created on the first write)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """The cached response to ``request``, or None (an unreadable entry is a miss)."""
        try:
            entry = json.loads(self._path(request_key(request)).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or entry.get("version") != CACHE_VERSION:
            return None
        response = entry.get("response")
        return response if isinstance(response, dict) else None

    def put(self, request: dict[str, Any], response: dict[str, Any]) -> None:
        """Store ``response`` as the answer to ``request``."""
        path = self._path(request_key(request))
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {"version": CACHE_VERSION, "request": request, "response": response}
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(entry, out, ensure_ascii=False)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("??/*.json"))
