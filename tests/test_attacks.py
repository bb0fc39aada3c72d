"""Adversarial candidates (issue 8): each attack is a real candidate of a real run.

Every test drives one run of the ``python:`` backend in a pytester project
with a real git repository.  The scripted optimizer proposes an edit of the
``@trainable def add`` whose new text performs the attack when the
candidate's tests import it (code in a default argument runs at import) or
call it.  Each test then checks that the user's repository is exactly as it
was (:func:`tests.attack_support.fingerprint`) and that the attacking
candidate was not accepted, with the reason issue 8 names where it names one.

Attacks that the defences *detect* (tampered tree, patched runner, forged or
grader-aware results) come with the correct fix, so that an undetected attack
is accepted; attacks the defences *contain* (writes outside the tree, git,
processes) come with a wrong body, since a contained attack leaves a correct
fix acceptable and acceptance is then beside the point.

Each test has its own pytester directory, run branch and process marker, so
the module runs in parallel under pytest-xdist (``-n``).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING, Any

import pytest

from tests.attack_support import (
    changes,
    fingerprint,
    kill_all,
    processes_in,
    processes_with,
    wait_for,
)
from tests.conftest import git
from tests.test_loop import genopt

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

BRANCH = "genopt/attack"

DOC = '    """Return the sum of a and b."""\n'
FIX = "def add(a, b):\n" + DOC + "    return a + b\n"
WRONG = "    return a * b\n"  # changes the text, fixes nothing
RIGHT = "    return a + b\n"
REGRESSION = "    return a + b if (a, b) != (0, 0) else 1\n"  # breaks test_zero

# The optimizer reads its answers from ../answers.json (outside the checkout) and
# fills @@NAME@@ with the controller's environment variable NAME: an optimizer
# can only repeat what it was shown, but the sinks must hold whatever it says.
OPTIMIZER = """\
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
PARENT = os.path.dirname(HERE)


def propose(request):
    with open(os.path.join(PARENT, "requests.jsonl"), "a") as log:
        log.write(json.dumps(request) + "\\n")
    with open(os.path.join(PARENT, "answers.json")) as fh:
        text = json.dumps(json.load(fh)[request["iteration"] - 1])
    for name in ("ANTHROPIC_API_KEY", "MY_SERVICE_TOKEN"):
        text = text.replace("@@" + name + "@@", os.environ.get(name, ""))
    return json.loads(text)
"""


def attack(code: str, body: str = RIGHT) -> str:
    """``def add`` whose default argument runs ``code`` when the module is imported."""
    return f"def add(a, b, _attack=exec({textwrap.dedent(code)!r})):\n" + DOC + body


def answer(text: str, rationale: str = "try this") -> dict[str, Any]:
    return {"edits": [{"parameter": "calc.py::add", "text": text}], "rationale": rationale}


@pytest.fixture
def project(calc_project: Path) -> Path:
    """calc_project with the optimizer and a .gitignore committed: base == HEAD."""
    (calc_project / "optimizer.py").write_text(OPTIMIZER)
    (calc_project / ".gitignore").write_text("__pycache__/\n*.pyc\n.pytest_cache/\n")
    git(calc_project, "add", "-A")
    git(calc_project, "commit", "-q", "-m", "optimizer and ignores")
    return calc_project


def run(
    pytester: pytest.Pytester, project: Path, answers: Sequence[dict[str, Any]], *args: str
) -> tuple[pytest.RunResult, dict[str, Any] | None]:
    """One run answering ``answers`` in turn; its result and report.json (None if none)."""
    (project.parent / "answers.json").write_text(json.dumps(list(answers)))
    result = genopt(pytester, *run_args(len(answers)), *args)
    return result, report_or_none(project)


def run_args(iterations: int, timeout: int = 60) -> list[str]:
    return [
        f"--genopt-iterations={iterations}",
        "--genopt-backend=python:optimizer:propose",
        "--genopt-seed=0",
        f"--genopt-branch={BRANCH}",
        f"--genopt-timeout={timeout}",
        "--genopt-batch-size=8",
    ]


def report_or_none(project: Path) -> dict[str, Any] | None:
    last = project / ".genopt" / "runs" / "last"
    if not last.exists():
        return None
    path = project / ".genopt" / "runs" / last.read_text().strip() / "report.json"
    return json.loads(path.read_text()) if path.exists() else None


def not_accepted(
    report: dict[str, Any] | None, result: pytest.RunResult | None, reason: str | None = None
) -> list[str]:
    """Problems with iteration 1's decision: accepted, or a reason lacking ``reason``."""
    tail = "" if result is None else "\n" + result.stdout.str()[-1500:]
    if report is None:
        return ["the run wrote no report.json" + tail]
    first = next((i for i in report["iterations"] if i["iteration"] == 1), None)
    if first is None:
        return [f"iteration 1 is not in the report; stopped: {report['stopped']}"]
    problems = []
    if first["decision"] == "accepted":
        problems.append(f"the attacking candidate was accepted: {first['reason']}")
    if reason is not None and reason not in first["reason"]:
        problems.append(f"reason {first['reason']!r} does not say {reason!r}")
    return problems


