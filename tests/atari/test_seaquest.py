"""Seaquest: its objects against the rendered frames, its events, its task.

Like ``test_new_games.py`` the objects test plays the real game with a scripted policy,
renders every frame and compares the objects read from RAM with the boxes found by
colour.  Measured rendering effects are tolerated explicitly: the submarine is drawn
7 to 11 rows tall inside its 16 x 11 box (its propeller and tower flicker, and on the
surface its top rows are hidden); an enemy copy is drawn where the RAM puts it only
while wholly on screen (columns 8..152): at the edges it is clipped or shown at column
8 by the TIA's wrap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_genopt.suites.atari import SeaquestObjects, get_game, make_env
from pytest_genopt.suites.atari.rollout import normalized_score
from pytest_genopt.suites.atari.seaquest import ENEMY_H, LANE_H, LANE_Y0, SURFACE_Y
from tests.atari import test_new_games as new_games
from tests.atari.test_new_games import notable_steps, traced_steps

if TYPE_CHECKING:
    import pytest

SUB = (187, 187, 53)
#: Sharks of the first wave are green, enemy submarines grey.
ENEMY_COLOURS = ((92, 186, 92), (170, 170, 170))
OXYGEN_BAR = (214, 214, 214)
OXYGEN_ROW = 170
#: The divers collected are drawn as blue figures in rows 178..186, under the oxygen bar.
DIVER_ICON = (24, 26, 167)


def blob_starts(mask: Any, gap: int = 2) -> list[int]:
    """Left columns of the groups of ``mask``'s columns (gaps over ``gap`` px apart)."""
    starts: list[int] = []
    last = -10
    for x in np.flatnonzero(mask.any(axis=0)):
        if x > last + gap:
            starts.append(int(x))
        last = x
    return starts


