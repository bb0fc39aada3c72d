"""The git side of a genopt run: start snapshot, run branch, candidate trees, commits.

Everything goes through GitPython; plumbing commands are run with ``git`` itself where
GitPython has no API. The user's checkout (working tree, index, HEAD, stash, current
branch) is never modified:

* the start snapshot is built in a temporary index file (``GIT_INDEX_FILE``);
* commits are made with ``commit-tree`` from a temporary index and the branch ref is
  moved with ``update-ref`` against its expected old value (the branch need not be
  checked out anywhere);
* candidates live in trees of their own under ``<rootdir>/.genopt/worktrees/<run>/``,
  each with a ``.git`` of its own (not linked worktrees: see :mod:`pytest_genopt.trees`);
  the plugin never prunes or removes worktrees of the user's;
* untracked files that look like secrets are left out of the start snapshot.

Paths given to :meth:`Workspace.read`, :meth:`Workspace.write` and
:meth:`Workspace.commit` are relative to the pytest rootdir, which may be a
subdirectory of the repository.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
import time
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from pytest_genopt.redaction import looks_like_secret_file

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence
    from types import TracebackType

    from git import Repo

    from pytest_genopt.trees import CandidateTrees, Change

__all__ = ["GENOPT_DIR", "MissingFileError", "Workspace", "WorkspaceError"]

GENOPT_DIR = ".genopt"
"""Directory under the pytest rootdir that holds everything a run writes."""

# Lock contention between concurrent runs (or the user's own git) is transient.
_LOCK_MARKERS = ("index.lock", "Unable to create", "cannot lock ref")
# ...but these "lock" failures are final: retrying cannot change the outcome.
_FINAL_MARKERS = ("but expected", "already exists", "exists; cannot create")
_RETRIES = 5
_RETRY_SLEEP = 0.1

# Variables that would redirect our git commands to the user's index or work tree
# (set e.g. when pytest runs inside a git hook).
_REDIRECTING_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR")

_FALLBACK_NAME = "pytest-genopt"
_FALLBACK_EMAIL = "genopt@localhost"

_RUN_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_TRAILER_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_MODE_EXECUTABLE = 0o100755


class WorkspaceError(Exception):
    """A git problem; ``str(exc)`` is one line the plugin shows as is."""


class _GitFailed(WorkspaceError):
    """A git command failed; ``reason`` is git's own one-line explanation."""

    def __init__(self, command: str, reason: str) -> None:
        super().__init__(f"git {command} failed: {reason}")
        self.reason = reason


class MissingFileError(WorkspaceError, KeyError):
    """:meth:`Workspace.read` of a path that is not a file at head (also a ``KeyError``)."""

    def __str__(self) -> str:
        # KeyError would quote the message; keep it one plain line.
        return str(self.args[0]) if self.args else ""


def _one_line(stderr: str) -> str:
    """The most telling line of git's stderr, without the ``fatal:``/``error:`` prefix."""
    lines = [line.strip() for line in stderr.splitlines()]
    lines = [line for line in lines if line and not line.startswith("hint:")]
    if not lines:
        return "no message from git"
    for prefixes in (("! [",), ("fatal:",), ("error:",)):
        for line in lines:
            if line.startswith(prefixes):
                for prefix in ("fatal:", "error:"):
                    line = line.removeprefix(prefix)
                return line.strip()
    return lines[-1]


def _rel_path(path: str) -> str:
    """Validate a rootdir-relative path and return it normalised, '/'-separated."""
    pure = PurePosixPath(path)
    parts = [part for part in pure.parts if part != "."]
    if (
        not path
        or pure.is_absolute()
        or not parts
        or ".." in parts
        or ".git" in parts
        or parts[0] == GENOPT_DIR
    ):
        raise WorkspaceError(f"not a file path inside the project: {path!r}")
    return "/".join(parts)


