"""Adding a game from a user's project: the documented Boxing example, run for real.

The project's files are the code blocks of the "Adding a game" section of
``docs/suites/atari.md``, written out as they are, so the documented example is what
runs here.  Registering happens only in pytester subprocesses: the registry of this
process keeps exactly the shipped games.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Hard dependency on purpose: these tests fail (not skip) without the ``atari`` extra.
import gymnasium
import pytest

from pytest_genopt.suites.atari import GAMES, Event, GameEvents, get_game, register_game
from pytest_genopt.suites.atari.env import _load_gymnasium
from pytest_genopt.suites.atari.games import default_step_fields
from pytest_genopt.suites.atari.pixels import Box, bounding_box
from pytest_genopt.suites.atari.rollout import normalized_score, run_policy
from tests.conftest import init_repo
from tests.test_loop import report_of

if TYPE_CHECKING:
    from types import ModuleType

DOCS = Path(__file__).resolve().parents[2] / "docs" / "suites" / "atari.md"
SHIPPED = {
    "pong",
    "breakout",
    "space_invaders",
    "freeway",
    "qbert",
    "seaquest",
    "asterix",
    "enduro",
}
WHITE, BLACK = (214, 214, 214), (0, 0, 0)
RING = (8, 36, 160, 180)


def documented_project() -> dict[str, str]:
    """The files of the documented example: each fenced block starting ``# <path>``."""
    section = DOCS.read_text(encoding="utf-8").split("## Adding a game", 1)[1]
    files = {}
    for block in re.findall(r"```(?:python|ini)\n(.*?)```", section, flags=re.DOTALL):
        first, _, rest = block.partition("\n")
        if re.fullmatch(r"# [\w/]+\.(py|ini)", first):
            files[first[2:]] = rest
    return files


def write_project(root: Path) -> Path:
    for name, text in documented_project().items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return root


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"documented_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclass-like NamedTuples look their module up
    spec.loader.exec_module(module)
    return module


def test_the_docs_hold_a_complete_project() -> None:
    assert set(documented_project()) == {
        "boxing.py",
        "conftest.py",
        "policy.py",
        "tests/test_boxing.py",
        "pytest.ini",
    }


# ------------------------------------------------------------------- objects vs frames


def near(found: Box, box: Any) -> bool:
    """The drawn boxer matches its RAM box: one side exact within 2 px (a punching arm
    widens the other), top and bottom within 3 px."""
    left = abs(found.x - box.x) <= 2
    right = abs(found.x + found.w - box.x - box.w) <= 2
    top = abs(found.y - box.y) <= 3
    bottom = abs(found.y + found.h - box.y - box.h) <= 3
    return bool((left or right) and top and bottom)


