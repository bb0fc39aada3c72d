"""A small wrapper around the ALE Atari environments that returns typed objects.

``make_env("pong")`` creates a gymnasium ALE environment observing RAM and returns an
:class:`AtariEnv`, whose ``reset``/``step`` return a :class:`Frame`: the 128 RAM bytes
plus the objects extracted from them (see :mod:`pytest_genopt.suites.atari.objects`).

gymnasium and ale-py are imported only when an environment is created, so importing this
module is cheap and works without the ``atari`` extra installed.
"""

from __future__ import annotations

import importlib
import operator
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

from pytest_genopt.suites.atari.games import GAMES, get_game

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    import numpy as np
    import numpy.typing as npt

    from pytest_genopt.suites.atari.objects import (
        BreakoutObjects,
        PongObjects,
        SpaceInvadersObjects,
    )

__all__ = ["GAMES", "AtariEnv", "Frame", "make_env"]

_INSTALL_HINT = "pip install pytest-genopt[atari]"

# Any type: a registered game's objects are whatever its extractor returns.
ObjectsT = TypeVar("ObjectsT")


class Frame(Generic[ObjectsT]):
    """One observation: the console RAM and the objects read from it.

    Attributes:
        ram: the 128 bytes of Atari RAM after the step (read-only uint8 array).
        objects: the game's objects (``PongObjects``, ``BreakoutObjects``,
            ``SpaceInvadersObjects`` or what a registered game's extractor returns),
            positions in pixels of the 160 x 210 screen.
    """

    __slots__ = ("objects", "ram")

    def __init__(self, ram: npt.NDArray[np.uint8], objects: ObjectsT) -> None:
        self.ram: npt.NDArray[np.uint8] = ram
        self.objects: ObjectsT = objects

    def __repr__(self) -> str:
        return f"Frame(objects={self.objects!r})"


def _load_gymnasium() -> Any:
    """Import gymnasium with the ALE environments registered, or explain what is missing."""
    # gymnasium first: ale_py registers its environments only if gymnasium imports.
    try:
        import gymnasium
    except ImportError as exc:
        raise RuntimeError(
            f"The Atari suite needs gymnasium, which is not installed ({exc}). "
            f"Install it with: {_INSTALL_HINT}"
        ) from exc
    try:
        import ale_py
    except ImportError as exc:
        raise RuntimeError(
            f"The Atari suite needs ale-py, which is not installed ({exc}). "
            f"Install it with: {_INSTALL_HINT}"
        ) from exc
    # The emulator's banner ("A.L.E: ... [Powered by Stella]") would be each test's
    # captured output, shown to the optimizer as evidence: keep only its errors.
    ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)
    gymnasium.register_envs(ale_py)
    if "ALE/Pong-v5" not in gymnasium.registry:  # ale_py was imported before gymnasium
        importlib.import_module("ale_py.registration").register_v5_envs()
    return gymnasium