def _commit_message(summary: str, body: str, trailers: Sequence[tuple[str, str]]) -> str:
    """``summary``, ``body`` (if any) and the trailers as ``Key: value`` lines.

    Raises ValueError for a trailer whose key is not letters, digits and dashes or whose
    value is not one line.
    """
    for key, value in trailers:
        if not _TRAILER_KEY.fullmatch(key) or "\n" in value or "\r" in value:
            raise ValueError(f"invalid commit trailer {key!r}: {value!r}")
    paragraphs = [summary, body.strip(), "\n".join(f"{k}: {v}" for k, v in trailers)]
    return "\n\n".join(p for p in paragraphs if p)


def _subcommand(args: Sequence[str]) -> str:
    """The git subcommand in ``args`` (after options like ``-C dir`` or ``-c k=v``)."""
    rest = list(args)
    while rest and rest[0].startswith("-"):
        rest = rest[2:] if rest[0] in ("-C", "-c") else rest[1:]
    return rest[0] if rest else "command"


def _check_run_id(run_id: str) -> None:
    if not _RUN_ID.fullmatch(run_id):
        raise WorkspaceError(
            f"invalid run id {run_id!r}: use letters, digits, '.', '_' and '-' only"
        )


class Workspace:
    """The git state of one run: its branch, its start (``base``) and best (``head``).

    Create with :meth:`create` (a new run) or :meth:`reopen` (resuming). Methods may be
    called from several threads as long as each candidate index is used by one thread.
    """

    repo_root: Path
    """The git top level."""
    rootdir: Path
    """The pytest rootdir (the repository root or a directory inside it)."""
    prefix: str
    """``rootdir`` relative to ``repo_root``, '/'-separated; ``""`` when they are equal."""
    run_id: str
    """The run's id."""
    branch: str
    """The run's branch (short name, without ``refs/heads/``)."""
    base: str
    """Sha of the start commit."""
    head: str
    """Sha of the branch tip: the current best."""
    left_out: list[str]
    """Untracked files the start snapshot left out as likely secrets (repository-relative)."""
    created: list[str]
    """Untracked files the start snapshot left out as made by the session (repository-relative)."""
    base_is_dirty: bool
    """Whether ``base`` is a snapshot holding changes that are not committed in HEAD."""
    untracked: list[str]
    """Files ``base`` adds that its parent commit does not have (untracked or staged new)."""

    def __init__(
        self, repo: Repo, rootdir: Path, run_id: str, branch: str, base: str, head: str
    ) -> None:
        """Internal: use :meth:`create` or :meth:`reopen`."""
        self._repo = repo
        self.repo_root = Path(str(repo.working_tree_dir))
        self.rootdir = rootdir
        relative = rootdir.relative_to(self.repo_root).as_posix()
        self.prefix = "" if relative == "." else relative
        self.run_id = run_id
        self.branch = branch
        self.base = base
        self.head = head
        self.left_out = []
        self.created = []
        self.base_is_dirty = False
        self.untracked = []
        self._lock = threading.Lock()
        self._worktrees: dict[int, Path] = {}
        self._trees: CandidateTrees | None = None
        self._identity: dict[str, str] | None = None

    # ------------------------------------------------------------------ opening

    @classmethod
    def create(
        cls,
        rootdir: Path,
        run_id: str,
        *,
        branch: str | None = None,
        start: str | None = None,
        untracked: Collection[str] | None = None,
    ) -> Workspace:
        """Start a run: make its branch at the start commit and return the workspace.

        The start is ``start`` (any revision naming a commit) when given, else a
        snapshot commit of the working tree as it is (tracked files with their
        uncommitted changes, deletions, untracked files that are not ignored), whose
        parent is HEAD; when that snapshot equals HEAD, the start is HEAD itself.
        ``untracked`` (from :meth:`untracked_files` as the session began) leaves out
        the untracked files that appeared since: what the session's tests wrote.

        Refuses with :class:`WorkspaceError`, before changing anything, when rootdir is
        not in a git work tree, the repository has no commit, the branch exists, or
        ``start`` does not name a commit.
        """
        _check_run_id(run_id)
        branch = branch if branch is not None else f"genopt/{run_id}"
        ws = cls._open(rootdir, run_id, branch)
        try:
            ws._start(start, untracked)
        except BaseException:
            ws._repo.close()
            raise
        return ws

    @classmethod
    def untracked_files(cls, rootdir: Path) -> frozenset[str]:
        """The untracked, not ignored files of ``rootdir``'s work tree now
        (repository-relative), read only: taken as the session begins."""
        ws = cls._open(rootdir, "", "")
        try:
            return frozenset(ws._others())
        finally:
            ws._repo.close()

    @classmethod
    def reopen(cls, rootdir: Path, run_id: str, branch: str, base: str) -> Workspace:
        """Continue a run on its existing ``branch``: head is the branch tip.

        ``base`` is the run's start commit (as recorded by the run); it must be an
        ancestor of the branch tip.
        """
        _check_run_id(run_id)
        ws = cls._open(rootdir, run_id, branch)
        try:
            ws._resume(base)
        except BaseException:
            ws._repo.close()
            raise
        return ws

    @classmethod
    def check(
        cls,
        rootdir: Path,
        run_id: str,
        *,
        branch: str | None = None,
        start: str | None = None,
        resume_base: str | None = None,
    ) -> None:
        """Raise what :meth:`create` (or :meth:`reopen` with ``resume_base``) would
        refuse with, changing nothing: no file, ref or object is written."""
        _check_run_id(run_id)
        ws = cls._open(rootdir, run_id, branch if branch is not None else f"genopt/{run_id}")
        try:
            if resume_base is None:
                ws._check_start(start)
            else:
                ws._check_resume(resume_base)
        finally:
            ws._repo.close()

    @classmethod
    def _open(cls, rootdir: Path, run_id: str, branch: str) -> Workspace:
        """Find the repository of ``rootdir`` and check it can host a run."""
        import git

        for name in _REDIRECTING_ENV:
            if os.environ.get(name):
                raise WorkspaceError(
                    f"genopt cannot run with {name} set (inside a git hook?): unset it and"
                    " run again"
                )
        root = Path(rootdir).resolve()
        try:
            repo = git.Repo(root, search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise WorkspaceError(
                f"genopt needs a git repository: {rootdir} is not inside one"
                " (run `git init` and commit)"
            ) from None
        except git.GitCommandNotFound:
            raise WorkspaceError("genopt needs git: the git command was not found") from None
        if repo.bare or repo.working_tree_dir is None:
            repo.close()
            raise WorkspaceError(
                f"genopt needs a git work tree: {repo.git_dir} is a bare repository"
            )
        top = Path(str(repo.working_tree_dir)).resolve()
        try:
            inside = root.relative_to(top).parts[:1] != (".git",)
        except ValueError:
            inside = False
        if not inside:
            repo.close()
            raise WorkspaceError(
                f"genopt needs a git repository: {rootdir} is not inside one"
                " (run `git init` and commit)"
            )
        # Re-open at the resolved top level so that every path we derive is canonical.
        repo.close()
        repo = git.Repo(top)
        return cls(repo, root, run_id, branch, "", "")

    def _start(self, start: str | None, untracked: Collection[str] | None) -> None:
        """Check everything, then make the branch at the start commit (see create)."""
        start_sha = self._check_start(start)
        # Checks done; from here on we change things (never the user's checkout).
        self._ensure_genopt_dir()
        base = start_sha if start_sha is not None else self._snapshot(untracked)
        # The empty old value makes this fail if the branch appeared meanwhile.
        ref = f"refs/heads/{self.branch}"
        self._git("update-ref", "-m", f"genopt: start run {self.run_id}", ref, base, "")
        self.base = self.head = base
        self._describe_base()

    def _check_start(self, start: str | None) -> str | None:
        """Refuse a run that cannot start (read-only); the sha ``start`` names, if given."""
        ref = f"refs/heads/{self.branch}"
        if self._git_ok("check-ref-format", ref) is None:
            raise WorkspaceError(f"--genopt-branch={self.branch}: not a valid git branch name")
        if self._resolve(ref) is not None:
            raise WorkspaceError(
                f"branch '{self.branch}' exists already; choose another with --genopt-branch"
                " or continue it with --genopt-resume"
            )
        start_sha = self._resolve(start) if start is not None else None
        if start_sha is None and self._resolve("HEAD") is None:
            raise WorkspaceError(
                f"genopt needs a first commit in {self.repo_root}: commit your files"
                " (git add -A && git commit) and run again"
            )
        if start is not None and start_sha is None:
            raise WorkspaceError(
                f"--genopt-start={start}: not a commit in {self.repo_root}"
                " (give a branch, tag or commit sha)"
            )
        return start_sha

    def _resume(self, base: str) -> None:
        """Check the branch and ``base`` of a run to continue (see reopen)."""
        self.base, self.head = self._check_resume(base)
        self._ensure_genopt_dir()
        self._describe_base()

    def _check_resume(self, base: str) -> tuple[str, str]:
        """Refuse a run that cannot be continued (read-only); its base and head shas."""
        head = self._resolve(f"refs/heads/{self.branch}")
        if head is None:
            raise WorkspaceError(
                f"branch '{self.branch}' does not exist: cannot resume run {self.run_id}"
            )
        base_sha = self._resolve(base)
        if base_sha is None:
            raise WorkspaceError(
                f"start commit {base} of run {self.run_id} is not in {self.repo_root}"
            )
        if self._git_ok("merge-base", "--is-ancestor", base_sha, head) is None:
            raise WorkspaceError(
                f"start commit {base} of run {self.run_id} is not an ancestor of branch"
                f" '{self.branch}'"
            )
        return base_sha, head

    def _describe_base(self) -> None:
        """Set base_is_dirty and untracked from the base commit (create and reopen alike)."""
        subject = self._git("log", "-1", "--format=%s", self.base).strip()
        parent = self._resolve(f"{self.base}^")
        self.base_is_dirty = parent is not None and subject == self._snapshot_subject()
        self.untracked = []
        if self.base_is_dirty and parent is not None:
            out = self._git(
                "diff", "--name-only", "--no-renames", "--diff-filter=A", "-z", parent, self.base
            )
            self.untracked = [name for name in out.split("\0") if name]

    @property
    def base_review(self) -> str | None:
        """The command that shows what ``base`` holds beyond HEAD, or None when clean."""
        if not self.base_is_dirty:
            return None
        short = self.base[:12]
        return f"git diff {short}^ {short}"

    def _snapshot_subject(self) -> str:
        return f"genopt: snapshot of the working tree for run {self.run_id}"

    def _ensure_genopt_dir(self) -> None:
        """Create ``<rootdir>/.genopt/.gitignore`` (``*``) so git ignores the directory."""
        genopt = self.rootdir / GENOPT_DIR
        try:
            genopt.mkdir(exist_ok=True)
            # Exclusive create: two runs starting at once must not truncate each other's,
            # and a .gitignore the user changed is theirs.
            with open(genopt / ".gitignore", "x", encoding="utf-8") as fh:
                fh.write("*\n")
        except FileExistsError:
            pass
        except OSError as exc:
            raise WorkspaceError(f"cannot create {genopt}: {exc.strerror or exc}") from None

    def _snapshot(self, untracked: Collection[str] | None) -> str:
        """Commit the working tree as it is (parent HEAD) without touching the index,
        but for untracked files that look like secrets or are not in ``untracked``."""
        head = self._rev("HEAD")
        genopt = f"{self.prefix}/{GENOPT_DIR}" if self.prefix else GENOPT_DIR
        with tempfile.TemporaryDirectory(prefix="genopt-index-") as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self._git("read-tree", head, env=env)
            # ':/' is the whole work tree whatever the cwd.  .genopt/ is ignored by its
            # own .gitignore; removing it from the temporary index afterwards is a second
            # guard (an exclude pathspec would make `git add` fail when the user's own
            # .gitignore names .genopt too).
            self._git("add", "-A", "--", ":/", env=env)
            others = self._others()
            left_out = [n for n in others if looks_like_secret_file(self.repo_root / n)]
            created = [n for n in others if untracked is not None and n not in untracked]
            dropped = [f":(top,literal){p}" for p in sorted({*left_out, *created})]
            # a suite may write thousands of files: a few hundred paths per command line
            for paths in [[f":(top,literal){genopt}"]] + [
                dropped[i : i + 500] for i in range(0, len(dropped), 500)
            ]:
                self._git(
                    "rm", "-r", "--cached", "--quiet", "--ignore-unmatch", "--", *paths, env=env
                )  # fmt: skip
            tree = self._git("write-tree", env=env).strip()
        self.left_out, self.created = left_out, [n for n in created if n not in left_out]
        if tree == self._rev("HEAD^{tree}"):
            return head
        message = self._snapshot_subject()
        return self._git(
            "commit-tree", "--no-gpg-sign", tree, "-p", head, "-m", message, env=self._ident()
        ).strip()

    def _others(self) -> list[str]:
        """Untracked, not ignored files (repository-relative), ``.genopt/`` aside."""
        out = self._git("ls-files", "-z", "--others", "--exclude-standard", "--full-name", "--",
                        ":/")  # fmt: skip
        genopt = f"{self.prefix}/{GENOPT_DIR}/" if self.prefix else f"{GENOPT_DIR}/"
        return [name for name in out.split("\0") if name and not name.startswith(genopt)]

    # ------------------------------------------------------------------ reading

    def read(self, path: str) -> str:
        """Text (UTF-8) of the rootdir-relative file ``path`` at head.

        Raises :class:`MissingFileError` (a ``WorkspaceError`` and a ``KeyError``) when
        there is no such file.
        """
        rel = _rel_path(path)
        full = self._full(rel)
        with self._lock:
            try:
                obj = self._repo.commit(self.head).tree / full
            except KeyError:
                obj = None
            if obj is None or obj.type != "blob":
                raise MissingFileError(f"no file {rel} at {self.head[:12]} on '{self.branch}'")
            data = obj.data_stream.read()
        try:
            return bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise WorkspaceError(f"{rel} is not UTF-8 text") from None

    def tree_with(self, files: Mapping[str, str]) -> str:
        """The git tree id of head with rootdir-relative ``files`` (text) written over it.

        It names what a candidate tree holding ``files`` holds; nothing is written.
        """
        from pytest_genopt.treeid import tree_id

        data = {
            self._full(_rel_path(name)): text.encode("utf-8", "surrogatepass")
            for name, text in files.items()
        }
        with self._lock:
            odb = self._repo.odb
            root = self._repo.commit(self.head).tree.binsha
            return tree_id(lambda sha: bytes(odb.stream(sha).read()), root, data).hex()

    def parent(self, rev: str) -> str | None:
        """Sha of the first parent of the commit ``rev`` names, or None."""
        return self._resolve(f"{rev}^")

    def diff(self, old: str | None = None, new: str | None = None) -> str:
        """Unified diff ``old..new`` (default ``base..head``) of the files under rootdir.

        Paths in the diff are relative to the repository root, as ``git diff`` shows them.
        """
        revs = []
        for rev in (old or self.base, new or self.head):
            sha = self._resolve(rev)
            if sha is None:
                raise WorkspaceError(f"cannot diff: {rev} is not a commit")
            revs.append(sha)
        pathspec = [f":(top,literal){self.prefix}"] if self.prefix else []
        return self._git(
            "diff", "--no-color", "--no-ext-diff", "--no-textconv", *revs, "--", *pathspec
        )

    # ------------------------------------------------------------------ candidates

    def candidate(self, index: int = 0) -> Path:
        """Directory matching rootdir inside candidate ``index``'s tree, clean at head.

        The tree (``<rootdir>/.genopt/worktrees/<run>/c<index>``) has git metadata of its
        own, not shared with the user's repository (see :mod:`pytest_genopt.trees`). It
        is made on first use and reset on every call, checked out detached at head, so
        nothing is left from an earlier candidate; submodules the user has checked out
        are filled in.
        """
        if index < 0:
            raise WorkspaceError(f"candidate index must be >= 0, not {index}")
        from pytest_genopt.trees import CandidateTrees

        head = self.head
        with self._lock:
            if self._trees is None:
                self._trees = CandidateTrees(self._git, self._worktree_dir(), self.repo_root)
            trees = self._trees
        path = trees.prepare(index, head)
        with self._lock:
            self._worktrees[index] = path
        target = path / self.prefix if self.prefix else path
        target.mkdir(parents=True, exist_ok=True)
        return target

    def write(self, index: int, files: Mapping[str, str]) -> None:
        """Write rootdir-relative ``files`` (text) into candidate ``index``.

        Call :meth:`candidate` first: it resets the worktree to head.
        """
        with self._lock:
            path = self._worktrees.get(index)
        if path is None:
            raise WorkspaceError(
                f"candidate {index} is not prepared: call candidate({index}) first"
            )
        root = path.resolve()
        for name, text in files.items():
            target = root / self._full(_rel_path(name))
            # A symlinked directory in the tree must not lead the write outside.
            if not target.parent.resolve().is_relative_to(root):
                raise WorkspaceError(f"{name} leads outside the candidate worktree")
            try:
                if target.is_symlink():
                    target.unlink()  # replace the link itself, never write through it
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "w", encoding="utf-8", newline="") as fh:
                    fh.write(text)
            except OSError as exc:
                raise WorkspaceError(
                    f"cannot write {name} in candidate {index}: {exc.strerror or exc}"
                ) from None

    def changes(self, index: int) -> list[Change]:
        """Files of candidate ``index``'s tree that differ from its last reset.

        See :meth:`pytest_genopt.trees.CandidateTrees.changes`; paths are
        rootdir-relative (``:/path`` for a path of the repository outside it).
        """
        from pytest_genopt.trees import Change

        with self._lock:
            trees = self._trees
        if trees is None or index not in self._worktrees:
            raise WorkspaceError(f"candidate {index} is not prepared: call candidate({index})")
        lead = f"{self.prefix}/" if self.prefix else ""
        return [
            Change(c.path[len(lead) :] if c.path.startswith(lead) else f":/{c.path}", c.kind)
            for c in trees.changes(index)
        ]

    # ------------------------------------------------------------------ committing

    def commit(
        self,
        files: Mapping[str, str],
        summary: str,
        *,
        body: str = "",
        trailers: Sequence[tuple[str, str]] = (),
    ) -> str:
        """Commit ``files`` (rootdir-relative, text) on the branch on top of head.

        The tree is head's tree with ``files`` replaced; the message is ``summary``,
        ``body`` (if any) and the trailers as ``Key: value`` lines. The branch ref is
        moved from head to the new commit atomically (it fails if the branch moved).
        Refuses (:class:`WorkspaceError`) a commit that would change nothing.
        Returns the new commit's sha.
        """
        summary = " ".join(summary.split()) or "genopt: update"
        message = _commit_message(summary, body, trailers)
        entries = {self._full(_rel_path(name)): text for name, text in files.items()}
        if not entries:
            raise WorkspaceError("nothing to commit: no files given")
        with self._lock:
            old = self.head
            modes = self._modes(old, entries)
        with tempfile.TemporaryDirectory(prefix="genopt-commit-") as tmp:
            tree = self._write_tree(Path(tmp), old, entries, modes)
            if tree == self._rev(f"{old}^{{tree}}"):
                raise WorkspaceError(
                    f"nothing to commit: the files are unchanged from {old[:12]} on '{self.branch}'"
                )
            new = self._commit_tree(Path(tmp), tree, old, message)
        self._move_branch(old, new, summary)
        with self._lock:
            self.head = new
        return new

    def _modes(self, old: str, entries: Mapping[str, str]) -> dict[str, str]:
        """The git file mode of each path: executable where ``old`` has it so."""
        head_tree = self._repo.commit(old).tree
        modes = {}
        for full in entries:
            try:
                obj = head_tree / full
            except KeyError:
                obj = None
            executable = obj is not None and obj.type == "blob" and obj.mode == _MODE_EXECUTABLE
            modes[full] = "100755" if executable else "100644"
        return modes

    def _write_tree(
        self, tmp: Path, old: str, entries: Mapping[str, str], modes: Mapping[str, str]
    ) -> str:
        """The tree id of ``old`` with ``entries`` written over it, through an index in ``tmp``."""
        blobs = []
        for number, text in enumerate(entries.values()):
            blob = tmp / f"blob{number}"
            blob.write_bytes(text.encode("utf-8"))
            blobs.append(str(blob))
        # --no-filters: the text given is exactly the text committed.
        shas = self._git("hash-object", "-w", "--no-filters", "--", *blobs).split()
        env = {"GIT_INDEX_FILE": str(tmp / "index")}
        self._git("read-tree", old, env=env)
        cacheinfo: list[str] = []
        for full, sha in zip(entries, shas, strict=True):
            cacheinfo += ["--cacheinfo", f"{modes[full]},{sha},{full}"]
        self._git("update-index", "--add", *cacheinfo, env=env)
        return self._git("write-tree", env=env).strip()

    def _commit_tree(self, tmp: Path, tree: str, old: str, message: str) -> str:
        """Sha of a new commit of ``tree`` on top of ``old``; the message is written in ``tmp``."""
        # A file, not -m: a long body could pass the OS limit on one argument.
        message_file = tmp / "message"
        message_file.write_bytes(message.encode("utf-8") + b"\n")
        # --no-gpg-sign: an unattended loop must not stop at a signing prompt.
        return self._git(
            "commit-tree",
            "--no-gpg-sign",
            tree,
            "-p",
            old,
            "-F",
            str(message_file),
            env=self._ident(),
        ).strip()

    def _move_branch(self, old: str, new: str, summary: str) -> None:
        """Move the branch ref from ``old`` to ``new``; it fails if the branch moved."""
        ref = f"refs/heads/{self.branch}"
        try:
            reflog = f"genopt: {summary}"[:200]
            self._git("update-ref", "-m", reflog, ref, new, old)
        except _GitFailed as exc:
            raise WorkspaceError(
                f"branch '{self.branch}' was not updated (did something else move it?):"
                f" {exc.reason}"
            ) from None

    def push(self, remote: str, *, untracked_ok: bool = False) -> None:
        """Push the branch to ``remote`` (a remote name or URL) under the same name.

        Refuses, unless ``untracked_ok``, when the base holds files that were never
        committed (:attr:`untracked`): publishing them is the user's explicit choice.
        """
        if not remote or remote.startswith("-"):
            raise WorkspaceError(f"--genopt-push={remote}: not a remote name or URL")
        if self.untracked and not untracked_ok:
            count = len(self.untracked)
            shown = ", ".join(self.untracked[:3]) + (", ..." if count > 3 else "")
            raise WorkspaceError(
                f"not pushing '{self.branch}': its start holds {count} file(s) never"
                f" committed ({shown}); review with `{self.base_review}` and add"
                " --genopt-push-untracked to publish them"
            )
        ref = f"refs/heads/{self.branch}"
        try:
            # No credential prompt: a run at its end must fail rather than hang.
            self._git("push", remote, f"{ref}:{ref}", env={"GIT_TERMINAL_PROMPT": "0"})
        except _GitFailed as exc:
            raise WorkspaceError(
                f"pushing '{self.branch}' to {remote} failed: {exc.reason}"
            ) from None

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        """Remove this run's candidate trees and their directory; the branch stays.

        Idempotent. Never touches the user's worktree registrations (no prune).
        """
        from pytest_genopt.trees import CandidateTrees

        with self._lock:
            self._worktrees.clear()
            trees = self._trees or CandidateTrees(self._git, self._worktree_dir(), self.repo_root)
            self._trees = None
        run_dir = self._worktree_dir()
        with contextlib.suppress(OSError):
            trees.close()
        with contextlib.suppress(OSError):
            run_dir.parent.rmdir()  # .genopt/worktrees, when no other run uses it
        self._repo.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace({str(self.rootdir)!r}, run={self.run_id!r}, branch={self.branch!r})"

    # ------------------------------------------------------------------ helpers

    def _worktree_dir(self) -> Path:
        return self.rootdir / GENOPT_DIR / "worktrees" / self.run_id

    def _full(self, rel: str) -> str:
        """Repository-relative form of a (validated) rootdir-relative path."""
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def _ident(self) -> dict[str, str]:
        """Environment for commit-tree: the fallback identity where none is configured."""
        if self._identity is None:
            config: dict[str, str] = {}
            for line in (self._git_ok("config", "--list", "-z") or "").split("\0"):
                key, _, value = line.partition("\n")
                config[key.lower()] = value
            env = {}
            for role in ("author", "committer"):
                for field, fallback in (("name", _FALLBACK_NAME), ("email", _FALLBACK_EMAIL)):
                    var = f"GIT_{role.upper()}_{field.upper()}"
                    if not (
                        os.environ.get(var)
                        or config.get(f"{role}.{field}")
                        or config.get(f"user.{field}")
                    ):
                        env[var] = fallback
            self._identity = env
        return self._identity

    def _resolve(self, rev: str) -> str | None:
        """Sha of the commit ``rev`` names, or None."""
        out = self._git_ok(
            "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"
        )
        return out.strip() if out else None

    def _rev(self, rev: str) -> str:
        return self._git("rev-parse", "--verify", "--end-of-options", rev).strip()

    def _git_ok(self, *args: str) -> str | None:
        """Run git; its stdout, or None when it fails (an expected outcome, not an error)."""
        try:
            return self._git(*args)
        except WorkspaceError:
            return None

    def _git(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        """Run ``git args`` at the repository root; stdout, or WorkspaceError (one line).

        Retries a few times when git fails on a lock held by another process.
        """
        import git

        exe = str(getattr(git.Git, "GIT_PYTHON_GIT_EXECUTABLE", None) or "git")
        command = [exe, *args]
        name = _subcommand(args)
        for attempt in range(_RETRIES + 1):
            try:
                status, out, err = self._repo.git.execute(
                    command,
                    with_extended_output=True,
                    with_exceptions=False,
                    strip_newline_in_stdout=False,
                    env=env,
                )
            except git.GitCommandNotFound:
                raise WorkspaceError("genopt needs git: the git command was not found") from None
            if status == 0:
                return out
            transient = any(m in err for m in _LOCK_MARKERS) and not any(
                m in err for m in _FINAL_MARKERS
            )
            if not transient or attempt == _RETRIES:
                break
            time.sleep(_RETRY_SLEEP)
        raise _GitFailed(name, _one_line(err))
