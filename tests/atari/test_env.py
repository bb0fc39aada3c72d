"""The Atari environment wrapper: construction, stepping, determinism and errors."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

# A hard dependency of this module on purpose: without the ``atari`` extra these tests
# must fail, not be skipped (CI installs gymnasium and ale-py).
import gymnasium
import numpy as np
import pytest

from pytest_genopt.suites.atari import GAMES, AtariEnv, get_game, make_env
from pytest_genopt.suites.atari.objects import EXTRACTORS

ALL_GAMES = sorted(GAMES)


def test_games_table() -> None:
    assert GAMES == {
        "pong": "ALE/Pong-v5",
        "breakout": "ALE/Breakout-v5",
        "space_invaders": "ALE/SpaceInvaders-v5",
        "freeway": "ALE/Freeway-v5",
        "qbert": "ALE/Qbert-v5",
        "seaquest": "ALE/Seaquest-v5",
        "asterix": "ALE/Asterix-v5",
        "enduro": "ALE/Enduro-v5",
    }
    assert set(EXTRACTORS) < set(GAMES)  # the newer games keep their objects in modules


def test_unknown_game_lists_known_games() -> None:
    with pytest.raises(ValueError, match="unknown Atari game 'tetris'") as info:
        make_env("tetris")
    for game in GAMES:
        assert game in str(info.value)


def test_missing_gymnasium_explains_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gymnasium", None)
    with pytest.raises(RuntimeError, match=r"pip install pytest-genopt\[atari\]"):
        make_env("pong")


def test_missing_ale_py_explains_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ale_py", None)
    with pytest.raises(RuntimeError, match=r"pip install pytest-genopt\[atari\]"):
        make_env("breakout")


def test_registers_ale_envs_if_ale_py_was_imported_without_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for env_id in [k for k in gymnasium.registry if k.startswith("ALE/")]:
        monkeypatch.delitem(gymnasium.registry, env_id)
    with make_env("pong") as env:
        assert env.reset(seed=0).objects.player_score == 0


def test_importing_the_suite_does_not_import_gymnasium() -> None:
    code = (
        "import sys, pytest_genopt.suites.atari, pytest_genopt.suites.atari.objects; "
        "print(sorted(m for m in ('gymnasium', 'ale_py') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_emulator_prints_no_banner() -> None:
    """Its banner would be every Atari test's captured output, shown to the optimizer."""
    code = (
        "from pytest_genopt.suites.atari import make_env\n"
        "with make_env('pong') as env:\n"
        "    env.reset(seed=0)\n"
        "print('played')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert (done.stdout, done.stderr) == ("played\n", "")


def test_defaults_follow_the_paper() -> None:
    with make_env("pong") as env:
        ale = env.unwrapped.ale
        assert env.frameskip == 4
        assert env.unwrapped._frameskip == 4
        assert ale.getFloat("repeat_action_probability") == 0.0
        assert env.action_names == ("NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE")
        assert env.n_actions == 6
        env.reset(seed=0)
        env.step(0)
        assert env.info["frame_number"] == 4


def test_options_reach_the_emulator() -> None:
    with make_env("breakout", frameskip=2, sticky_actions=0.25, full_action_space=True) as env:
        assert env.unwrapped.ale.getFloat("repeat_action_probability") == 0.25
        assert len(env.action_names) == 18
        env.reset(seed=0)
        env.step(0)
        env.step(0)
        assert env.info["frame_number"] == 4


def test_action_names_per_game() -> None:
    expected = {
        "pong": ("NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"),
        "breakout": ("NOOP", "FIRE", "RIGHT", "LEFT"),
        "space_invaders": ("NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE"),
    }
    for game, names in expected.items():
        with make_env(game) as env:
            assert env.action_names == names


@pytest.mark.parametrize("game", ALL_GAMES)
def test_frames_carry_readonly_ram_and_objects(game: str) -> None:
    with make_env(game) as env:
        frame = env.reset(seed=3)
        assert frame.ram.dtype == np.uint8
        assert frame.ram.shape == (128,)
        with pytest.raises(ValueError, match="read-only"):
            frame.ram[0] = 1
        assert frame.objects == get_game(game).extract(frame.ram.tobytes(), None)
        frame2, reward, done = env.step(0)
        assert isinstance(reward, float)
        assert done is False
        assert frame2.ram is not frame.ram
        assert type(frame2.objects) is type(frame.objects)


@pytest.mark.parametrize("game", ALL_GAMES)
def test_same_seed_and_actions_give_identical_ram(game: str) -> None:
    def rollout(seed: int) -> tuple[list[bytes], list[Any], list[float]]:
        rams: list[bytes] = []
        objects: list[Any] = []
        rewards: list[float] = []
        with make_env(game) as env:
            frame = env.reset(seed=seed)
            rams.append(frame.ram.tobytes())
            for t in range(150):
                frame, reward, done = env.step((t * 7 + t // 5) % env.n_actions)
                rams.append(frame.ram.tobytes())
                objects.append(frame.objects)
                rewards.append(reward)
                if done:
                    break
        return rams, objects, rewards

    first = rollout(11)
    second = rollout(11)
    assert first[0] == second[0]
    assert first[1] == second[1]
    assert first[2] == second[2]
    assert len(set(first[0])) > 50  # the game actually ran


def test_sticky_actions_are_deterministic_for_a_seed() -> None:
    def rollout(seed: int) -> list[bytes]:
        with make_env("pong", sticky_actions=0.5) as env:
            env.reset(seed=seed)
            return [env.step(2 + t % 2)[0].ram.tobytes() for t in range(60)]

    assert rollout(5) == rollout(5)
    assert rollout(5) != rollout(6)


def test_episode_ends_with_done_and_reset_restarts() -> None:
    with make_env("breakout") as env:
        env.reset(seed=0)
        total = 0.0
        for _ in range(400):  # FIRE without moving: the 5 balls are lost quickly
            frame, reward, done = env.step(1)
            total += reward
            if done:
                break
        assert done
        assert frame.objects.lives == env.info["lives"] == 0
        assert frame.objects.score == total
        frame = env.reset(seed=0)
        assert frame.objects.lives == 5
        assert frame.objects.score == 0


def test_invalid_actions_are_rejected() -> None:
    with make_env("breakout") as env:
        env.reset(seed=0)
        with pytest.raises(ValueError, match=r"expected 0\.\.3"):
            env.step(4)
        with pytest.raises(ValueError, match="out of range"):
            env.step(-1)
        with pytest.raises(TypeError):
            env.step(1.5)  # type: ignore[arg-type]
        env.step(np.int64(1))  # type: ignore[arg-type]


def test_rgb_needs_render_rgb() -> None:
    with make_env("pong") as env:
        env.reset(seed=0)
        with pytest.raises(RuntimeError, match="render_rgb=True"):
            env.rgb()
    with make_env("pong", render_rgb=True) as env:
        env.reset(seed=0)
        env.step(0)
        screen = env.rgb()
        assert screen.shape == (210, 160, 3)
        assert screen.dtype == np.uint8


def test_close_is_idempotent_and_context_manager_closes() -> None:
    env = make_env("space_invaders")
    assert isinstance(env, AtariEnv)
    with env as entered:
        assert entered is env
        env.reset(seed=0)
    assert env._closed
    env.close()
    assert "space_invaders" in repr(env)
