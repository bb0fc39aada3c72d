"""Imports from the user's checkout are served from the candidate's tree (pytest_genopt.imports)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import pytest_genopt
from pytest_genopt.imports import map_existing, map_path

# ---------------------------------------------------------------------------- map_path


def test_map_path_gives_the_same_relative_path_in_the_tree(tmp_path: Path) -> None:
    source, tree = tmp_path / "checkout", tmp_path / "elsewhere" / "c0"
    (source / "src" / "pkg").mkdir(parents=True)
    mod = source / "src" / "pkg" / "mod.py"
    assert map_path(str(mod), str(source), str(tree)) == str(tree / "src" / "pkg" / "mod.py")
    assert map_path(str(source / "src"), str(source), str(tree)) == str(tree / "src")
    assert map_path(str(source), str(source), str(tree)) == str(tree)
    # not there yet in the tree: map_path says where, map_existing says it is not
    assert map_existing(str(mod), str(source), str(tree)) is None
    (tree / "src" / "pkg").mkdir(parents=True)
    (tree / "src" / "pkg" / "mod.py").write_text("")
    assert map_existing(str(mod), str(source), str(tree)) == str(tree / "src" / "pkg" / "mod.py")


def test_map_path_leaves_paths_outside_the_checkout_and_in_genopt_alone(tmp_path: Path) -> None:
    source = tmp_path / "checkout"
    (source / "sub").mkdir(parents=True)
    tree = source / ".genopt" / "worktrees" / "run" / "c0"
    assert map_path(str(tmp_path / "other" / "mod.py"), str(source), str(tree)) is None
    # a sibling whose name starts like the checkout's is outside it
    assert map_path(str(tmp_path / "checkout-old" / "m.py"), str(source), str(tree)) is None
    assert map_path(str(source / ".genopt"), str(source), str(tree)) is None
    assert map_path(str(tree / "src" / "mod.py"), str(source), str(tree)) is None
    # a rootdir below the top level keeps its .genopt/ there
    nested = source / "sub" / ".genopt" / "worktrees" / "run" / "c0" / "sub" / "m.py"
    assert map_path(str(nested), str(source), str(tree)) is None
    assert map_path(str(source / "sub" / "m.py"), str(source), str(tree)) == str(
        tree / "sub" / "m.py"
    )


def test_map_path_compares_resolved_paths(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / "src").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    tree = tmp_path / "tree"
    # the checkout named through a symlink, and a path named through it
    assert map_path(str(real / "src" / "m.py"), str(link), str(tree)) == str(tree / "src" / "m.py")
    assert map_path(str(link / "src" / "m.py"), str(real), str(tree)) == str(tree / "src" / "m.py")
    # a file that is a symlink into the checkout (a strict editable install's link tree)
    outside = tmp_path / "build" / "m.py"
    outside.parent.mkdir()
    outside.symlink_to(real / "src" / "m.py")
    assert map_path(str(outside), str(real), str(tree)) == str(tree / "src" / "m.py")


# ---------------------------------------------------------------------------- install

# What an editable install leaves in a process, each kind: a path entry (.pth), a
# setuptools-style MAPPING finder, an editables-style RedirectingFinder, a strict link
# tree of symlinks, a module only the checkout has; then install() and the imports.
SCRIPT = """\
import importlib.machinery, importlib.util, json, os, subprocess, sys

source, tree, package_parent = sys.argv[1:4]
sys.path.insert(0, package_parent)
from pytest_genopt import imports

sys.path.append(os.path.join(source, "src"))
sys.path.append(os.path.join(source, "build", "links"))

MAPPING = {"mapped": os.path.join(source, "lib", "mapped")}


class MappingFinder:  # setuptools' __editable___*_finder
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname in MAPPING:
            init = os.path.join(MAPPING[fullname], "__init__.py")
            return importlib.util.spec_from_file_location(
                fullname, init, submodule_search_locations=[MAPPING[fullname]]
            )
        return None


class RedirectingFinder:  # editables.redirector, used by hatchling and pdm
    _redirections = {"redirected": os.path.join(source, "other", "redirected.py")}

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if "." in fullname or path is not None or fullname not in cls._redirections:
            return None
        return importlib.util.spec_from_file_location(fullname, cls._redirections[fullname])


sys.meta_path.append(MappingFinder)
sys.meta_path.append(RedirectingFinder)
os.environ["PYTHONPATH"] = "keep-me"
imports.install(source, tree)

import pathpkg.sub, pathpkg.generated, mapped.sub, redirected, linked.sub, onlyhere

