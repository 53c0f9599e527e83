"""Pixel point: a continuous-control task seen only through a small image, for CNN actor-critics.

A point sits on a track ``x`` in [-1, 1], starting uniformly at random. The action (``Box(-1, 1, (1,))``)
moves it by ``step_size * action`` (clipped to the track); every step gives reward ``-|x|``, so the best
policy moves to the centre at full speed and stays there. Episodes end by the time limit only
(``max_episode_steps``, 20): a random policy scores about -9.5, a good one about -1 (the centre column
is ``2 / (width - 1)`` wide, so the point can only be placed to a pixel).

Observation: a ``(height, width, 1)`` ``uint8`` image, channels last as gymnasium gives images, black
but for the point's column, 255 at ``round((x + 1) / 2 * (width - 1))``. Only the image tells where the
point is, so a policy that learns it needs a working image encoder; it learns in a few thousand env
steps on a CPU.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from joyrl_envs_custom import _draw
from joyrl_envs_custom.errors import EnvConfigError

CELL_PX = 12


class PixelPointEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, width: int = 21, height: int = 5, step_size: float = 0.2, render_mode: str | None = None):
        for name, value, least in (("width", width, 3), ("height", height, 2)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
                raise EnvConfigError(f"{name}: an integer >= {least} is required, got {value!r}")
        if not 0 < step_size <= 2:
            raise EnvConfigError(f"step_size: a number in (0, 2] is required, got {step_size!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise EnvConfigError(f"render_mode: expected null or rgb_array, got {render_mode!r}")
        self.width, self.height, self.step_size = int(width), int(height), float(step_size)
        self.render_mode = render_mode
        self.action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.observation_space = spaces.Box(0, 255, shape=(self.height, self.width, 1), dtype=np.uint8)
        self.x = 0.0

    @property
    def column(self) -> int:
        return int(round((self.x + 1.0) / 2.0 * (self.width - 1)))

    def _obs(self) -> np.ndarray:
        image = np.zeros((self.height, self.width, 1), dtype=np.uint8)
        image[:, self.column] = 255
        return image

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.x = float(self.np_random.uniform(-1.0, 1.0))
        return self._obs(), {}

    def step(self, action):
        move = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -1.0, 1.0))
        self.x = float(np.clip(self.x + self.step_size * move, -1.0, 1.0))
        return self._obs(), -abs(self.x), False, False, {}

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; create the env with render_mode='rgb_array'")
            return None
        img = _draw.canvas(self.height * CELL_PX, self.width * CELL_PX)
        centre = (self.width - 1) // 2
        for row in range(self.height):
            _draw.fill_cell(img, row, centre, CELL_PX, _draw.GOAL, margin=3)
            _draw.fill_cell(img, row, self.column, CELL_PX, _draw.AGENT, margin=1)
        return img
