"""Attacks on warm start-up: what a candidate evaluated warm could do or see that it could
not cold, and where a warm evaluation could differ from a cold one.

Every test runs real evaluations (real zygotes, launchers, namespaces and pytest
processes).  Those named ``..._differs...`` once failed: each pins its fix.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pytest_genopt import warmstart
from pytest_genopt.evaluate import Evaluation, evaluate
from pytest_genopt.launcher import private_proc
from tests.test_isolation import project
from tests.test_warmstart import VIEW, view

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

SHADOW = """\
import resource


def test_own_module():
    assert getattr(resource, "MINE", False), resource.__file__
"""


@pytest.mark.parametrize("warm", [False, True])
def test_a_module_of_the_tree_named_like_one_the_zygote_imported_is_the_trees(
    tmp_path: Path, warm: bool
) -> None:
    # the zygote imports ctypes and resource for its launchers; a cold evaluation has
    # not imported them when the candidate's tree comes first on sys.path, so a tree's
    # resource.py is the one its tests import (it was the stdlib's when warm)
    root = project(tmp_path, SHADOW)
    (root / "resource.py").write_text("MINE = True\n")
    evaluation = evaluate(root, ["tests/test_calc.py::test_own_module"], sandbox="auto", warm=warm)
    assert evaluation.status == "ok", evaluation.output
    assert evaluation.trials["tests/test_calc.py::test_own_module"].outcome == "passed", (
        evaluation.output
    )


STDLIB = """\
def test_stdlib_modules_the_zygote_dropped_import_again():
    import ctypes
    import resource

    assert resource.getrlimit(resource.RLIMIT_DATA)
    assert ctypes.CDLL(None).getpid() > 0
"""


def test_modules_the_zygote_imported_for_itself_still_import_in_the_fork(tmp_path: Path) -> None:
    root = project(tmp_path, STDLIB)
    node = "tests/test_calc.py::test_stdlib_modules_the_zygote_dropped_import_again"
    evaluation = evaluate(root, [node], sandbox="auto", warm=True)
    assert evaluation.status == "ok", evaluation.output
    assert evaluation.trials[node].outcome == "passed", evaluation.output


def test_pythonsafepath_gives_the_same_sys_path_warm_and_cold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # with PYTHONSAFEPATH python -c puts no "" first: the zygote took its first real
    # entry (the stdlib's zip) for "" and the fork put "" (the tree) back on sys.path
    monkeypatch.setenv("PYTHONSAFEPATH", "1")
    root = project(tmp_path, VIEW)
    cold, warm = view(root, warm=False), view(root, warm=True)
    assert warm["zygote"], "the warm evaluation did not run in a zygote's fork"
    assert warm["path"] == cold["path"]


SITE = """\
import os
import subprocess


def test_site():
    assert os.environ.get("GENOPT_SITECUSTOMIZE") == "ran"
"""
HOOK = "import os\nos.environ['GENOPT_SITECUSTOMIZE'] = 'ran'\n"


@pytest.mark.parametrize("warm", [False, True])
def test_a_sitecustomize_on_the_users_pythonpath_runs_warm_as_cold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warm: bool
) -> None:
    # site imports it at interpreter start; the zygote's start had no PYTHONPATH, so
    # such an evaluation starts cold (it passed cold and failed warm)
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "sitecustomize.py").write_text(HOOK)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(lib), os.environ.get("PYTHONPATH", "")]))
    root = project(tmp_path / "project", SITE)
    evaluation = evaluate(root, ["tests/test_calc.py::test_site"], sandbox="auto", warm=warm)
    assert evaluation.status == "ok", evaluation.output
    assert evaluation.trials["tests/test_calc.py::test_site"].outcome == "passed", evaluation.output


NO_SITE = """\
import os
import subprocess


def test_no_site():
    assert "GENOPT_SITECUSTOMIZE" not in os.environ
