"""The run's evaluation cache: a candidate tree evaluated once is not evaluated again."""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING, Any

import pytest

from pytest_genopt.evalcache import EvaluationCache, Stage
from pytest_genopt.evidence import Trial
from pytest_genopt.treeid import tree_id
from tests.conftest import BUGGY_CALC, CALC_TESTS, git, init_repo
from tests.test_loop import genopt, report_of

if TYPE_CHECKING:
    from pathlib import Path

BONUS_TESTS = f"""{CALC_TESTS}

# genopt: begin bonus
BONUS = 0
# genopt: end


def test_bonus():
    assert BONUS == 1
"""

WRONG = "def add(a, b):\n    return a * b\n"
BONUS = {"parameter": "tests/test_calc.py::bonus", "text": "BONUS = 1\n"}
# writes into its own module file when imported: the tree is tampered with
TAMPER = 'def add(a, b, _t=open(__file__, "a").write("# x\\n")):\n    return a + b\n'
# right under genopt's worker, wrong under the clean re-run's --junitxml
GRADER_AWARE = (
    "def add(a, b):\n"
    "    import sys\n"
    "    rerun = any(w.startswith('--junitxml') for w in sys.argv)\n"
    "    return a - b if rerun else a + b\n"
)

# two edits, each changing something, that together change nothing
UNDONE = [
    {"parameter": "calc.py::add", "search": "return a - b", "replace": "return a + b"},
    {"parameter": "calc.py::add", "search": "return a + b", "replace": "return a - b"},
]

# iteration -> the edits of each of its candidates, in the order they are asked
OPTIMIZER = """\
import json

PLAN = json.loads(open("plan.json").read())
asked = {}


def propose(request):
    iteration = str(request["iteration"])
    index = asked[iteration] = asked.get(iteration, -1) + 1
    return {"edits": PLAN[iteration][index], "rationale": f"plan {iteration}.{index}"}
"""


def add(text: str) -> list[dict[str, str]]:
    return [{"parameter": "calc.py::add", "text": text}]


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = pytester.path / "project"
    path.mkdir()
    monkeypatch.chdir(path)
    pytester.syspathinsert(path)
    return init_repo(
        path,
        {
            "calc.py": BUGGY_CALC,
            "tests/test_calc.py": BONUS_TESTS,
            "pytest.ini": "[pytest]\npythonpath = .\n",
            "optimizer.py": OPTIMIZER,
            ".gitignore": "plan.json\n",
        },
    )


def plan(project: Path, steps: dict[int, list[list[dict[str, str]]]]) -> None:
    (project / "plan.json").write_text(json.dumps({str(k): v for k, v in steps.items()}))


def attempts(report: dict[str, Any]) -> dict[int, list[dict[str, Any]]]:
    return {i["iteration"]: i["attempts"] for i in report["iterations"]}


ARGS = ("--genopt-backend=python:optimizer:propose", "--genopt-batch-size=8", "--genopt-seed=0")


def test_a_repeated_tree_is_not_evaluated_again_and_integrity_still_holds(
    pytester: pytest.Pytester, project: Path
) -> None:
    plan(
        project,
        {
            1: [add(WRONG)],
            2: [add(WRONG)],  # the same tree: cached
            3: [[BONUS]],  # accepted: the test file at head changes
            4: [add(WRONG)],  # the same text in another tree: evaluated
            5: [UNDONE],  # the current best's files again: no pytest at all
            6: [add(TAMPER)],
            7: [add(TAMPER)],  # cached, and still the tampering it was
            8: [add(GRADER_AWARE)],
            9: [add(GRADER_AWARE)],  # cached stages; the clean re-run still runs
        },
    )
    result = genopt(pytester, "--genopt-iterations=9", *ARGS)
    report = report_of(project)
    done = {i: a[0] for i, a in attempts(report).items()}
    assert [done[i]["decision"] for i in range(1, 10)] == [
        "rejected", "rejected", "accepted", "rejected", "rejected",
        "invalid", "invalid", "invalid", "invalid",
    ]  # fmt: skip
    assert [i for i in range(1, 10) if done[i]["cached"]] == [2, 5, 7, 9]
    assert done[2]["reused"] == [{"stage": "batch", "iteration": 1, "candidate": 0}]
    assert done[2]["reason"] == done[1]["reason"]
    assert done[4]["reused"] == []
    head = done[3]["commit"]
    assert done[5]["reused"] == [{"stage": "batch", "best": head}]
    assert done[5]["reason"] == "the proposal changes nothing: its files are the current best's"
    assert "changed calc.py during evaluation" in done[6]["reason"]
    assert done[7]["reason"] == done[6]["reason"]
    assert done[7]["reused"] == [{"stage": "batch", "iteration": 6, "candidate": 0}]
    assert "results differ on a clean re-run" in done[9]["reason"]
    assert done[9]["reused"] == [
        {"stage": "batch", "iteration": 8, "candidate": 0},
        {"stage": "full", "iteration": 8, "candidate": 0},
    ]
    result.stdout.fnmatch_lines(
        [
            "genopt: iteration 2: rejected *, cached (iteration 1 candidate 0), * s: *",
            f"genopt: iteration 5: rejected *, cached (the current best, {head[:12]}), * s: *",
        ]
    )
    assert report["best"]["commit"] == head


