"""`genopt review` and `genopt apply`: a real run's accepted edits, shown and brought
into a real working tree (or written as a patch), refusing over overlapping changes."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

from tests.conftest import git, tree_state
from tests.test_cli import genopt as genopt_command
from tests.test_loop import genopt, report_of

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

TWO_STEPS = """
ANSWERS = {
    1: {"edits": [{"parameter": "calc.py::add", "search": "return a - b",
                   "replace": "return a + b if a >= 0 else a - b"}],
        "rationale": "add for non-negative a\\n(the small cases pass)"},
    2: {"edits": [{"parameter": "calc.py::add", "search": "return a + b if a >= 0 else a - b",
                   "replace": "return a + b"}],
        "rationale": "add always"},
}


def propose(request):
    return ANSWERS[request["iteration"]]
"""


def test_review_shows_each_accepted_edit_and_apply_brings_the_diff_home(
    pytester: pytest.Pytester, calc_project: Path, tmp_path: Path
) -> None:
    (calc_project / "optimizer.py").write_text(TWO_STEPS)
    git(calc_project, "add", "optimizer.py")
    git(calc_project, "commit", "-qm", "optimizer")
    genopt(pytester, "--genopt-iterations=2", "--genopt-backend=python:optimizer:propose")
    report = report_of(calc_project)
    assert [i["decision"] for i in report["iterations"]] == ["accepted", "accepted"]

    shown = genopt_command("review", "--dir", str(calc_project))
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert out.startswith(f"genopt run {report['run']}: 2 accepted edit(s) on branch ")
    first, second = out.split("== iteration ")[1:]
    assert first.startswith("1: objective 0.2000 -> ")
    assert "   add for non-negative a\n   (the small cases pass)\n" in first
    assert "-    return a - b\n+    return a + b if a >= 0 else a - b" in first
    assert second.startswith("2: objective ")
    assert "+    return a + b\n" in second
    # the run's report.md says the same per accepted edit
    markdown = (calc_project / ".genopt" / "runs" / report["run"] / "report.md").read_text()
    commit = report["iterations"][0]["attempts"][0]["commit"]
    heading = f"### Iteration 1: commit {commit[:12]}, objective 0.2000 -> "
    assert heading in markdown

    # a dirty but unrelated working tree: the diff comes in, nothing else moves
    (calc_project / "notes.txt").write_text("mine\n")
    (calc_project / "optimizer.py").write_text(TWO_STEPS + "# my change\n")
    head = git(calc_project, "rev-parse", "HEAD")
    applied = genopt_command("apply", "--dir", str(calc_project))
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.startswith(f"genopt: applied run {report['run']}'s diff to 1 file(s)")
    assert "return a + b\n" in (calc_project / "calc.py").read_text()
    assert git(calc_project, "rev-parse", "HEAD") == head
    assert git(calc_project, "diff", "--cached", "--name-only") == ""  # not staged
    assert (calc_project / "notes.txt").read_text() == "mine\n"
    assert (calc_project / "optimizer.py").read_text().endswith("# my change\n")

    # overlapping changes: refused in one line, nothing changes
    before = tree_state(calc_project)
    refused = genopt_command("apply", "--dir", str(calc_project))
    assert refused.returncode == 2
    assert refused.stderr == (
        f"genopt: error: the working tree has changes in calc.py, which run {report['run']}'s "
        "diff also changes; commit or stash them first (nothing was applied)\n"
    )
    assert tree_state(calc_project) == before

    # up to one iteration, as a patch file that git applies to the start
    git(calc_project, "checkout", "--", "calc.py")
    patch = tmp_path / "run.patch"
    written = genopt_command(
        "apply", report["run"], "--iteration", "1", "--patch", str(patch), "--dir",
        str(calc_project),
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    assert "+    return a + b if a >= 0 else a - b" in patch.read_text()
    assert tree_state(calc_project)["files"]["calc.py"] == before["files"]["calc.py"].replace(
        b"return a + b\n", b"return a - b\n"
    )
    subprocess.run(["git", "-C", str(calc_project), "apply", "--check", str(patch)], check=True)
    again = genopt_command("apply", "--patch", str(patch), "--dir", str(calc_project))
    assert again.returncode == 2
    assert again.stderr == f"genopt: error: {patch} exists; choose a new file for the patch\n"
    missing = genopt_command("apply", "--iteration", "7", "--dir", str(calc_project))
    assert missing.stderr == (
        f"genopt: error: run {report['run']} accepted no edit at iteration 7; accepted at: 1, 2\n"
    )
