"""Prompt characters for a function parameter and a whole-file parameter, by module size.

Run: python benchmarks/prompt_size.py [--sizes 5,50,200]

For each size (kB) a generated module of that size holds many small functions,
one of them with a bug; a test per function, so one test fails.  The first
request is written with ``--genopt-evidence`` twice: once with the buggy
function marked ``@trainable`` (a function parameter), once with the module as
a file parameter (ini ``genopt_trainable_files``).  Each line prints the
prompt's characters and their ratio to the module's size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

FUNCTION = '''
def f{i}(x):
    """Scale x by {i} and shift it."""
    total = x * {i}
    if total > {limit}:
        total -= {i}
    return total + {i}

'''


def module(size: int, marked: bool) -> tuple[str, int]:
    """A module of about ``size`` characters and its number of functions; f7 is wrong."""
    parts = ["from pytest_genopt import trainable\n\n"]
    i = 0
    while sum(map(len, parts)) < size:
        text = FUNCTION.format(i=i, limit=1000 + i)
        if i == 7:
            text = text.replace("return total + 7", "return total - 7")
            text = text.replace("\ndef f7", "\n@trainable\ndef f7" if marked else "\ndef f7")
        parts.append(text)
        i += 1
    return "".join(parts), i


def tests(count: int) -> str:
    lines = ["import pytest", "import mod", ""]
    lines.append(f"@pytest.mark.parametrize('i', range({count}))")
    lines.append("def test_f(i):")
    lines.append("    total = 2 * i")
    lines.append("    expected = (total - i if total > 1000 + i else total) + i")
    lines.append("    assert getattr(mod, f'f{i}')(2) == expected")
    return "\n".join(lines) + "\n"


def prompt_chars(root: Path, size: int, marked: bool) -> tuple[int, int]:
    text, count = module(size, marked)
    (root / "mod.py").write_text(text)
    (root / "test_mod.py").write_text(tests(count))
    ini = "[pytest]\npythonpath = .\n" + ("" if marked else "genopt_trainable_files = mod.py\n")
    (root / "pytest.ini").write_text(ini)
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@x.invalid"}
    env |= {"GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@x.invalid"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "m", "--allow-empty"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True)
    out = root / "request.json"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--genopt-iterations=1", f"--genopt-evidence={out}"],
        cwd=root, env=env, capture_output=True, check=False,
    )  # fmt: skip
    request = json.loads(out.read_text())
    return len(request["prompt"]), len(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5,50,200", help="module sizes in kB")
    sizes = [int(s) for s in parser.parse_args().sizes.split(",")]
    print(f"{'module':>8} {'parameter':>10} {'prompt chars':>13} {'prompt / module':>16}")
    for size in sizes:
        for marked, kind in ((True, "function"), (False, "file")):
            with tempfile.TemporaryDirectory(prefix="genopt-prompt-size-") as tmp:
                chars, module_chars = prompt_chars(Path(tmp), size * 1000, marked)
            ratio = chars / module_chars
            print(f"{module_chars:>8} {kind:>10} {chars:>13,} {ratio:>16.3f}")


if __name__ == "__main__":
    main()