"""


@pytest.mark.parametrize(
    "warm",
    [
        pytest.param(
            False,
            marks=pytest.mark.xfail(
                strict=True,
                reason="cold: the tree's twin of a PYTHONPATH entry into the checkout is on "
                "PYTHONPATH at interpreter start, so its sitecustomize runs before the key is read",
            ),
        ),
        True,
    ],
)
def test_a_sitecustomize_in_the_candidates_tree_does_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warm: bool
) -> None:
    source, tree = tmp_path / "checkout", tmp_path / "tree"
    (source / "lib").mkdir(parents=True)
    project(tree, NO_SITE)
    (tree / "lib").mkdir()
    (tree / "lib" / "sitecustomize.py").write_text(HOOK)
    pythonpath = os.pathsep.join([str(source / "lib"), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", pythonpath)
    node = "tests/test_calc.py::test_no_site"
    evaluation = evaluate(tree, [node], sandbox="auto", warm=warm, checkout=(source, tree))
    assert evaluation.status == "ok", evaluation.output
    assert evaluation.trials[node].outcome == "passed", evaluation.output


PEEK = """\
import os
import subprocess


def test_peek():
    # every process whose start-up environment it can read (the launcher, pid 1, the
    # zygote, the controller: /proc is the host's, PID namespace or not)
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        if SECRET in data:
            found.append(pid)
    with open("peek.txt", "w") as fh:
        fh.write(repr(found))
"""


@pytest.mark.parametrize("warm", [False, True])
def test_no_process_of_an_evaluation_carries_a_secret_the_candidate_was_denied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warm: bool
) -> None:
    # a variable set at run time is in the environment block only of processes started
    # since: the controller's own block does not have it, an evaluation's would.  The
    # candidate reads /proc/*/environ of processes it cannot signal; the cold launcher
    # (and pid 1, its fork) used to carry the controller's whole environment
    secret = os.urandom(8).hex()
    monkeypatch.setenv("GENOPT_PROBE_TOKEN", secret)  # a secret by its name
    root = project(tmp_path, PEEK.replace("SECRET", repr(secret.encode())))
    evaluation = evaluate(root, ["tests/test_calc.py::test_peek"], sandbox="auto", warm=warm)
    assert evaluation.status == "ok", evaluation.output
    assert (root / "peek.txt").read_text() == "[]"


CONTROLLER = """\
import sys
from pathlib import Path
from pytest_genopt.evaluate import evaluate

evaluation = evaluate(
    Path(sys.argv[1]), ["tests/test_calc.py::test_peek"], sandbox="auto", warm=sys.argv[2] == "True"
)
print(evaluation.status)
"""


@pytest.mark.skipif(not private_proc(), reason="no /proc of its own for a PID namespace here")
@pytest.mark.parametrize("warm", [False, True])
def test_a_candidate_cannot_read_a_secret_the_controller_started_with(
    tmp_path: Path, warm: bool
) -> None:
    # pid 1 mounts a /proc of the evaluation's PID namespace: the controller, the user's
    # shell and every other process outside are not in it
    secret = os.urandom(8).hex()
    root = project(tmp_path / "project", PEEK.replace("SECRET", repr(secret.encode())))
    script = tmp_path / "controller.py"
    script.write_text(CONTROLLER)
    env = {**os.environ, "GENOPT_PROBE_TOKEN": secret}
    shown = subprocess.run(
        [sys.executable, str(script), str(root), str(warm)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert shown.stdout.strip() == "ok", shown.stderr
    assert (root / "peek.txt").read_text() == "[]"


SCAN = r"""
import os, re


def test_scan():
    # the zygote received earlier launch messages; does their text live on in the fork?
    found = set()
    with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as mem:
        for line in maps:
            where, perms = line.split()[:2]
            if "r" not in perms or "[v" in line:
                continue
            low, high = (int(x, 16) for x in where.split("-"))
            try:
                mem.seek(low)
                data = mem.read(high - low)
            except OSError:
                continue
            found.update(re.findall(rb"genopt-eval-\w{8}|GENOPTMARK\w{16}", data))
    mine = os.path.basename(os.path.dirname(os.environ["TMPDIR"])).encode()
    with open("scan.txt", "w") as fh:
        fh.write(repr(sorted(found - {mine})))
