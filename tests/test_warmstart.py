"""Warm start-up: an evaluation forked from a zygote sees what a cold one sees, and no more.

Every test runs real evaluations (real zygotes, launchers, namespaces and
pytest processes); the attacks are candidates that try to use what a forked
process could have inherited.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING

import pytest

from pytest_genopt import warmstart
from pytest_genopt.evaluate import candidate_environment, evaluate
from tests.test_isolation import alive, project, wait_gone

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

#: what a test can see of its process, written to view.json in its tree
VIEW = """\
import gc, json, os, signal, sys, tempfile, weakref


class Cycle:
    pass


def collects():
    cycle = Cycle()
    cycle.self = cycle
    gone = weakref.ref(cycle)
    del cycle
    gc.collect()
    return gone() is None


def test_view():
    fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
    view = {
        "path": sys.path,
        "argv": sys.argv[1:],
        "cwd": os.getcwd(),
        "env": {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
        "tmp": tempfile.gettempdir(),
        "dont_write_bytecode": sys.dont_write_bytecode,
        "sigpipe": int(signal.getsignal(signal.SIGPIPE)),
        "sigint": signal.getsignal(signal.SIGINT) is signal.default_int_handler,
        "fds": len(fds),
        "main": sorted(n for n in vars(sys.modules["__main__"]) if not n.startswith("__")),
        "zygote": "pytest_genopt.warmstart" in sys.modules and sys.argv[0] == "-c",
        "frozen": gc.get_freeze_count(),
        "collects": collects(),
    }
    with open("view.json", "w") as fh:
        json.dump(view, fh)
"""


def view(root: Path, *, warm: bool) -> dict[str, object]:
    evaluation = evaluate(root, ["tests/test_calc.py::test_view"], sandbox="auto", warm=warm)
    assert evaluation.status == "ok", evaluation.output
    seen: dict[str, object] = json.loads((root / "view.json").read_text())
    return seen


def test_a_warm_evaluation_sees_what_a_cold_one_sees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path, VIEW)
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(["", "relative/dir", str(tmp_path), "/x/../y"])
    )
    cold, warm = view(root, warm=False), view(root, warm=True)
    for seen in (cold, warm):  # each evaluation has a private temporary folder
        env = seen["env"]
        assert isinstance(env, dict)
        assert env.pop("TMPDIR") == env.pop("TMP") == env.pop("TEMP") == seen.pop("tmp")
        assert isinstance(seen["argv"], list)  # and a cache folder of its own
        seen["argv"] = [a for a in seen["argv"] if "genopt-eval-" not in a]
    assert not cold.pop("zygote")
    assert warm.pop("zygote"), "the warm evaluation did not run in a zygote's fork"
    # what the zygote imported is frozen out of the collector's way; the test's own
    # garbage is collected (in both: warm == cold below).  Counted against a fresh
    # interpreter's: CPython 3.12 starts with objects of its own frozen (375 on 3.12.1,
    # none on 3.11 and 3.13), gc.freeze() or not
    fresh = [sys.executable, "-c", "import gc; print(gc.get_freeze_count())"]
    start = int(subprocess.run(fresh, capture_output=True, text=True, check=True).stdout)
    assert (cold.pop("frozen") > start, warm.pop("frozen") > start) == (False, True)
    assert cold["collects"]
    # environment, sys.path, argv, cwd, flags, signals, open descriptors, __main__
    assert warm == cold


@pytest.mark.parametrize(
    "pythonpath",
    ["", "a", ":a::b/../c", "/abs:/abs/", "SITE", "SITE:rel"],
)
def test_startup_path_is_what_site_builds(tmp_path: Path, pythonpath: str) -> None:
    site_packages = next(p for p in sys.path if p.endswith("site-packages"))
    pythonpath = pythonpath.replace("SITE", site_packages)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    show = [sys.executable, "-c", "import json, sys; print(json.dumps(sys.path))"]
    shown = subprocess.run(show, env=env, cwd="/", capture_output=True, text=True, check=True)
    base = json.loads(shown.stdout)[1:]
    env["PYTHONPATH"] = pythonpath
    shown = subprocess.run(show, env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
    fresh = json.loads(shown.stdout)
    assert fresh == ["", *warmstart.startup_path(pythonpath, str(tmp_path), base)]


LEAK = """\
import os
import pytest


def test_leave_something():
    pytest.genopt_leak = "from an earlier evaluation"
    os.environ["GENOPT_LEAK"] = "1"
    import pytest_genopt.worker as worker
    worker.genopt_leak = True


def test_find_nothing():
    import pytest_genopt.worker as worker
    assert not hasattr(pytest, "genopt_leak")
    assert "GENOPT_LEAK" not in os.environ
    assert not hasattr(worker, "genopt_leak")
"""


def test_an_evaluation_cannot_leave_state_for_the_next(tmp_path: Path) -> None:
    root = project(tmp_path, LEAK)
    first = evaluate(root, ["tests/test_calc.py::test_leave_something"], sandbox="auto")
    second = evaluate(root, ["tests/test_calc.py::test_find_nothing"], sandbox="auto")
    assert first.status == second.status == "ok", second.output
    assert second.trials["tests/test_calc.py::test_find_nothing"].outcome == "passed"


REACH = """\
import os, signal, stat


def test_reach_out():
    # every ancestor it can see, and every pipe it holds (a launcher's or pid 1's)
    hit, pipes = [], []
    pid = os.getppid()
    while pid > 1:
        try:
            os.kill(pid, signal.SIGKILL)
            hit.append(pid)
        except OSError:
            pass
        with open(f"/proc/{pid}/stat") as fh:
            pid = int(fh.read().rpartition(")")[2].split()[1])
    for fd in range(3, 1024):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                pipes.append(fd)
                os.write(fd, b"garbage")
        except OSError:
            pass
    with open("reached.txt", "w") as fh:
        fh.write(f"{hit} {pipes}")
"""


def test_a_candidate_cannot_reach_its_zygote_or_launcher(tmp_path: Path) -> None:
    root = project(tmp_path / "reach", REACH)
    evaluation = evaluate(root, ["tests/test_calc.py::test_reach_out"], sandbox="auto")
    # in its PID namespace no ancestor is visible, and no pipe is left open
    assert (root / "reached.txt").read_text() == "[] []"
    assert evaluation.status == "ok", evaluation.output
    # the zygote still serves the next evaluation
    assert view(project(tmp_path / "view", VIEW), warm=True)["zygote"]


def test_a_dead_zygote_costs_nothing_but_a_cold_start(tmp_path: Path) -> None:
    root = project(tmp_path, VIEW)
    assert view(root, warm=True)["zygote"]
    warmstart.close_all()  # as if it died: the registry forgets it only on the next launch
    seen = view(root, warm=True)
    assert seen["zygote"]  # a new zygote
    for zygote in [z for z in warmstart._zygotes.values() if z is not None]:
        os.kill(zygote.pid, signal.SIGKILL)
        zygote._process.wait()
    assert view(root, warm=True)["cwd"] == str(root)  # started cold, or by a fresh zygote


def test_coverage_at_interpreter_start_means_cold(tmp_path: Path) -> None:
    env = {**candidate_environment(os.environ), "COVERAGE_PROCESS_START": str(tmp_path / "rc")}
    assert warmstart.zygote_for(env) is None


ZYGOTE = """\
import os, sys
from pytest_genopt import warmstart
from pytest_genopt.evaluate import candidate_environment

zygote = warmstart.zygote_for(candidate_environment(os.environ))
print(zygote.pid, flush=True)
sys.stdin.read()
"""


def test_the_zygote_dies_with_its_controller(tmp_path: Path) -> None:
    script = tmp_path / "controller.py"
    script.write_text(ZYGOTE)
    controller = subprocess.Popen(
        [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert controller.stdout is not None
    pid = int(controller.stdout.readline())
    assert alive(pid)
    controller.kill()
    controller.wait()
    assert wait_gone([pid]) == []


def test_a_timed_out_warm_evaluation_is_stopped(tmp_path: Path) -> None:
    test = """\
        import time


        def test_hang():
            time.sleep(300)
    """
    root = project(tmp_path, textwrap.dedent(test))
    started = time.monotonic()
    evaluation = evaluate(root, ["tests/test_calc.py::test_hang"], timeout=3, sandbox="auto")
    assert evaluation.status == "timeout"
    assert time.monotonic() - started < 60


def test_the_gateway_variables_do_not_split_the_zygotes() -> None:
    from pytest_genopt.taskmodel import GATEWAY_ENV, GATEWAY_KEY_ENV

    assert {GATEWAY_ENV, GATEWAY_KEY_ENV} <= warmstart.VOLATILE


def test_prewarm_starts_the_zygote_the_evaluations_then_use(tmp_path: Path) -> None:
    from pytest_genopt.evaluate import prewarm

    warmstart.close_all()
    prewarm()
    deadline = time.monotonic() + 60
    while not warmstart._zygotes and time.monotonic() < deadline:
        time.sleep(0.05)
    with warmstart._registry:  # started (or starting: the lock is held until it is ready)
        started = [z for z in warmstart._zygotes.values() if z is not None]
    assert len(started) == 1
    root = project(tmp_path, VIEW)
    assert view(root, warm=True)["zygote"]
    assert [z for z in warmstart._zygotes.values() if z is not None] == started
