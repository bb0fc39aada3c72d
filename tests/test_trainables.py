"""Finding trainable parameters (functions, marked blocks, whole files) and rewriting them."""

from __future__ import annotations

import os
import re
import subprocess
from typing import TYPE_CHECKING

import pytest

from pytest_genopt.protocol import Edit, ParameterView
from pytest_genopt.trainables import (
    EditRefused,
    Parameter,
    apply_edit,
    apply_edits,
    discover,
    function_text,
    list_project_files,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

# Built from pieces so this file itself holds no marker lines.
BEGIN = "genopt" + ": begin"
END = "genopt" + ": end"


@pytest.fixture(autouse=True)
def _no_outer_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep git from finding a repository above the temp dir, or one named by a hook's env."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(var, raising=False)


def write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_bytes(content.encode())
    return root


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.invalid", *args],
        cwd=root,
        check=True,
        capture_output=True,
        env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1"},
    )


def by_id(root: Path, **kwargs: list[str]) -> dict[str, Parameter]:
    return {p.id: p for p in discover(root, **kwargs)}


def read(root: Path) -> Callable[[str], str]:
    """Read a file's text as it is on disk (no newline translation)."""
    return lambda path: (root / path).read_bytes().decode()


# --------------------------------------------------------------------------- project files


def test_walk_lists_files_skipping_tool_directories(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a.py": "",
            "sub/b.md": "",
            ".env": "",
            ".hidden/x.py": "",
            "__pycache__/c.pyc": b"\0",
            "pkg/__pycache__/d.pyc": b"\0",
            "venv/lib.py": "",
            ".venv/lib.py": "",
            "node_modules/y.js": "",
            "build/z.py": "",
            "dist/w.whl": "",
            "pkg.egg-info/PKG-INFO": "",
            ".genopt/runs/r1/journal.jsonl": "",
        },
    )
    assert list_project_files(tmp_path) == [".env", "a.py", "sub/b.md"]


def test_git_lists_tracked_and_untracked_but_not_ignored(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            ".gitignore": "ignored.txt\nlogs/\n",
            "tracked.py": "",
            "gone.py": "",
            "sub/deep/tracked.md": "",
        },
    )
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "initial")
    write(
        tmp_path,
        {
            "untracked.py": "",
            "ignored.txt": "",
            "logs/run.log": "",
            ".genopt/runs/r1/report.json": "",
            "sub/.genopt/x.md": "",
        },
    )
    (tmp_path / "gone.py").unlink()

    assert list_project_files(tmp_path) == [
        ".gitignore",
        "sub/deep/tracked.md",
        "tracked.py",
        "untracked.py",
    ]
    # Below the repository's top: only files under rootdir, relative to it.
    assert list_project_files(tmp_path / "sub") == ["deep/tracked.md"]


def test_git_ignored_files_hold_no_parameters(tmp_path: Path) -> None:
    source = "from pytest_genopt import trainable\n\n@trainable\ndef f():\n    return 1\n"
    write(tmp_path, {".gitignore": "secret.py\n", "secret.py": source, "kept.py": source})
    git(tmp_path, "init", "-q")
    assert list(by_id(tmp_path)) == ["kept.py::f"]


# --------------------------------------------------------------------------- functions

MODULE = '''\
import pytest_genopt
import genopt
from pytest_genopt import trainable

DESCRIPTION = "not a literal"


@trainable
def plain(a, b):
    """Add."""
    return a - b


@trainable(description="the step size")
# a comment between decorator and def
def step(x):
    return x * 2  # trailing comment on the last line
# a comment after the function


@pytest_genopt.trainable
async def fetch(url):
    return url


@genopt.trainable(description=DESCRIPTION)
def described_by_name():
    pass


def not_trainable():
    @trainable
    def inner():
        return 1

    return inner


class Agent:
    @staticmethod
    @trainable
    def act(observation):
        if observation:
            return 1
        return 0

    class Inner:
        @trainable()
        async def deeper(self):
            text = """
first
  second"""
            return text
'''