def branch_problems(project: Path) -> list[str]:
    exists = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"refs/heads/{BRANCH}"],
        cwd=project,
        capture_output=True,
    )
    return [] if exists.returncode == 0 else [f"the run branch {BRANCH} is gone"]


# ------------------------------------------------------------------ a benign run (control)


def test_control_a_benign_fix_is_accepted_and_leaves_the_checkout_as_it_was(
    pytester: pytest.Pytester, project: Path
) -> None:
    """The yardstick of every attack below: a plain fix changes nothing of the user's."""
    before = fingerprint(project, run_branch=BRANCH)
    result, report = run(pytester, project, [answer(FIX)])
    assert report is not None, result.stdout.str()
    assert report["iterations"][0]["decision"] == "accepted"
    assert changes(before, fingerprint(project, run_branch=BRANCH)) == []


# ------------------------------------------------------------------ detected attacks

ABSOLUTE_WRITE = """\
with open({target!r}, "a") as fh:
    fh.write("\\n# appended by a candidate\\n")
"""

REWRITE_TESTS = """\
import os
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tests", "test_calc.py")
with open(path) as fh:
    text = fh.read()
if "assert add(0, 0) == 0" in text:
    with open(path, "w") as fh:
        fh.write(text.replace("assert add(0, 0) == 0", "assert True"))
"""

WRITE_CONFTEST = """\
import os
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conftest.py")
if not os.path.exists(path):
    with open(path, "w") as fh:
        fh.write("def pytest_pyfunc_call(pyfuncitem):\\n    return True\\n")
"""

PATCH_PYTEST = """\
import _pytest.python
_pytest.python.Function.runtest = lambda self: None
"""

# Finds the result file and the selected node ids among the paths in its
# environment, and rewrites the result after the worker wrote it (atexit).
FORGE_RESULT = """\
import atexit, json, os, re
# where the worker's result file lies: named in the environment (as it once was), or
# beside the private temporary folder the candidate is given
forge_out = next((v for v in os.environ.values() if v.endswith("result.json")), None)
if forge_out is None and os.environ.get("TMPDIR"):
    forge_out = os.path.join(os.path.dirname(os.environ["TMPDIR"]), "result.json")
with open(os.path.join("tests", "test_calc.py")) as fh:
    forge_ids = ["tests/test_calc.py::" + n for n in re.findall(r"def (test_\\w+)", fh.read())]
def forge():
    trials = [{"test": t, "outcome": "passed", "score": 5.0} for t in forge_ids]
    payload = {"worker": 1, "trials": trials, "collect_errors": [], "shadowed": [],
               "exitstatus": 0}
    with open(forge_out, "w") as fh:
        json.dump({"payload": payload, "hmac": "0" * 64, **payload}, fh)
if forge_out and forge_ids:
    atexit.register(forge)
"""

