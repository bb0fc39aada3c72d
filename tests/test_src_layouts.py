"""Real projects import the candidate's code (issue 8 item 7), end to end.

Each test is one genopt run of the ``python:`` backend over a ``src/`` layout
project in a real git repository, set up the way its users run it: installed
editable with setuptools (lenient ``.pth``, strict link tree, a package-dir
MAPPING finder) or hatchling (``.pth``, the ``editables`` finder of
``dev-mode-exact``) into a real virtual environment, or found through
``PYTHONPATH`` (relative and absolute) or ini ``pythonpath``.  The optimizer
proposes the correct fix; it must be accepted, never rejected as "shadowed".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import editables  # type: ignore[import-untyped]
import pytest

from tests.conftest import BUGGY_CALC, CALC_TESTS, GIT_IDENTITY, init_repo
from tests.test_loop import report_of

# Fixes every trainable that subtracts.
OPTIMIZER = """\
def propose(request):
    edits = [
        {"parameter": p["id"], "search": "return a - b", "replace": "return a + b"}
        for p in request["parameters"]
        if "return a - b" in p["text"]
    ]
    return {"edits": edits, "rationale": "add must add"}
"""

IGNORES = "__pycache__/\n*.pyc\n.pytest_cache/\nbuild/\n*.egg-info/\n"


def setuptools_pyproject(name: str, extra: str = "") -> str:
    return (
        '[build-system]\nrequires = ["setuptools>=64"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{name}"\nversion = "0.1"\n{extra}'
    )


def hatchling_pyproject(name: str, extra: str = "") -> str:
    return (
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
        f'[project]\nname = "{name}"\nversion = "0.1"\n\n'
        f'[tool.hatch.build.targets.wheel]\npackages = ["src/{name}"]\n{extra}'
    )


@pytest.fixture(autouse=True)
def _named_plugins_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs load the plugins they name (genopt, xdist), no others: evaluations start faster."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def src_project(
    where: Path, packages: dict[str, str], files: dict[str, str], root: str = ""
) -> Path:
    """A git repository with ``FOLDER/NAME/calc.py`` (a buggy ``@trainable add``) per package.

    ``packages`` maps each package NAME to its FOLDER (``src``); ``tests/test_NAME.py``
    tests each.  Everything but ``.gitignore`` lies in the folder ``root`` (the
    rootdir) of the repository; ``files`` are rootdir-relative.
    """
    project = where / "project"
    project.mkdir()
    base = {"optimizer.py": OPTIMIZER, **files}
    for name, folder in packages.items():
        base[f"{folder}/{name}/__init__.py"] = ""
        base[f"{folder}/{name}/calc.py"] = BUGGY_CALC
        base[f"tests/test_{name}.py"] = CALC_TESTS.replace(
            "from calc import", f"from {name}.calc import"
        )
    prefix = f"{root}/" if root else ""
    init_repo(project, {".gitignore": IGNORES, **{prefix + k: v for k, v in base.items()}})
    return project / root if root else project


def genopt_run(
    pytester: pytest.Pytester, python: str = sys.executable, *args: str
) -> pytest.RunResult:
    return pytester.run(
        python,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-p",
        "pytest_genopt.plugin",
        "--genopt-iterations=1",
        "--genopt-backend=python:optimizer:propose",
        "--genopt-seed=0",
        "--genopt-timeout=120",
        "--genopt-batch-size=8",
        *args,
        timeout=300,
    )


def accepted(project: Path, result: pytest.RunResult) -> dict[str, Any]:
    """Iteration 1 of the run's report; fails with the run's output unless it was accepted."""
    tail = result.stdout.str()[-3000:] + result.stderr.str()[-1000:]
    assert (project / ".genopt" / "runs" / "last").exists(), tail
    report = report_of(project)
    first = report["iterations"][0]
    assert first["decision"] == "accepted", f"{first['reason']}\n{tail}"
    assert "shadow" not in json.dumps(report), tail
    assert report["best"]["objective"] == 1.0
    return first  # type: ignore[no-any-return]


# ---------------------------------------------------------------- editable installs


def pip_install_editable(python: str, project: Path, *settings: str) -> None:
    command = [python, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps"]
    command += [f"--config-settings={s}" for s in settings]
    done = subprocess.run([*command, "-e", str(project)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


#: sub-project folder -> (its pyproject.toml, pip's --config-settings); one kind of
#: editable install each, named by the folder
EDITABLE = {
    # a .pth path entry: /checkout/lenient/src
    "lenient": (setuptools_pyproject("calc_lenient"), ()),
    # a .pth path entry /checkout/strict/build/__editable__.../ of symlinks into src/
    "strict": (setuptools_pyproject("calc_strict"), ("editable_mode=strict",)),
    # not a plain src layout: setuptools' __editable___*_finder with its MAPPING
    "mapped": (
        setuptools_pyproject(
            "calc_mapped",
            '\n[tool.setuptools]\npackages = ["calc_mapped"]\n'
            'package-dir = {calc_mapped = "src/calc_mapped"}\n',
        ),
        (),
    ),
    # the editables RedirectingFinder (hatchling's default is a .pth path entry)
    "exact": (
        hatchling_pyproject("calc_exact", "\n[tool.hatch.build]\ndev-mode-exact = true\n"),
        (),
    ),
}


def make_venv(where: Path) -> str:
    """A virtual environment that sees this one's packages (pytest, pytest_genopt, backends)."""
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(where)
    python = str(where / "bin" / "python")
    # An editable install's .pth imports its finder (editables) as the venv's
    # site-packages are processed, before the system's are on sys.path: put them there
    # first, as if the finder were installed in the venv as it would be without --no-deps.
    site = next(where.glob("lib/python*/site-packages"))
    system = os.path.dirname(os.path.dirname(editables.__file__))
    (site / "00-system-site-packages.pth").write_text(system + "\n")
    return python