def test_the_cache_survives_an_interrupted_run_and_its_resume(
    pytester: pytest.Pytester, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    twin = add("def add(a, b):\n    return b - a\n")
    plan(project, {1: [add(WRONG), [BONUS]], 2: [twin, twin]})
    args = (*ARGS, "--genopt-candidates=2")
    monkeypatch.setenv("GENOPT_TEST_KILL_AT", "after-intent")  # killed before its commit
    killed = genopt(pytester, *args, "--genopt-iterations=1")
    assert killed.ret != 0
    monkeypatch.delenv("GENOPT_TEST_KILL_AT")
    genopt(pytester, *args, "--genopt-iterations=2", "--genopt-resume=last")
    done = attempts(report_of(project))
    # twins of one iteration, evaluated at once: one runs, the other waits and reuses it
    assert sorted(a["cached"] for a in done[2]) == [False, True]
    evaluated, reused = sorted(done[2], key=lambda a: a["cached"])
    assert reused["reused"] == [
        {"stage": "batch", "iteration": 2, "candidate": evaluated["candidate"]}
    ]
    first, second = done[1]
    assert (first["decision"], first["cached"]) == ("rejected", True)
    assert first["reused"] == [{"stage": "batch", "iteration": 1, "candidate": 0}]
    assert (second["decision"], second["cached"]) == ("accepted", True)
    assert [r["stage"] for r in second["reused"]] == ["batch", "full"]
    assert git(project, "show", f"{second['commit']}:tests/test_calc.py").count("BONUS = 1") == 1


def test_tree_id_is_gits_own(tmp_path: Path) -> None:
    repo = init_repo(tmp_path, {"a/b/c.py": "x\n", "top.py": "y\n", "a-b": "z"})
    (repo / "run.sh").write_text("#!/bin/sh\n")
    (repo / "run.sh").chmod(0o755)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "exec")
    files = {"a/b/c.py": "new\n", "run.sh": "echo\n", "a/new/d.py": "d\n", "a-c": "q"}

    def read(sha: bytes) -> bytes:
        out = subprocess.run(["git", "cat-file", "tree", sha.hex()], cwd=repo, capture_output=True)
        return out.stdout

    root = bytes.fromhex(git(repo, "rev-parse", "HEAD^{tree}").strip())
    assert tree_id(read, root, {}) == root
    ours = tree_id(read, root, {k: v.encode() for k, v in files.items()})
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    assert ours.hex() == git(repo, "write-tree").strip()


def test_the_cache_file_keeps_what_it_can_read_of_these_options(tmp_path: Path) -> None:
    path = tmp_path / "evaluations.jsonl"
    cache = EvaluationCache(path, "opts", secrets=["hunter2"])
    trial = Trial("t.py::a", "failed", message="password hunter2")
    cache.store(Stage("tree", "opts", 1, 0, "ok", "", {"t.py::a": trial}))
    cache.store(Stage("bad", "opts", 2, 0, "tampered", "changed x", {}))
    cache.store(Stage("tree2", "other", 3, 0, "ok", "", {"t.py::a": trial}))
    with open(path, "a") as fh:
        fh.write('{"version": 99}\n{"version": 1, "tree": "torn"')
    assert "hunter2" not in path.read_text()
    again = EvaluationCache.load(path, "opts")
    hit = again.lookup("tree", ["t.py::a"])
    assert hit is not None
    assert hit.origins == ({"iteration": 1, "candidate": 0},)
    assert hit.trials["t.py::a"].message == "password [redacted]"
    assert again.lookup("tree", ["t.py::a", "t.py::b"]) is None  # not all known
    failed = again.lookup("bad", ["t.py::a"])
    assert failed is not None
    assert (failed.status, failed.reason) == ("tampered", "changed x")
    assert again.lookup("tree2", ["t.py::a"]) is None  # other options