def test_boxing_objects_match_the_rendered_frames(tmp_path: Path) -> None:
    boxing = load(write_project(tmp_path) / "boxing.py")
    _load_gymnasium()
    env: Any = gymnasium.make(
        "ALE/Boxing-v5",
        obs_type="ram",
        frameskip=4,
        repeat_action_probability=0.25,
        render_mode="rgb_array",
    )
    names = env.unwrapped.get_action_meanings()
    exact = close = moved = frames = 0
    total = 0.0
    try:
        obs, _ = env.reset(seed=1)
        prev = boxing.extract_boxing(obs.tobytes(), None)
        assert (prev.player.dx, prev.player.dy, prev.enemy.dx, prev.enemy.dy) == (0, 0, 0, 0)
        for t in range(200):
            action = "FIRE" if t % 7 == 0 else ("DOWNRIGHT", "UPRIGHT", "LEFT", "UP")[t // 25 % 4]
            obs, reward, _, _, _ = env.step(names.index(action))
            total += float(reward)
            obj = boxing.extract_boxing(obs.tobytes(), prev)
            frame = env.render()
            white, black = bounding_box(frame, WHITE, RING), bounding_box(frame, BLACK, RING)
            assert white is not None
            assert black is not None
            p, e = obj.player, obj.enemy
            assert (p.w, p.h, e.w, e.h) == (14, 47, 14, 47)
            frames += 1
            close += near(white, p) and near(black, e)
            exact += (tuple(white), tuple(black)) == (tuple(p[:4]), tuple(e[:4]))
            for cur, before in ((p, prev.player), (e, prev.enemy)):
                assert (cur.dx, cur.dy) == (cur.x - before.x, cur.y - before.y)
                moved += (cur.dx, cur.dy) != (0, 0)
            assert obj.player_score - obj.enemy_score == total  # the scores make the return
            prev = obj
    finally:
        env.close()
    assert close >= 0.95 * frames, (close, frames)
    assert exact >= 0.3 * frames, (exact, frames)  # the arms-in frames: exact
    assert moved >= 100
    assert total != 0  # some punches landed or were taken: the scores were read
    assert default_step_fields(prev) == {
        "player": {"x": p.x, "y": p.y, "dx": p.dx, "dy": p.dy},
        "enemy": {"x": e.x, "y": e.y, "dx": e.dx, "dy": e.dy},
        "player_score": prev.player_score,
        "enemy_score": prev.enemy_score,
    }


# ----------------------------------------------------------------- the user's project


def test_a_registered_game_plays_traces_and_names_its_own_events(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = write_project(pytester.path / "project")
    monkeypatch.chdir(project)
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--genopt-iterations=1",
        "--genopt-evidence=request.json",
        "--genopt-horizon=3",
        "--genopt-batch-size=2",
        "--genopt-seed=0",
        timeout=120,
    )
    assert result.parseoutcomes() == {"failed": 2}
    request = json.loads((project / "request.json").read_text(encoding="utf-8"))
    assert [p["id"] for p in request["parameters"]] == ["policy.py::act"]
    evidence = request["evidence"]
    assert len(evidence) == 2
    labels: set[str] = set()
    for trial in evidence:
        summary, notable = trial["feedback"]
        match = re.fullmatch(
            r"boxing seed\(s\) \d: return (-?\d+); (\d+) punch(?:es)? taken and "
            r"(\d+) punch(?:es)? landed; 300 steps \(cap 300 per episode; 0 of 1 ended "
            r"in game over\)",
            summary,
        )
        assert match, summary
        # without notes of its own a game's episode summary lists its last event steps,
        # up to the horizon
        listed = re.fullmatch(
            r"boxing seed \d, (?:its|the last 3 of its) \d+ notable steps? "
            r"\(oldest first\): (.*)",
            notable,
        )
        assert listed, notable
        moments = listed[1].split("; ")
        assert 0 < len(moments) <= 3
        assert all(re.fullmatch(r"t \d+ punch (taken|landed)", m) for m in moments), moments
        returned = int(match[1])
        assert trial["value"] == pytest.approx(normalized_score_from((-100, 100), returned))
        steps = [item for item in trial["trace"] if "t" in item]
        calls = [item for item in trial["trace"] if "call" in item]
        assert 0 < len(steps) <= 3
        # the window ends at the last punch taken, with the game's own fields
        last = steps[-1]
        assert last["event"] == "punch taken"
        assert last["reward"] < 0
        assert set(last) == {"t", "action", "reward", "player", "enemy", "score", "event", "seed"}
        # each act call shows the typed objects it was given
        assert calls
        assert all(c["args"]["objects"].startswith("BoxingObjects(player=Boxer(x=") for c in calls)
        labels |= {s["event"] for s in steps if "event" in s}
        text = json.dumps(trial)
        assert "life" not in text  # Boxing has no lives: no event, no feedback names them
        assert "lives" not in text
    assert labels <= {"punch taken", "punch landed"}

    # An optimization run on it: search edits the policy, each candidate plays boxing.
    (project / "request.json").unlink()
    init_repo(project, {".gitignore": "__pycache__/\n"})
    pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--genopt-iterations=1", "--genopt-backend=search",
        "--genopt-seed=0", "--genopt-batch-size=2", timeout=300,
    )  # fmt: skip
    report = report_of(project)
    assert report["baseline"]["objective"] == pytest.approx(
        sum(t["value"] for t in evidence) / len(evidence)
    )
    [iteration] = report["iterations"]
    assert iteration["decision"] in ("accepted", "rejected"), iteration["reason"]
    assert iteration["batch_objective"] is not None  # the candidate played the game
    assert iteration["attempts"][0]["rationale"].startswith("search: policy.py::act: ")

    # Every step traced: each reward is labelled with the game's own words.
    (project / "tests" / "test_events.py").write_text(EVENTS_TEST, encoding="utf-8")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "tests/test_events.py")
    assert result.parseoutcomes() == {"passed": 1}