class AtariEnv(Generic[ObjectsT]):
    """An ALE game that returns :class:`Frame` objects; create it with :func:`make_env`.

    Use ``reset(seed)`` then ``step(action)`` until ``done``; actions are indices into
    :attr:`action_names`.  With ``sticky_actions == 0`` (the default) the emulator is
    deterministic: the same seed and actions give the same frames (with sticky actions
    they are still reproducible for a given seed).  Close it (or use it as a context
    manager) to free the emulator.

    Attributes:
        game: the game's short name (a registered game: a key of :data:`GAMES`).
        frameskip: emulator frames per step.
        action_names: the meaning of each action index, e.g. ``("NOOP", "FIRE", ...)``.
    """

    def __init__(
        self,
        game: str,
        gym_env: Any,
        extract: Callable[[bytes, ObjectsT | None], ObjectsT],
        *,
        frameskip: int,
        render_rgb: bool,
    ) -> None:
        self.game = game
        self.frameskip = frameskip
        self._env = gym_env
        self._extract: Callable[[bytes, ObjectsT | None], ObjectsT] = extract
        self._render_rgb = render_rgb
        self._objects: ObjectsT | None = None
        self._info: dict[str, Any] = {}
        self._closed = False
        self.action_names: tuple[str, ...] = tuple(gym_env.unwrapped.get_action_meanings())

    @property
    def n_actions(self) -> int:
        """Number of actions (valid actions are ``0 .. n_actions - 1``)."""
        return len(self.action_names)

    @property
    def info(self) -> dict[str, Any]:
        """The ``info`` dict of the last reset/step (``lives``, ``frame_number``, ...)."""
        return self._info

    @property
    def unwrapped(self) -> Any:
        """The underlying ``ale_py`` gymnasium environment (``.ale`` is the emulator)."""
        return self._env.unwrapped

    def _frame(self, obs: npt.NDArray[np.uint8]) -> Frame[ObjectsT]:
        obs.flags.writeable = False
        objects = self._extract(obs.tobytes(), self._objects)
        self._objects = objects
        return Frame(obs, objects)

    def reset(self, seed: int) -> Frame[ObjectsT]:
        """Start a new episode with the given seed and return its first frame."""
        obs, info = self._env.reset(seed=seed)
        self._info = info
        self._objects = None
        return self._frame(obs)

    def step(self, action: int) -> tuple[Frame[ObjectsT], float, bool]:
        """Apply ``action`` for ``frameskip`` frames; return ``(frame, reward, done)``.

        ``done`` is True when the episode terminated (game over) or was truncated; call
        :meth:`reset` before stepping again.
        """
        a = operator.index(action)
        if not 0 <= a < len(self.action_names):
            raise ValueError(
                f"action {action!r} out of range for {self.game}: "
                f"expected 0..{len(self.action_names) - 1} ({', '.join(self.action_names)})"
            )
        obs, reward, terminated, truncated, info = self._env.step(a)
        self._info = info
        return self._frame(obs), float(reward), bool(terminated or truncated)

    def rgb(self) -> npt.NDArray[np.uint8]:
        """The current screen as a (210, 160, 3) uint8 RGB array (needs ``render_rgb``)."""
        if not self._render_rgb:
            raise RuntimeError(
                "rgb() needs an environment created with make_env(..., render_rgb=True)"
            )
        screen: npt.NDArray[np.uint8] = self._env.render()
        return screen

    def close(self) -> None:
        """Release the emulator; further calls are no-ops."""
        if not self._closed:
            self._closed = True
            self._env.close()

    def __enter__(self) -> AtariEnv[ObjectsT]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AtariEnv({self.game!r}, frameskip={self.frameskip})"


@overload
def make_env(
    game: Literal["pong"],
    *,
    frameskip: int = ...,
    sticky_actions: float = ...,
    render_rgb: bool = ...,
    full_action_space: bool = ...,
) -> AtariEnv[PongObjects]: ...
@overload
def make_env(
    game: Literal["breakout"],
    *,
    frameskip: int = ...,
    sticky_actions: float = ...,
    render_rgb: bool = ...,
    full_action_space: bool = ...,
) -> AtariEnv[BreakoutObjects]: ...
@overload
def make_env(
    game: Literal["space_invaders"],
    *,
    frameskip: int = ...,
    sticky_actions: float = ...,
    render_rgb: bool = ...,
    full_action_space: bool = ...,
) -> AtariEnv[SpaceInvadersObjects]: ...
@overload
def make_env(
    game: str,
    *,
    frameskip: int = ...,
    sticky_actions: float = ...,
    render_rgb: bool = ...,
    full_action_space: bool = ...,
) -> AtariEnv[Any]: ...
def make_env(
    game: str,
    *,
    frameskip: int = 4,
    sticky_actions: float = 0.0,
    render_rgb: bool = False,
    full_action_space: bool = False,
) -> AtariEnv[Any]:
    """Create the Atari environment for ``game``, a registered game (a key of :data:`GAMES`).

    Args:
        game: ``"pong"``, ``"breakout"``, ``"space_invaders"`` or a game registered
            with :func:`~pytest_genopt.suites.atari.games.register_game`.
        frameskip: emulator frames per ``step`` (the action is repeated); default 4.
        sticky_actions: probability that the previous action is repeated instead of the
            chosen one on each frame (``repeat_action_probability``); default 0.
        render_rgb: keep the screen available through :meth:`AtariEnv.rgb`.
        full_action_space: use all 18 joystick actions instead of the game's minimal set.

    Raises:
        ValueError: for an unknown game.
        RuntimeError: when gymnasium / ale-py are not installed.
    """
    spec = get_game(game)
    if frameskip < 1:
        raise ValueError(f"frameskip must be >= 1, got {frameskip}")
    gymnasium = _load_gymnasium()
    gym_env = gymnasium.make(
        spec.env_id,
        obs_type="ram",
        frameskip=frameskip,
        repeat_action_probability=sticky_actions,
        full_action_space=full_action_space,
        render_mode="rgb_array" if render_rgb else None,
    )
    return AtariEnv(game, gym_env, spec.extract, frameskip=frameskip, render_rgb=render_rgb)
