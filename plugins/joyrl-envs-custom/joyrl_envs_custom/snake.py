"""Snake on a small board, with a compact feature observation that DQN learns from in minutes.

Actions (Discrete(3), relative to the heading): 0 = straight on, 1 = turn right, 2 = turn left.

Observation: 11 float32 flags in {0, 1}, in this order:

====  ==============================================================================================
0-2   danger straight / right / left: moving that way next step would hit a wall or the body
      (the tail tip does not count: it moves away on the same step)
3-6   heading up / right / down / left (one-hot)
7-10  food up / right / down / left of the head (row above / column to the right / ...; two can be set)
====  ==============================================================================================

Rewards: ``food_reward`` for eating (the snake grows by one), ``death_reward`` for hitting a wall or
itself (the episode terminates), ``step_reward`` otherwise. Filling the board ends the episode as a win.
An episode is truncated after ``max_steps_without_food`` steps without eating, so a snake that learned
to circle forever does not stall training. ``info["score"]`` is the food eaten this episode; the most a
``size`` x ``size`` board allows is ``size**2 - initial_length``.

Each reset puts the head at the board's centre with a random heading and the body straight behind it,
and food on a random free cell; all randomness comes from ``reset(seed=...)``.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from joyrl_envs_custom import _draw
from joyrl_envs_custom.errors import EnvConfigError

Cell = tuple[int, int]

STRAIGHT, TURN_RIGHT, TURN_LEFT = 0, 1, 2
HEADINGS: tuple[Cell, ...] = ((-1, 0), (0, 1), (1, 0), (0, -1))  # up, right, down, left (clockwise)
CELL_PX = 24
N_FEATURES = 11


class SnakeEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        size: int = 8,
        initial_length: int = 3,
        food_reward: float = 1.0,
        death_reward: float = -1.0,
        step_reward: float = 0.0,
        max_steps_without_food: int = 100,
        render_mode: str | None = None,
    ):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 4:
            raise EnvConfigError(f"size: an integer >= 4 is required, got {size!r}")
        if isinstance(initial_length, bool) or not isinstance(initial_length, (int, np.integer)) or not 1 <= initial_length <= size // 2:
            raise EnvConfigError(
                f"initial_length: an integer from 1 to size // 2 = {size // 2} is required (the body must fit "
                f"behind the centre), got {initial_length!r}"
            )
        if isinstance(max_steps_without_food, bool) or not isinstance(max_steps_without_food, (int, np.integer)) or max_steps_without_food < 1:
            raise EnvConfigError(f"max_steps_without_food: an integer >= 1 is required, got {max_steps_without_food!r}")
        for name, value in (("food_reward", food_reward), ("death_reward", death_reward), ("step_reward", step_reward)):
            if not isinstance(value, (int, float, np.number)) or isinstance(value, bool) or not np.isfinite(value):
                raise EnvConfigError(f"{name}: a finite number is required, got {value!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise EnvConfigError(f"render_mode: expected null or rgb_array, got {render_mode!r}")
        self.size = int(size)
        self.initial_length = int(initial_length)
        self.food_reward = float(food_reward)
        self.death_reward = float(death_reward)
        self.step_reward = float(step_reward)
        self.max_steps_without_food = int(max_steps_without_food)
        self.render_mode = render_mode

        self.action_space = spaces.Discrete(3)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(N_FEATURES,), dtype=np.float32)
        self.body: deque[Cell] = deque()  # body[0] is the head
        self.occupied: set[Cell] = set()
        self.heading = 0
        self.food: Cell | None = None
        self.score = 0
        self.hungry_steps = 0

    # -- dynamics --------------------------------------------------------------------------------

    def _inside(self, cell: Cell) -> bool:
        return 0 <= cell[0] < self.size and 0 <= cell[1] < self.size

    def _ahead(self, heading: int) -> Cell:
        dr, dc = HEADINGS[heading]
        return self.body[0][0] + dr, self.body[0][1] + dc

    def _deadly(self, cell: Cell) -> bool:
        """Whether moving the head to ``cell`` now kills: off the board, or into the body but its tail tip."""
        if not self._inside(cell):
            return True
        return cell in self.occupied and cell != self.body[-1]

    def _place_food(self) -> Cell | None:
        free = [(r, c) for r in range(self.size) for c in range(self.size) if (r, c) not in self.occupied]
        if not free:
            return None
        return free[int(self.np_random.integers(len(free)))]

    def _obs(self) -> np.ndarray:
        obs = np.zeros(N_FEATURES, dtype=np.float32)
        h = self.heading
        for i, turn in enumerate((0, 1, 3)):  # straight, right, left
            obs[i] = self._deadly(self._ahead((h + turn) % 4))
        obs[3 + h] = 1.0
        if self.food is not None:
            (hr, hc), (fr, fc) = self.body[0], self.food
            obs[7], obs[8], obs[9], obs[10] = fr < hr, fc > hc, fr > hr, fc < hc
        return obs

    def _info(self) -> dict[str, Any]:
        return {"score": self.score, "length": len(self.body)}

    # -- gymnasium API ---------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.heading = int(self.np_random.integers(4))
        back_r, back_c = HEADINGS[(self.heading + 2) % 4]
        centre = self.size // 2
        self.body = deque((centre + i * back_r, centre + i * back_c) for i in range(self.initial_length))
        self.occupied = set(self.body)
        self.food = self._place_food()
        self.score = 0
        self.hungry_steps = 0
        return self._obs(), self._info()

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an int in [0, 3), got {action!r}")
        self.heading = (self.heading + (0, 1, 3)[int(action)]) % 4
        head = self._ahead(self.heading)
        if self._deadly(head):
            return self._obs(), self.death_reward, True, False, self._info()
        ate = head == self.food
        if not ate:
            self.occupied.discard(self.body.pop())
        self.body.appendleft(head)
        self.occupied.add(head)
        terminated = truncated = False
        if ate:
            self.score += 1
            self.hungry_steps = 0
            reward = self.food_reward
            self.food = self._place_food()
            terminated = self.food is None  # the board is full: a win
        else:
            reward = self.step_reward
            self.hungry_steps += 1
            truncated = self.hungry_steps >= self.max_steps_without_food
        return self._obs(), reward, terminated, truncated, self._info()

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; create the env with render_mode='rgb_array'")
            return None
        px = CELL_PX
        img = _draw.canvas(self.size * px, self.size * px)
        _draw.grid_lines(img, px)
        if self.food is not None:
            _draw.fill_disc(img, *self.food, px, _draw.FOOD, radius_frac=0.4)
        for i, cell in enumerate(self.body):
            if self._inside(cell):
                _draw.fill_cell(img, *cell, px, _draw.HEAD if i == 0 else _draw.BODY, margin=2)
        return img
