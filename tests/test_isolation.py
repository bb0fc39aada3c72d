"""Candidate isolation: sandbox, environment, result channel, processes, memory, options.

Every test runs real evaluations (real subprocesses, the real kernel's
Landlock and namespaces); each fails without the isolation it checks.
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pytest_genopt.evaluate import FORGED_REASON, MEMORY_REASON, evaluate
from pytest_genopt.sandbox import unavailable_reason
from tests.conftest import init_repo

needs_landlock = pytest.mark.skipif(bool(unavailable_reason()), reason=unavailable_reason())
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

# A seccomp filter that makes the syscalls numbered in $GENOPT_TEST_BLOCK fail with
# ENOSYS, then runs argv[1:]: the kernel then truly lacks them for that process tree.
SECCOMP = """\
import ctypes, os, sys

class Filter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte),
                ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]

class Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

ENOSYS, ERRNO, ALLOW = 38, 0x00050000, 0x7FFF0000
code = [Filter(0x20, 0, 0, 0)]  # load the syscall number
for number in map(int, os.environ.pop("GENOPT_TEST_BLOCK").split(",")):
    code += [Filter(0x15, 0, 1, number), Filter(0x06, 0, 0, ERRNO | ENOSYS)]
code.append(Filter(0x06, 0, 0, ALLOW))
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
    sys.exit("no_new_privs failed")