def test_discovers_trainable_functions_and_methods(tmp_path: Path) -> None:
    write(tmp_path, {"pkg/policy.py": MODULE})
    params = discover(tmp_path)

    assert [p.id for p in params] == [
        "pkg/policy.py::Agent.Inner.deeper",
        "pkg/policy.py::Agent.act",
        "pkg/policy.py::described_by_name",
        "pkg/policy.py::fetch",
        "pkg/policy.py::plain",
        "pkg/policy.py::step",
    ]
    found = {p.id.partition("::")[2]: p for p in params}
    assert all(p.kind == "function" and p.language == "python" for p in params)
    assert all(p.path == "pkg/policy.py" for p in params)
    assert found["plain"].text == 'def plain(a, b):\n    """Add."""\n    return a - b\n'
    assert (
        found["step"].text
        == "def step(x):\n    return x * 2  # trailing comment on the last line\n"
    )
    assert found["step"].description == "the step size"
    assert found["described_by_name"].description == ""
    assert found["fetch"].text == "async def fetch(url):\n    return url\n"
    assert found["Agent.act"].text == (
        "def act(observation):\n    if observation:\n        return 1\n    return 0\n"
    )
    # A multi-line string's continuation lines are content: they are not dedented.
    assert found["Agent.Inner.deeper"].text == (
        'async def deeper(self):\n    text = """\nfirst\n  second"""\n    return text\n'
    )


def test_function_text_helper() -> None:
    assert function_text(MODULE, "Agent.act").startswith("def act(observation):\n")
    with pytest.raises(LookupError):
        function_text(MODULE, "not_trainable")


def test_skips_unparseable_python_and_files_without_trainable(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "broken.py": "from pytest_genopt import trainable\n\n@trainable\ndef f(:\n",
            "other.py": "from x import t\n\n@t\ndef g():\n    pass\n",
        },
    )
    assert discover(tmp_path) == []


def test_a_trainable_defined_twice_is_an_error(tmp_path: Path) -> None:
    source = "from pytest_genopt import trainable\n\n@trainable\ndef f(): pass\n"
    write(tmp_path, {"m.py": source + "\n\n@trainable\ndef f(): return 1\n"})
    with pytest.raises(ValueError, match=r"m\.py: parameter id 'm\.py::f' is defined twice"):
        discover(tmp_path)


def test_parameter_view() -> None:
    p = Parameter(
        id="a.py::f", kind="function", path="a.py", language="python", text="x", description="d"
    )
    assert p.view() == ParameterView(
        id="a.py::f", kind="function", path="a.py", language="python", text="x", description="d"
    )


# --------------------------------------------------------------------------- blocks


def test_discovers_blocks_in_any_text_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "cfg/thresholds.py": (
                f"def limits():\n    # {BEGIN} limits\n    low = 1\n\n    high = 9\n"
                f"    # {END}\n    return low, high\n"
            ),
            "cfg/agent.yaml": f"a: 1\n# {BEGIN} policy-v2.x\n  b: 2\n# {END}\n",
            "docs/prompt.md": f"# Title\n<!-- {BEGIN} intro -->\n<!-- {END} -->\nrest\n",
            "data.bin": f"# {BEGIN} nope\n\0\n".encode(),
            "latin.txt": f"# {BEGIN} nope\ncaf\xe9\n# {END}\n".encode("latin-1"),
        },
    )
    params = by_id(tmp_path)

    assert list(params) == [
        "cfg/agent.yaml::policy-v2.x",
        "cfg/thresholds.py::limits",
        "docs/prompt.md::intro",
    ]
    limits = params["cfg/thresholds.py::limits"]
    assert (limits.kind, limits.path, limits.language) == ("block", "cfg/thresholds.py", "python")
    assert limits.text == "    low = 1\n\n    high = 9\n"
    assert params["cfg/agent.yaml::policy-v2.x"].text == "  b: 2\n"
    assert params["cfg/agent.yaml::policy-v2.x"].language == "yaml"
    assert params["docs/prompt.md::intro"].text == ""
    assert params["docs/prompt.md::intro"].language == "markdown"


def test_files_over_two_megabytes_are_skipped(tmp_path: Path) -> None:
    filler = "x" * 1000 + "\n"
    write(tmp_path, {"big.txt": f"# {BEGIN} a\n1\n# {END}\n" + filler * 2200})
    assert discover(tmp_path) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"x\n# {BEGIN} a\ny\n", r"^c\.yaml:2: '.*begin a' has no '.*end' line after it$"),
        (
            f"# {BEGIN} a\n# {BEGIN} b\n# {END}\n",
            r"^c\.yaml:2: '.*begin b' inside block 'a' \(begun at line 1\); blocks cannot nest$",
        ),
        (
            f"# {BEGIN} a\n# {END}\n# {BEGIN} a\n# {END}\n",
            r"^c\.yaml:3: block name 'a' is used twice \(first at line 1\)$",
        ),
        (f"x\n# {END}\n", r"^c\.yaml:2: '.*end' without a '.*begin NAME' before it$"),
    ],
    ids=["unterminated", "nested", "duplicate", "stray-end"],
)
def test_malformed_blocks_are_errors(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path, {"c.yaml": text})
    with pytest.raises(ValueError, match=message):
        discover(tmp_path)