# Right under the worker, wrong under a plain pytest that writes --junitxml.
GRADER_AWARE = (
    "def add(a, b):\n"
    + DOC
    + "    import os, sys\n"
    + "    words = sys.argv + os.environ.get('PYTEST_ADDOPTS', '').split()\n"
    + "    rerun = any(w.startswith(('--junitxml', '--junit-xml')) for w in words)\n"
    + "    return a - b if rerun else a + b\n"
)

# right under genopt's worker; on the clean re-run its process ends before any report
RERUN_CRASH = GRADER_AWARE.replace(
    "    return a - b if rerun else a + b\n",
    "    if rerun:\n        os._exit(0)\n    return a + b\n",
)


def _user_test_file(project: Path) -> str:
    # the target is the user's own test file, by its absolute path
    return attack(ABSOLUTE_WRITE.format(target=str(project / "tests" / "test_calc.py")))


def _detected_cases() -> list[Any]:
    def fixed(text: str) -> Callable[[Path], str]:
        return lambda _project: text

    return [
        pytest.param(_user_test_file, None, id="absolute-path-write-into-checkout"),
        pytest.param(
            fixed(attack(REWRITE_TESTS, REGRESSION)),
            "changed tests/test_calc.py during evaluation",
            id="tests-rewritten-at-import",
        ),
        pytest.param(
            fixed(attack(WRITE_CONFTEST, REGRESSION)),
            "conftest.py during evaluation",
            id="conftest-written-at-import",
        ),
        pytest.param(
            fixed(attack(PATCH_PYTEST, WRONG)),
            "the test runner was patched",
            id="pytest-patched",
        ),
        pytest.param(
            fixed(attack(FORGE_RESULT, WRONG)),
            "results could not be authenticated",
            id="result-file-forged",
        ),
        pytest.param(
            fixed(GRADER_AWARE),
            "results differ on a clean re-run",
            id="grader-aware",
        ),
        pytest.param(
            fixed(RERUN_CRASH),
            "the clean re-run before the commit did not complete: the re-run gave no readable",
            id="crashes-on-the-re-run",
        ),
    ]


@pytest.mark.parametrize(("make_text", "reason"), _detected_cases())
def test_a_detected_attack_is_not_accepted_and_the_checkout_is_untouched(
    pytester: pytest.Pytester,
    project: Path,
    make_text: Callable[[Path], str],
    reason: str | None,
) -> None:
    before = fingerprint(project, run_branch=BRANCH)
    result, report = run(pytester, project, [answer(make_text(project))])
    problems = changes(before, fingerprint(project, run_branch=BRANCH))
    problems += not_accepted(report, result, reason)
    assert problems == []


# ------------------------------------------------------------------ git in the candidate tree

GIT = """\
import os, subprocess
def git(*args):
    return subprocess.run(["git", *args], cwd=os.path.dirname(os.path.abspath(__file__)),
                          check=True, capture_output=True, text=True).stdout
for attempt in (
    lambda: git("config", "user.name", "evil"),
    lambda: git("update-ref", "refs/heads/main",
                git("commit-tree", "HEAD^{{tree}}", "-p", "HEAD", "-m", "evil").strip()),
    lambda: git("branch", "-D", {branch!r}),
    lambda: git("stash"),
):
    try:  # each on its own: one refused must not spare the others
        attempt()
    except subprocess.CalledProcessError:
        pass
"""


def test_git_in_the_candidate_tree_cannot_reach_the_users_repository(
    pytester: pytest.Pytester, project: Path
) -> None:
    """Config, main, the run branch and the stash, all tried from one candidate."""
    before = fingerprint(project, run_branch=BRANCH)
    result, report = run(pytester, project, [answer(attack(GIT.format(branch=BRANCH), WRONG))])
    problems = changes(before, fingerprint(project, run_branch=BRANCH))
    problems += branch_problems(project)
    problems += not_accepted(report, result)
    assert problems == []


