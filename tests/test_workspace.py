"""The git side of a run (pytest_genopt.workspace), against real repositories in tmp_path."""

from __future__ import annotations

import subprocess
import threading
from typing import TYPE_CHECKING

import pytest

from pytest_genopt.workspace import GENOPT_DIR, MissingFileError, Workspace, WorkspaceError
from tests.conftest import git, init_repo, tree_state

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


FILES = {
    "calc.py": "def add(a, b):\n    return a - b\n",
    "notes.txt": "notes\n",
    "gone.txt": "to be deleted\n",
    "run.sh": "#!/bin/sh\necho hi\n",
    ".gitignore": "*.log\n",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A committed repository with a clean working tree."""
    path = init_repo(tmp_path / "repo", FILES)
    (path / "run.sh").chmod(0o755)
    git(path, "add", "run.sh")
    git(path, "commit", "-q", "-m", "executable")
    return path


@pytest.fixture
def ws(repo: Path) -> Iterator[Workspace]:
    workspace = Workspace.create(repo, "r1")
    yield workspace
    workspace.close()


def files_at(repo: Path, rev: str) -> dict[str, str]:
    names = git(repo, "ls-tree", "-r", "--name-only", rev).split()
    return {name: git(repo, "show", f"{rev}:{name}") for name in names}


def branches(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(refname)", "refs/heads/")


def trailers(repo: Path, rev: str) -> list[str]:
    message = git(repo, "log", "-1", "--format=%B", rev)
    parsed = subprocess.run(
        ["git", "interpret-trailers", "--parse"],
        input=message,
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return parsed.splitlines()


def make_dirty(repo: Path) -> None:
    """Staged, unstaged, partly staged, deleted, untracked and ignored changes."""
    (repo / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    git(repo, "add", "calc.py")  # staged
    (repo / "notes.txt").write_text("staged notes\n")
    git(repo, "add", "notes.txt")
    (repo / "notes.txt").write_text("working notes\n")  # partly staged: the tree wins
    (repo / "gone.txt").unlink()
    (repo / "new.py").write_text("NEW = 1\n")  # untracked, not ignored
    (repo / "debug.log").write_text("ignored\n")


# ---------------------------------------------------------------------- the start


def test_snapshot_is_the_working_tree_as_it_is(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    make_dirty(repo)
    ws = Workspace.create(repo, "r1")
    try:
        assert ws.base == ws.head != head
        assert git(repo, "rev-parse", f"{ws.base}^").strip() == head
        assert git(repo, "log", "-1", "--format=%s", ws.base).strip() == (
            "genopt: snapshot of the working tree for run r1"
        )
        assert files_at(repo, ws.base) == {
            ".gitignore": "*.log\n",
            "calc.py": "def add(a, b):\n    return a + b\n",
            "new.py": "NEW = 1\n",
            "notes.txt": "working notes\n",
            "run.sh": FILES["run.sh"],
        }
        assert git(repo, "rev-parse", "refs/heads/genopt/r1").strip() == ws.base
        assert ws.read("notes.txt") == "working notes\n"
        assert (repo / GENOPT_DIR / ".gitignore").read_text() == "*\n"
        assert git(repo, "status", "--porcelain", "--ignored", GENOPT_DIR) == "!! .genopt/\n"
    finally:
        ws.close()


def test_snapshot_leaves_out_what_appeared_after_the_session_began(repo: Path) -> None:
    """Untracked files the session's tests write are not the user's work: not in the start."""
    make_dirty(repo)  # new.py: untracked before the session (notes.txt is staged)
    (repo / "sub").mkdir()
    (repo / "sub" / "kept.txt").write_text("mine\n")
    before = Workspace.untracked_files(repo / "sub")  # from a rootdir below the top too
    assert before == {"new.py", "sub/kept.txt"}
    (repo / "report.xml").write_text("<written by a test/>\n")
    (repo / "sub" / "cache.json").write_text("{}\n")
    (repo / "calc.py").write_text("def add(a, b):\n    return b + a\n")  # tracked: kept
    (repo / "out").mkdir()  # more than one command line's worth of paths
    many = [f"out/{i:04}.txt" for i in range(1200)]
    for name in many:
        (repo / name).write_text("x\n")
    with Workspace.create(repo, "r1", untracked=before) as ws:
        names = set(files_at(repo, ws.base))
        assert {"new.py", "notes.txt", "sub/kept.txt", "calc.py"} <= names
        assert not names & {"report.xml", "sub/cache.json", *many}
        assert ws.created == sorted([*many, "report.xml", "sub/cache.json"])
        assert files_at(repo, ws.base)["calc.py"] == "def add(a, b):\n    return b + a\n"
    assert (repo / "report.xml").exists()  # the checkout is left as it is


def test_snapshot_never_contains_genopt_dir(repo: Path) -> None:
    """Even when the user's .genopt/.gitignore no longer ignores anything."""
    (repo / GENOPT_DIR / "runs" / "old").mkdir(parents=True)
    (repo / GENOPT_DIR / ".gitignore").write_text("")
    (repo / GENOPT_DIR / "runs" / "old" / "journal.jsonl").write_text("{}\n")
    (repo / "new.py").write_text("NEW = 1\n")
    with Workspace.create(repo, "r1") as ws:
        names = git(repo, "ls-tree", "-r", "--name-only", ws.base).split()
    assert "new.py" in names
    assert not [name for name in names if name.startswith(GENOPT_DIR)]
    assert (repo / GENOPT_DIR / ".gitignore").read_text() == ""  # the user's file stays


def test_clean_tree_starts_at_head(repo: Path) -> None:
    (repo / "debug.log").write_text("ignored files do not count\n")
    head = git(repo, "rev-parse", "HEAD").strip()
    with Workspace.create(repo, "r1") as ws:
        assert ws.base == ws.head == head
    assert git(repo, "rev-parse", "refs/heads/genopt/r1").strip() == head


@pytest.mark.parametrize("kind", ["tag", "sha"])
def test_start_revision(repo: Path, kind: str) -> None:
    first = git(repo, "rev-parse", "HEAD~1").strip()
    git(repo, "tag", "v1", first)
    make_dirty(repo)  # ignored: the start is the revision, not the working tree
    start = "v1" if kind == "tag" else first[:10]
    with Workspace.create(repo, "r1", branch="try/one", start=start) as ws:
        assert ws.base == ws.head == first
        assert ws.branch == "try/one"
        assert git(repo, "rev-parse", "refs/heads/try/one").strip() == first


# ---------------------------------------------------------------------- refusals


def _refusal(tmp_path: Path, case: str) -> tuple[Path, str, dict[str, str]]:
    if case == "not a repo":
        plain = tmp_path / "plain"
        plain.mkdir()
        return plain, f"genopt needs a git repository: {plain} is not inside one", {}
    if case == "no commits":
        empty = init_repo(tmp_path / "empty", {"a.py": "A = 1\n"}, commit=False)
        return empty, f"genopt needs a first commit in {empty.resolve()}: ", {}
    if case == "bare":
        bare = tmp_path / "bare.git"
        subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
        return bare, "is a bare repository", {}
    repo = init_repo(tmp_path / "repo", {"a.py": "A = 1\n"})
    if case == "branch exists":
        git(repo, "branch", "genopt/x")
        return (
            repo,
            "branch 'genopt/x' exists already; choose another with --genopt-branch"
            " or continue it with --genopt-resume",
            {},
        )
    if case == "bad branch name":
        return (
            repo,
            "--genopt-branch=bad..name: not a valid git branch name",
            {"branch": "bad..name"},
        )
    return repo, "--genopt-start=nope: not a commit in", {"start": "nope"}


@pytest.mark.parametrize(
    "case",
    ["not a repo", "no commits", "bare", "branch exists", "bad branch name", "bad start"],
)
def test_refusals_change_nothing(tmp_path: Path, case: str) -> None:
    rootdir, message, kwargs = _refusal(tmp_path, case)
    before = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    refs_before = git(rootdir, "for-each-ref") if case not in ("not a repo",) else ""
    with pytest.raises(WorkspaceError) as info:
        Workspace.create(rootdir, "x", **kwargs)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    after = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert after == before  # no .genopt/, no worktree, no new ref file
    if case != "not a repo":
        assert git(rootdir, "for-each-ref") == refs_before


def test_refuses_when_git_env_redirects(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_INDEX_FILE", str(repo / ".git" / "index"))
    with pytest.raises(WorkspaceError, match="GIT_INDEX_FILE set"):
        Workspace.create(repo, "r1")
    assert not (repo / GENOPT_DIR).exists()


def test_invalid_run_id(repo: Path) -> None:
    with pytest.raises(WorkspaceError, match="invalid run id"):
        Workspace.create(repo, "../evil")


# ---------------------------------------------------------------------- candidates


def test_candidate_is_a_clean_detached_tree_at_head(repo: Path, ws: Workspace) -> None:
    git(repo, "tag", "v1.0", "HEAD~1")
    worktrees = git(repo, "worktree", "list", "--porcelain")
    cand = ws.candidate(0)
    assert cand == repo.resolve() / GENOPT_DIR / "worktrees" / "r1" / "c0"
    assert git(cand, "rev-parse", "HEAD").strip() == ws.head
    # git metadata of its own: a real folder, no remote, hooks off, the user's tags
    assert (cand / ".git").is_dir()
    assert git(cand, "rev-parse", "--git-common-dir").strip() == ".git"
    assert git(cand, "remote") == ""
    assert git(cand, "config", "core.hooksPath").strip() == "/dev/null"
    assert git(cand, "describe", "--tags").strip().startswith("v1.0-1-g")
    assert git(repo, "worktree", "list", "--porcelain") == worktrees
    assert subprocess.run(["git", "symbolic-ref", "-q", "HEAD"], cwd=cand).returncode == 1
    assert (cand / "calc.py").read_text() == FILES["calc.py"]
    assert git(cand, "status", "--porcelain") == ""

    ws.write(0, {"calc.py": "changed\n", "pkg/stale.py": "STALE = 1\n"})
    (cand / "cache.log").write_text("ignored leftovers go too\n")
    assert (cand / "calc.py").read_text() == "changed\n"
    assert ws.candidate(0) == cand
    assert (cand / "calc.py").read_text() == FILES["calc.py"]
    assert not (cand / "pkg").exists()
    assert not (cand / "cache.log").exists()

    other = ws.candidate(1)
    assert other != cand
    assert git(other, "rev-parse", "HEAD").strip() == ws.head

    new = ws.commit({"calc.py": "committed\n"}, "better")
    assert git(ws.candidate(0), "rev-parse", "HEAD").strip() == new
    assert (cand / "calc.py").read_text() == "committed\n"


def test_write_needs_a_prepared_candidate(ws: Workspace) -> None:
    with pytest.raises(WorkspaceError, match=r"call candidate\(3\) first"):
        ws.write(3, {"calc.py": "x\n"})


@pytest.mark.parametrize("path", ["../outside.py", "/abs.py", ".genopt/x", ".git/config", ""])
def test_paths_must_stay_in_the_project(ws: Workspace, path: str) -> None:
    ws.candidate(0)
    with pytest.raises(WorkspaceError, match="not a file path inside the project"):
        ws.write(0, {path: "x\n"})
    with pytest.raises(WorkspaceError, match="not a file path inside the project"):
        ws.commit({path: "x\n"}, "nope")


def test_write_never_follows_symlinks_out(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    repo = init_repo(tmp_path / "repo", {"calc.py": "X = 1\n"})
    (repo / "ext").symlink_to(outside)
    (repo / "alias.py").symlink_to("calc.py")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "links")
    with Workspace.create(repo, "r1") as ws:
        cand = ws.candidate(0)
        with pytest.raises(WorkspaceError, match="leads outside the candidate worktree"):
            ws.write(0, {"ext/evil.py": "E = 1\n"})
        ws.write(0, {"alias.py": "A = 1\n"})
        assert not (cand / "alias.py").is_symlink()
        assert (cand / "calc.py").read_text() == "X = 1\n"
    assert list(outside.iterdir()) == []


def test_read(ws: Workspace) -> None:
    assert ws.read("calc.py") == FILES["calc.py"]
    assert ws.read("./calc.py") == FILES["calc.py"]
    with pytest.raises(KeyError):
        ws.read("missing.py")
    with pytest.raises(MissingFileError, match=r"no file missing\.py at"):
        ws.read("missing.py")


# ---------------------------------------------------------------------- commits


def test_commits_message_trailers_and_parents(repo: Path, ws: Workspace) -> None:
    c1 = ws.commit(
        {"calc.py": "def add(a, b):\n    return a + b\n"},
        "genopt: iteration 1",
        body="Fix the sign.\n\nThe optimizer said so.",
        trailers=[
            ("Genopt-Run", "r1"),
            ("Genopt-Iteration", "1"),
            ("Genopt-Objective", "0.2 -> 1.0"),
            ("Genopt-Backend", "python:m:f"),
        ],
    )
    assert ws.head == c1
    assert git(repo, "rev-parse", "refs/heads/genopt/r1").strip() == c1
    assert git(repo, "log", "-1", "--format=%s", c1).strip() == "genopt: iteration 1"
    assert "Fix the sign.\n\nThe optimizer said so.\n" in git(repo, "log", "-1", "--format=%b", c1)
    assert trailers(repo, c1) == [
        "Genopt-Run: r1",
        "Genopt-Iteration: 1",
        "Genopt-Objective: 0.2 -> 1.0",
        "Genopt-Backend: python:m:f",
    ]
    c2 = ws.commit(
        {"notes.txt": "new notes\n", "docs/new.md": "# new\n", "run.sh": "#!/bin/sh\n"},
        "second",
        trailers=[("Genopt-Iteration", "2")],
    )
    assert git(repo, "rev-list", "--parents", "-n", "1", c2).split() == [c2, c1]
    assert git(repo, "rev-list", "--parents", "-n", "1", c1).split() == [c1, ws.base]
    assert git(repo, "diff", "--name-only", ws.base, c1).split() == ["calc.py"]
    assert git(repo, "diff", "--name-only", c1, c2).split() == [
        "docs/new.md",
        "notes.txt",
        "run.sh",
    ]
    assert trailers(repo, c2) == ["Genopt-Iteration: 2"]
    assert git(repo, "log", "-1", "--format=%B", c2) == "second\n\nGenopt-Iteration: 2\n\n"
    assert git(repo, "ls-tree", c2, "run.sh").startswith("100755 ")  # mode kept
    assert ws.read("docs/new.md") == "# new\n"
    assert git(repo, "log", "-1", "--format=%an <%ae>", c2).strip() == (
        "Test Author <author@example.invalid>"
    )
    assert git(repo, "branch", "--show-current").strip() == "main"
    assert git(repo, "fsck", "--no-progress") == ""


def test_commit_without_changes_is_refused(repo: Path, ws: Workspace) -> None:
    """Design choice: a commit that changes nothing is an error, never an empty commit."""
    with pytest.raises(WorkspaceError, match="nothing to commit: the files are unchanged"):
        ws.commit({"calc.py": FILES["calc.py"]}, "same")
    with pytest.raises(WorkspaceError, match="nothing to commit: no files given"):
        ws.commit({}, "none")
    assert ws.head == ws.base == git(repo, "rev-parse", "refs/heads/genopt/r1").strip()


def test_commit_refuses_when_the_branch_moved(repo: Path, ws: Workspace) -> None:
    git(repo, "branch", "-f", "genopt/r1", "HEAD~1")
    with pytest.raises(WorkspaceError, match="was not updated") as info:
        ws.commit({"calc.py": "x = 1\n"}, "lost race")
    assert "\n" not in str(info.value)
    assert git(repo, "rev-parse", "genopt/r1").strip() == git(repo, "rev-parse", "HEAD~1").strip()


def test_commit_waits_for_a_ref_lock(repo: Path, ws: Workspace) -> None:
    lock = repo / ".git" / "refs" / "heads" / "genopt" / "r1.lock"
    lock.write_text("")
    timer = threading.Timer(0.15, lock.unlink)
    timer.start()
    try:
        sha = ws.commit({"calc.py": "x = 1\n"}, "after the lock")
    finally:
        timer.join()
    assert git(repo, "rev-parse", "genopt/r1").strip() == sha
    lock.write_text("")  # held for good: a clear one-line error after the retries
    with pytest.raises(WorkspaceError, match="cannot lock ref") as info:
        ws.commit({"calc.py": "x = 2\n"}, "never")
    assert "\n" not in str(info.value)


def test_identity_from_config_else_fallback(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("NAME", "EMAIL"):
        monkeypatch.delenv(f"GIT_AUTHOR_{var}")
        monkeypatch.delenv(f"GIT_COMMITTER_{var}")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-global-config"))
    with Workspace.create(repo, "fallback") as ws:
        sha = ws.commit({"calc.py": "x = 1\n"}, "fallback identity")
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", sha).strip() == (
        "pytest-genopt <genopt@localhost>|pytest-genopt <genopt@localhost>"
    )
    git(repo, "config", "user.name", "Repo User")
    git(repo, "config", "user.email", "repo@example.invalid")
    with Workspace.create(repo, "configured") as ws:
        sha = ws.commit({"calc.py": "x = 2\n"}, "configured identity")
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", sha).strip() == (
        "Repo User <repo@example.invalid>|Repo User <repo@example.invalid>"
    )


# ---------------------------------------------------------------------- diff, push, close


def test_diff(ws: Workspace) -> None:
    assert ws.diff() == ""
    ws.commit({"calc.py": "def add(a, b):\n    return a + b\n"}, "fix")
    diff = ws.diff()
    assert diff.startswith("diff --git a/calc.py b/calc.py\n")
    assert "-    return a - b\n+    return a + b\n" in diff
    assert ws.diff(ws.head, ws.base).count("+    return a - b\n") == 1
    with pytest.raises(WorkspaceError, match="cannot diff: nope is not a commit"):
        ws.diff("nope")


def test_push(repo: Path, ws: Workspace, tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    git(repo, "remote", "add", "origin", str(bare))
    sha = ws.commit({"calc.py": "x = 1\n"}, "pushed")
    ws.push("origin")
    assert git(bare, "rev-parse", "refs/heads/genopt/r1").strip() == sha
    ws.push(str(bare))  # a path or URL works too (nothing new: a no-op)

    with pytest.raises(WorkspaceError) as info:
        ws.push("missing")
    message = str(info.value)
    assert message == (
        "pushing 'genopt/r1' to missing failed: 'missing' does not appear to be a git repository"
    )


def test_close_removes_trees_and_keeps_the_branch(repo: Path) -> None:
    ws = Workspace.create(repo, "r1")
    ws.candidate(0)
    ws.candidate(2)
    assert len(git(repo, "worktree", "list").splitlines()) == 1  # no linked worktrees
    assert (repo / GENOPT_DIR / "worktrees" / "r1" / "c2" / "calc.py").is_file()
    ws.close()
    assert git(repo, "worktree", "list").split()[0] == str(repo.resolve())
    assert len(git(repo, "worktree", "list").splitlines()) == 1
    assert not (repo / GENOPT_DIR / "worktrees").exists()
    assert (repo / GENOPT_DIR / ".gitignore").exists()
    assert git(repo, "rev-parse", "refs/heads/genopt/r1").strip() == ws.head
    ws.close()  # idempotent
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_reopen_continues_the_branch(repo: Path) -> None:
    first = Workspace.create(repo, "r1")
    first.candidate(0)
    tip = first.commit({"calc.py": "x = 1\n"}, "one")
    # Interrupted: no close(); the stale worktree is replaced on first use.
    again = Workspace.reopen(repo, "r1", "genopt/r1", first.base)
    try:
        assert (again.base, again.head) == (first.base, tip)
        assert again.read("calc.py") == "x = 1\n"
        assert git(again.candidate(0), "rev-parse", "HEAD").strip() == tip
        assert again.commit({"calc.py": "x = 2\n"}, "two") != tip
    finally:
        again.close()
        first.close()
    assert len(git(repo, "worktree", "list").splitlines()) == 1
    with pytest.raises(WorkspaceError, match="branch 'genopt/zz' does not exist"):
        Workspace.reopen(repo, "zz", "genopt/zz", first.base)


# ---------------------------------------------------------------------- together


def test_two_concurrent_runs(repo: Path) -> None:
    results: dict[str, list[str]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run(run_id: str) -> None:
        try:
            barrier.wait()
            with Workspace.create(repo, run_id) as ws:
                shas = [ws.base]
                for i in range(5):
                    ws.candidate(0)
                    ws.write(0, {"calc.py": f"# {run_id} {i}\n"})
                    shas.append(ws.commit({"calc.py": f"# {run_id} {i}\n"}, f"{run_id} {i}"))
                results[run_id] = shas
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("ra", "rb")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for run_id, shas in results.items():
        log = git(repo, "rev-list", "--first-parent", f"refs/heads/genopt/{run_id}").split()
        assert log[:6] == shas[::-1]
        assert git(repo, "show", f"genopt/{run_id}:calc.py") == f"# {run_id} 4\n"
    assert git(repo, "fsck", "--no-progress", "--strict") == ""
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_rootdir_in_a_subdirectory(tmp_path: Path) -> None:
    repo = init_repo(
        tmp_path / "repo",
        {"proj/pytest.ini": "[pytest]\n", "proj/calc.py": "X = 1\n", "docs/a.md": "a\n"},
    )
    (repo / "docs" / "b.md").write_text("untracked elsewhere\n")
    (repo / "proj" / "calc.py").write_text("X = 2\n")
    with Workspace.create(repo / "proj", "r1") as ws:
        assert ws.repo_root == repo.resolve()
        assert ws.rootdir == (repo / "proj").resolve()
        assert ws.prefix == "proj"
        # the snapshot covers the whole work tree, not just the rootdir
        assert files_at(repo, ws.base)["docs/b.md"] == "untracked elsewhere\n"
        assert ws.read("calc.py") == "X = 2\n"
        cand = ws.candidate(0)
        assert cand == (repo / "proj").resolve() / GENOPT_DIR / "worktrees" / "r1" / "c0" / "proj"
        assert (cand / "calc.py").read_text() == "X = 2\n"
        ws.write(0, {"sub/new.py": "N = 1\n"})
        assert (cand / "sub" / "new.py").read_text() == "N = 1\n"
        sha = ws.commit({"calc.py": "X = 3\n"}, "sub")
        assert git(repo, "diff", "--name-only", ws.base, sha).split() == ["proj/calc.py"]
        assert "proj/calc.py" in ws.diff()
        # the diff is limited to the rootdir: docs/b.md differs from HEAD but is left out
        between = ws.diff("HEAD", ws.base)
        assert "proj/calc.py" in between
        assert "docs/b.md" not in between
        assert (repo / "proj" / GENOPT_DIR / ".gitignore").exists()
    assert not (repo / GENOPT_DIR).exists()


def test_users_checkout_is_untouched(repo: Path, tmp_path: Path) -> None:
    make_dirty(repo)
    (repo / "stashed.txt").write_text("x\n")
    git(repo, "stash", "push", "-q", "-u", "-m", "kept", "--", "stashed.txt")
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    before = tree_state(repo)
    # Read after tree_state: its `git status` may refresh the index's stat data.
    index_bytes = (repo / ".git" / "index").read_bytes()

    ws = Workspace.create(repo, "r1")
    for index in (0, 1):
        cand = ws.candidate(index)
        ws.write(index, {"calc.py": "def add(a, b):\n    return b + a\n", "extra.py": "E = 1\n"})
        (cand / "junk.log").write_text("junk\n")
    ws.commit({"calc.py": "def add(a, b):\n    return b + a\n"}, "one", trailers=[("K", "v")])
    ws.candidate(0)
    ws.commit({"extra.py": "E = 2\n"}, "two")
    ws.diff()
    ws.push(str(bare), untracked_ok=True)
    ws.close()

    assert (repo / ".git" / "index").read_bytes() == index_bytes
    after = tree_state(repo)
    for state in (before, after):
        state["files"] = {
            name: data
            for name, data in state["files"].items()
            if not name.startswith(f"{GENOPT_DIR}/")
        }
    assert after == before
    assert git(repo, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert sorted(p.name for p in (repo / GENOPT_DIR).iterdir()) == [".gitignore"]


# ---------------------------------------------------------------------- secrets at the start

SECRET_FILES = {
    ".env": "ANTHROPIC_API_KEY=sk-ant-xyz\n",
    "config/.env.production": "DB_PASSWORD=pw\n",
    "server.pem": "cert\n",
    "deploy/id_ed25519": "key\n",
    "notes/keep.txt": "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n",
}
KEPT_FILES = {".env.example": "ANTHROPIC_API_KEY=\n", "deploy/id_ed25519.pub": "ssh-ed25519 A\n"}


def test_snapshot_leaves_out_untracked_secrets(repo: Path, tmp_path: Path) -> None:
    for name, text in {**SECRET_FILES, **KEPT_FILES, "new.py": "NEW = 1\n"}.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    (repo / "tracked.env").write_text("committed by the user\n")  # tracked: theirs to keep
    git(repo, "add", "tracked.env")
    git(repo, "commit", "-q", "-m", "tracked env")
    (repo / "tracked.env").write_text("changed\n")
    before = tree_state(repo)
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    with Workspace.create(repo, "r1") as ws:
        names = set(git(repo, "ls-tree", "-r", "--name-only", ws.base).split())
        assert sorted(ws.left_out) == sorted(SECRET_FILES)
        assert not names & set(SECRET_FILES)
        assert {*KEPT_FILES, "new.py", "tracked.env"} <= names
        assert ws.base_is_dirty
        assert sorted(ws.untracked) == sorted([*KEPT_FILES, "new.py"])
        assert ws.base_review == f"git diff {ws.base[:12]}^ {ws.base[:12]}"
        cand = ws.candidate(0)
        assert not (cand / ".env").exists()
        assert (cand / "new.py").exists()
        # the review command shows what the base holds beyond HEAD
        review = git(repo, *ws.base_review.split()[1:])
        assert "+NEW = 1" in review
        assert "+changed" in review
        with pytest.raises(WorkspaceError) as info:
            ws.push(str(bare))
        assert str(info.value) == (
            "not pushing 'genopt/r1': its start holds 3 file(s) never committed"
            " (.env.example, deploy/id_ed25519.pub, new.py); review with"
            f" `git diff {ws.base[:12]}^ {ws.base[:12]}` and add --genopt-push-untracked"
            " to publish them"
        )
        assert git(bare, "for-each-ref") == ""  # the refusal changed nothing
        ws.push(str(bare), untracked_ok=True)
        assert git(bare, "rev-parse", "refs/heads/genopt/r1").strip() == ws.head
    again = Workspace.reopen(repo, "r1", "genopt/r1", ws.base)
    try:
        assert again.base_is_dirty
        assert again.untracked == ws.untracked
        assert again.left_out == []  # nothing was snapshotted this time
    finally:
        again.close()
    assert tree_state(repo) == before


def test_clean_or_given_start_is_not_dirty(repo: Path, tmp_path: Path) -> None:
    (repo / ".env").write_text("TOKEN=x\n")  # left out, so the snapshot equals HEAD
    with Workspace.create(repo, "r1") as ws:
        assert ws.base == git(repo, "rev-parse", "HEAD").strip()
        assert ws.left_out == [".env"]
        assert (ws.base_is_dirty, ws.untracked, ws.base_review) == (False, [], None)
        bare = tmp_path / "remote.git"
        subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
        ws.push(str(bare))
    (repo / "new.py").write_text("NEW = 1\n")
    with Workspace.create(repo, "r2", start="HEAD~1") as ws:
        assert (ws.base_is_dirty, ws.untracked, ws.left_out) == (False, [], [])