def test_block_and_function_with_the_same_id_is_an_error(tmp_path: Path) -> None:
    source = (
        f"from pytest_genopt import trainable\n\n@trainable\ndef f():\n"
        f"    # {BEGIN} f\n    return 1\n    # {END}\n"
    )
    write(tmp_path, {"m.py": source})
    with pytest.raises(ValueError, match="defined twice"):
        discover(tmp_path)


# --------------------------------------------------------------------------- whole files


def test_whole_files_by_glob_and_by_path(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "prompts/system.md": f"You are helpful.\n<!-- {BEGIN} tone -->\nkind\n<!-- {END} -->\n",
            "prompts/old/v1.md": "old\n",
            "prompts/logo.png": b"\x89PNG\0\0",
            "notes.txt": "n\r\nm\r\n",
            "deep/a/b/c.txt": "c",
            "cfg.json": "{}",
        },
    )
    params = by_id(
        tmp_path, file_globs=["prompts/*", "**/*.txt"], files=["cfg.json", "./prompts/system.md"]
    )

    assert list(params) == [
        "cfg.json",
        "deep/a/b/c.txt",
        "notes.txt",
        "prompts/system.md",
        "prompts/system.md::tone",
    ]
    system = params["prompts/system.md"]
    assert (system.kind, system.path, system.language) == ("file", "prompts/system.md", "markdown")
    assert system.text == (tmp_path / "prompts/system.md").read_text()
    assert params["notes.txt"].text == "n\nm\n"  # parameter texts use \n
    assert params["cfg.json"].language == "json"


@pytest.mark.parametrize(
    ("glob", "path", "matches"),
    [
        ("prompts/*.md", "prompts/a.md", True),
        ("prompts/*.md", "prompts/x/a.md", False),
        ("**/*.md", "a.md", True),
        ("**/*.md", "x/y/a.md", True),
        ("prompts/**", "prompts/x/y.txt", True),
        ("a/**/b.txt", "a/b.txt", True),
        ("a/**/b.txt", "a/x/y/b.txt", True),
        ("a/?.txt", "a/bc.txt", False),
        ("[ab].txt", "b.txt", True),
        ("[!ab].txt", "b.txt", False),
        ("odd[.txt", "odd[.txt", True),
    ],
)
def test_glob_semantics(tmp_path: Path, glob: str, path: str, matches: bool) -> None:
    write(tmp_path, {path: "x"})
    assert bool(discover(tmp_path, file_globs=[glob])) is matches


@pytest.mark.parametrize(
    ("files", "content", "message"),
    [
        (["missing.md"], None, r"^trainable file 'missing\.md' does not exist under "),
        (["../outside.md"], None, r"^trainable file '\.\./outside\.md' is not under "),
        (["blob.md"], b"a\0b", r"^trainable file 'blob\.md' is a binary file$"),
        (["blob.md"], b"caf\xe9", r"^trainable file 'blob\.md' is not UTF-8 text$"),
    ],
)
def test_bad_explicit_files_are_errors(
    tmp_path: Path, files: list[str], content: bytes | None, message: str
) -> None:
    if content is not None:
        write(tmp_path, {"blob.md": content})
    with pytest.raises(ValueError, match=message):
        discover(tmp_path, files=files)


# --------------------------------------------------------------------------- rewriting functions

CALC = """\
from pytest_genopt import trainable

HELPER = 1


@trainable(description="adds")
# why it exists
def add(a, b):
    return a - b


class Agent:
    @trainable
    def act(self, observation):
        if observation:
            return 1

        return 0

    def other(self):
        return 2
"""


@pytest.fixture
def calc(tmp_path: Path) -> dict[str, Parameter]:
    write(tmp_path, {"calc.py": CALC})
    return by_id(tmp_path)