program = Program(len(code), (Filter * len(code))(*code))
if libc.prctl(22, 2, ctypes.byref(program), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
    sys.exit("seccomp failed: " + os.strerror(ctypes.get_errno()))
os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
"""
LANDLOCK_SYSCALLS = "444,445,446"
#: unshare(2) on the architectures we run on
UNSHARE_SYSCALL = {"x86_64": "272", "aarch64": "97"}.get(platform.machine(), "")


def project(root: Path, test: str, calc: str = "def add(a, b):\n    return a + b\n") -> Path:
    files = {
        "pytest.ini": "[pytest]\npythonpath = .\n",
        "calc.py": calc,
        "tests/test_calc.py": textwrap.dedent(test),
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def wait_gone(pids: list[int], seconds: float = 20.0) -> list[int]:
    """The pids still alive after polling /proc for at most ``seconds``."""
    deadline = time.monotonic() + seconds
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [p for p in left if alive(p)]
    return left


# ---------------------------------------------------------------------------- sandbox

WRITER = """\
import os

TARGETS = os.environ["GENOPT_TEST_TARGETS"].split(os.pathsep)


def test_write_everywhere(genopt):
    for target in TARGETS:
        try:
            with open(target, "a") as fh:
                fh.write("tampered\\n")
            genopt.feedback("wrote " + os.path.basename(target))
        except OSError as exc:
            genopt.feedback(f"refused {os.path.basename(target)}: {exc.strerror}")
    with open("own.txt", "w") as fh:  # its own tree
        fh.write("fine")
    import tempfile
    with tempfile.NamedTemporaryFile(dir=None) as fh:  # its private TMPDIR
        fh.write(b"fine")
"""


@needs_landlock
@pytest.mark.parametrize("mode", ["auto", "required"])  # required once confined nothing
def test_the_sandbox_keeps_the_checkout_git_and_home_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    user = init_repo(tmp_path / "user", {"tests/test_calc.py": "def test_a():\n    pass\n"})
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("# mine\n")
    monkeypatch.setenv("HOME", str(home))
    candidate = project(user / ".genopt" / "candidates" / "0", WRITER)
    targets = [user / "tests" / "test_calc.py", user / ".git" / "config", home / ".bashrc"]
    before = {t: t.read_bytes() for t in targets}
    env = {"GENOPT_TEST_TARGETS": os.pathsep.join(map(str, targets))}
    nodeid = "tests/test_calc.py::test_write_everywhere"

    confined = evaluate(candidate, [nodeid], env=env, sandbox=mode)
    assert confined.status == "ok", confined.output
    trial = confined.trials[nodeid]
    assert trial.outcome == "passed", trial.message
    assert trial.feedback == (
        "refused test_calc.py: Permission denied",
        "refused config: Permission denied",
        "refused .bashrc: Permission denied",
    )
    assert {t: t.read_bytes() for t in targets} == before
    assert (candidate / "own.txt").read_text() == "fine"

    # the same candidate without the sandbox does write: the test can fail
    loose = evaluate(candidate, [nodeid], env=env, sandbox="off")
    assert loose.trials[nodeid].feedback == ("wrote test_calc.py", "wrote config", "wrote .bashrc")
    assert (home / ".bashrc").read_text() == "# mine\ntampered\n"


@linux_only
def test_required_refuses_without_landlock_and_auto_says_so(
    pytester: pytest.Pytester, calc_project: Path
) -> None:
    """Landlock is made truly unavailable with a seccomp filter (no test knob)."""
    wrapper = pytester.path / "seccomp.py"
    wrapper.write_text(SECCOMP)
    branches = subprocess.run(
        ["git", "for-each-ref"], cwd=calc_project, capture_output=True, text=True
    ).stdout
    base = [sys.executable, str(wrapper), "-m", "pytest", "-p", "no:randomly"]
    os.environ["GENOPT_TEST_BLOCK"] = LANDLOCK_SYSCALLS  # restored by pytester
    refused = pytester.run(*base, "--genopt-iterations=1", "--genopt-backend=search",
                           "--genopt-sandbox=required")  # fmt: skip
    assert refused.ret == 4
    errors = [line for line in refused.errlines if line.strip()]
    assert errors == [
        "ERROR: --genopt-sandbox=required: Landlock is not available in this kernel "
        "(Function not implemented)"
    ]
    assert not (calc_project / ".genopt").exists()
    after = subprocess.run(
        ["git", "for-each-ref"], cwd=calc_project, capture_output=True, text=True
    ).stdout
    assert after == branches
    evidence = pytester.path / "request.json"
    os.environ["GENOPT_TEST_BLOCK"] = LANDLOCK_SYSCALLS
    auto = pytester.run(*base, "--genopt-iterations=1", f"--genopt-evidence={evidence}")
    auto.stdout.fnmatch_lines(
        ["genopt: sandbox none: Landlock is not available in this kernel (Function not "
         "implemented); processes: pid namespace; memory per evaluation: 4096M"]
    )  # fmt: skip
    if not unavailable_reason():
        normal = pytester.runpytest_subprocess(
            "--genopt-iterations=1", f"--genopt-evidence={evidence}", "--genopt-memory=512M"
        )
        normal.stdout.fnmatch_lines(
            ["genopt: sandbox landlock; processes: pid namespace; memory per evaluation: 512M"]
        )


# ---------------------------------------------------------------------------- environment


def test_candidates_do_not_see_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-not-for-candidates")
    monkeypatch.setenv("DB_PASSWORD", "hunter2")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_notforcandidates0000000000000000000")
    monkeypatch.setenv("SERVICE_TOKEN_FOR_TESTS", "needed-by-the-tests")
    monkeypatch.setenv("PLAIN_SETTING", "on")
    test = """\
        import os


        def test_env(genopt):
            genopt.feedback(" ".join(sorted(os.environ)))
            genopt.feedback("\\n".join(os.environ.values()))
    """
    root = project(tmp_path, test)
    nodeid = "tests/test_calc.py::test_env"
    evaluation = evaluate(root, [nodeid], keep_env=["SERVICE_TOKEN_*"])
    assert evaluation.status == "ok", evaluation.output
    names, values = evaluation.trials[nodeid].feedback
    assert "PLAIN_SETTING" in names.split()
    assert "GIT_AUTHOR_NAME" in names.split()  # set by conftest; not a secret
    assert "SERVICE_TOKEN_FOR_TESTS" in names.split()
    for name in ("ANTHROPIC_API_KEY", "DB_PASSWORD", "GITHUB_TOKEN"):
        assert name not in names.split()
    for secret in ("sk-ant-api03", "hunter2", "ghp_"):
        assert secret not in values


# ---------------------------------------------------------------------------- result channel


def test_a_forged_result_file_is_not_believed(tmp_path: Path) -> None:
    """The candidate overwrites the result file after the worker wrote it (at exit)."""
    test = """\
        import atexit, json, os


        def forge():
            result = os.path.join(os.path.dirname(os.environ["TMPDIR"]), "result.json")
            trial = {"test": "tests/test_calc.py::test_wrong", "outcome": "passed", "score": 5.0}
            payload = json.dumps({"worker": 2, "trials": [trial], "exitstatus": 0})
            with open(result, "w") as fh:
                json.dump({"payload": payload, "hmac": "0" * 64}, fh)


        def test_wrong():
            atexit.register(forge)
            assert False
    """
    root = project(tmp_path, test)
    nodeid = "tests/test_calc.py::test_wrong"
    honest = evaluate(root, [nodeid], sandbox="auto")
    assert honest.status == "unauthenticated", honest.output
    assert honest.reason == FORGED_REASON
    assert honest.invalid
    assert honest.trials[nodeid].outcome == "error"  # nothing of the forgery is used


# ---------------------------------------------------------------------------- processes


@linux_only
def test_setsid_grandchildren_die_with_the_evaluation(tmp_path: Path) -> None:
    test = """\
        import subprocess


        def test_spawn():
            pids = [
                subprocess.Popen(["sleep", "300"], start_new_session=True).pid
                for _ in range(150)
            ]
            with open("pids.txt", "w") as fh:
                fh.write(" ".join(map(str, pids)))
    """
    root = project(tmp_path, test)
    evaluation = evaluate(root, ["tests/test_calc.py::test_spawn"], sandbox="auto")
    assert evaluation.status == "ok", evaluation.output
    # the pids are the namespace's: find the sleeps by their start in this tree instead
    assert len((root / "pids.txt").read_text().split()) == 150
    leftovers = [p for p in sleeps_started_under(root)]
    assert wait_gone(leftovers) == []


def sleeps_started_under(root: Path) -> list[int]:
    """Host pids of ``sleep 300`` processes whose working folder is ``root``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if cmdline[:2] == [b"sleep", b"300"] and Path(cwd) == root.resolve():
            found.append(int(entry))
    return found


FALLBACK = """\
import sys
from pytest_genopt.evaluate import evaluate
from pytest_genopt.launcher import process_isolation

print(process_isolation())
print(evaluate(sys.argv[1], ["tests/test_calc.py::test_spawn"], sandbox="auto").status)
"""


@pytest.mark.skipif(not UNSHARE_SYSCALL, reason="unshare's syscall number is not known here")
def test_without_namespaces_the_subreaper_kills_every_descendant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    test = """\
        import subprocess


        def test_spawn():
            for _ in range(20):
                subprocess.Popen(["sleep", "300"], start_new_session=True)
    """
    root = project(tmp_path / "p", test)
    (tmp_path / "seccomp.py").write_text(SECCOMP)
    (tmp_path / "fallback.py").write_text(FALLBACK)
    monkeypatch.setenv("GENOPT_TEST_BLOCK", UNSHARE_SYSCALL)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "seccomp.py"), str(tmp_path / "fallback.py"), str(root)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["subreaper", "ok"], done.stderr
    assert wait_gone(sleeps_started_under(root)) == []