"""


def test_a_fork_holds_no_earlier_launch_message(tmp_path: Path) -> None:
    mark = "GENOPTMARK" + os.urandom(8).hex()
    first = project(tmp_path / "first", "def test_x():\n    pass\n")
    earlier = evaluate(first, ["tests/test_calc.py::test_x"], sandbox="auto", args=["-k", mark])
    assert earlier.status == "ok", earlier.output
    root = project(tmp_path / "second", SCAN)
    evaluation = evaluate(root, ["tests/test_calc.py::test_scan"], sandbox="auto")
    assert evaluation.status == "ok", evaluation.output
    assert (root / "scan.txt").read_text() == "[]"


ATTACK = """\
import os, signal, time


def test_attack():
    time.sleep(0.3)  # the sibling is running
    hit = []
    for pid in filter(str.isdigit, os.listdir("/proc")):  # host pids, not ours
        if int(pid) != os.getpid():
            for sig in (signal.SIGSTOP, signal.SIGKILL):
                try:
                    os.kill(int(pid), sig)
                    hit.append(pid)
                except OSError:
                    pass
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass
    with open("hit.txt", "w") as fh:
        fh.write(repr(sorted(set(hit))))
"""
SIBLING = """\
import time


def test_slow():
    time.sleep(1.5)
"""


def test_a_candidate_cannot_stop_or_kill_a_sibling_forked_from_the_same_zygote(
    tmp_path: Path,
) -> None:
    # --genopt-candidates=2: two evaluations at once, from one zygote
    attacker = project(tmp_path / "attacker", ATTACK)
    sibling = project(tmp_path / "sibling", SIBLING)
    results: dict[str, Evaluation] = {}

    def run(name: str, root: Path, test: str) -> None:
        results[name] = evaluate(root, [f"tests/test_calc.py::{test}"], sandbox="auto", timeout=30)

    threads = [
        threading.Thread(target=run, args=("sibling", sibling, "test_slow")),
        threading.Thread(target=run, args=("attacker", attacker, "test_attack")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results["sibling"].status == "ok", results["sibling"].output
    assert results["sibling"].trials["tests/test_calc.py::test_slow"].outcome == "passed"
    assert results["attacker"].status == "ok", results["attacker"].output
    # pid 1 of its own namespace only (it ignores both signals from inside)
    assert (attacker / "hit.txt").read_text() == "['1']"
    assert view(project(tmp_path / "view", VIEW), warm=True)["zygote"], "the zygote died"


STUBBORN = {
    "ignores SIGTERM": "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n    time.sleep(300)",
    "stops itself": "os.kill(os.getpid(), signal.SIGSTOP)",
    "leaves its group": "os.setsid()\n    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "    time.sleep(300)",
}


@pytest.mark.parametrize("how", sorted(STUBBORN))
def test_a_stubborn_warm_evaluation_times_out_and_the_zygote_serves_on(
    tmp_path: Path, how: str
) -> None:
    test = f"import os, signal, time\n\n\ndef test_stubborn():\n    {STUBBORN[how]}\n"
    root = project(tmp_path / "stubborn", test)
    started = time.monotonic()
    evaluation = evaluate(root, ["tests/test_calc.py::test_stubborn"], sandbox="auto", timeout=1.5)
    assert evaluation.status == "timeout", evaluation.output
    assert time.monotonic() - started < 5
    assert view(project(tmp_path / "view", VIEW), warm=True)["zygote"], "the zygote died"


WAIT = """\
import os, time


def test_wait():
    open("started", "w").close()
    deadline = time.monotonic() + 20
    while not os.path.exists("release") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert os.path.exists("release")
