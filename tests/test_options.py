"""The pytest surface: options, ini twins, usage errors, passive mode, the header."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.conftest import tree_state

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--genopt-iterations=-1"],
            "--genopt-iterations: invalid value '-1'; expected an integer >= 0",
        ),
        (
            ["--genopt-iterations=ten"],
            "--genopt-iterations: invalid value 'ten'; expected an integer >= 0",
        ),
        (
            ["--genopt-horizon=-3"],
            "--genopt-horizon: invalid value '-3'; expected an integer >= 0 or 'all'",
        ),
        (
            ["--genopt-horizon=lots"],
            "--genopt-horizon: invalid value 'lots'; expected an integer >= 0 or 'all'",
        ),
        (
            ["--genopt-batch-size=0"],
            "--genopt-batch-size: invalid value '0'; expected an integer >= 1",
        ),
        (
            ["--genopt-candidates=0"],
            "--genopt-candidates: invalid value '0'; expected an integer from 1 to 16",
        ),
        (
            ["--genopt-candidates=17"],
            "--genopt-candidates: invalid value '17'; expected an integer from 1 to 16",
        ),
        (["--genopt-candidates=100000"], "--genopt-candidates: invalid value '100000'"),
        (["--genopt-seed=-5"], "--genopt-seed: invalid value '-5'; expected an integer >= 0"),
        (
            ["--genopt-iterations=1", "--genopt-backend=gpt"],
            "--genopt-backend: unknown backend 'gpt'; expected anthropic",
        ),
        (
            ["--genopt-backend=python:mod"],
            "--genopt-backend: invalid value 'python:mod'; expected anthropic",
        ),
        (["--genopt-backend=python:1mod:fn"], "--genopt-backend: invalid value 'python:1mod:fn'"),
        (["--genopt-backend=exchange:"], "--genopt-backend: invalid value 'exchange:'"),
        (["--genopt-backend=search:x"], "--genopt-backend: invalid value 'search:x'"),
        (
            ["--genopt-budget-usd=-1"],
            "--genopt-budget-usd: invalid value '-1'; expected a number of dollars >= 0",
        ),
        (["--genopt-budget-usd=nan"], "--genopt-budget-usd: invalid value 'nan'"),
        (
            ["--genopt-max-tokens=0"],
            "--genopt-max-tokens: invalid value '0'; expected an integer >= 1",
        ),
        (
            ["--genopt-timeout=0"],
            "--genopt-timeout: invalid value '0'; expected a number of seconds > 0",
        ),
        (
            ["--genopt-workers=zero"],
            "--genopt-workers: invalid value 'zero'; expected an integer >= 1 or 'auto'",
        ),
        (
            ["--genopt-branch=bad..name"],
            "--genopt-branch: invalid value 'bad..name'; expected a valid git branch name",
        ),
        (
            ["--genopt-branch=HEAD"],
            "--genopt-branch: invalid value 'HEAD'; expected a valid git branch name other "
            "than HEAD, *_HEAD, a full sha, refs/... or -...",
        ),
        (["--genopt-branch=FETCH_HEAD"], "--genopt-branch: invalid value 'FETCH_HEAD'"),
        (["--genopt-branch=ORIG_HEAD"], "--genopt-branch: invalid value 'ORIG_HEAD'"),
        (["--genopt-branch=" + "ab12" * 10], "--genopt-branch: invalid value 'ab12ab12"),
        (["--genopt-branch=refs/heads/x"], "--genopt-branch: invalid value 'refs/heads/x'"),
        (["--genopt-branch=-x"], "--genopt-branch: invalid value '-x'"),
        # only git itself knows this one: no component may end with '.lock'
        (["--genopt-branch=x.lock/y"], "--genopt-branch: invalid value 'x.lock/y'"),
        (["--genopt-branch=has space"], "--genopt-branch: invalid value 'has space'"),
        (["--genopt-resume=../etc"], "--genopt-resume: invalid value '../etc'"),
        (["--genopt-model=bad model"], "--genopt-model: invalid value 'bad model'"),
        (["--genopt-only="], "--genopt-only: invalid value ''"),
        (
            ["--genopt-import-root=no/such/folder"],
            "--genopt-import-root: invalid value 'no/such/folder'; expected an existing folder",
        ),
        (
            ["--genopt-holdout-every=0"],
            "--genopt-holdout-every: invalid value '0'; expected an integer >= 1",
        ),
        (
            ["--genopt-holdout-every=-1"],
            "--genopt-holdout-every: invalid value '-1'; expected an integer >= 1",
        ),
        (
            ["--genopt-holdout-every=x"],
            "--genopt-holdout-every: invalid value 'x'; expected an integer >= 1",
        ),
        (
            ["--genopt-start-up=hot"],
            "--genopt-start-up: invalid value 'hot'; expected warm or cold",
        ),
    ],
)
def test_bad_option_values_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], expected: str
) -> None:
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.startswith("ERROR:")]
    assert len(errors) == 1, result.errlines
    assert expected in errors[0]


def test_bad_ini_value_names_the_ini_key(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ngenopt_batch_size = none\n")
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: genopt_batch_size (ini): invalid value 'none'; expected an integer >= 1"]
    )
    pytester.makeini("[pytest]\ngenopt_holdout_every = 0\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: genopt_holdout_every (ini): invalid value '0'; expected an integer >= 1"]
    )
    # a goal is words or a readable file of them
    pytester.path.joinpath("empty.txt").write_text("  \n", encoding="utf-8")
    pytester.path.joinpath("latin1.txt").write_bytes(b"caf\xe9")
    pytester.path.joinpath("long.txt").write_text("x" * 20_001, encoding="utf-8")
    where = "genopt_instructions (ini)"
    for ini, expected in (
        ("@missing.txt", f"{where}: cannot read */missing.txt: No such file or directory"),
        ("@empty.txt", f"{where}: invalid value '@empty.txt'; expected a goal or @FILE"),
        ("@latin1.txt", f"{where}: cannot read */latin1.txt: 'utf-8' codec can't decode*"),
        ("@long.txt", f"{where}: the goal has 20,001 characters; at most 20,000 are accepted"),
    ):
        pytester.makeini(f"[pytest]\ngenopt_instructions = {ini}\n")
        result = pytester.runpytest()
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([f"ERROR: {expected}"])
    # a budget is something a project sets once
    for ini, expected in (
        ("genopt_budget_usd = -1", "genopt_budget_usd (ini): invalid value '-1'; expected a"),
        ("genopt_max_tokens = 0", "genopt_max_tokens (ini): invalid value '0'; expected an"),
    ):
        pytester.makeini(f"[pytest]\n{ini}\n")
        result = pytester.runpytest()
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([f"ERROR: {expected}*"])


def test_command_line_overrides_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ngenopt_horizon = 3\ngenopt_batch_size = 2\ngenopt_seed = 7\n")
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest(
        "--genopt-iterations=1", "--genopt-horizon=all", "--genopt-evidence=req.json"
    )
    result.stdout.fnmatch_lines(
        ["genopt: run *, backend anthropic, horizon all, batch size 2, seed 7"]
    )


def test_bad_genopt_model_environment_variable(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENOPT_MODEL", "no spaces allowed")
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: GENOPT_MODEL: invalid value 'no spaces allowed'*"])


def test_passive_by_default_writes_nothing_and_prints_nothing(
    pytester: pytest.Pytester, calc_project: Path
) -> None:
    before = tree_state(calc_project)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=4, passed=1)
    assert not [line for line in result.outlines if line.startswith("genopt")]
    assert tree_state(calc_project) == before


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.genopt(holdout=True)
        def test_ok():
            pass
        """
    )
    pytester.runpytest("--strict-markers").assert_outcomes(passed=1)


def test_active_run_shows_its_settings_in_the_header(
    pytester: pytest.Pytester, calc_project: object
) -> None:
    result = pytester.runpytest_subprocess(
        "--genopt-iterations=1",
        "--genopt-evidence=req.json",
        "--genopt-seed=3",
        "--genopt-horizon=4",
        "--genopt-batch-size=2",
        "--genopt-backend=search",
    )
    result.stdout.fnmatch_lines(
        ["genopt: run ????????-??????-????, backend search, horizon 4, batch size 2, seed 3"]
    )


def test_unknown_marker_argument_is_a_usage_error(
    pytester: pytest.Pytester, calc_project: Path
) -> None:
    (calc_project / "tests" / "test_marked.py").write_text(
        "import pytest\n\n\n@pytest.mark.genopt(holdot=True)\ndef test_typo():\n    pass\n"
    )
    result = pytester.runpytest_subprocess("--genopt-iterations=1", "--genopt-evidence=r.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*genopt takes keyword arguments trainables=, holdout=, files=; got holdot*"]
    )