CONTROLLER = """\
import sys
from pytest_genopt.evaluate import evaluate

evaluate(sys.argv[1], ["tests/test_calc.py::test_hang"], timeout=600, sandbox="auto")
"""


@linux_only
def test_candidate_processes_die_when_the_controller_is_killed(tmp_path: Path) -> None:
    test = """\
        import subprocess, time


        def test_hang():
            for _ in range(3):
                subprocess.Popen(["sleep", "300"], start_new_session=True)
            with open("started", "w") as fh:
                fh.write("yes")
            time.sleep(300)
    """
    root = project(tmp_path / "p", test)
    script = tmp_path / "controller.py"
    script.write_text(CONTROLLER)
    controller = subprocess.Popen([sys.executable, str(script), str(root)])
    try:
        deadline = time.monotonic() + 120
        while not (root / "started").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (root / "started").exists(), "the candidate never started"
        sleeps = sleeps_started_under(root)
        assert len(sleeps) == 3
    finally:
        controller.send_signal(signal.SIGKILL)
        controller.wait()
    assert wait_gone(sleeps) == []


# ---------------------------------------------------------------------------- memory


def test_allocating_past_the_memory_cap_is_rejected(tmp_path: Path) -> None:
    test = """\
        def test_hungry():
            hoard = bytearray(1024 * 2**20)
            assert len(hoard) > 0


        def test_modest():
            assert len(bytearray(2**20)) == 2**20
    """
    root = project(tmp_path, test)
    ids = ["tests/test_calc.py::test_hungry", "tests/test_calc.py::test_modest"]
    capped = evaluate(root, ids, memory=256 * 2**20)
    assert capped.status == "memory", capped.output
    assert capped.reason == MEMORY_REASON
    assert capped.trials[ids[1]].outcome == "passed"
    roomy = evaluate(root, ids, memory=4 * 2**30)
    assert roomy.status == "ok", roomy.output


# ---------------------------------------------------------------------------- session options


def test_session_options_are_switched_off_by_name_in_the_child(tmp_path: Path) -> None:
    """The session's own args pass through; the breaking ones and genopt's do nothing."""
    test = """\
        def test_fails_first():
            assert False


        def test_runs_anyway():
            pass
    """
    root = project(tmp_path / "p", test)
    (root / "tests" / "test_broken.py").write_text("this is not python\n")
    elsewhere = tmp_path / "elsewhere"
    args = ["-x", "--lf", "--sw", "--pdb", "--co", "--setup-plan", "--fixtures"]
    args += [f"--junitxml={root / 'out.xml'}", f"--basetemp={elsewhere}", "-n", "3"]
    args += ["--genopt-iterations=3", "--genopt-backend=search", "--genopt-sandbox=required"]
    ids = ["tests/test_calc.py::test_fails_first", "tests/test_calc.py::test_runs_anyway"]
    # a positional path that slipped through (PYTEST_ADDOPTS) is not collected either
    evaluation = evaluate(root, ids, args=args, env={"PYTEST_ADDOPTS": "tests/test_broken.py"})
    assert evaluation.status == "ok", evaluation.output
    assert [t.outcome for t in evaluation.trials.values()] == ["failed", "passed"]
    assert not (root / "out.xml").exists()
    assert not elsewhere.exists()