"""


def test_a_zygote_evicted_for_a_third_environment_finishes_its_evaluations(
    tmp_path: Path,
) -> None:
    # KEPT zygotes at once: the oldest was closed at once when a third environment
    # came, killing the evaluation it was running (crashed: killed by SIGKILL)
    waiting = project(tmp_path / "waiting", WAIT)
    quick = project(tmp_path / "quick", "def test_quick():\n    pass\n")
    results: list[Evaluation] = []

    def run() -> None:
        node = "tests/test_calc.py::test_wait"
        results.append(evaluate(waiting, [node], sandbox="auto", env={"GENOPT_PROBE_ENV": "1"}))

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 30
    while not (waiting / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    first = list(warmstart._zygotes.values())[-1]  # the waiting evaluation's
    for other in ("2", "3"):
        env = {"GENOPT_PROBE_ENV": other}
        assert evaluate(quick, ["tests/test_calc.py::test_quick"], sandbox="auto", env=env).ok
    (waiting / "release").touch()
    thread.join()
    assert results[0].status == "ok", results[0].reason
    assert results[0].trials["tests/test_calc.py::test_wait"].outcome == "passed"
    assert first is not None
    assert first._process.poll() is not None, "the evicted zygote was not closed after"


MASK = """\
import os, resource


def test_mask():
    mask = os.umask(0)
    os.umask(mask)
    limits = [resource.getrlimit(r) for r in (resource.RLIMIT_NOFILE, resource.RLIMIT_CORE)]
    with open("mask.txt", "w") as fh:
        fh.write(repr((mask, limits)))
"""


def test_umask_and_limits_set_after_the_zygote_started_reach_a_warm_evaluation(
    tmp_path: Path,
) -> None:
    # a cold launcher inherits them at launch; the zygote had them from its own start
    import resource

    root = project(tmp_path, MASK)
    node = "tests/test_calc.py::test_mask"
    assert evaluate(root, [node], sandbox="auto").ok  # the zygote is started
    nofile, core = (
        resource.getrlimit(resource.RLIMIT_NOFILE),
        resource.getrlimit(resource.RLIMIT_CORE),
    )
    mask = os.umask(0o077)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(nofile[0], 512) - 1, nofile[1]))
        resource.setrlimit(resource.RLIMIT_CORE, (0, core[1]))
        seen = []
        for warm in (False, True):
            assert evaluate(root, [node], sandbox="auto", warm=warm).ok
            seen.append((root / "mask.txt").read_text())
    finally:
        os.umask(mask)
        resource.setrlimit(resource.RLIMIT_NOFILE, nofile)
        resource.setrlimit(resource.RLIMIT_CORE, core)
    assert seen[0].startswith(f"({0o077}, ")
    assert seen[1] == seen[0]


SHADOWS = {
    "pytest.py": "raise SystemExit('a shadowing pytest ran')\n",
    "_pytest/__init__.py": "raise SystemExit('a shadowing _pytest ran')\n",
    "pluggy/__init__.py": "raise SystemExit('a shadowing pluggy ran')\n",
    "pytest_genopt/__init__.py": "raise SystemExit('a shadowing pytest_genopt ran')\n",
    "pytest_genopt/worker.py": "raise SystemExit('a shadowing worker ran')\n",
    "sitecustomize.py": "raise SystemExit('a sitecustomize ran')\n",
    "usercustomize.py": "raise SystemExit('a usercustomize ran')\n",
    "evil.pth": "import os; os._exit(3)\n",
}


@pytest.mark.parametrize("warm", [False, True])
def test_shadowing_copies_in_the_tree_do_not_run_warm_or_cold(tmp_path: Path, warm: bool) -> None:
    test = "def test_add():\n    from calc import add\n    assert add(1, 2) == 3\n"
    root = project(tmp_path, test)
    for name, text in SHADOWS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    evaluation = evaluate(root, ["tests/test_calc.py::test_add"], sandbox="auto", warm=warm)
    assert evaluation.status == "ok", evaluation.output
    assert evaluation.trials["tests/test_calc.py::test_add"].outcome == "passed"


def test_a_cancelled_warm_evaluation_stops_at_once_and_the_zygote_serves_on(
    tmp_path: Path,
) -> None:
    root = project(tmp_path / "hang", WAIT)  # waits for a release that never comes
    cancel = threading.Event()
    results: list[Evaluation] = []
    node = "tests/test_calc.py::test_wait"
    thread = threading.Thread(
        target=lambda: results.append(evaluate(root, [node], sandbox="auto", cancel=cancel))
    )
    thread.start()
    deadline = time.monotonic() + 30
    while not (root / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    cancelled = time.monotonic()
    cancel.set()
    thread.join()
    assert time.monotonic() - cancelled < 2
    assert results[0].status == "cancelled", results[0].output
    assert view(project(tmp_path / "view", VIEW), warm=True)["zygote"], "the zygote died"


PROC = """\
def test_proc():
    with open("/proc/self/environ", "rb") as fh:
        env = fh.read().split(b"\\0")
    with open("/proc/self/cmdline", "rb") as fh:
        argv = fh.read().split(b"\\0")
    with open("proc.txt", "w") as fh:
        fh.write(repr((any(e.startswith(b"TMPDIR=") for e in env), b"-p" in argv)))
