"""Attacks on warm start-up: what a candidate evaluated warm could do or see that it could
not cold, and where a warm evaluation could differ from a cold one.

Every test runs real evaluations (real zygotes, launchers, namespaces and pytest
processes).  Those named ``..._differs...`` once failed: each pins its fix.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from pytest_genopt.evaluate import evaluate
from tests.test_isolation import project
from tests.test_warmstart import VIEW, view

if TYPE_CHECKING:
    from pathlib import Path

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

evaluation = evaluate(Path(sys.argv[1]), ["tests/test_calc.py::test_peek"], sandbox="auto")
print(evaluation.status)
"""


@pytest.mark.xfail(
    strict=True,
    reason="warm and cold: the candidate reads the controller's /proc/<pid>/environ "
    "(Landlock does not restrict reading another process's /proc entries), so a secret "
    "the controller started with reaches it",
)
def test_a_candidate_cannot_read_a_secret_the_controller_started_with(tmp_path: Path) -> None:
    secret = os.urandom(8).hex()
    root = project(tmp_path / "project", PEEK.replace("SECRET", repr(secret.encode())))
    script = tmp_path / "controller.py"
    script.write_text(CONTROLLER)
    env = {**os.environ, "GENOPT_PROBE_TOKEN": secret}
    shown = subprocess.run(
        [sys.executable, str(script), str(root)], env=env, capture_output=True, text=True
    )
    assert shown.stdout.strip() == "ok", shown.stderr
    assert (root / "peek.txt").read_text() == "[]"
