"""The Atari tasks' evaluation protocols: ``genopt init --protocol quick|paper``."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any

# Hard dependency on purpose: these tests fail (not skip) without the ``atari`` extra.
import ale_py  # noqa: F401  (imported once: the in-process runs below must not import it again)
import gymnasium  # noqa: F401
import pytest

from pytest_genopt import tracing, trainable
from pytest_genopt.cli import main
from pytest_genopt.suites import all_tasks
from pytest_genopt.suites.atari import make_env
from pytest_genopt.suites.atari.protocol import (
    PAPER,
    Protocol,
    evaluate,
    protocol_for,
    read_protocol,
)
from pytest_genopt.suites.atari.rollout import normalized_score
from pytest_genopt.suites.atari.tasks import tasks
from pytest_genopt.tracing import TrialReporter
from tests.conftest import git

if TYPE_CHECKING:
    from pathlib import Path

#: The paper's evaluation (episodes, step cap, traced-rollout steps), as issue 13 quotes it.
PAPERS_NUMBERS = {
    "pong": (10, 4000, 400),
    "breakout": (1, 4000, 300),
    "space_invaders": (1, 4000, 100),
    "qbert": (1, 4000, 100),
    "seaquest": (1, 4000, 100),
    "enduro": (1, 5000, 100),
    "freeway": (3, 2500, 100),
    "asterix": (3, 20000, 100),
}


def small(protocol: Protocol, **changes: Any) -> Protocol:
    """``protocol`` with fewer, shorter episodes: the wiring, without 10 x 4,000 steps."""
    return dataclasses.replace(protocol, **changes)


def test_the_paper_table_and_the_ale_settings_it_asks_for() -> None:
    assert {g: (r.episodes, r.max_steps, r.horizon) for g, r in PAPER.items()} == PAPERS_NUMBERS
    for game, (episodes, max_steps, horizon) in PAPERS_NUMBERS.items():
        paper = protocol_for(game, "paper")
        assert (paper.episodes, paper.max_steps, paper.paper_horizon) == (
            episodes,
            max_steps,
            horizon,
        )
        assert (paper.frameskip, paper.sticky_actions, paper.evidence) == (4, 0.0, "rollout")
        low, high = paper.score_bounds or (0, 0)
        assert low < high
        assert Protocol.from_json(json.loads(paper.to_text())) == paper
    quick = protocol_for("pong", "quick")  # today's tests, unchanged
    assert (quick.episodes, quick.max_steps, quick.sticky_actions) == (1, 1000, 0.25)
    assert (quick.seeds, quick.holdout_seeds, quick.evidence) == (
        tuple(range(6)),
        (100, 101),
        "losses",
    )
    # what make_env hands the ALE under the paper protocol
    paper = protocol_for("pong", "paper")
    with make_env("pong", frameskip=paper.frameskip, sticky_actions=paper.sticky_actions) as env:
        ale = env.unwrapped.ale
        assert ale.getFloat("repeat_action_probability") == 0.0
        assert env.unwrapped._frameskip == 4


def test_every_atari_task_offers_its_protocols_and_its_tests_read_them() -> None:
    for task in tasks():
        expected = ["quick", "paper"] if task.name in PAPER else ["quick"]
        assert list(task.protocols) == expected
        for name in expected:
            files = task.files(protocol=name)
            written = Protocol.from_json(json.loads(files["protocol.json"]))
            assert written == protocol_for(task.name, name)
            assert f"## Evaluation protocol: {name}" in files["README.md"]
            assert "read_protocol(" in files["tests/test_policy.py"]
        assert task.files()["protocol.json"] == task.files(protocol="quick")["protocol.json"]


@trainable
def chase(objects: Any) -> str:
    """Follow the ball (a policy whose calls can be counted)."""
    ball, paddle = objects.ball, objects.player
    if ball is None:
        return "NOOP"
    return "DOWN" if ball.cy > paddle.cy + 8 else "UP"


def test_the_traced_rollout_is_horizon_steps_and_the_evaluation_is_unrecorded() -> None:
    protocol = small(protocol_for("pong", "paper"), episodes=2, max_steps=30)
    for horizon, steps in ((0, 0), (1, 1), (12, 12), (None, 30)):
        tracing.activate()
        tracing.begin_test(horizon)
        try:
            result = evaluate(chase, protocol, seed=0, genopt=TrialReporter(horizon))
        finally:
            record = tracing.end_test()
            tracing.deactivate()
        assert record is not None
        assert result.lengths == (30, 30)
        trace = tracing.render_trace(record, lambda info: info.qualname)
        assert [item["t"] for item in trace if "t" in item] == list(range(steps))
        # one call per traced step: none of the evaluation's 60 calls is recorded
        assert len(record.calls) == min(steps, horizon if horizon is not None else steps)
        assert record.feedback[-1].startswith("paper protocol evaluation: mean raw score "), (
            record.feedback
        )
        # the training rollout's summary and its episode's last notable steps, then the
        # evaluation's line
        assert len(record.feedback) == (3 if steps else 1)


def test_init_paper_writes_the_protocol_and_its_tests_report_raw_scores(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = pytester.path / "pong"
    assert main(["init", "atari/pong", str(target), "--protocol", "paper"]) == 0
    out = capsys.readouterr().out
    assert "genopt: wrote atari/pong" in out
    assert out.endswith("    # README.md: the paper protocol and its commands\n")
    assert git(target, "status", "--porcelain") == ""
    written = read_protocol(target / "protocol.json", game="pong")
    assert written == protocol_for("pong", "paper")
    readme = (target / "README.md").read_text(encoding="utf-8")
    assert "## Evaluation protocol: paper" in readme
    assert "pytest --genopt-iterations=20 --genopt-horizon=400" in readme
    assert "pytest --genopt-iterations=20 --genopt-horizon=1" in readme

    # The same tests with a smaller protocol file: 3 episodes of at most 200 steps.
    (target / "protocol.json").write_text(
        small(written, episodes=3, max_steps=200).to_text(), encoding="utf-8"
    )
    monkeypatch.chdir(target)
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--genopt-iterations=1",
        "--genopt-evidence=request.json",
        "--genopt-horizon=7",
        timeout=120,
    )
    assert result.parseoutcomes() == {"failed": 1}  # behind after 200 steps
    [trial] = json.loads((target / "request.json").read_text(encoding="utf-8"))["evidence"]
    assert trial["test"] == "tests/test_policy.py::test_not_behind_at_the_step_cap[seeds0-2]"
    rollout, notable, evaluation, scoring = trial["feedback"]
    assert rollout.startswith("pong seed(s) 0: ")
    assert notable.startswith("pong seed 0")  # the training rollout's notable steps
    assert "7 steps (cap 7 per episode" in rollout
    assert evaluation.startswith("paper protocol evaluation: mean raw score ")
    scores = evaluation.split("raw score per episode: ")[1].split(";")[0].split(", ")
    returns = [float(s) for s in scores]
    assert len(returns) == 3
    mean = evaluation.split("mean raw score ")[1].split(" over 3 episodes")[0]
    assert float(mean) == pytest.approx(sum(returns) / 3)
    assert "600 steps (cap 200 per episode" in evaluation
    assert trial["value"] == pytest.approx(normalized_score("pong", returns))
    assert scoring.startswith(
        "this test's value = the mean over its 3 episodes of clip((return + 21) / 42, 0, 1) = "
    )
    steps = [item["t"] for item in trial["trace"] if "t" in item]
    assert steps == list(range(7))  # the training rollout's first 7 steps, all of them


@pytest.mark.parametrize("game", sorted(PAPERS_NUMBERS))
def test_each_games_variants_initialize_and_their_tests_run_under_the_paper_protocol(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, game: str
) -> None:
    """Both starts of every game, written with ``--protocol paper`` and run with its
    protocol file cut to 1 episode of 30 steps (the wiring, not the paper's hours)."""
    for variant in ("blank", "skeleton"):
        target = pytester.path / variant
        assert main(["init", f"atari/{game}", str(target), "--start", variant, "--protocol",
                     "paper"]) == 0  # fmt: skip
        written = read_protocol(target / "protocol.json", game=game)
        assert written == protocol_for(game, "paper")
        (target / "protocol.json").write_text(
            small(written, episodes=1, max_steps=30).to_text(), encoding="utf-8"
        )
        monkeypatch.chdir(target)
        result = pytester.runpytest("-p", "no:cacheprovider", "-rA")
        outcomes = result.parseoutcomes()
        assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 1, outcomes
        if outcomes.get("failed"):  # its message is the evaluation's summary
            result.stdout.fnmatch_lines([f"*{game} seed(s) 0: return *30 steps (cap 30 per*"])


def test_bad_protocols_are_one_line_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bbeh = next(t for t in all_tasks() if t.suite == "bbeh")
    cases = [
        (
            ["atari/pong", "--protocol", "papers"],
            "task atari/pong has no protocol 'papers'; choose one of quick, paper",
        ),
        (
            ["atari/pong", "--protocol", ""],
            "task atari/pong has no protocol ''; choose one of quick, paper",
        ),
        (
            [bbeh.id, "--protocol", "paper"],
            f"--protocol: task {bbeh.id} has no protocols (it evaluates one way)",
        ),
    ]
    for index, (args, message) in enumerate(cases):
        target = tmp_path / str(index)
        assert main(["init", args[0], str(target), *args[1:]]) == 2
        err = capsys.readouterr().err
        assert err == f"genopt: error: {message}\n"
        assert not target.exists()


def test_a_bad_protocol_file_is_one_line_naming_it(tmp_path: Path) -> None:
    good = protocol_for("pong", "paper").to_json()
    path = tmp_path / "protocol.json"
    cases = {
        "missing": None,
        "not json": "{",
        "version": {**good, "version": 2},
        "episodes": {**good, "episodes": 0},
        "sticky": {**good, "sticky_actions": 1.5},
        "evidence": {**good, "evidence": "everything"},
        "bounds": {**good, "score_bounds": [21, -21]},
        "seeds": {**good, "seeds": []},
    }
    for what, data in cases.items():
        path.unlink(missing_ok=True)
        if data is not None:
            path.write_text(data if isinstance(data, str) else json.dumps(data))
        with pytest.raises(ValueError, match=r"^protocol\.json: .*--protocol NAME writes it\)$"):
            read_protocol(path, game="pong")
        assert what
    path.write_text(json.dumps(good))
    with pytest.raises(
        ValueError, match=r"^protocol\.json: a protocol for 'pong', not 'breakout'$"
    ):
        read_protocol(path, game="breakout")


def test_list_names_each_tasks_protocols(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    pong = out.split("atari/pong ")[1].split("atari/space_invaders")[0]
    assert "    --protocol quick (default): fast tests" in pong
    assert "    --protocol paper: the paper's evaluation" in pong
    bbeh = out.split("bbeh/")[1].split("\nbbeh/")[0]
    assert "--protocol" not in bbeh
