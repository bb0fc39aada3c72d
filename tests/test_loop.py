"""The optimization loop end to end: real git, real pytest subprocesses, offline backends."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import (
    BUGGY_CALC,
    CALC_TESTS,
    git,
    init_repo,
    prompt_snapshot,
    read_json,
    tree_state,
)

if TYPE_CHECKING:
    from pathlib import Path

    from syrupy.assertion import SnapshotAssertion

FIX = 'def add(a, b):\n    """Return the sum of a and b."""\n    return a + b\n'

SCRIPTED = """
import json

ANSWERS = {
    1: {"edits": [{"parameter": "calc.py::add", "text": "def add(a, b)\\n    return a +\\n"}],
        "rationale": "syntax error"},
    2: {"edits": [{"parameter": "tests/test_calc.py::test_small",
                   "text": "def test_small():\\n    pass\\n"}],
        "rationale": "edit a test"},
    3: {"edits": [{"parameter": "calc.py::add", "search": "return a * b", "replace": "x"}],
        "rationale": "absent search"},
    4: {"edits": [{"parameter": "calc.py::add", "search": "return a - b",
                   "replace": "return a * b"}],
        "rationale": "worse"},
    5: "please add instead of subtracting",
    6: {"edits": [{"parameter": "calc.py::add", "search": "return a - b",
                   "replace": "return a + b"}],
        "rationale": "add must add\\nthe tests expect sums"},
}


def propose(request):
    with open("requests.jsonl", "a") as log:
        log.write(json.dumps(request) + "\\n")
    return ANSWERS[request["iteration"]]