# Run inside the project (the registry there holds boxing): traces every step of seed 1
# and checks each step's label against its reward.
EVENTS_TEST = """
from policy import act

from pytest_genopt import tracing
from pytest_genopt.suites.atari.rollout import run_policy


def test_every_reward_is_labelled_with_the_games_words():
    record = tracing.begin_test(None)
    try:
        result = run_policy(
            act, "boxing", seeds=1, max_steps=300, sticky_actions=0.25,
            genopt=tracing.TrialReporter(None), trace="all",
        )
        steps = [s for s in tracing.render_trace(record, str) if "t" in s]
    finally:
        tracing.end_test()
    assert len(steps) == 300
    for step in steps:
        expected = (
            "punch landed" if step["reward"] > 0
            else "punch taken" if step["reward"] < 0 else None
        )
        assert step.get("event") == expected, step
    counts = {e.event.label: e.counts for e in result.events}
    assert counts == {"punch taken": (8,), "punch landed": (9,)}
    assert result.lives_lost == (0,)
    assert result.points_lost == (8,)
    assert record.feedback == [result.summary(), *result.episode_summaries()]
    assert "life" not in result.summary()
"""


def normalized_score_from(bounds: tuple[float, float], returned: float) -> float:
    return normalized_score("any", returned, bounds=bounds)


# -------------------------------------------------------------------- bad registrations


def extract(ram: bytes, previous: Any) -> Any:
    return ram[0]


GOOD: dict[str, Any] = {"env_id": "ALE/Boxing-v5", "extract": extract, "events": GameEvents()}


@pytest.mark.parametrize(
    ("name", "changes", "error", "message"),
    [
        ("pong", {}, ValueError, "Atari game 'pong' is already registered (as ALE/Pong-v5)"),
        (
            "boxing",
            {"env_id": "ALE/Chess-v5"},
            ValueError,
            "env_id 'ALE/Chess-v5' of Atari "
            "game 'boxing' is not a gymnasium environment; ALE ids look like 'ALE/Boxing-v5'",
        ),
        ("boxing", {"env_id": "CartPole-v1"}, ValueError, "is not an ALE environment"),
        (
            "boxing",
            {"extract": "extract_boxing"},
            TypeError,
            "extract of Atari game 'boxing' must be callable, got 'extract_boxing'",
        ),
        ("Boxing", {}, ValueError, "Atari game name must be lower-case letters"),
        ("boxing", {"events": {"scored": "punch"}}, TypeError, "must be a GameEvents"),
        (
            "boxing",
            {"events": GameEvents(scored="punch")},  # type: ignore[arg-type]
            TypeError,
            "events.scored of Atari game 'boxing' must be an Event, got 'punch'",
        ),
        (
            "boxing",
            {"events": GameEvents(life_seen=extract)},
            ValueError,
            "life_seen needs a life_lost event",
        ),
        (
            "boxing",
            {"events": GameEvents(scored=Event("hit"), conceded=Event("hit"))},
            ValueError,
            "repeat a label",
        ),
        (
            "boxing",
            {"events": GameEvents(setbacks=((Event("knocked"), 3),))},  # type: ignore[arg-type]
            TypeError,
            "the detector of 'knocked' of Atari game 'boxing' must be callable",
        ),
        ("boxing", {"score_bounds": (1, 1)}, ValueError, "need finite low < high"),
        ("boxing", {"step_fields": 5}, TypeError, "step_fields of Atari game 'boxing'"),
        ("boxing", {"notes": "lost"}, TypeError, "notes of Atari game 'boxing' must be callable"),
    ],
)
def test_a_bad_registration_is_refused_in_one_line(
    name: str, changes: dict[str, Any], error: type[Exception], message: str
) -> None:
    before = dict(GAMES)
    with pytest.raises(error) as info:
        register_game(name, **{**GOOD, **changes})
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert dict(GAMES) == before  # nothing registered, nothing replaced
    assert get_game("pong").env_id == "ALE/Pong-v5"