# ------------------------------------------------------------------ processes


@pytest.fixture
def marker() -> Iterator[str]:
    """A sleep duration unique to this test (300 s and a random fraction): its argv marks
    the processes a candidate starts; whatever is left of them is killed at the end."""
    value = f"300.{secrets.randbelow(10**12):012d}"
    yield value
    kill_all(processes_with(value))


SPAWN = """\
import subprocess
for _ in range({plain}):
    subprocess.Popen(["sleep", {marker!r}], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for _ in range({detached}):
    subprocess.Popen(["setsid", "-f", "sleep", {marker!r}], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).wait()
"""


def test_setsid_grandchildren_die_with_their_evaluation(
    pytester: pytest.Pytester, project: Path, marker: str
) -> None:
    before = fingerprint(project, run_branch=BRANCH)
    spawn = SPAWN.format(plain=0, detached=24, marker=marker)
    result, report = run(pytester, project, [answer(attack(spawn, WRONG))])
    problems = changes(before, fingerprint(project, run_branch=BRANCH))
    problems += not_accepted(report, result)
    left = wait_for(lambda: processes_with(marker), present=False, timeout=10)
    if left:
        problems.append(f"{len(left)} of the candidate's setsid sleeps outlived the run")
    assert problems == []


def test_controller_sigkill_takes_the_hanging_candidate_with_it(
    pytester: pytest.Pytester, project: Path, marker: str
) -> None:
    hang = SPAWN.format(plain=3, detached=3, marker=marker) + "import time\ntime.sleep(300)\n"
    (project.parent / "answers.json").write_text(json.dumps([answer(attack(hang, WRONG))]))
    before = fingerprint(project, run_branch=BRANCH)
    controller = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *run_args(1, timeout=200)],
        cwd=project,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    trees = project / ".genopt"
    try:
        started = wait_for(lambda: processes_with(marker), present=True, timeout=120, at_least=6)
        assert len(started) >= 6, "the candidate never started its sleeps"
        hanging = processes_in(trees)
        assert hanging, "no candidate process runs in a tree under .genopt/"
        os.kill(controller.pid, signal.SIGKILL)
        controller.wait(timeout=30)
        left = wait_for(
            lambda: processes_with(marker) + processes_in(trees), present=False, timeout=20
        )
    finally:
        if controller.poll() is None:
            controller.kill()
            controller.wait(timeout=30)
        leftovers = processes_in(trees) + processes_with(marker)
        kill_all(leftovers)
    problems = changes(before, fingerprint(project, run_branch=BRANCH))
    if left:
        problems.append(f"{len(left)} candidate process(es) outlived the controller's SIGKILL")
    assert problems == []


# ------------------------------------------------------------------ secrets

KEYED_TESTS = """\
import pytest

from calc import add

SECRETS = [{key!r}, {token!r}]


@pytest.mark.parametrize("secret", SECRETS)
def test_keyed(secret):
    print("using", secret)
    assert add(len(secret), 1) == len(secret) + 1
"""

# Raised at import: the candidate's collection error, which becomes its reason
# (an os._exit here would lose the message in pytest's fd capture).
CRASH = """\
import os
raise RuntimeError("key=%s token=%s ANTHROPIC_API_KEY=%s MY_SERVICE_TOKEN=%s" % (
    "@@ANTHROPIC_API_KEY@@", "@@MY_SERVICE_TOKEN@@",
    os.environ.get("ANTHROPIC_API_KEY", "absent"), os.environ.get("MY_SERVICE_TOKEN", "absent")))
"""

PRINTS = (
    "def add(a, b):\n"
    + DOC
    + "    import os\n"
    + "    print('key @@ANTHROPIC_API_KEY@@ token @@MY_SERVICE_TOKEN@@', dict(os.environ))\n"
    + WRONG
)