"""


def genopt(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args, timeout=300)


def report_of(project: Path, run: str | None = None) -> dict[str, Any]:
    run = run or (project / ".genopt" / "runs" / "last").read_text().strip()
    return read_json(project / ".genopt" / "runs" / run / "report.json")  # type: ignore[no-any-return]


def branch_file(project: Path, branch: str, path: str) -> str:
    return git(project, "show", f"{branch}:{path}")


@pytest.fixture
def scripted(calc_project: Path) -> Path:
    (calc_project / "optimizer.py").write_text(SCRIPTED)
    return calc_project


def test_scripted_run_accepts_the_fix_and_rejects_the_rest(
    pytester: pytest.Pytester, scripted: Path
) -> None:
    (scripted / "notes.txt").write_text("uncommitted and untracked\n")
    before = tree_state(scripted)
    result = genopt(
        pytester,
        "--genopt-iterations=6",
        "--genopt-backend=python:optimizer:propose",
        "--genopt-seed=0",
        "--genopt-branch=genopt/fix",
        "--genopt-record=cassette.json",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the checkout's tests still fail
    report = report_of(scripted)
    decisions = [(i["iteration"], i["decision"]) for i in report["iterations"]]
    assert decisions == [
        (1, "invalid"),
        (2, "invalid"),
        (3, "invalid"),
        (4, "rejected"),
        (5, "invalid"),
        (6, "accepted"),
    ]
    reasons = [i["reason"] for i in report["iterations"]]
    assert "not valid Python" in reasons[0]
    assert "unknown parameter 'tests/test_calc.py::test_small'" in reasons[1]
    assert reasons[2] == (
        "calc.py::add: 'search' occurs 0 times in the parameter's text; it must occur exactly once"
    )
    assert reasons[3] == "batch objective 0.0000 is not above 0.0000"
    assert reasons[4] == "the response must be a JSON object, got a string"
    assert report["baseline"] == {"objective": 0.2, "passed": 1, "failed": 4}
    assert report["best"]["objective"] == 1.0
    assert report["best"]["passed"] == 5
    # the branch tip holds the fix with its decorator; tests unchanged
    calc = branch_file(scripted, "genopt/fix", "calc.py")
    assert "@trainable\ndef add(a, b):" in calc
    assert "return a + b" in calc
    assert branch_file(scripted, "genopt/fix", "tests/test_calc.py") == CALC_TESTS
    assert branch_file(scripted, "genopt/fix", "notes.txt") == "uncommitted and untracked\n"
    message = git(scripted, "log", "-1", "--format=%B", "genopt/fix")
    trailers = git(scripted, "interpret-trailers", "--parse", input_text=message)
    run = report["run"]
    assert f"Genopt-Run: {run}" in trailers
    assert "Genopt-Iteration: 6" in trailers
    assert "Genopt-Objective: 0.2000 -> 1.0000" in trailers
    assert "Genopt-Backend: python:optimizer:propose" in trailers
    assert message.startswith("genopt: add must add\n")
    assert git(scripted, "rev-list", "--count", f"{report['base']}..genopt/fix").strip() == "1"
    # the checkout is untouched
    after = tree_state(scripted)
    for name in ("cassette.json", "requests.jsonl"):
        after["files"].pop(name)
    after["status"] = "".join(
        line + "\n"
        for line in after["status"].splitlines()
        if line not in ("?? cassette.json", "?? requests.jsonl")
    )
    assert after == before
    # history reached the optimizer: the last request lists the five failures
    requests = [json.loads(line) for line in (scripted / "requests.jsonl").read_text().splitlines()]
    assert [h["decision"] for h in requests[-1]["history"]] == [
        "invalid",
        "invalid",
        "invalid",
        "rejected",
        "invalid",
    ]
    # the terminal summary tells where to look
    result.stdout.fnmatch_lines(
        [
            "genopt: iteration 6: accepted objective 0.2000 -> 1.0000*",
            "genopt: run *: objective 0.2000 -> 1.0000 in 6 iteration(s), 1 accepted; *",
            "genopt: branch genopt/fix; review it with: git log --oneline *..genopt/fix"
            " && git diff *",
        ]
    )
    markdown = (scripted / ".genopt" / "runs" / run / "report.md").read_text()
    assert "Objective **0.2000 → 1.0000**" in markdown
    assert "+    return a + b" in markdown
    journal = (scripted / ".genopt" / "runs" / run / "journal.jsonl").read_text().splitlines()
    assert json.loads(journal[0])["event"] == "start"
    assert json.loads(journal[-1])["event"] == "end"

    # replaying the cassette in a fresh copy gives the same decisions
    copy = pytester.path / "copy"
    init_repo(
        copy,
        {
            "calc.py": BUGGY_CALC,
            "tests/test_calc.py": CALC_TESTS,
            "pytest.ini": "[pytest]\npythonpath = .\n",
            "notes.txt": "uncommitted and untracked\n",
        },
    )
    shutil.copy(scripted / "optimizer.py", copy / "optimizer.py")
    shutil.copy(scripted / "cassette.json", pytester.path / "cassette.json")
    os.chdir(copy)
    genopt(
        pytester,
        "--genopt-iterations=6",
        f"--genopt-backend=replay:{pytester.path / 'cassette.json'}",
        "--genopt-seed=0",
        "--genopt-branch=genopt/fix",
    )
    replayed = report_of(copy)
    assert [(i["iteration"], i["decision"], i["reason"]) for i in replayed["iterations"]] == [
        (i["iteration"], i["decision"], i["reason"]) for i in report["iterations"]
    ]


def test_replay_names_the_first_difference(pytester: pytest.Pytester, scripted: Path) -> None:
    genopt(
        pytester,
        "--genopt-iterations=1",
        "--genopt-backend=python:optimizer:propose",
        "--genopt-seed=0",
        "--genopt-record=../c.json",
    )
    replay = ("--genopt-iterations=1", "--genopt-backend=replay:../c.json", "--genopt-seed=0")
    result = genopt(pytester, *replay, "--genopt-horizon=1", "-o", "genopt_replay_match=request")
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(
        [
            "*stopped: replay: request for iteration 1 is not in *: "
            "first difference at settings.horizon: 10 != 1*"
        ]
    )
    # by default a replay answers by iteration and candidate: the changed request runs on
    result = genopt(pytester, *replay, "--genopt-horizon=1", "-q")
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the checkout's tests, as before
    # the first progress line is a line of its own, not glued onto pytest's "[100%]"
    result.stdout.fnmatch_lines(["F.FFF *[[]100%[]]", "genopt: preflight: the start as a *"])
    [replayed] = report_of(scripted)["iterations"]
    assert (replayed["decision"], replayed["reason"]) == (
        "invalid",
        "calc.py::add: the new text is not valid Python: expected ':' (line 1)",
    )
    result = genopt(pytester, *replay, "-o", "genopt_replay_match=fuzzy")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*genopt_replay_match (ini): invalid value 'fuzzy'; expected one of position, request*"]
    )


def test_regressions_crashes_and_hangs_are_rejected(
    pytester: pytest.Pytester, calc_project: Path, snapshot: SnapshotAssertion
) -> None:
    (calc_project / "optimizer.py").write_text(
        textwrap.dedent("""
        import json

        REGRESS = "def add(a, b):\\n    return a + b if (a, b) != (0, 0) else 1\\n"
        CRASH = "def add(a, b):\\n    import os\\n    os._exit(3)\\n"
        HANG = "def add(a, b):\\n    import time\\n    time.sleep(120)\\n"
        ANSWERS = {1: REGRESS, 2: CRASH, 3: HANG}

        def propose(request):
            if request["iteration"] == 2:
                with open("history.json", "w") as out:
                    json.dump(request["history"], out)
                with open("prompt.md", "w") as out:
                    out.write(request["prompt"])
            text = ANSWERS[request["iteration"]]
            return {"edits": [{"parameter": "calc.py::add", "text": text}], "rationale": "try"}
    """)
    )
    result = genopt(
        pytester,
        "--genopt-iterations=3",
        "--genopt-backend=python:optimizer:propose",
        "--genopt-timeout=10",  # the preflight must fit in it on a busy machine
        "--genopt-seed=1",
    )
    report = report_of(calc_project)
    decisions = [i["decision"] for i in report["iterations"]]
    assert decisions == ["rejected", "rejected", "rejected"], result.stdout.str()
    reasons = [i["reason"] for i in report["iterations"]]
    assert reasons[0] == "breaks 1 passing test(s): tests/test_calc.py::test_zero"
    # the next request says which test broke and how, and what the edit was
    (regression,) = read_json(calc_project / "history.json")
    assert regression["moved"][0] == {
        "test": "tests/test_calc.py::test_zero",
        "best": 1.0,
        "value": 0.0,
        "outcome": "failed",
        "message": "AssertionError: assert 1 == 0",
    }
    assert "+    return a + b if (a, b) != (0, 0) else 1\n" in regression["diff"]
    assert "-    return a - b\n" in regression["diff"]
    assert prompt_snapshot((calc_project / "prompt.md").read_text()) == snapshot
    assert "exited with status 3" in reasons[1]
    assert "--genopt-timeout=10" in reasons[2]
    assert report["best"]["commit"] is None


def test_exchange_answered_by_an_outside_process(
    pytester: pytest.Pytester, calc_project: Path
) -> None:
    exchange = pytester.path / "exchange"
    answer = {"edits": [{"parameter": "calc.py::add", "text": FIX}], "rationale": "sum"}
    agent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import json, os, pathlib, time
        d = pathlib.Path({str(exchange)!r})
        deadline = time.time() + 120
        while not (d / "1-0.request.json").exists() and time.time() < deadline:
            time.sleep(0.05)
        request = json.loads((d / "1-0.request.json").read_text())
        assert request["protocol"] == 2
        assert (d / "1-0.prompt.md").read_text().startswith("You are the optimizer")
        tmp = d / "answer.tmp"
        tmp.write_text(json.dumps({answer!r}))
        os.replace(tmp, d / "1-0.response.json")
    """),
        ]
    )
    try:
        result = genopt(
            pytester,
            "--genopt-iterations=1",
            f"--genopt-backend=exchange:{exchange}",
            "--genopt-seed=0",
        )
    finally:
        agent.wait(timeout=60)
    assert agent.returncode == 0
    report = report_of(calc_project)
    assert report["iterations"][0]["decision"] == "accepted", result.stdout.str()
    assert report["backend"] == f"exchange:{exchange}"
    result.stdout.fnmatch_lines(
        [
            f"genopt: waiting up to 3600 s for an answer in {exchange}/1-0.response.json "
            f"(prompt: {exchange}/1-0.prompt.md)"
        ]
    )