def test_the_shipped_games_are_registrations_with_their_own_events() -> None:
    assert set(GAMES) == SHIPPED
    pong, breakout, invaders = (get_game(g).events for g in ("pong", "breakout", "space_invaders"))
    assert [e.label for e in pong.all()] == ["lost point", "won point"]
    assert pong.life_lost is None  # Pong has no lives
    labels = ["lost life", "scored"]
    assert [e.label for e in breakout.all()] == [e.label for e in invaders.all()] == labels
    assert breakout.life_seen is not None
    assert invaders.life_seen is not None
    assert get_game("pong").action_aliases == {
        "UP": "RIGHT",
        "DOWN": "LEFT",
        "UPFIRE": "RIGHTFIRE",
        "DOWNFIRE": "LEFTFIRE",
    }
    with pytest.raises(ValueError, match=r"unknown Atari game 'boxing'; known games: .*breakout, "):
        get_game("boxing")


def test_replace_registers_a_game_again_and_the_summary_counts_zero_events() -> None:
    pong = get_game("pong")
    fields: dict[str, Any] = {
        "env_id": pong.env_id,
        "extract": pong.extract,
        "events": pong.events,
        "step_fields": pong.step_fields,
        "action_aliases": pong.action_aliases,
        "notes": pong.notes,
        "replace": True,
    }
    try:
        register_game("pong", **fields, score_bounds=(-1, 1))
        assert normalized_score("pong", 0) == 0.5
        assert normalized_score("pong", 1) == 1.0  # the new bounds, not (-21, 21)
    finally:
        register_game("pong", **fields, score_bounds=pong.score_bounds)
    assert get_game("pong") == pong
    # the first point is lost at step 63: none lost yet, and the feedback says so
    result = run_policy(lambda objects: "NOOP", "pong", seeds=0, max_steps=20)
    counted = [(e.event.label, e.counts) for e in result.events]
    assert counted == [("lost point", (0,)), ("won point", (0,))]
    assert "; lost 0 points and won 0 points; 20 steps" in result.summary()
    no_events = dataclasses.replace(result, events=())
    assert "; no events; 20 steps" in no_events.summary()


def test_the_shipped_games_register_once_gymnasium_can_be_imported() -> None:
    # A fresh process: the registry is filled on first use, which needs gymnasium.
    code = (
        "import sys\n"
        "sys.modules['gymnasium'] = None\n"
        "from pytest_genopt.suites.atari import make_env\n"
        "try:\n"
        "    make_env('pong')\n"
        "except RuntimeError as exc:\n"
        "    print('refused:', exc)\n"
        "del sys.modules['gymnasium']\n"
        "with make_env('pong') as env:\n"
        "    print('played:', env.game)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    refused, played = done.stdout.splitlines()
    assert refused.startswith("refused: The Atari suite needs gymnasium")
    assert "pip install pytest-genopt[atari]" in refused
    assert played == "played: pong"
