"""Candidate trees: one directory per candidate, with git metadata of its own.

A candidate tree is *not* a linked worktree of the user's repository (those share the
user's refs, index, stash, config and hooks).  Each tree has a ``.git`` directory of its
own: a repository with no remote and hooks off whose objects are read from the user's
object store through ``objects/info/alternates``; the user's tags are copied so that
version-from-git tools see what they see in the user's checkout.  Whatever a candidate
does with git in its tree (``branch -D``, ``update-ref``, ``stash``, ``config``,
``push``) stays in that ``.git``.

Resetting a tree trusts nothing a candidate may have left in it: its ``.git`` is
replaced by a copy of the run's pristine template, its index by the copy the controller
kept from the previous reset (whose stat data, ctime included, a candidate cannot
forge), then ``checkout --force`` and ``clean -ffdx`` restore the files.  Only changed
files are rewritten, so a reset costs milliseconds where a fresh checkout costs a full
write of the project.

Submodules: a gitlink whose folder in the user's checkout is an initialised submodule
gets a tree of its own, made the same way from the user's submodule repository.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["CONSEQUENTIAL", "CandidateTrees", "Change", "GitRunner"]

_GITLINK = "160000"
# Hooks off for every command we run in a tree, whatever its config says.
_HARDENED = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false")


class GitRunner(Protocol):
    """Runs ``git args``; returns stdout or raises a one-line ``WorkspaceError``."""

    def __call__(self, *args: str, env: Mapping[str, str] | None = None) -> str: ...


class CandidateTrees:
    """The candidate trees of one run, under ``run_dir`` (``c<index>/`` each).

    ``source`` is the user's work tree (its top level).  Templates and kept indexes
    live in ``run_dir/.genopt-trees/``, outside every candidate tree.
    """

    def __init__(self, git: GitRunner, run_dir: Path, source: Path) -> None:
        self._git = git
        self.run_dir = run_dir
        self.source = source
        self._state = run_dir / ".genopt-trees"
        self._lock = threading.Lock()
        self._templates: dict[Path, Path] = {}

    def prepare(self, index: int, sha: str) -> Path:
        """Tree ``c<index>`` at commit ``sha``, clean: nothing from an earlier candidate."""
        tree = self.run_dir / f"c{index}"
        keep = self._state / f"c{index}"
        try:
            self._reset(self.source, tree, sha, keep)
        except (OSError, _Retry):
            # Something a candidate left defeats a reset (a read-only folder, a file
            # where a folder belongs): start that tree over from nothing.
            _wipe(tree)
            _wipe(keep)
            try:
                self._reset(self.source, tree, sha, keep)
            except OSError as exc:
                raise self._error(f"cannot prepare {tree}: {exc.strerror or exc}") from None
            except _Retry as exc:
                raise self._error(str(exc)) from None
        return tree

    def close(self) -> None:
        """Remove every tree and the run's directory."""
        _wipe(self.run_dir)

    def changes(self, index: int) -> list[Change]:
        """What differs in tree ``c<index>`` from its last :meth:`prepare`, files only.

        Tracked files whose bytes or mode changed, or that are gone; new files
        git does not ignore; and new files pytest or Python act on
        (:data:`CONSEQUENTIAL`) even where ignored.  Paths are relative to the
        tree's top.  Caches (``__pycache__/``, ``.pytest_cache/``) are left out.
        The check uses the run's own template and the index kept outside the
        tree: nothing the candidate left in the tree's ``.git`` takes part.
        """
        tree = self.run_dir / f"c{index}"
        try:
            return self._changes(self.source, tree, self._state / f"c{index}", "")
        except OSError as exc:
            raise self._error(f"cannot check {tree}: {exc.strerror or exc}") from None

    def _changes(self, source: Path, tree: Path, keep: Path, prefix: str) -> list[Change]:
        gitdir = self._template(source) / ".git"
        index = keep / "check-index"
        shutil.copyfile(keep / "index", index)
        os.utime(index, (1, 1))  # compare contents, not stat data (see _reset)
        base = (f"--git-dir={gitdir}", f"--work-tree={tree}", "-C", str(tree), *_HARDENED,
                "-c", "core.untrackedCache=false")  # fmt: skip
        env = {**os.environ, "GIT_INDEX_FILE": str(index)}
        self._git(*base, "update-index", "-q", "--refresh", "--ignore-submodules", env=env)
        found = [Change(prefix + path, kind) for kind, path in _diff_files(
            self._git(*base, "diff-files", "-z", "--name-status", "--ignore-submodules=all",
                      env=env))]  # fmt: skip
        new = self._git(*base, "ls-files", "-z", "--others", "--exclude-standard", env=env)
        ignored = self._git(*base, "ls-files", "-z", "--others", "--ignored",
                            "--exclude-standard", "--", *CONSEQUENTIAL, env=env)  # fmt: skip
        for path in dict.fromkeys([*new.split("\0"), *ignored.split("\0")]):
            if path and not _cache(path):
                found.append(Change(prefix + path, "created"))
        staged = self._git(*base, "ls-files", "-s", "-z", env=env).split("\0")
        links = [e.partition("\t")[2] for e in staged if e.startswith(_GITLINK + " ")]
        for path in links:
            sub_keep = keep / "modules" / _slug(path)
            if (sub_keep / "index").is_file():
                found += self._changes(source / path, tree / path, sub_keep, f"{prefix}{path}/")
        return found

    # ------------------------------------------------------------------ internals

    def _reset(self, source: Path, tree: Path, sha: str, keep: Path) -> None:
        """Make ``tree`` the checkout of ``sha`` from ``source``'s repository."""
        template = self._template(source)
        gitdir = tree / ".git"
        if tree.is_symlink():
            tree.unlink()
        if not self._inside(tree):
            # A folder on the way was made a link (to the user's checkout?): never
            # remove or write anything through it.
            raise _Retry(f"{tree} leads outside {self.run_dir}")
        tree.mkdir(parents=True, exist_ok=True)
        _remove(gitdir)
        shutil.copytree(template / ".git", gitdir, symlinks=True)
        kept_index = keep / "index"
        if kept_index.is_file():
            shutil.copyfile(kept_index, gitdir / "index")
            # An index older than every file makes git compare contents, not stat data
            # ("racily clean" entries): a candidate's same-size rewrite within the
            # second of the last checkout must not pass for the checked-out file.
            os.utime(gitdir / "index", (1, 1))
        base = ("-C", str(tree), f"--git-dir={gitdir}", f"--work-tree={tree}", *_HARDENED)
        try:
            self._git(*base, "checkout", "--quiet", "--force", "--detach", sha)
            self._git(*base, "clean", "-ffdxq")
        except Exception as exc:
            raise _Retry(str(exc)) from None
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(gitdir / "index", kept_index)
        for path, sub_sha in self._gitlinks(base, sha):
            self._submodule(source / path, tree / path, sub_sha, keep / "modules" / _slug(path))

    def _inside(self, path: Path) -> bool:
        """Whether no part of ``path`` below the run's folder is a symbolic link."""
        return path.resolve() == self.run_dir.resolve() / path.relative_to(self.run_dir)

    def _submodule(self, source: Path, tree: Path, sha: str, keep: Path) -> None:
        """Fill a submodule folder from the user's checkout of it, if they have one."""
        top = self._git_or_none("-C", str(source), "rev-parse", "--show-toplevel")
        if top is None or Path(top.strip()).resolve() != source.resolve():
            return  # not initialised in the user's checkout: empty there too
        try:
            self._reset(source, tree, sha, keep)
        except _Retry as exc:
            raise _Retry(f"submodule {source.name}: {exc}") from None

    def _gitlinks(self, base: tuple[str, ...], sha: str) -> list[tuple[str, str]]:
        out = self._git(*base, "ls-tree", "-r", "-z", "--full-tree", sha)
        links = []
        for entry in out.split("\0"):
            meta, _, path = entry.partition("\t")
            fields = meta.split()
            if len(fields) == 3 and fields[0] == _GITLINK:
                links.append((path, fields[2]))
        return links

    def _template(self, source: Path) -> Path:
        """The pristine repository every tree of ``source`` starts from (made once)."""
        with self._lock:
            found = self._templates.get(source)
            if found is None:
                found = self._state / "templates" / _slug(str(source))
                _wipe(found)
                self._make_template(source, found)
                self._templates[source] = found
            return found

    def _make_template(self, source: Path, template: Path) -> None:
        # Relative to ``source`` when git prints it relative (``.git``).
        common = source / self._git("-C", str(source), "rev-parse", "--git-common-dir").strip()
        self._git("-c", "init.defaultBranch=genopt", "init", "--quiet", "--template=",
                  str(template))  # fmt: skip
        gitdir = template / ".git"
        info = gitdir / "objects" / "info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "alternates").write_text(f"{common.resolve() / 'objects'}\n", encoding="utf-8")
        if (common / "shallow").is_file():
            shutil.copyfile(common / "shallow", gitdir / "shallow")
        tags = self._git("-C", str(source), "for-each-ref", "--format=%(objectname) %(refname)",
                         "refs/tags/")  # fmt: skip
        (gitdir / "packed-refs").write_text(tags, encoding="utf-8")
        self._git(f"--git-dir={gitdir}", "config", "core.hooksPath", "/dev/null")

    def _git_or_none(self, *args: str) -> str | None:
        try:
            return self._git(*args)
        except Exception:
            return None

    def _error(self, message: str) -> Exception:
        from pytest_genopt.workspace import WorkspaceError

        return WorkspaceError(message)