"""


@pytest.mark.xfail(
    strict=True,
    reason="not fixed: a fork's /proc/self/environ and /proc/self/cmdline (psutil, ps) are "
    "the zygote's start-up ones; moving them takes CAP_SYS_RESOURCE (prctl PR_SET_MM)",
)
def test_proc_self_shows_the_evaluations_environment_and_arguments(tmp_path: Path) -> None:
    root = project(tmp_path, PROC)
    seen = []
    for warm in (False, True):
        assert evaluate(root, ["tests/test_calc.py::test_proc"], sandbox="auto", warm=warm).ok
        seen.append((root / "proc.txt").read_text())
    assert seen[0] == "(True, True)"
    assert seen[1] == seen[0]


STDIN = """\
import fcntl, os


def test_stdin():
    with open("stdin.txt", "w") as fh:
        fh.write(str(fcntl.fcntl(0, fcntl.F_GETFL) & os.O_ACCMODE))
"""


def test_stdin_is_opened_as_cold(tmp_path: Path) -> None:
    # cold: subprocess.DEVNULL, read-write; warm was read-only (seen with -s)
    root = project(tmp_path, STDIN)
    seen = []
    for warm in (False, True):
        node = "tests/test_calc.py::test_stdin"
        assert evaluate(root, [node], sandbox="auto", warm=warm, args=["-s"]).ok
        seen.append((root / "stdin.txt").read_text())
    assert seen == [str(os.O_RDWR)] * 2


HOLD = r"""
import os, stat, time


