"""Atari benchmark suite: ALE games (Pong, Breakout, Space Invaders,
Freeway, ...) with typed objects.

``make_env(game)`` returns an environment whose frames carry objects read from the
console RAM (positions in screen pixels).  ``register_game`` adds a game the package
does not ship (its environment id, object extractor and events).  Needs the ``atari`` extra
(``pip install pytest-genopt[atari]``) to create environments; importing is cheap.
"""

from __future__ import annotations

from pytest_genopt.suites.atari.asterix import Asterix, AsterixObjects, LaneObject
from pytest_genopt.suites.atari.enduro import EnduroObjects, Opponent, PlayerCar
from pytest_genopt.suites.atari.env import GAMES, AtariEnv, Frame, make_env
from pytest_genopt.suites.atari.freeway import Car, Chicken, FreewayObjects
from pytest_genopt.suites.atari.games import (
    Event,
    Game,
    GameEvents,
    Step,
    get_game,
    register_game,
)
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
from pytest_genopt.suites.atari.qbert import Cube, QbertObjects, QbertPlayer
from pytest_genopt.suites.atari.qbert import Enemy as QbertEnemy
from pytest_genopt.suites.atari.seaquest import Enemy as SeaquestEnemy
from pytest_genopt.suites.atari.seaquest import SeaquestObjects, Submarine

__all__ = [
    "GAMES",
    "Alien",
    "Asterix",
    "AsterixObjects",
    "AtariEnv",
    "BreakoutBall",
    "BreakoutObjects",
    "BreakoutPaddle",
    "Bullet",
    "Car",
    "Chicken",
    "Cube",
    "EnduroObjects",
    "Event",
    "Frame",
    "FreewayObjects",
    "Game",
    "GameEvents",
    "GameObjects",
    "InvadersPlayer",
    "LaneObject",
    "Opponent",
    "PlayerCar",
    "PongBall",
    "PongObjects",
    "PongPaddle",
    "QbertEnemy",
    "QbertObjects",
    "QbertPlayer",
    "SeaquestEnemy",
    "SeaquestObjects",
    "Shield",
    "SpaceInvadersObjects",
    "Step",
    "Submarine",
    "get_game",
    "make_env",
    "register_game",
]