#: new files that change what pytest or Python does, reported even where git ignores them
CONSEQUENTIAL = (
    ":(glob)**/conftest.py",
    ":(glob)**/pytest.ini",
    ":(glob)**/.pytest.ini",
    ":(glob)**/pyproject.toml",
    ":(glob)**/tox.ini",
    ":(glob)**/setup.cfg",
    ":(glob)**/*.pth",
    ":(glob)**/sitecustomize.py",
    ":(glob)**/usercustomize.py",
)
_CACHES = ("__pycache__", ".pytest_cache")


@dataclass(frozen=True)
class Change:
    """One file of a candidate tree that is not as its last reset left it."""

    path: str
    #: "changed", "deleted" or "created"
    kind: str


def _diff_files(out: str) -> list[tuple[str, str]]:
    """(kind, path) pairs of ``git diff-files -z --name-status`` output."""
    fields = out.split("\0")
    kinds = {"D": "deleted"}
    return [(kinds.get(status[:1], "changed"), path)
            for status, path in zip(fields[::2], fields[1::2], strict=False) if path]  # fmt: skip


def _cache(path: str) -> bool:
    return any(part in _CACHES for part in path.split("/")[:-1])


class _Retry(Exception):
    """A git step failed in a tree; the tree is started over once."""


def _slug(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _remove(path: Path) -> None:
    """Remove a file, link or folder at ``path`` (never following a link)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        _wipe(path)


def _wipe(path: Path) -> None:
    """Remove a folder a candidate may have made hard to remove (read-only parts)."""
    if path.is_symlink():
        path.unlink()
        return
    if not path.exists():
        return
    try:
        shutil.rmtree(path)
    except OSError:
        # Read-only folders: make every folder ours again (links are not followed).
        # Top-down: a folder is made readable before the walk lists it.
        with contextlib.suppress(OSError):
            os.chmod(path, stat.S_IRWXU)
        for folder, dirs, _files in os.walk(path):
            for name in dirs:
                inner = os.path.join(folder, name)
                if not os.path.islink(inner):
                    with contextlib.suppress(OSError):
                        os.chmod(inner, stat.S_IRWXU)
        shutil.rmtree(path)
