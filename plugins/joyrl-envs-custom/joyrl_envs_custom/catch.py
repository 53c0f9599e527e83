"""Catch (Mnih et al., 2014; bsuite's ``catch``): a ball falls down a small board, a paddle catches it.

The board is ``rows`` x ``columns`` (10 x 5). Each episode the ball starts in the top row in a random
column and falls one row a step; the paddle starts in the middle of the bottom row. Actions
(Discrete(3)): 0 = move the paddle left, 1 = stay, 2 = move right (at the edge it stays). When the ball
reaches the bottom row, after ``rows - 1`` steps, the episode terminates with reward +1 if the paddle is
under it and -1 if not; every other step gives 0. An optimal policy scores +1 every episode, a random
one about -0.6.

Observation: the board as a ``(rows, columns)`` bool image, the ball's and the paddle's cells set. It
is a pixel task that a small CNN learns on a CPU in minutes; JoyRL's network input puts the channel
axis in front of the 2-D frame.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from joyrl_envs_custom import _draw
from joyrl_envs_custom.errors import EnvConfigError

CELL_PX = 24
BALL: _draw.Color = (220, 50, 50)
PADDLE: _draw.Color = (40, 90, 210)


class CatchEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, rows: int = 10, columns: int = 5, render_mode: str | None = None):
        for name, value, least in (("rows", rows, 2), ("columns", columns, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
                raise EnvConfigError(f"{name}: an integer >= {least} is required, got {value!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise EnvConfigError(f"render_mode: expected null or rgb_array, got {render_mode!r}")
        self.rows = int(rows)
        self.columns = int(columns)
        self.render_mode = render_mode
        self.action_space = spaces.Discrete(3)
        self.observation_space = spaces.Box(0, 1, shape=(self.rows, self.columns), dtype=np.bool_)
        self._board = np.zeros((self.rows, self.columns), dtype=np.bool_)
        self.ball = (0, 0)
        self.paddle = self.columns // 2

    def _obs(self) -> np.ndarray:
        self._board[:] = False
        self._board[self.ball] = True
        self._board[self.rows - 1, self.paddle] = True
        return self._board.copy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.ball = (0, int(self.np_random.integers(self.columns)))
        self.paddle = self.columns // 2
        return self._obs(), {}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is not in Discrete(3)")
        self.paddle = int(np.clip(self.paddle + int(action) - 1, 0, self.columns - 1))
        row, col = self.ball
        self.ball = (row + 1, col)
        terminated = self.ball[0] == self.rows - 1
        reward = (1.0 if col == self.paddle else -1.0) if terminated else 0.0
        return self._obs(), reward, terminated, False, {}

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; create the env with render_mode='rgb_array'")
            return None
        img = _draw.canvas(self.rows * CELL_PX, self.columns * CELL_PX)
        _draw.fill_cell(img, self.rows - 1, self.paddle, CELL_PX, PADDLE, margin=2)
        _draw.fill_disc(img, *self.ball, CELL_PX, BALL)
        return img