def assert_reason(actual: str, expected: str) -> None:
    """``expected`` with '…' standing for any text (the parser's wording varies by version)."""
    pattern = ".+".join(re.escape(part) for part in expected.split("…"))
    assert re.fullmatch(pattern, actual), actual


def refusal(file_text: str, parameter: Parameter, edit: Edit) -> str:
    with pytest.raises(EditRefused) as info:
        apply_edit(file_text, parameter, edit)
    return str(info.value)


def test_whole_text_edit_replaces_only_the_def_lines(calc: dict[str, Parameter]) -> None:
    new = apply_edit(
        CALC, calc["calc.py::add"], Edit("calc.py::add", text="def add(a, b):\n    return a + b")
    )
    assert new == CALC.replace("    return a - b\n", "    return a + b\n")


def test_search_replace_edit(calc: dict[str, Parameter]) -> None:
    edit = Edit("calc.py::add", search="a - b", replace="a + b")
    assert apply_edit(CALC, calc["calc.py::add"], edit) == CALC.replace("a - b", "a + b")


def test_method_edit_is_reindented(calc: dict[str, Parameter]) -> None:
    text = 'def act(self, observation):\n    note = """\nraw\n"""\n\n    return len(note)\n'
    new = apply_edit(CALC, calc["calc.py::Agent.act"], Edit("calc.py::Agent.act", text=text))
    expected_method = (
        '    def act(self, observation):\n        note = """\nraw\n"""\n\n'
        "        return len(note)\n"
    )
    start = CALC.index("    def act")
    end = CALC.index("\n    def other")
    assert new == CALC[:start] + expected_method + CALC[end:]
    assert function_text(new, "Agent.act") == text


def test_multiline_fstring_lines_are_content(tmp_path: Path) -> None:
    source = (
        "from pytest_genopt import trainable\n\n\nclass A:\n    @trainable\n"
        '    def f(self, n):\n        return f"""\nn={n}\n  {n + 1}"""\n'
    )
    write(tmp_path, {"m.py": source})
    f = by_id(tmp_path)["m.py::A.f"]
    assert f.text == 'def f(self, n):\n    return f"""\nn={n}\n  {n + 1}"""\n'
    assert refusal(source, f, Edit(f.id, text=f.text)) == "the edit changes nothing"
    new = apply_edit(source, f, Edit(f.id, search="{n + 1}", replace="{n + 2}"))
    assert new == source.replace("{n + 1}", "{n + 2}")


def test_async_is_allowed_to_change(calc: dict[str, Parameter]) -> None:
    new = apply_edit(
        CALC,
        calc["calc.py::add"],
        Edit("calc.py::add", text="async def add(a, b):\n    return a + b\n"),
    )
    assert '@trainable(description="adds")\n# why it exists\nasync def add(a, b):\n' in new