@pytest.fixture(scope="module")
def editable(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """(a venv's python, a repository of four sub-projects installed editable there).

    One kind of editable install per sub-project (:data:`EDITABLE`); the runs
    leave the checkout as it was, so the module's tests share it.
    """
    python = make_venv(tmp_path_factory.mktemp("venv"))
    packages = {f"calc_{kind}": f"{kind}/src" for kind in EDITABLE}
    files = {f"{kind}/pyproject.toml": text for kind, (text, _) in EDITABLE.items()}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in GIT_IDENTITY.items():
            mp.setenv(key, value)
        where = tmp_path_factory.mktemp("editable")
        project = src_project(where, packages, {**files, "pytest.ini": "[pytest]\n"})
    for kind, (_, settings) in EDITABLE.items():
        pip_install_editable(python, project / kind, *settings)
    # each kind is what it says (a newer setuptools may choose otherwise)
    site = next(Path(python).parent.parent.glob("lib/python*/site-packages"))
    assert list((project / "strict" / "build").glob("__editable__.calc_strict-*/calc_strict"))
    assert list(site.glob("__editable___calc_mapped_*_finder.py"))
    assert "RedirectingFinder" in (site / "_editable_impl_calc_exact.py").read_text()
    # the session itself imports the checkout's packages, through the installs
    modules = [f"calc_{kind}.calc" for kind in EDITABLE]
    code = f"import importlib\nfor n in {modules!r}: print(importlib.import_module(n).__file__)"
    found = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=where)
    assert [str(Path(line).resolve()) for line in found.stdout.split()] == [
        str(project / kind / "src" / f"calc_{kind}" / "calc.py") for kind in EDITABLE
    ], found.stderr
    return python, project


@pytest.mark.parametrize("workers", [1, 2])
def test_editable_installs_of_src_layouts_accept_the_correct_fix(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    editable: tuple[str, Path],
    workers: int,
) -> None:
    """One run fixes the four sub-projects' trainables at once; a package still
    imported from the checkout would make the candidate "shadowed", naming its
    file (so its kind of install).  With 2 workers, pytest-xdist's workers get
    the evaluation's sys.path but must install the finder themselves."""
    python, project = editable
    monkeypatch.chdir(project)
    branch = f"--genopt-branch=genopt/workers-{workers}"
    result = genopt_run(pytester, python, f"--genopt-workers={workers}", branch)
    first = accepted(project, result)
    assert len(first["attempts"][0]["edits"]) == len(EDITABLE)


# ---------------------------------------------------------------- PYTHONPATH and ini


def test_pythonpath_and_ini_pythonpath_accept_the_correct_fix(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three packages, each found its own way: ``PYTHONPATH=src`` (relative),
    ``PYTHONPATH=/abs/checkout/app/lib``, ini ``pythonpath = ini``; one fix for all
    three.  The rootdir ``app/`` lies below the repository's top level."""
    packages = {"calc_relative": "src", "calc_absolute": "lib", "calc_ini": "ini"}
    ini = {"pytest.ini": "[pytest]\npythonpath = ini\n"}
    rootdir = src_project(pytester.path, packages, ini, root="app")
    monkeypatch.chdir(rootdir)
    entries = ["src", str(rootdir / "lib"), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(entries))
    result = genopt_run(pytester, sys.executable, "--genopt-branch=genopt/src")
    first = accepted(rootdir, result)
    edited = sorted(e["parameter"] for e in first["attempts"][0]["edits"])
    assert edited == sorted(f"{folder}/{name}/calc.py::add" for name, folder in packages.items())


# ---------------------------------------------------------------- submodules


def test_a_project_with_a_submodule_accepts_the_correct_fix(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tests import code from a git submodule: candidate trees hold its contents."""
    mathlib = init_repo(
        pytester.path / "mathlib", {"mathlib.py": "def plus(a, b):\n    return a + b\n"}
    )
    ini = {
        "pytest.ini": "[pytest]\npythonpath = src vendor/mathlib\n",
        "tests/test_vendor.py": "from mathlib import plus\n\n\ndef test_plus():\n"
        "    assert plus(2, 2) == 4\n",
    }
    project = src_project(pytester.path, {"calc_sub": "src"}, ini)
    git = ["git", "-C", str(project), "-c", "protocol.file.allow=always"]
    subprocess.run([*git, "submodule", "add", "-q", str(mathlib), "vendor/mathlib"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "vendor mathlib"], check=True)
    monkeypatch.chdir(project)
    result = genopt_run(pytester, sys.executable, "--genopt-branch=genopt/sub")
    accepted(project, result)
    assert (project / "vendor" / "mathlib" / "mathlib.py").is_file()


# ---------------------------------------------------------------- coverage


def test_a_project_measured_by_coverage_accepts_the_correct_fix(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--cov`` in addopts and warnings as errors, as many projects have them: the
    session is measured, its evaluations are not (``--no-cov`` warns of nothing)."""
    pytest.importorskip("pytest_cov")
    ini = "[pytest]\npythonpath = src\naddopts = --cov=calc_cov\nfilterwarnings = error\n"
    project = src_project(pytester.path, {"calc_cov": "src"}, {"pytest.ini": ini})
    monkeypatch.chdir(project)
    result = genopt_run(pytester, sys.executable, "-p", "pytest_cov", "--genopt-branch=genopt/cov")
    accepted(project, result)
    assert "coverage: platform" in result.stdout.str()  # the session was measured
