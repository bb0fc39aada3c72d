"""The rollout runner on real ALE games: results, actions, tracing and score normalization."""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, Any

# Hard dependency on purpose: these tests fail (not skip) without the ``atari`` extra.
import gymnasium  # noqa: F401
import numpy as np
import pytest

from pytest_genopt import tracing, trainable
from pytest_genopt.suites.atari import GAMES, get_game
from pytest_genopt.suites.atari.rollout import (
    LIFE_WINDOW,
    SCORE_BOUNDS,
    STEP_FIELDS,
    RolloutResult,
    action_labels,
    normalized_score,
    run_policy,
    scoring_formula,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from pytest_genopt.suites.atari import PongObjects


def idle(objects: object) -> str:
    return "NOOP"


def fire(objects: object) -> str:
    return "FIRE"


def tracker(objects: PongObjects) -> str:
    """A simple Pong policy that follows the ball (it wins and loses points)."""
    ball = objects.ball
    if ball is None or abs(ball.cy - objects.player.cy) < 6:
        return "NOOP"
    return "DOWN" if ball.cy > objects.player.cy else "UP"


@pytest.fixture
def run_active() -> Iterator[Callable[[int | None], tracing.TestRecord]]:
    """Start a genopt test record (as the plugin does during a run) with a horizon."""

    def begin(horizon: int | None) -> tracing.TestRecord:
        return tracing.begin_test(horizon)

    tracing.activate()
    yield begin
    tracing.end_test()
    tracing.deactivate()


def traced(record: tracing.TestRecord) -> list[dict[str, Any]]:
    return [step for step in tracing.render_trace(record, str) if "t" in step]


# ---------------------------------------------------------------------------- results


def test_same_seed_same_episode_and_seeds_differ_with_sticky_actions() -> None:
    def play(seed: int) -> tuple[tuple[float, ...], tuple[int, ...], tuple[int, ...]]:
        r = run_policy(tracker, "pong", seeds=seed, max_steps=400, sticky_actions=0.25)
        return r.returns, r.lengths, r.points_lost

    assert play(1) == play(1)
    outcomes = {play(seed) for seed in range(4)}
    assert len(outcomes) > 1


def test_returns_lengths_and_losses_per_episode() -> None:
    result = run_policy(idle, "pong", seeds=[0, 1], max_steps=300)
    assert result.game == "pong"
    assert result.seeds == (0, 1)
    assert result.lengths == (300, 300)
    assert result.steps == 600
    assert result.game_over == (False, False)
    # an idle paddle only loses points: the return counts them
    assert result.points_lost[0] >= 5
    assert result.returns == tuple(-float(p) for p in result.points_lost)
    assert result.mean_return == sum(result.returns) / 2
    assert result.lives_lost == (0, 0)
    assert result.max_steps == 300
    assert result.seconds > 0
    assert result.summary() == (
        f"pong seed(s) 0, 1: return {int(result.returns[0])}, {int(result.returns[1])}; "
        f"lost {sum(result.points_lost)} points and won 0 points; 600 steps "
        "(cap 300 per episode; 0 of 2 ended in game over)"
    )


def test_game_over_ends_an_episode_before_the_cap() -> None:
    # always FIRE: the paddle never moves and Breakout's 5 balls are soon lost
    result = run_policy(fire, "breakout", seeds=3, max_steps=2000)
    assert result.game_over == (True,)
    assert result.lives_lost == (5,)
    assert result.lengths[0] < 2000
    assert "lost 5 lives" in result.summary()


def test_the_step_cap_bounds_every_episode() -> None:
    calls = itertools.count()

    def counting(objects: object) -> int:
        next(calls)
        return 0

    result = run_policy(counting, "space_invaders", seeds=[0, 1, 2], max_steps=25)
    assert result.lengths == (25, 25, 25)
    assert next(calls) == 75  # the policy is asked once per step


# ---------------------------------------------------------------------------- actions


def test_action_names_aliases_and_indices_play_the_same_game() -> None:
    moves = itertools.cycle(range(6))
    by_index = run_policy(lambda o: next(moves), "pong", seeds=0, max_steps=120)
    names = ("NOOP", "FIRE", "RIGHT", "LEFT", "RIGHTFIRE", "LEFTFIRE")
    named = itertools.cycle(names)
    by_name = run_policy(lambda o: next(named), "pong", seeds=0, max_steps=120)
    aliases = itertools.cycle(("noop", "fire", "UP", "DOWN", "UPFIRE", "downfire"))
    by_alias = run_policy(lambda o: next(aliases), "pong", seeds=0, max_steps=120)
    numpy = itertools.cycle(np.arange(6, dtype=np.int64))
    by_numpy = run_policy(lambda o: next(numpy), "pong", seeds=0, max_steps=120)
    assert by_index.returns == by_name.returns == by_alias.returns == by_numpy.returns
    assert action_labels("pong", names) == ("NOOP", "FIRE", "UP", "DOWN", "UPFIRE", "DOWNFIRE")
    assert action_labels("breakout", ("NOOP", "FIRE")) == ("NOOP", "FIRE")


@pytest.mark.parametrize("action", ["JUMP", 6, -1, 2.5, [1], None])
def test_an_invalid_action_names_the_valid_ones(action: object) -> None:
    with pytest.raises(ValueError, match=r"the policy returned .* at step 0 of breakout") as info:
        run_policy(lambda o: action, "breakout", seeds=0, max_steps=10)
    assert "0 NOOP, 1 FIRE, 2 RIGHT, 3 LEFT" in str(info.value)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown Atari game 'tetris'"):
        run_policy(idle, "tetris", seeds=0, max_steps=10)
    with pytest.raises(ValueError, match="max_steps must be >= 1"):
        run_policy(idle, "pong", seeds=0, max_steps=0)
    with pytest.raises(ValueError, match="trace must be"):
        run_policy(idle, "pong", seeds=0, max_steps=10, trace="some")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one episode"):
        run_policy(idle, "pong", seeds=[], max_steps=10)


def test_policy_errors_propagate() -> None:
    def broken(objects: object) -> int:
        raise ZeroDivisionError("bad policy")

    with pytest.raises(ZeroDivisionError, match="bad policy"):
        run_policy(broken, "pong", seeds=0, max_steps=10)


# ---------------------------------------------------------------------------- tracing


def test_traces_the_horizon_before_a_lost_point(
    run_active: Callable[[int | None], tracing.TestRecord],
) -> None:
    record = run_active(3)
    result = run_policy(idle, "pong", seeds=0, max_steps=300, genopt=tracing.TrialReporter(3))
    steps = traced(record)
    assert len(steps) == 3
    *before, last = steps
    assert last["event"] == "lost point"
    assert last["reward"] == -1
    assert last["seed"] == 0
    assert [s["t"] for s in steps] == [last["t"] - 2, last["t"] - 1, last["t"]]
    assert all("event" not in s for s in before)
    assert set(last) == {"t", "action", "reward", "ball", "player", "enemy", "event", "seed"}
    assert last["action"] == "NOOP"
    # each object's fields are named as in the objects, one level deep
    assert set(last["ball"]) == {"x", "y", "dx", "dy"}
    assert set(last["player"]) == {"y", "dy"}
    assert set(last["enemy"]) == {"y"}
    nested = [v for s in steps for o in s.values() if isinstance(o, dict) for v in o.values()]
    assert not any(isinstance(v, (dict, list)) for v in nested)
    assert record.feedback == [result.summary(), *result.episode_summaries()]
    assert record.score is None  # the test decides its score


@trainable
def watcher(objects: PongObjects) -> str:
    """An idle Pong policy whose calls are recorded (it loses its first point at t=63)."""
    return "NOOP"


def test_a_traced_window_shows_each_policy_call_before_its_step_in_game_order(
    run_active: Callable[[int | None], tracing.TestRecord],
) -> None:
    record = run_active(4)
    run_policy(watcher, "pong", seeds=0, max_steps=70, genopt=tracing.TrialReporter(4))
    trace = tracing.render_trace(record, lambda info: info.qualname)
    assert ["call" if "call" in event else "step" for event in trace] == ["call", "step"] * 4
    calls, steps = trace[0::2], trace[1::2]
    last = steps[-1]["t"]
    assert [s["t"] for s in steps] == [last - 3, last - 2, last - 1, last]
    assert steps[-1]["event"] == "lost point"
    for before, call in zip(steps, calls[1:], strict=False):
        objects = call["args"]["objects"]  # what the policy saw: the step before, whole
        ball, player = before["ball"], before["player"]
        assert objects.startswith(
            f"PongObjects(ball=PongBall(x={ball['x']}, y={ball['y']}, w=2, h=4, "
            f"dx={ball['dx']}, dy={ball['dy']}), "
        )
        assert f"player=PongPaddle(x=140, y={player['y']}, w=4, " in objects
        enemy_y = before["enemy"]["y"]
        assert f", dx=0, dy={player['dy']}), enemy=PongPaddle(x=16, y={enemy_y}, " in objects
        assert objects.endswith(", player_score=0, enemy_score=0)")
        assert call["returned"] == "'NOOP'"


def test_a_failing_policy_ends_the_trace_with_the_steps_before_it(
    run_active: Callable[[int | None], tracing.TestRecord],
) -> None:
    @trainable
    def tired(objects: PongObjects) -> str:
        if objects.enemy.dy:  # the enemy starts moving after a few steps
            raise RuntimeError("too fast")
        return "NOOP"

    record = run_active(3)
    with pytest.raises(RuntimeError, match="too fast"):
        run_policy(tired, "pong", seeds=0, max_steps=100, genopt=tracing.TrialReporter(3))
    trace = tracing.render_trace(record, lambda info: info.qualname)
    assert trace[-1]["raised"] == "RuntimeError: too fast"
    steps = [event["t"] for event in trace if "t" in event]
    assert len(steps) == 3
    assert steps == list(range(steps[0], steps[0] + 3))
    assert [event.get("t", "call") for event in trace[-4:]] == [steps[1], "call", steps[2], "call"]


def test_an_invalid_action_ends_the_trace_with_the_call_that_returned_it(
    run_active: Callable[[int | None], tracing.TestRecord],
) -> None:
    answers = iter(["NOOP", "JUMP"])

    @trainable
    def confused(objects: PongObjects) -> str:
        return next(answers)

    record = run_active(3)
    with pytest.raises(ValueError, match="returned 'JUMP' at step 1"):
        run_policy(confused, "pong", seeds=0, max_steps=10, genopt=tracing.TrialReporter(3))
    trace = tracing.render_trace(record, lambda info: info.qualname)
    assert [event.get("t", event.get("returned")) for event in trace] == ["'NOOP'", 0, "'JUMP'"]


def test_trace_all_keeps_the_last_steps_of_the_run(
    run_active: Callable[[int | None], tracing.TestRecord],
) -> None:
    record = run_active(3)
    run_policy(
        tracker, "pong", seeds=[0, 1], max_steps=50, genopt=tracing.TrialReporter(3), trace="all"
    )
    steps = traced(record)
    assert [s["t"] for s in steps] == [47, 48, 49]


def test_trace_none_records_no_steps(
    run_active: Callable[[int | None], tracing.TestRecord],
) -> None:
    record = run_active(3)
    run_policy(idle, "pong", seeds=0, max_steps=300, genopt=tracing.TrialReporter(3), trace="none")
    assert traced(record) == []
    # the summary and the episode's last notable steps (bounded by the horizon) are still told
    assert len(record.feedback) == 2
    assert record.feedback[1].startswith("pong seed 0, the last 3 of its 7 notable steps")


def test_nothing_is_recorded_without_a_run() -> None:
    reporter = tracing.TrialReporter(3)
    assert not reporter.active
    result = run_policy(idle, "pong", seeds=0, max_steps=100, genopt=reporter)
    assert result.lengths == (100,)


def test_horizon_all_traces_each_life_up_to_the_life_window(
    run_active: Callable[[int | None], tracing.TestRecord],
) -> None:
    record = run_active(None)
    result = run_policy(idle, "pong", seeds=0, max_steps=300, genopt=tracing.TrialReporter(None))
    steps = traced(record)
    events = [i for i, s in enumerate(steps) if "event" in s]
    assert len(events) == result.points_lost[0]
    assert events[-1] == len(steps) - 1  # nothing after the last loss
    start = 0
    for end in events:
        window = [s["t"] for s in steps[start : end + 1]]
        assert window == list(range(window[0], window[0] + len(window)))  # consecutive
        assert len(window) <= LIFE_WINDOW
        start = end + 1
    # each window starts right after the previous loss
    assert steps[events[0] + 1]["t"] == steps[events[0]]["t"] + 1


def test_breakout_marks_the_step_the_ball_is_lost(
    run_active: Callable[[int | None], tracing.TestRecord],
) -> None:
    record = run_active(None)
    result = run_policy(
        fire, "breakout", seeds=0, max_steps=2000, genopt=tracing.TrialReporter(None)
    )
    steps = traced(record)
    events = [i for i, s in enumerate(steps) if "event" in s]
    assert len(events) == result.lives_lost[0] == 5
    for i in events:
        assert steps[i]["event"] == "lost life"
        assert steps[i]["ball"] is None
        assert steps[i - 1]["ball"] is not None  # the miss itself, not the later count
    # the summary says where each ball fell, from the paddle's centre
    fell = [m for m in result.moments[0] if "lost life" in m]
    assert [m.split(" ")[1] for m in fell] == [str(steps[i]["t"]) for i in events]
    assert all(
        re.search(r"lost life: the ball fell \d+ px (left|right) of the paddle", m) for m in fell
    )
    assert set(steps[0]) == {"t", "action", "reward", "ball", "paddle", "lives"}


def test_space_invaders_marks_the_step_the_cannon_is_hit(
    run_active: Callable[[int | None], tracing.TestRecord],
) -> None:
    record = run_active(5)
    result = run_policy(
        idle, "space_invaders", seeds=0, max_steps=3000, genopt=tracing.TrialReporter(5)
    )
    assert result.lives_lost == (3,)
    steps = traced(record)
    assert len(steps) == 5
    last = steps[-1]
    assert last["event"] == "lost life"
    assert last["player"]["state"] == "exploding"
    assert steps[-2]["player"]["state"] == "active"
    fields = {"t", "action", "reward", "player", "shots", "shot", "aliens", "lives"}
    assert set(last) == fields | {"event", "seed"}
    assert set(last["aliens"]) == {"count", "left", "right", "bottom"}
    # the summary names what hit the cannon
    assert re.fullmatch(
        rf"t {last['t']} lost life: the cannon at x \d+ was hit by an alien shot .*",
        result.moments[0][-1],
    )


def test_pong_summary_tells_returns_points_won_and_lost_up_to_the_horizon(
    run_active: Callable[[int | None], tracing.TestRecord],
) -> None:
    record = run_active(None)  # every step traced, every notable step kept (< LIFE_WINDOW)
    result = run_policy(
        tracker, "pong", seeds=0, max_steps=700, genopt=tracing.TrialReporter(None), trace="all"
    )
    steps = {s["t"]: s for s in traced(record)}
    said = [m.split(" ", 2)[1:] for m in result.moments[0]]
    assert len(said) == result.moments_seen[0] < LIFE_WINDOW
    won = [t for t, text in said if text.startswith("won point: the ball passed ")]
    lost = [t for t, text in said if text.startswith("lost point: the ball passed ")]
    returns = [(int(t), text) for t, text in said if text.startswith("returned (contact ")]
    assert len(lost) == result.points_lost[0] > 0
    assert len(won) == result.returns[0] + result.points_lost[0] > 0  # the tracker wins some
    assert all(text.endswith("the enemy's centre") for _, text in said if "won" in text)
    assert len(returns) >= 3
    for t, text in returns:
        # the contact is on the step the ball turns; its velocity shows one step later
        assert steps[t - 1]["ball"]["dx"] > 0 > steps[t]["ball"]["dx"]
        out = steps[t + 1]["ball"]
        assert text.endswith(f", out dx {out['dx']}, dy {out['dy']}"), (text, out)
    assert record.feedback[1] == result.episode_summaries()[0]
    assert record.feedback[1].startswith(f"pong seed 0, its {len(said)} notable steps (oldest ")

    # The horizon bounds the summary: the last N notable steps, the same ones.
    record = run_active(3)
    again = run_policy(tracker, "pong", seeds=0, max_steps=700, genopt=tracing.TrialReporter(3))
    assert again.moments == (result.moments[0][-3:],)
    assert again.moments_seen == result.moments_seen
    assert record.feedback[1].startswith(f"pong seed 0, the last 3 of its {len(said)} notable ")
    # Without a run nothing is kept or told.
    quiet = run_policy(tracker, "pong", seeds=0, max_steps=50)
    assert quiet.moments == quiet.moments_seen == ()
    assert quiet.episode_summaries() == []


def test_scoring_formula_states_the_value_and_the_verdict_as_computed() -> None:
    assert scoring_formula("pong", [-4], target=0) == (
        "this test's value = clip((return + 21) / 42, 0, 1) = 0.4048 (return -4); "
        "it passes when the mean return (-4) >= 0"
    )
    returns = [12.0, 30.0, 700.0]
    text = scoring_formula("breakout", returns, target=15, bounds=(10, 100))
    value = normalized_score("breakout", returns, bounds=(10, 100))
    assert text == (
        "this test's value = the mean over its 3 episodes of clip((return - 10) / 90, 0, 1) "
        f"= {value:.4g} (returns 12, 30, 700); it passes when the mean return (247.33) >= 15"
    )
    with pytest.raises(ValueError, match="no score bounds for 'chess'"):
        scoring_formula("chess", 1, target=0)
    with pytest.raises(ValueError, match="at least one return"):
        scoring_formula("pong", [], target=0)


def test_every_game_has_a_compact_step_and_score_bounds() -> None:
    assert set(STEP_FIELDS) == set(SCORE_BOUNDS) < set(GAMES)
    assert all(get_game(game).score_bounds for game in GAMES)


def unnamed(value: object) -> bool:
    """Whether a traced value holds numbers no name explains: a list of numbers outside
    a dict of named columns (``{"x": [...]}``), or a list of lists."""
    if isinstance(value, dict):
        return any(isinstance(v, dict) and unnamed(v) for v in value.values()) or any(
            isinstance(v, list) and any(isinstance(i, (list, dict)) and unnamed(i) for i in v)
            for v in value.values()
        )
    if isinstance(value, list):
        # None stands for an absent object (an empty lane)
        return any(
            item is not None and (not isinstance(item, dict) or unnamed(item)) for item in value
        )
    return False


def test_every_games_traced_step_names_the_fields_of_its_objects() -> None:
    for game in GAMES:
        spec = get_game(game)
        objects = spec.extract(bytes(128), None)
        fields = spec.step_fields(objects)
        assert not any(unnamed(v) for v in fields.values()), (game, fields)
    for bare in ([1, 2], {"ball": [[1, 2]]}, [[1]]):
        assert unnamed(bare), bare
    for named in ({"x": [1, 2], "dx": [3, 4]}, [{"x": 1}, None]):
        assert not unnamed(named), named


# ---------------------------------------------------------------------------- scores


def test_normalized_score_is_clipped_to_the_unit_interval() -> None:
    assert normalized_score("pong", -21) == 0.0
    assert normalized_score("pong", 0) == 0.5
    assert normalized_score("pong", 21) == 1.0
    assert normalized_score("pong", [-30, 30]) == 0.5  # each clipped, then averaged
    assert normalized_score("breakout", 30.0) == 0.5
    assert normalized_score("breakout", (0, 60)) == 0.5
    assert normalized_score("space_invaders", 2000) == 1.0
    assert normalized_score("space_invaders", np.array([250.0])) == 0.25
    assert normalized_score("anything", 5, bounds=(0, 10)) == 0.5
    for game, (low, high) in SCORE_BOUNDS.items():
        assert low < high
        assert normalized_score(game, low) == 0.0
        assert normalized_score(game, high) == 1.0


def test_normalized_score_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="no score bounds for 'tetris'"):
        normalized_score("tetris", 1)
    with pytest.raises(ValueError, match="at least one return"):
        normalized_score("pong", [])
    with pytest.raises(ValueError, match="finite"):
        normalized_score("pong", float("nan"))
    with pytest.raises(ValueError, match="low < high"):
        normalized_score("pong", 1, bounds=(1, 1))


def test_a_results_repr_is_short_for_the_assertion_message() -> None:
    """pytest shows it in the failing assertion ("where -5.0 = RolloutResult(...)"), which
    the optimizer reads for every failing trial: the summary says the rest."""
    result = RolloutResult("pong", (0, 1), (-5.0, 2.0), (1000, 1000), (7, 3), (0, 0),
                           (False, False), 1000, 1.5)  # fmt: skip
    assert repr(result) == "RolloutResult('pong', seeds=(0, 1), returns=(-5.0, 2.0))"