def test_outside_git_it_refuses_before_running(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(calc=BUGGY_CALC, test_calc=CALC_TESTS)
    result = genopt(pytester, "--genopt-iterations=1", "--genopt-backend=search")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: genopt needs a git repository: * is not inside one*"])
    assert "collected" not in result.stdout.str()


def test_an_existing_branch_is_refused(pytester: pytest.Pytester, scripted: Path) -> None:
    git(scripted, "branch", "genopt/taken")
    result = genopt(
        pytester,
        "--genopt-iterations=1",
        "--genopt-branch=genopt/taken",
        "--genopt-backend=python:optimizer:propose",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: branch 'genopt/taken' exists already*--genopt-resume*"])


def test_all_passing_stops_at_once(pytester: pytest.Pytester, scripted: Path) -> None:
    (scripted / "calc.py").write_text(BUGGY_CALC.replace("a - b", "a + b"))
    result = genopt(pytester, "--genopt-iterations=3", "--genopt-backend=python:optimizer:propose")
    assert result.ret == pytest.ExitCode.OK
    assert report_of(scripted)["stopped"].startswith("nothing left to improve")
    assert not (scripted / "requests.jsonl").exists()


def test_files_the_sessions_tests_write_stay_out_of_the_start(
    pytester: pytest.Pytester, calc_project: Path
) -> None:
    """An untracked conftest.py is the user's work and goes into the start; the file its
    session fixture writes while the tests run is not, and the summary says so."""
    fix = {"parameter": "calc.py::add", "search": "return a - b", "replace": "return a + b"}
    answer = json.dumps({"edits": [fix], "rationale": "add"})
    (calc_project / "optimizer.py").write_text(f"def propose(request):\n    return {answer}\n")
    (calc_project / "conftest.py").write_text(
        "import pytest\n\n\n@pytest.fixture(scope='session', autouse=True)\n"
        "def marker(pytestconfig):\n"
        "    (pytestconfig.rootpath / 'session-marker.txt').write_text('made by a test')\n"
    )
    result = genopt(
        pytester, "--genopt-iterations=1", "--genopt-backend=python:optimizer:propose",
        "--genopt-branch=genopt/marker",
    )  # fmt: skip
    assert report_of(calc_project)["iterations"][0]["decision"] == "accepted", result.stdout
    start = git(calc_project, "rev-list", "--reverse", "HEAD..genopt/marker").split()[0]
    names = git(calc_project, "ls-tree", "-r", "--name-only", start).split()
    assert {"conftest.py", "optimizer.py"} <= set(names)
    assert "session-marker.txt" not in names
    result.stdout.fnmatch_lines(
        ["genopt: left out of the start (the session's tests wrote them): session-marker.txt"]
    )
    assert (calc_project / "session-marker.txt").read_text() == "made by a test"


def test_push_to_a_bare_remote(pytester: pytest.Pytester, scripted: Path) -> None:
    remote = pytester.path / "remote.git"
    subprocess.run(["git", "init", "--bare", "-q", str(remote)], check=True)
    git(scripted, "remote", "add", "origin", str(remote))
    (scripted / "optimizer.py").write_text(
        "def propose(request):\n"
        f"    return {{'edits': [{{'parameter': 'calc.py::add', 'text': {FIX!r}}}]}}\n"
    )
    (scripted / ".env").write_text("DB_PASSWORD=hunter2\n")
    outputs = []
    for branch, extra in (("genopt/refused", ()), ("genopt/pushed", ("--genopt-push-untracked",))):
        result = genopt(
            pytester,
            "--genopt-iterations=1",
            "--genopt-backend=python:optimizer:propose",
            f"--genopt-branch={branch}",
            "--genopt-push=origin",
            *extra,
        )
        outputs.append(result.stdout)
    # the untracked optimizer.py is in the start: published only when asked
    outputs[0].fnmatch_lines(
        ["genopt: push failed: not pushing 'genopt/refused': its start holds 1 file(s) never"
         " committed (optimizer.py); review with `git diff *^ *` and add --genopt-push-untracked"
         " to publish them"]
    )  # fmt: skip
    outputs[1].fnmatch_lines(["genopt: pushed genopt/pushed to origin"])
    assert git(remote, "for-each-ref", "--format=%(refname)") == "refs/heads/genopt/pushed\n"
    assert git(remote, "rev-parse", "genopt/pushed") == git(scripted, "rev-parse", "genopt/pushed")
    assert "hunter2" not in git(remote, "log", "-p", "--all")  # .env was left out


def test_resuming_a_run_that_did_all_its_iterations_is_refused_at_once(
    pytester: pytest.Pytester, scripted: Path
) -> None:
    """Resuming a finished run at the same budget would run the session and the
    preflight again, then stop where it had: refused before any test runs."""
    args = ("--genopt-backend=python:optimizer:propose", "--genopt-branch=genopt/done")
    genopt(pytester, "--genopt-iterations=1", *args)
    run = report_of(scripted)["run"]
    journal = scripted / ".genopt" / "runs" / run / "journal.jsonl"
    before = (tree_state(scripted), journal.read_text())
    result = genopt(pytester, "--genopt-iterations=1", "--genopt-resume=last", args[0])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: --genopt-resume=last: run {run} has done all its 1 iteration(s); to go on, "
         "ask for more (--genopt-iterations=2 or above)"]
    )  # fmt: skip
    assert (tree_state(scripted), journal.read_text()) == before
    more = genopt(pytester, "--genopt-iterations=2", "--genopt-resume=last", args[0])
    assert [r["iteration"] for r in report_of(scripted)["iterations"]] == [1, 2], (
        more.stdout.str() + more.stderr.str()
    )