def test_identical_decorators_are_dropped_others_refused(calc: dict[str, Parameter]) -> None:
    add = calc["calc.py::add"]
    same = '@trainable( description="adds" )\n# why it exists\ndef add(a, b):\n    return a + b\n'
    assert apply_edit(CALC, add, Edit(add.id, text=same)) == CALC.replace("a - b", "a + b")

    for text in [
        "@trainable\ndef add(a, b):\n    return a + b\n",
        '@cache\n@trainable(description="adds")\ndef add(a, b):\n    return a + b\n',
    ]:
        reason = refusal(CALC, add, Edit(add.id, text=text))
        assert reason == "decorators are kept by the rewriter; leave them out"
    reason = refusal(
        CALC,
        calc["calc.py::Agent.act"],
        Edit("calc.py::Agent.act", text="@x\ndef act(self, o): pass\n"),
    )
    assert reason == "decorators are kept by the rewriter; leave them out"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "def add(a, b):\n    return (a +\n",
            "the new text is not valid Python: … (line 2)",
        ),
        (
            "def add(a, b):\nreturn a\n",
            "the new text is not valid Python: … (line 2)",
        ),
        (
            "def add(a, b):\n    return a + b\n\nHELPER = 2\n",
            "the new text must be exactly one function definition 'def add(...)', found 2 "
            "top-level statement(s) (Assign, FunctionDef); anything else would drop out of "
            "its region",
        ),
        (
            "def add(a, b):\n    return a + b\n\ndef sub(a, b):\n    return a - b\n",
            "the new text must be exactly one function definition 'def add(...)', found 2 "
            "top-level statement(s) (FunctionDef); anything else would drop out of its region",
        ),
        (
            "class add:\n    pass\n",
            "the new text must be exactly one function definition 'def add(...)', found 1 "
            "top-level statement(s) (ClassDef); anything else would drop out of its region",
        ),
        (
            "",
            "the new text must be exactly one function definition 'def add(...)', found 0 "
            "top-level statement(s) (nothing); anything else would drop out of its region",
        ),
        (
            "def plus(a, b):\n    return a + b\n",
            "the edit renames function 'add' to 'plus'; a trainable keeps its name",
        ),
        (
            "# adds\ndef add(a, b):\n    return a + b\n",
            "line 1 of the new text ('# adds') lies outside 'def add' and would drop out of its "
            "region",
        ),
        (
            "def add(a, b):\n    return a + b\n    # done\n",
            "line 3 of the new text ('# done') lies outside 'def add' and would drop out of its "
            "region",
        ),
        (
            "def add(a, b):\n    return await a\n",
            "the resulting file is not valid Python: 'await' outside async function (line 9)",
        ),
        (
            "def add(a, b):\n    return 1\x00\n",
            "the new text is not valid Python: source code string cannot contain null bytes",
        ),
        ("def add(a, b):\n    return a - b\n", "the edit changes nothing"),
        ("\ndef add(a, b):\n    return a - b\n\n\n", "the edit changes nothing"),
    ],
    ids=[
        "syntax",
        "syntax-indent",
        "extra-statement",
        "second-def",
        "class",
        "empty",
        "rename",
        "comment-before",
        "comment-after",
        "file-does-not-compile",
        "null-byte",
        "no-change",
        "no-change-blank-edges",
    ],
)
def test_function_refusals(calc: dict[str, Parameter], text: str, reason: str) -> None:
    assert_reason(refusal(CALC, calc["calc.py::add"], Edit("calc.py::add", text=text)), reason)


@pytest.mark.parametrize(
    ("search", "reason"),
    [
        ("a * b", "'search' occurs 0 times in the parameter's text; it must occur exactly once"),
        ("a", "'search' occurs 3 times in the parameter's text; it must occur exactly once"),
    ],
)
def test_search_must_occur_exactly_once(
    calc: dict[str, Parameter], search: str, reason: str
) -> None:
    edit = Edit("calc.py::add", search=search, replace="x")
    assert refusal(CALC, calc["calc.py::add"], edit) == reason


def test_overlapping_occurrences_count() -> None:
    block = Parameter(id="a.txt::b", kind="block", path="a.txt", language="text", text="aaa\n")
    text = f"# {BEGIN} b\naaa\n# {END}\n"
    reason = refusal(text, block, Edit("a.txt::b", search="aa", replace="b"))
    assert reason == "'search' occurs 2 times in the parameter's text; it must occur exactly once"


def test_edit_for_another_parameter_is_refused(calc: dict[str, Parameter]) -> None:
    reason = refusal(CALC, calc["calc.py::add"], Edit("calc.py::sub", text="def sub(): pass\n"))
    assert reason == "the edit is for 'calc.py::sub', not 'calc.py::add'"


def test_vanished_function_is_refused(calc: dict[str, Parameter]) -> None:
    without = CALC.replace('@trainable(description="adds")\n', "")
    reason = refusal(without, calc["calc.py::add"], Edit("calc.py::add", text="def add(): pass\n"))
    assert reason == "trainable function 'add' can no longer be found in calc.py"
    broken = CALC + "def (\n"
    reason = refusal(broken, calc["calc.py::add"], Edit("calc.py::add", text="def add(): pass\n"))
    assert reason.startswith("function 'add' can no longer be found: calc.py does not parse (")


def test_missing_final_newline_is_kept(tmp_path: Path) -> None:
    source = "from pytest_genopt import trainable\n\n@trainable\ndef f():\n    return 1"
    write(tmp_path, {"m.py": source})
    f = by_id(tmp_path)["m.py::f"]
    assert f.text == "def f():\n    return 1\n"
    new = apply_edit(source, f, Edit("m.py::f", search="1", replace="2"))
    assert new == source[:-1] + "2"

    source = source + "\n\nX = 1"
    new = apply_edit(source, f, Edit("m.py::f", text="def f():\n    return 3"))
    assert new == source.replace("return 1", "return 3")