def test_hold():
    # every pipe it can open through /proc (a sibling's report pipe, pid 1's status
    # pipe, the controller's ends), held open until the controller says so
    while not os.path.exists(STARTED):
        time.sleep(0.01)
    held = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if stat.S_ISFIFO(os.stat(f"/proc/{pid}/fd/{fd}").st_mode):
                    held.append(os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
    open(SCANNED, "w").close()
    deadline = time.monotonic() + 20
    while not os.path.exists(RELEASE) and time.monotonic() < deadline:
        time.sleep(0.01)
"""
VICTIM = """\
import os, time


def test_victim():
    open("started", "w").close()
    while not os.path.exists(SCANNED):
        time.sleep(0.01)
"""


@pytest.mark.parametrize("warm", [False, True])
def test_a_candidate_holding_pipes_open_cannot_hold_up_a_sibling(
    tmp_path: Path, warm: bool
) -> None:
    # the warm controller waits for the end of the report pipe, a launcher for the end of
    # pid 1's status pipe: a writer the sibling kept would keep both waiting
    names = {
        "STARTED": repr(str(tmp_path / "victim" / "started")),
        "SCANNED": repr(str(tmp_path / "holder" / "scanned")),  # the holder writes it
        "RELEASE": repr(str(tmp_path / "release")),
    }
    hold, victim = HOLD, VICTIM
    for name, value in names.items():
        hold, victim = hold.replace(name, value), victim.replace(name, value)
    holder, target = project(tmp_path / "holder", hold), project(tmp_path / "victim", victim)
    results: list[Evaluation] = []
    node = "tests/test_calc.py::test_hold"
    thread = threading.Thread(
        target=lambda: results.append(evaluate(holder, [node], sandbox="auto", warm=warm))
    )
    thread.start()
    try:
        evaluation = evaluate(
            target, ["tests/test_calc.py::test_victim"], sandbox="auto", warm=warm, timeout=30
        )
        assert thread.is_alive(), "the holder ended first: the attack did not happen"
    finally:
        (tmp_path / "release").touch()
        thread.join()
    assert evaluation.status == "ok", evaluation.output
    assert results[0].status == "ok", results[0].output


STATE = r"""
import atexit, faulthandler, gc, json, os, sys, threading, warnings, locale, random
def test_state():
    s = {
        "filters": [repr(f[:1]) + repr(f[2]) + repr(f[3:]) for f in warnings.filters],
        "flags": repr(sys.flags), "warnoptions": sys.warnoptions, "xoptions": sys._xoptions,
        "faulthandler": faulthandler.is_enabled(), "threads": threading.active_count(),
        "atexit": atexit._ncallbacks(), "meta_path": [type(m).__name__ for m in sys.meta_path],
        "path_hooks": [getattr(h, "__name__", type(h).__name__) for h in sys.path_hooks],
        "recursion": sys.getrecursionlimit(), "switch": sys.getswitchinterval(),
        "gc": [gc.isenabled(), gc.get_threshold()], "affinity": sorted(os.sched_getaffinity(0)),
        "stdout": [sys.stdout.encoding, sys.stdout.errors, sys.stdout.line_buffering,
                   sys.stderr.line_buffering, sys.stdin.encoding],
        "locale": locale.getlocale(),
        "prefix": [sys.prefix, sys.exec_prefix, sys.executable, sys.base_prefix],
        "main": sorted(vars(sys.modules["__main__"])),
        "mainfile": getattr(sys.modules["__main__"], "__file__", None),
        "loader": repr(sys.modules["__main__"].__loader__),
        "spec": repr(sys.modules["__main__"].__spec__),
        "excepthook": repr(sys.excepthook), "displayhook": repr(sys.displayhook),
        "trace": repr(sys.gettrace()), "profile": repr(sys.getprofile()),
        "dlopen": sys.getdlopenflags(), "int_max": sys.get_int_max_str_digits(),
        "orig_argv_len": len(sys.orig_argv), "pgrp": os.getpgrp() == os.getpid(),
        "cwd": os.getcwd(), "nice": os.nice(0),
        "ppid": os.getppid(), "pid": os.getpid(),
    }
    json.dump(s, open("state.json", "w"))
"""


def test_interpreter_state_is_the_same_warm_and_cold(tmp_path: Path) -> None:
    # warnings filters, flags, faulthandler, threads, atexit handlers, meta path and path
    # hooks, limits of the interpreter, gc, stdio, __main__, hooks, pid and parent
    root = project(tmp_path, STATE)
    seen = []
    for warm in (False, True):
        assert evaluate(root, ["tests/test_calc.py::test_state"], sandbox="auto", warm=warm).ok
        seen.append(json.loads((root / "state.json").read_text()))
    assert seen[1] == seen[0]


VENDORED = """\
import iniconfig


def test_vendored():
    assert getattr(iniconfig, "MINE", False), iniconfig.__file__
"""


@pytest.mark.parametrize("warm", [False, True])
def test_a_copy_of_a_pytest_dependency_on_the_users_pythonpath_is_the_one_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warm: bool
) -> None:
    # cold, BOOTSTRAP imports pytest (and iniconfig, pluggy...) with PYTHONPATH on
    # sys.path; the zygote imported them without: such an evaluation starts cold
    import shutil

    import iniconfig

    vendor = tmp_path / "vendor"
    shutil.copytree(Path(iniconfig.__file__).parent, vendor / "iniconfig")
    with open(vendor / "iniconfig" / "__init__.py", "a") as fh:
        fh.write("\nMINE = True\n")
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(vendor), os.environ.get("PYTHONPATH", "")])
    )
    root = project(tmp_path / "project", VENDORED)
    node = "tests/test_calc.py::test_vendored"
    evaluation = evaluate(root, [node], sandbox="auto", warm=warm)
    assert evaluation.status == "ok", evaluation.output
    assert evaluation.trials[node].outcome == "passed", evaluation.output