def test_sigkill_then_resume_does_not_repeat_accepted_work(
    pytester: pytest.Pytester, calc_project: Path
) -> None:
    (calc_project / "hang.flag").write_text("")
    (calc_project / "optimizer.py").write_text(
        textwrap.dedent("""
        import os
        PARTIAL = "def add(a, b):\\n    return a + b if a != 100 else 0\\n"
        HANG = "def add(a, b):\\n    import time\\n    time.sleep(300)\\n"
        FULL = "def add(a, b):\\n    return a + b\\n"

        def propose(request):
            if request["iteration"] == 1:
                text = PARTIAL
            elif os.path.exists("hang.flag"):
                os.remove("hang.flag")
                text = HANG
            else:
                text = FULL
            return {"edits": [{"parameter": "calc.py::add", "text": text}], "rationale": "step"}
    """)
    )
    (calc_project / ".gitignore").write_text("hang.flag\n")
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--genopt-iterations=3",
        "--genopt-backend=python:optimizer:propose",
        "--genopt-timeout=200",
        "--genopt-branch=genopt/resumable",
        "--genopt-seed=0",
    ]
    first = subprocess.Popen(
        command,
        cwd=calc_project,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    runs = calc_project / ".genopt" / "runs"
    deadline = time.monotonic() + 120
    journal: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        last = runs / "last"
        if last.exists():
            path = runs / last.read_text().strip() / "journal.jsonl"
            if path.exists():
                journal = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
                if any(e["event"] == "proposal" and e.get("iteration") == 2 for e in journal):
                    break
        time.sleep(0.1)
    else:
        first.kill()
        pytest.fail(f"the run never reached iteration 2: {journal}")
    time.sleep(1.0)  # let it sink into the hanging evaluation
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    run = (runs / "last").read_text().strip()
    base = next(e["base"] for e in journal if e["event"] == "start")
    assert git(calc_project, "rev-list", "--count", f"{base}..genopt/resumable").strip() == "1"

    result = genopt(
        pytester,
        "--genopt-iterations=3",
        "--genopt-backend=python:optimizer:propose",
        "--genopt-resume=last",
        "--genopt-timeout=200",
    )
    result.stdout.fnmatch_lines([f"genopt: run {run} (resumed), *"])
    report = report_of(calc_project, run)
    assert [i["decision"] for i in report["iterations"]] == ["accepted", "accepted"]
    assert report["best"]["objective"] == 1.0
    assert report["baseline"]["objective"] == 0.2
    assert git(calc_project, "rev-list", "--count", f"{base}..genopt/resumable").strip() == "2"
    assert "return a + b\n" in branch_file(calc_project, "genopt/resumable", "calc.py")


def test_a_backend_error_is_an_error_iteration_left_out_of_history(
    pytester: pytest.Pytester, calc_project: Path
) -> None:
    (calc_project / "optimizer.py").write_text(
        "import json\n\n\n"
        "def propose(request):\n"
        "    with open('requests.jsonl', 'a') as log:\n"
        "        log.write(json.dumps(request) + '\\n')\n"
        "    if request['iteration'] == 1:\n"
        "        raise RuntimeError('service down')\n"
        f"    return {{'edits': [{{'parameter': 'calc.py::add', 'text': {FIX!r}}}]}}\n"
    )
    genopt(
        pytester,
        "--genopt-iterations=2",
        "--genopt-backend=python:optimizer:propose",
        "--genopt-seed=0",
    )
    report = report_of(calc_project)
    first, second = report["iterations"]
    assert first["decision"] == "error"
    assert first["reason"] == (
        "backend error: python:optimizer:propose raised RuntimeError: service down"
    )
    assert second["decision"] == "accepted"
    requests = [json.loads(x) for x in (calc_project / "requests.jsonl").read_text().splitlines()]
    assert requests[1]["history"] == []  # protocol v1 history holds proposals only


def test_a_long_rationale_makes_a_subject_cut_at_a_word() -> None:
    from pytest_genopt.loop import commit_message

    rationale = "reversed() of an empty sequence raises StopIteration; catch it too\nmore"
    summary, body = commit_message(rationale * 2, ["more.py::last"], [])
    assert summary == "genopt: reversed() of an empty sequence raises StopIteration; catch it…"
    assert len(summary) <= 72
    assert body.startswith(rationale)
    assert commit_message("short", ["a.py::f"], [])[0] == "genopt: short"
    assert len(commit_message("x" * 200, ["a.py::f"], [])[0]) == 72