def test_crlf_file_keeps_crlf(tmp_path: Path) -> None:
    source = (
        "from pytest_genopt import trainable\r\n\r\n"
        "class A:\r\n    @trainable\r\n    def f(self):\r\n        return 1\r\n\r\nX = 1\r\n"
    )
    write(tmp_path, {"m.py": source})
    f = by_id(tmp_path)["m.py::A.f"]
    assert f.text == "def f(self):\n    return 1\n"
    new = apply_edit(source, f, Edit(f.id, text="def f(self):\r\n    x = 2\n    return x\n"))
    assert new == source.replace("        return 1\r\n", "        x = 2\r\n        return x\r\n")
    new = apply_edit(source, f, Edit(f.id, search="return 1\n", replace="return 5\n"))
    assert new == source.replace("return 1", "return 5")


# --------------------------------------------------------------------------- blocks and files

YAML = f"a: 1\n# {BEGIN} limits\n  low: 1\n  high: 9\n# {END}\nz: 3\n"


def block(path: str, name: str, text: str, language: str) -> Parameter:
    return Parameter(id=f"{path}::{name}", kind="block", path=path, language=language, text=text)


def test_block_edit_in_a_non_python_file() -> None:
    limits = block("c.yaml", "limits", "  low: 1\n  high: 9\n", "yaml")
    new = apply_edit(YAML, limits, Edit(limits.id, text="  low: 2\n  high: 8"))
    assert new == YAML.replace("  low: 1\n  high: 9\n", "  low: 2\n  high: 8\n")
    new = apply_edit(YAML, limits, Edit(limits.id, text=""))
    assert new == f"a: 1\n# {BEGIN} limits\n# {END}\nz: 3\n"
    new = apply_edit(YAML, limits, Edit(limits.id, search="high: 9", replace="high: 10"))
    assert new == YAML.replace("high: 9", "high: 10")
    crlf = YAML.replace("\n", "\r\n")
    new = apply_edit(crlf, limits, Edit(limits.id, text="  low: 2\n  high: 8\n"))
    assert new == crlf.replace("low: 1\r\n  high: 9", "low: 2\r\n  high: 8")


@pytest.mark.parametrize("marker", [f"# {BEGIN} other", f"  # {END}"])
def test_block_edit_may_not_move_markers(marker: str) -> None:
    limits = block("c.yaml", "limits", "  low: 1\n  high: 9\n", "yaml")
    reason = refusal(YAML, limits, Edit(limits.id, text=f"  low: 1\n{marker}\n"))
    assert reason.startswith("the new text contains a 'genopt: ")
    assert reason.endswith(" marker, which would move the block's bounds")


def test_block_refusals() -> None:
    limits = block("c.yaml", "limits", "  low: 1\n  high: 9\n", "yaml")
    assert refusal(YAML, limits, Edit(limits.id, text="  low: 1\n  high: 9")) == (
        "the edit changes nothing"
    )
    gone = YAML.replace("limits", "bounds")
    assert refusal(gone, limits, Edit(limits.id, text="x\n")) == (
        "block 'limits' can no longer be found in c.yaml"
    )
    broken = YAML + f"# {BEGIN} open\n"
    assert refusal(broken, limits, Edit(limits.id, text="x\n")).startswith(
        "block 'limits' can no longer be found: c.yaml:7: "
    )


def test_block_edit_that_breaks_the_python_file_is_refused() -> None:
    source = f"def f():\n    # {BEGIN} body\n    return 1\n    # {END}\n"
    body = block("m.py", "body", "    return 1\n", "python")
    reason = refusal(source, body, Edit(body.id, text="return 2\n"))
    assert_reason(reason, "the resulting file is not valid Python: … (line 3)")
    assert apply_edit(source, body, Edit(body.id, text="    return 2\n")) == source.replace(
        "1", "2"
    )


def test_whole_file_edits() -> None:
    prompt = Parameter(
        id="p.md", kind="file", path="p.md", language="markdown", text="Hi\r\nyou\r\n"
    )
    source = "Hi\r\nyou\r\n"
    assert apply_edit(source, prompt, Edit("p.md", text="Hello\nyou\n")) == "Hello\r\nyou\r\n"
    assert apply_edit(source, prompt, Edit("p.md", search="you", replace="all")) == "Hi\r\nall\r\n"
    assert refusal(source, prompt, Edit("p.md", text="Hi\nyou\n")) == "the edit changes nothing"

    module = Parameter(id="m.py", kind="file", path="m.py", language="python", text="x = 1\n")
    reason = refusal("x = 1\n", module, Edit("m.py", text="x = (\n"))
    assert_reason(reason, "the resulting file is not valid Python: … (line 1)")


