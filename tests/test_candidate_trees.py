"""Candidate trees are not linked worktrees: git run in them never reaches the user's repo."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

import pytest

from pytest_genopt.workspace import GENOPT_DIR, Workspace
from tests.conftest import git, init_repo

if TYPE_CHECKING:
    from pathlib import Path


def fingerprint(repo: Path) -> dict[str, Any]:
    """What 'the user's repository is untouched' means: HEAD, refs, index, stash, config, hooks."""
    gitdir = repo / ".git"
    hooks = gitdir / "hooks"
    return {
        "head": (gitdir / "HEAD").read_bytes(),
        "refs": set(git(repo, "for-each-ref", "--format=%(refname) %(objectname)").splitlines()),
        "index": hashlib.sha256((gitdir / "index").read_bytes()).hexdigest(),
        "stash": git(repo, "stash", "list"),
        "config": (gitdir / "config").read_bytes(),
        "hooks": sorted((p.name, p.read_bytes()) for p in hooks.iterdir()),
        "worktrees": git(repo, "worktree", "list", "--porcelain"),
    }


def in_tree(cand: Path, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, shell=True, cwd=cand, capture_output=True, text=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = init_repo(tmp_path / "repo", {"calc.py": "X = 1\n", "tests/test_x.py": "T = 1\n"})
    git(path, "commit", "-q", "--allow-empty", "-m", "second")
    return path


def test_git_in_a_candidate_tree_never_reaches_the_users_repo(repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    git(repo, "remote", "add", "origin", str(bare))
    before = fingerprint(repo)
    marker = tmp_path / "hook-ran"
    with Workspace.create(repo, "r1") as ws:
        cand = ws.candidate(0)
        attacks = [
            "git branch -D genopt/r1",
            "git update-ref refs/heads/main HEAD~0",
            "git update-ref refs/heads/genopt/r1 HEAD~1",
            "echo changed > calc.py && git stash",
            "git config user.name x",
            "git push",
            "git push origin HEAD:refs/heads/main",
            "git checkout -q -b evil && git commit -q --allow-empty -m evil",
        ]
        for command in attacks:
            in_tree(cand, command)
        assert in_tree(cand, "git push").returncode != 0
        # Leave traps for the controller's next reset: a forged index, hooks, fsmonitor.
        (cand / "tests" / "test_x.py").write_text("T = 2\n")
        in_tree(cand, "git add tests/test_x.py")  # the index now agrees with the change
        (cand / "stale.py").write_text("S = 1\n")
        in_tree(cand, f"git config core.fsmonitor 'touch {marker}'")
        (cand / ".git" / "hooks").mkdir(exist_ok=True)
        for hook in ("post-checkout", "pre-commit", "reference-transaction"):
            script = cand / ".git" / "hooks" / hook
            script.write_text(f"#!/bin/sh\ntouch {marker}\n")
            script.chmod(0o755)
        assert not marker.exists()
        again = ws.candidate(0)
        assert again == cand
        assert (cand / "tests" / "test_x.py").read_text() == "T = 1\n"
        assert (cand / "calc.py").read_text() == "X = 1\n"
        assert not (cand / "stale.py").exists()
        assert in_tree(cand, "git stash list").stdout == ""
        assert in_tree(cand, "git config --local user.name").stdout == ""
        assert in_tree(cand, "git branch --list evil").stdout == ""
        assert git(cand, "rev-parse", "HEAD").strip() == ws.head
        sha = ws.commit({"calc.py": "X = 2\n"}, "still works")
        assert git(ws.candidate(0), "rev-parse", "HEAD").strip() == sha
    assert not marker.exists()
    assert fingerprint(repo) == {**before, "refs": before["refs"] | {f"refs/heads/genopt/r1 {sha}"}}
    assert git(bare, "for-each-ref") == ""


def test_a_redirected_dot_git_is_replaced_not_followed(repo: Path) -> None:
    before = fingerprint(repo)
    with Workspace.create(repo, "r1") as ws:
        cand = ws.candidate(0)
        shutil.rmtree(cand / ".git")
        (cand / ".git").write_text(f"gitdir: {repo / '.git'}\n")
        (cand / "calc.py").write_text("changed\n")
        ws.candidate(0)
        assert (cand / ".git").is_dir()
        assert (cand / "calc.py").read_text() == "X = 1\n"
        (cand / "tests").chmod(0o500)  # a folder the reset cannot write into
        (cand / "calc.py").unlink()
        (cand / "calc.py").mkdir()  # a folder where a file belongs
        ws.candidate(0)
        assert (cand / "calc.py").read_text() == "X = 1\n"
        shutil.rmtree(cand / ".git")
        (cand / ".git").symlink_to(repo / ".git")  # never removed through the link
        ws.candidate(0)
        assert not (cand / ".git").is_symlink()
    run_branch = f"refs/heads/genopt/r1 {ws.base}"
    assert fingerprint(repo) == {**before, "refs": before["refs"] | {run_branch}}


def test_submodule_contents_are_present(tmp_path: Path) -> None:
    lib = init_repo(tmp_path / "lib", {"lib.py": "L = 1\n"})
    repo = init_repo(tmp_path / "repo", {"calc.py": "X = 1\n"})
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "vendor/lib")
    git(repo, "commit", "-q", "-m", "submodule")
    (lib / "lib.py").write_text("L = 2\n")  # the upstream moves on; the recorded commit stays
    git(lib, "commit", "-q", "-am", "upstream")
    before = fingerprint(repo)
    with Workspace.create(repo, "r1") as ws:
        cand = ws.candidate(0)
        assert (cand / "vendor" / "lib" / "lib.py").read_text() == "L = 1\n"
        assert git(cand, "status", "--porcelain") == ""
        assert in_tree(cand / "vendor" / "lib", "git remote").stdout == ""
        (cand / "vendor" / "lib" / "lib.py").write_text("tampered\n")
        (cand / "vendor" / "lib" / "junk.py").write_text("J = 1\n")
        in_tree(cand / "vendor" / "lib", "git stash -q")
        ws.write(0, {"calc.py": "X = 2\n"})
        cand = ws.candidate(0)
        assert (cand / "vendor" / "lib" / "lib.py").read_text() == "L = 1\n"
        assert not (cand / "vendor" / "lib" / "junk.py").exists()
        assert (cand / "calc.py").read_text() == "X = 1\n"
        shutil.rmtree(cand / "vendor" / "lib")
        (cand / "vendor" / "lib").symlink_to(repo / "vendor" / "lib")  # a link to the user's
        cand = ws.candidate(0)
        assert not (cand / "vendor" / "lib").is_symlink()
        assert (cand / "vendor" / "lib" / "lib.py").read_text() == "L = 1\n"
        assert (ws.candidate(1) / "vendor" / "lib" / "lib.py").is_file()
    assert fingerprint(repo)["index"] == before["index"]
    assert git(repo / "vendor" / "lib", "stash", "list") == ""
    assert (repo / "vendor" / "lib" / "lib.py").read_text() == "L = 1\n"
    assert (repo / "vendor" / "lib" / ".git").is_file()


def test_users_moved_worktree_stays_registered(repo: Path, tmp_path: Path) -> None:
    """A user's linked worktree whose folder is away (an unmounted disk) is not pruned."""
    git(repo, "worktree", "add", "-q", "-b", "feature", str(tmp_path / "wt"))
    (tmp_path / "wt").rename(tmp_path / "away")
    listed = git(repo, "worktree", "list", "--porcelain")
    assert "prunable" in listed
    ws = Workspace.create(repo, "r1")
    ws.candidate(0)
    ws.candidate(1)
    ws.commit({"calc.py": "X = 2\n"}, "one")
    ws.candidate(0)
    ws.close()
    Workspace.reopen(repo, "r1", "genopt/r1", ws.base).close()
    assert git(repo, "worktree", "list", "--porcelain") == listed
    assert (repo / ".git" / "worktrees" / "wt").is_dir()
    assert not (repo / GENOPT_DIR / "worktrees").exists()


def test_users_linked_worktree_and_shallow_clone_are_sources(repo: Path, tmp_path: Path) -> None:
    linked = tmp_path / "linked"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(linked))
    (linked / "calc.py").write_text("X = 3\n")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth=1", f"file://{repo}", str(shallow))
    for source in (linked, shallow):
        with Workspace.create(source, "r1") as ws:
            cand = ws.candidate(0)
            assert git(cand, "rev-parse", "HEAD").strip() == ws.head
            assert git(cand, "status", "--porcelain") == ""
            sha = ws.commit({"calc.py": "X = 4\n"}, "on top")
            assert (ws.candidate(0) / "calc.py").read_text() == "X = 4\n"
            assert git(cand, "log", "--format=%H").split()[0] == sha
    assert (linked / "calc.py").read_text() == "X = 3\n"
    assert git(repo, "rev-parse", "feature") == git(repo, "rev-parse", "main")