names = ["pathpkg", "pathpkg.sub", "pathpkg.generated", "mapped", "mapped.sub", "redirected",
         "linked", "linked.sub", "onlyhere"]
grandchild = subprocess.run(
    [sys.executable, "-c", "import pathpkg; print(pathpkg.__file__)"],
    capture_output=True, text=True, cwd="/",
)
print(json.dumps({
    "files": {n: sys.modules[n].__file__ for n in names},
    "pythonpath": os.environ["PYTHONPATH"],
    "grandchild": grandchild.stdout.strip() or grandchild.stderr,
}))
"""

MODULES = [
    "src/pathpkg/__init__.py",
    "src/pathpkg/sub.py",
    "lib/mapped/__init__.py",
    "lib/mapped/sub.py",
    "other/redirected.py",
    "src2/linked/__init__.py",
    "src2/linked/sub.py",
]


def test_install_serves_every_kind_of_editable_import_from_the_tree(tmp_path: Path) -> None:
    source, tree = tmp_path / "checkout", tmp_path / "checkout" / ".genopt" / "trees" / "c0"
    for name in MODULES:
        for top in (source, tree):
            (top / name).parent.mkdir(parents=True, exist_ok=True)
            (top / name).write_text("")
    # what the tree lacks (generated, ignored files) still imports from the checkout
    (source / "src" / "onlyhere.py").write_text("")
    (source / "src" / "pathpkg" / "generated.py").write_text("")
    links = source / "build" / "links" / "linked"
    links.mkdir(parents=True)
    for name in ("__init__.py", "sub.py"):
        (links / name).symlink_to(source / "src2" / "linked" / name)
    package_parent = str(Path(pytest_genopt.__file__).parent.parent)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(source), str(tree), package_parent],
        capture_output=True,
        text=True,
        cwd=tree,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    expected = {
        "pathpkg": tree / "src/pathpkg/__init__.py",
        "pathpkg.sub": tree / "src/pathpkg/sub.py",
        "pathpkg.generated": source / "src/pathpkg/generated.py",
        "mapped": tree / "lib/mapped/__init__.py",
        "mapped.sub": tree / "lib/mapped/sub.py",
        "redirected": tree / "other/redirected.py",
        "linked": tree / "src2/linked/__init__.py",
        "linked.sub": tree / "src2/linked/sub.py",
        "onlyhere": source / "src/onlyhere.py",
    }
    assert found["files"] == {name: str(path) for name, path in expected.items()}
    # the path entry whose twin exists goes first on PYTHONPATH; the link tree (absent
    # from the tree) does not
    assert found["pythonpath"] == os.pathsep.join([str(tree / "src"), "keep-me"])
    assert found["grandchild"] == str(tree / "src" / "pathpkg" / "__init__.py")


def test_install_changes_nothing_outside_the_checkout(tmp_path: Path) -> None:
    """A process whose paths do not lead into the checkout keeps its sys.path and PYTHONPATH."""
    source, tree = tmp_path / "checkout", tmp_path / "tree"
    source.mkdir()
    tree.mkdir()
    code = textwrap.dedent(
        """\
        import json, os, sys
        sys.path.insert(0, sys.argv[3])
        from pytest_genopt import imports
        before = list(sys.path)
        imports.install(sys.argv[1], sys.argv[2])
        import json as again
        print(json.dumps([sys.path == before, os.environ.get("PYTHONPATH"),
                          type(sys.meta_path[0]).__name__]))
        """
    )
    package_parent = str(Path(pytest_genopt.__file__).parent.parent)
    done = subprocess.run(
        [sys.executable, "-c", code, str(source), str(tree), package_parent],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": "unchanged"},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [True, "unchanged", "TreeFinder"]


@pytest.mark.parametrize("entry", ["absolute", "relative", "outside"])
def test_child_pythonpath_maps_absolute_entries_into_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: str
) -> None:
    from pytest_genopt.evaluate import _child_env

    source, tree = tmp_path / "checkout", tmp_path / "checkout" / ".genopt" / "c0"
    (tree / "src").mkdir(parents=True)
    value = {"absolute": str(source / "src"), "relative": "src", "outside": str(tmp_path)}[entry]
    monkeypatch.setenv("PYTHONPATH", value)
    env = _child_env(tree, None, (), tmp_path, (source, tree))
    expected = {
        "absolute": os.pathsep.join([str(tree / "src"), str(source / "src")]),
        "relative": "src",
        "outside": str(tmp_path),
    }
    assert env["PYTHONPATH"] == os.pathsep.join([str(tree), expected[entry]])