# --------------------------------------------------------------------------- several edits


def test_apply_edits_several_in_one_file(tmp_path: Path) -> None:
    source = CALC + f"\n# {BEGIN} knobs\nRATE = 1\n# {END}\n"
    write(tmp_path, {"calc.py": source, "p.md": "old\n", "untouched.md": "same\n"})
    params = by_id(tmp_path, files=["p.md", "untouched.md"])
    edits = [
        Edit("calc.py::add", text="def add(a, b):\n    total = a + b\n    return total\n"),
        Edit("calc.py::knobs", search="RATE = 1", replace="RATE = 2"),
        Edit("calc.py::Agent.act", search="return 0", replace="return -1"),
        Edit("calc.py::add", search="total = a + b", replace="total = b + a"),
        Edit("p.md", text="new\n"),
    ]
    changed = apply_edits(read(tmp_path), params, edits)

    assert sorted(changed) == ["calc.py", "p.md"]
    assert changed["p.md"] == "new\n"
    expected = (
        source.replace("    return a - b\n", "    total = b + a\n    return total\n")
        .replace("RATE = 1", "RATE = 2")
        .replace("        return 0\n", "        return -1\n")
    )
    assert changed["calc.py"] == expected
    assert (tmp_path / "calc.py").read_text() == source  # apply_edits never writes


def test_apply_edits_refusal_names_the_parameter(tmp_path: Path) -> None:
    write(tmp_path, {"calc.py": CALC})
    params = by_id(tmp_path)
    edits = [
        Edit("calc.py::Agent.act", search="return 0", replace="return -1"),
        Edit("calc.py::add", text="def add(a, b):\n    return a +\n"),
    ]
    with pytest.raises(EditRefused) as info:
        apply_edits(read(tmp_path), params, edits)
    assert_reason(str(info.value), "calc.py::add: the new text is not valid Python: … (line 2)")


def test_apply_edits_unknown_parameter(tmp_path: Path) -> None:
    params = {
        f"p{i:02}.md": Parameter(
            id=f"p{i:02}.md", kind="file", path=f"p{i:02}.md", language="markdown", text=""
        )
        for i in range(12)
    }
    with pytest.raises(EditRefused) as info:
        apply_edits(read(tmp_path), params, [Edit("calc.py::mul", text="x")])
    listed = ", ".join(f"p{i:02}.md" for i in range(10))
    assert str(info.value) == f"unknown parameter 'calc.py::mul'; known: {listed}, ..."
    with pytest.raises(EditRefused, match=r"^unknown parameter 'x'; known: \(none\)$"):
        apply_edits(read(tmp_path), {}, [Edit("x", text="x")])


def test_apply_edits_that_cancel_out_change_no_file(tmp_path: Path) -> None:
    write(tmp_path, {"p.md": "a\n"})
    params = by_id(tmp_path, files=["p.md"])
    edits = [Edit("p.md", text="b\n"), Edit("p.md", text="a\n")]
    assert apply_edits(read(tmp_path), params, edits) == {}


def test_an_edit_that_changes_nothing_is_left_out_with_a_note(tmp_path: Path) -> None:
    write(tmp_path, {"calc.py": CALC})
    params = by_id(tmp_path)
    same = Edit("calc.py::Agent.act", search="return 0", replace="return 0")
    fix = Edit("calc.py::add", search="return a - b", replace="return a + b")
    notes: list[str] = []
    changed = apply_edits(read(tmp_path), params, [same, fix], notes)
    assert "return a + b" in changed["calc.py"]
    assert notes == ["edit 1 (calc.py::Agent.act) changes nothing; it was left out"]
    with pytest.raises(EditRefused, match=r"^calc.py::Agent.act: the edit changes nothing$"):
        apply_edits(read(tmp_path), params, [same, same], [])  # nothing left to try
    with pytest.raises(EditRefused, match=r"^calc.py::Agent.act: the edit changes nothing$"):
        apply_edits(read(tmp_path), params, [same, fix])  # strict without a notes list