def script(t: int) -> str:
    """Dive, then sweep left and right through the lanes, shooting."""
    if t < 40:
        return "DOWN"
    return ("DOWNLEFTFIRE", "LEFTFIRE", "UPRIGHTFIRE", "RIGHTFIRE", "DOWNFIRE")[t // 12 % 5]


def enemy_columns(rgb: Any, lane: int) -> list[int]:
    """Left columns of the enemy blobs drawn in ``lane``'s band."""
    top = LANE_Y0 + LANE_H * lane
    band = rgb[top - 1 : top + ENEMY_H + 1, 8:]
    mask = np.zeros(band.shape[:2], dtype=bool)
    for colour in ENEMY_COLOURS:
        mask |= np.all(band == colour, axis=2)
    return [x + 8 for x in blob_starts(mask)]


def test_seaquest_objects_match_pixels() -> None:
    subs = exact_lanes = lanes = surfaced = facing_checked = rescuing = 0
    total = 0.0
    with make_env("seaquest", render_rgb=True) as env:
        prev: SeaquestObjects = env.reset(seed=0).objects
        p = prev.player
        assert (p.x, p.y, p.facing, prev.score, prev.lives, prev.divers) == (
            76,
            SURFACE_Y,
            "right",
            0,
            3,
            0,
        )
        for t in range(400):
            frame, reward, done = env.step(env.action_names.index(script(t)))
            assert not done
            obj: SeaquestObjects = frame.objects
            rgb = env.rgb()
            p = obj.player
            assert (p.dx, p.dy) == (p.x - prev.player.x, p.y - prev.player.y)
            # Submarine: its 16 columns exactly, its rows inside the box; outside its
            # columns only its torpedo (a line up to 2 rows tall) shares its yellow.
            mask = np.all(rgb[40:160] == SUB, axis=2)
            outside = mask.copy()
            outside[:, p.x : p.x + p.w] = False
            assert np.flatnonzero(outside.any(axis=1)).size <= 2, (t, p)
            rows, cols = np.nonzero(mask[:, p.x : p.x + p.w])
            if cols.size:
                subs += 1
                assert (cols.min(), cols.max()) == (0, 15), (t, p)
                assert p.y <= rows.min() + 40, (t, p)
                assert rows.max() + 40 < p.y + p.h, (t, p)
                tower = cols[rows == rows.min()]
                offset = (10, 11) if p.facing == "right" else (4, 5)
                if rows.min() + 40 == p.y:  # the tower's top row is drawn
                    facing_checked += 1
                    assert set(tower) <= set(offset), (t, p, tower)
            surfaced += p.y == SURFACE_Y
            # Enemies: each lane's copies where the RAM puts them, away from the edges.
            for lane in range(4):
                xs = [e.x for e in obj.enemies if e.lane == lane]
                assert all(e.y == LANE_Y0 + LANE_H * lane for e in obj.enemies if e.lane == lane)
                drawn = enemy_columns(rgb, lane)
                lanes += 1
                # column 8: a copy wrapping in from the right edge (RAM x > 224)
                if 8 not in drawn and all(x <= 152 for x in drawn + xs):
                    exact_lanes += 1
                    assert drawn == xs, (t, lane, obj.enemies, drawn)
            # Oxygen bar, score, lives.
            bar = int(np.all(rgb[OXYGEN_ROW] == OXYGEN_BAR, axis=1).sum())
            assert bar == min(obj.oxygen, 63), (t, obj.oxygen, bar)
            icons = blob_starts(np.all(rgb[176:188] == DIVER_ICON, axis=2))
            assert len(icons) == obj.divers, (t, obj.divers, icons)
            rescuing += obj.divers > 0
            total += reward
            assert obj.score == total
            assert obj.lives == env.info["lives"] - 1
            prev = obj
    assert subs > 300
    assert facing_checked > 200
    assert exact_lanes > 0.9 * lanes
    assert total >= 40  # enemies were shot (20 points each), and vanished from the RAM
    assert surfaced >= 10
    assert rescuing > 50  # a diver was picked up and shown


def dive_and_shoot(objects: SeaquestObjects) -> str:
    """Patrol the bottom lane shooting, surfacing on low oxygen (loses lives too)."""
    if objects.oxygen < 16:
        return "UPFIRE"
    return "DOWNFIRE" if objects.player.y < 136 else "LEFTFIRE"


def test_seaquest_events_are_scores_and_lost_lives() -> None:
    events = get_game("seaquest").events
    assert [e.label for e in events.all()] == ["lost life", "scored"]
    result, steps = traced_steps("seaquest", dive_and_shoot, 600)
    assert set(steps[0]) == {"t", "action", "reward", "player", "enemies", "oxygen"} | {
        "divers",
        "score",
        "lives",
    }
    scored = [s for s in steps if "scored" in s.get("event", "")]
    lost = [s for s in steps if "lost life" in s.get("event", "")]
    assert len(scored) >= 3
    assert all(s["reward"] > 0 for s in scored)
    assert sum(s["reward"] for s in scored) == result.returns[0] == steps[-1]["score"]
    assert len(lost) == result.lives_lost[0] >= 1
    assert all(s["lives"] < 3 for s in lost)
    notable = notable_steps(result)  # with each lost life the oxygen and the nearest enemy
    assert all(
        notable[s["t"]].startswith("lost life: ") and "oxygen" in notable[s["t"]] for s in lost
    )
    assert all(notable[s["t"]].startswith("scored: +") for s in scored)
    summary = result.summary()
    assert f"lost {len(lost)} li" in summary
    assert f"scored {len(scored)} time" in summary
    assert normalized_score("seaquest", 500) == 0.5


def test_seaquest_task_initializes_and_its_tests_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both starts, through the Freeway test's code: the blank one scores nothing, the
    skeleton part-way (under the 600 points a test asks for)."""
    monkeypatch.setitem(new_games.NEW_TASKS, "seaquest", "test_scores_enough")
    monkeypatch.setitem(
        new_games.NEW_SKELETONS,
        "seaquest",
        ["policy.py::act", "policy.py::choose_depth", "policy.py::select_action"],
    )
    # measured over the quick protocol's 8 seeds: 200 to 460
    monkeypatch.setitem(new_games.SKELETON_RETURNS, "seaquest", (150, 550))
    new_games.test_new_game_tasks_initialize_and_their_tests_run(pytester, monkeypatch, "seaquest")
