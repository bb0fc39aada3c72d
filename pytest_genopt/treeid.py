"""The git tree id of a commit with some files replaced, computed without writing anything.

A candidate's tree is the branch head with the candidate's files written over
it; its git tree id names exactly what the candidate's evaluation sees (the
tree is checked out clean at head, submodules at their gitlinks), so it keys
the run's evaluation cache (:mod:`pytest_genopt.evalcache`).  Only the folders
on the edited paths are re-hashed; nothing is written to any object store.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["blob_id", "tree_id"]

_TREE = b"40000"
_FILE = b"100644"
_FILE_MODES = (b"100644", b"100755")

#: name -> (mode, binary sha) of one tree object's entries
Entries = dict[bytes, tuple[bytes, bytes]]


def _object_id(kind: bytes, data: bytes) -> bytes:
    return hashlib.sha1(b"%s %d\0" % (kind, len(data)) + data, usedforsecurity=False).digest()


def blob_id(data: bytes) -> bytes:
    """The binary sha git gives a file holding ``data``."""
    return _object_id(b"blob", data)


def tree_id(
    read: Callable[[bytes], bytes], root: bytes | None, files: Mapping[str, bytes]
) -> bytes:
    """The binary sha of tree ``root`` (None: empty) with ``files`` (``a/b.py`` -> bytes) in it.

    ``read(sha)`` returns a tree object's raw data.  A replaced file keeps an
    executable mode; a new file, or one that was a link, gets 100644 (as a
    candidate's tree does when its files are written).
    """
    entries = _parse(read(root)) if root is not None else {}
    here: dict[bytes, bytes] = {}
    below: dict[bytes, dict[str, bytes]] = {}
    for path, data in files.items():
        first, slash, rest = path.partition("/")
        name = first.encode("utf-8", "surrogateescape")
        if slash:
            below.setdefault(name, {})[rest] = data
        else:
            here[name] = data
    for name, data in here.items():
        old = entries.get(name)
        mode = old[0] if old is not None and old[0] in _FILE_MODES else _FILE
        entries[name] = (mode, blob_id(data))
    for name, inner in below.items():
        old = entries.get(name)
        sub = old[1] if old is not None and old[0] == _TREE else None
        entries[name] = (_TREE, tree_id(read, sub, inner))
    return _object_id(b"tree", _serialize(entries))


def _parse(data: bytes) -> Entries:
    """A tree object's entries: ``<mode> <name>\\0<20-byte sha>`` one after another."""
    entries: Entries = {}
    at = 0
    while at < len(data):
        space = data.index(b" ", at)
        nul = data.index(b"\0", space)
        entries[data[space + 1 : nul]] = (data[at:space], data[nul + 1 : nul + 21])
        at = nul + 21
    return entries


def _serialize(entries: Entries) -> bytes:
    # git orders entries by name, a folder's name as if it ended in "/"
    def order(name: bytes) -> bytes:
        return name + b"/" if entries[name][0] == _TREE else name

    return b"".join(
        entries[name][0] + b" " + name + b"\0" + entries[name][1]
        for name in sorted(entries, key=order)
    )
