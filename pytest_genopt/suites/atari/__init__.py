"""Atari benchmark suite: ALE games (Pong, Breakout, Space Invaders) with typed objects.

``make_env(game)`` returns an environment whose frames carry objects read from the
console RAM (positions in screen pixels).  Needs the ``atari`` extra
(``pip install pytest-genopt[atari]``) to create environments; importing is cheap.
"""

from __future__ import annotations

from pytest_genopt.suites.atari.env import GAMES, AtariEnv, Frame, make_env
from pytest_genopt.suites.atari.objects import (
    Alien,
    BreakoutBall,
    BreakoutObjects,
    BreakoutPaddle,
    Bullet,
    GameObjects,
    InvadersPlayer,
    PongBall,
    PongObjects,
    PongPaddle,
    Shield,
    SpaceInvadersObjects,
)

__all__ = [
    "GAMES",
    "Alien",
    "AtariEnv",
    "BreakoutBall",
    "BreakoutObjects",
    "BreakoutPaddle",
    "Bullet",
    "Frame",
    "GameObjects",
    "InvadersPlayer",
    "PongBall",
    "PongObjects",
    "PongPaddle",
    "Shield",
    "SpaceInvadersObjects",
    "make_env",
]