def test_changes_name_every_file_that_differs_from_the_reset(tmp_path: Path) -> None:
    """The tamper check's view of a tree: contents, not stat data; ignored caches left out."""
    lib = init_repo(tmp_path / "lib", {"lib.py": "L = 1\n"})
    repo = init_repo(
        tmp_path / "repo",
        {
            "calc.py": "X = 1\n",
            "tests/test_x.py": "T = 1\n",
            "data.txt": "d\n",
            ".gitignore": "build/\n__pycache__/\n",
        },
    )
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "vendor/lib")
    git(repo, "commit", "-q", "-m", "submodule")
    with Workspace.create(repo, "r1") as ws:
        cand = ws.candidate(0)
        assert ws.changes(0) == []
        # same size, same second: only a comparison of contents sees it
        (cand / "tests" / "test_x.py").write_text("T = 2\n")
        (cand / "data.txt").unlink()
        (cand / "conftest.py").write_text("X = 1\n")
        (cand / "build").mkdir()
        (cand / "build" / "conftest.py").write_text("ignored but consequential\n")
        (cand / "build" / "out.bin").write_text("ignored, harmless\n")
        (cand / "tests" / "__pycache__").mkdir()
        (cand / "tests" / "__pycache__" / "x.pyc").write_text("cache\n")
        (cand / "vendor" / "lib" / "lib.py").write_text("L = 2\n")
        found = {(c.path, c.kind) for c in ws.changes(0)}
        assert found == {
            ("tests/test_x.py", "changed"),
            ("data.txt", "deleted"),
            ("conftest.py", "created"),
            ("build/conftest.py", "created"),
            ("vendor/lib/lib.py", "changed"),
        }
        # what the candidate does to its own .git takes no part in the check
        in_tree(cand, "git add -A && git commit -q -m hide")
        assert {(c.path, c.kind) for c in ws.changes(0)} >= {("tests/test_x.py", "changed")}
        ws.candidate(0)
        assert ws.changes(0) == []