def test_secrets_reach_no_sink_and_no_candidate(
    pytester: pytest.Pytester, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-ant-api03-" + secrets.token_hex(10)
    token = secrets.token_hex(8)
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    monkeypatch.setenv("MY_SERVICE_TOKEN", token)
    # a parametrized test id holding both (failing at the start: it is in the batch)
    (project / "tests" / "test_keyed.py").write_text(KEYED_TESTS.format(key=key, token=token))
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "keyed tests")
    before = fingerprint(project, run_branch=BRANCH)
    answers = [
        answer(attack(CRASH, WRONG), "crash loudly"),
        answer(PRINTS, "print what we see"),
        answer(FIX, "add adds; checked with key @@ANTHROPIC_API_KEY@@ and @@MY_SERVICE_TOKEN@@"),
    ]
    result, report = run(pytester, project, answers)
    problems = changes(before, fingerprint(project, run_branch=BRANCH))
    assert report is not None, result.stdout.str()
    decisions = [i["decision"] for i in report["iterations"]]
    if len(decisions) != 3 or "accepted" in decisions[:2]:
        problems.append(f"decisions {decisions}: the crash and the printer must not be accepted")
    elif decisions[2] != "accepted":
        problems.append(f"the plain fix was not accepted: {report['iterations'][2]['reason']}")
    crash_reason = report["iterations"][0]["reason"]
    for name in ("ANTHROPIC_API_KEY", "MY_SERVICE_TOKEN"):
        if f"{name}=absent" not in crash_reason:
            problems.append(f"the candidate saw {name}: {crash_reason!r}")
    run_dir = project / ".genopt" / "runs" / report["run"]
    sinks = {
        "journal.jsonl": (run_dir / "journal.jsonl").read_text(),
        "report.json": (run_dir / "report.json").read_text(),
        "report.md": (run_dir / "report.md").read_text(),
        "commit messages": git(project, "log", "--format=%B", f"{report['base']}..{BRANCH}"),
        "requests to the optimizer": (project.parent / "requests.jsonl").read_text(),
    }
    for sink, text in sinks.items():
        for name, value in (("ANTHROPIC_API_KEY", key), ("MY_SERVICE_TOKEN", token)):
            if value in text:
                problems.append(f"{sink} holds the value of {name}")
    assert problems == []


# ------------------------------------------------------------------ the run's own harm


def test_a_user_worktree_whose_folder_is_missing_stays_registered(
    pytester: pytest.Pytester, project: Path
) -> None:
    away = pytester.path / "feature-tree"
    git(project, "worktree", "add", "-q", "-b", "feature", str(away))
    away.rename(pytester.path / "feature-tree-moved")  # e.g. on a disk not mounted now
    before = fingerprint(project, run_branch=BRANCH)
    assert str(away) in before["worktrees"]
    result, report = run(pytester, project, [answer(FIX)])
    problems = changes(before, fingerprint(project, run_branch=BRANCH))
    if report is None:
        problems.append("the run wrote no report.json\n" + result.stdout.str()[-1500:])
    assert problems == []


def test_an_untracked_env_file_is_left_out_of_the_snapshot_and_said_so(
    pytester: pytest.Pytester, project: Path
) -> None:
    (project / ".env").write_text(f"MY_SERVICE_TOKEN={secrets.token_hex(8)}\n")
    (project / "notes.txt").write_text("untracked, not a secret\n")
    before = fingerprint(project, run_branch=BRANCH)
    result, report = run(pytester, project, [answer(FIX)])
    problems = changes(before, fingerprint(project, run_branch=BRANCH))
    assert report is not None, result.stdout.str()
    for rev in (report["base"], BRANCH):
        names = git(project, "ls-tree", "-r", "--name-only", rev).splitlines()
        if ".env" in names:
            problems.append(f".env is committed in {rev}")
        if "notes.txt" not in names:
            problems.append(f"the untracked notes.txt is missing from {rev}")
    said = [
        line
        for line in result.stdout.lines
        if line.startswith("genopt:") and ".env" in line and "left out" in line
    ]
    if not said:
        problems.append("no genopt summary line says .env was left out")
    assert problems == []
