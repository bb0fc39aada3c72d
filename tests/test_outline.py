"""Large file parameters: an outline, the regions evidence reached, and region edits (v2)."""

from __future__ import annotations

import json
import textwrap
from typing import TYPE_CHECKING

import pytest

from pytest_genopt.outline import LARGE, definitions, reached, view
from pytest_genopt.protocol import Edit, InvalidProposal
from pytest_genopt.trainables import EditRefused, Parameter, apply_edit
from tests.conftest import git, init_repo, prompt_snapshot

if TYPE_CHECKING:
    from syrupy.assertion import SnapshotAssertion

FUNCTION = '''
def f{i}(x):
    """Scale x by {i} and shift it."""
    total = x * {i}
    if total > {limit}:
        total -= {i}
    return total + {i}

'''

ACCOUNT = '''
class Account:
    """A balance."""

    def deposit(self, amount):
        if amount < 10:
            raise ValueError(f"negative deposit: {amount}")
        self.balance = getattr(self, "balance", 0) + amount
        return self.balance

'''


def generated(size: int) -> str:
    """A module of about ``size`` characters; f7 shifts the wrong way and
    Account.deposit refuses small amounts (one test fails by a value, one by a raise)."""
    parts = [ACCOUNT]
    i = 0
    while sum(map(len, parts)) < size:
        text = FUNCTION.format(i=i, limit=1000 + i)
        parts.append(text.replace("return total + 7", "return total - 7") if i == 7 else text)
        i += 1
    return "".join(parts)


TESTS = """\
import pytest

import mod


@pytest.mark.parametrize("i", [3, 7, 11])
def test_f(i):
    assert getattr(mod, f"f{i}")(2) == 3 * i


def test_deposit():
    account = mod.Account()
    assert account.deposit(5) == 5
"""

OPTIMIZER = """\
import json


def propose(request):
    with open("requests.jsonl", "a") as log:
        log.write(json.dumps(request) + "\\n")
    return {"edits": [
        {"parameter": "mod.py", "region": "f7", "search": "return total - 7",
         "replace": "return total + 7"},
        {"parameter": "mod.py", "region": "Account.deposit", "search": "amount < 10",
         "replace": "amount < 0"}], "rationale": "f7 shifts up; only negative deposits fail"}
"""


def test_a_175_kb_module_is_an_outline_and_its_reached_regions_and_edits_name_them(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, snapshot: SnapshotAssertion
) -> None:
    project = pytester.path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    module = generated(175_000)
    init_repo(
        project,
        {
            "mod.py": module,
            "tests/test_mod.py": TESTS,
            "optimizer.py": OPTIMIZER,
            "pytest.ini": "[pytest]\npythonpath = .\ngenopt_trainable_files = mod.py\n",
        },
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--genopt-iterations=1", "--genopt-seed=0",
        "--genopt-backend=python:optimizer:propose", "--genopt-branch=genopt/regions",
    )  # fmt: skip
    log = (project / "requests.jsonl").read_text().splitlines()
    (request,) = [json.loads(line) for line in log]
    prompt = request["prompt"]
    assert len(module) > 175_000
    assert len(prompt) <= 25_000
    assert request["protocol"] == 2
    (parameter,) = request["parameters"]
    assert parameter["text"] == module  # the request still carries it whole
    # f7 is reached by running it (no frame points there), deposit by the frame that raised
    lines = module.splitlines()
    f7 = lines.index("def f7(x):") + 1
    deposit = lines.index("    def deposit(self, amount):") + 1
    assert f"{f7} | def f7(x):" in prompt
    assert f"{f7 + 5} |     return total - 7" in prompt
    assert f"{deposit} |     def deposit(self, amount):" in prompt
    assert "def f11(x):" not in prompt.split("reached functions")[1].split("# Iteration")[0]
    frames = "\n".join(f for item in request["evidence"] for f in item["traceback"])
    assert f"mod.py:{deposit + 2} in deposit" in frames  # the raise, as numbered in the view
    assert f"{deposit + 2} |" in prompt
    assert prompt_snapshot(prompt) == snapshot
    result.stdout.fnmatch_lines(["genopt: iteration 1: accepted*"])
    fixed = git(project, "show", "genopt/regions:mod.py")
    assert fixed == module.replace("return total - 7", "return total + 7").replace(
        "amount < 10", "amount < 0"
    )


def file_parameter(text: str, language: str = "python") -> Parameter:
    return Parameter(id="mod.py", kind="file", path="mod.py", language=language, text=text)


SMALL = textwrap.dedent("""\
    def a(x):
        return x + 1


    class K:
        def m(self):
            return 1

        def n(self):
            return 1
""")


def test_a_region_edit_changes_only_its_function_and_its_search_is_unique_there() -> None:
    parameter = file_parameter(SMALL)
    edit = Edit("mod.py", search="return 1", replace="return 2", region="K.n")
    assert apply_edit(SMALL, parameter, edit) == SMALL[::-1].replace("1", "2", 1)[::-1]
    whole = Edit("mod.py", text="def m(self):\n    return 3\n", region="K.m")
    assert "        return 3\n" in apply_edit(SMALL, parameter, whole)


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (Edit("mod.py", search="x", replace="y", region="K.zz"),
         "region (function) 'K.zz' can no longer be found in mod.py"),
        (Edit("mod.py", search="return 9", replace="y", region="a"),
         "'search' occurs 0 times in the parameter's text; it must occur exactly once"),
        (Edit("mod.py", text="def b(x):\n    return x\n", region="a"),
         "the edit renames function 'a' to 'b'"),
    ],
)  # fmt: skip
def test_a_region_edit_that_cannot_apply_is_refused(edit: Edit, reason: str) -> None:
    with pytest.raises(EditRefused) as info:
        apply_edit(SMALL, file_parameter(SMALL), edit)
    assert reason.split("…")[0] in str(info.value)


def test_region_applies_to_python_file_parameters_only() -> None:
    text = "# notes\n"
    with pytest.raises(EditRefused, match="'region' applies to Python file parameters; this is"):
        apply_edit(text, file_parameter(text, "markdown"), Edit("mod.py", text="x", region="a"))


def test_region_in_a_response_round_trips_and_is_checked() -> None:
    edit = Edit.from_json({"parameter": "mod.py", "region": "K.m", "search": "1", "replace": "2"})
    assert edit.region == "K.m"
    assert Edit.from_json(edit.to_json()) == edit
    assert "region" not in Edit("p", text="t").to_json()  # v1 edits stay v1
    with pytest.raises(InvalidProposal, match="'region' must be a non-empty string"):
        Edit.from_json({"parameter": "mod.py", "region": "", "text": "x"})


def test_the_outline_is_bounded_around_the_reached_functions() -> None:
    module = generated(60_000)
    assert len(module) > LARGE
    names, lines = reached("mod.py", ["mod.py:7 in deposit\n  ..."], ["mod.py::f300"], ["x.py:1"])
    assert (names, lines) == ({"f300"}, {7})
    shown = view("mod.py", module, names, lines)
    assert len(shown) < 6_000
    assert "def f300(x):" in shown
    assert "    def deposit(self, amount):" in shown
    assert "more definitions, lines" in shown
    assert [d.qualname for d in definitions(SMALL)] == ["a", "K", "K.m", "K.n"]
