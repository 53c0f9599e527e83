"""A grid world: walls, pits, slip, configurable rewards; gymnasium's CliffWalking as ``layout="cliff"``.

The agent moves up, right, down or left (actions 0-3, as in gymnasium's ``CliffWalking``). Moving into
a wall or off the grid leaves it in place. With probability ``slip`` the move goes to one of the two
perpendicular directions instead (each half of ``slip``). Entering a pit gives ``pit_reward`` and sends
the agent back to the start (``pit_terminates=False``, CliffWalking's rule) or ends the episode.
Entering the goal gives ``goal_reward`` and ends the episode; every other step gives ``step_reward``.

The defaults (-1 a step, the goal step included, -100 a pit) make the return minus the path length,
so ``layout="cliff"`` with default rewards is gymnasium's ``CliffWalking-v1``: the optimum is -13.

Observation (``observation="onehot"``, the default): a float32 vector of ``rows * cols`` zeros with a 1
at the agent's cell. DQN learns a grid this size fastest from it: the network's first layer becomes a
table with one row per cell, so no cell's value leaks into its neighbours' (with ``(row, col)``
coordinates a small MLP must carve the cliff edge, a jump of 100 between adjacent cells, out of a
smooth function, which takes several times more steps). ``observation="coords"`` gives
``(row / (rows - 1), col / (cols - 1))`` for large grids, where a one-hot vector would get long.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from joyrl_envs_custom import _draw
from joyrl_envs_custom.errors import EnvConfigError

Cell = tuple[int, int]

UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3
MOVES: tuple[Cell, ...] = ((-1, 0), (0, 1), (1, 0), (0, -1))
LAYOUTS = ("open", "cliff")
OBSERVATIONS = ("onehot", "coords")
CELL_PX = 32


class GridWorldEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        layout: str = "open",
        rows: int | None = None,
        cols: int | None = None,
        walls: Sequence[Sequence[int]] = (),
        pits: Sequence[Sequence[int]] | None = None,
        start: Sequence[int] | None = None,
        goal: Sequence[int] | None = None,
        slip: float = 0.0,
        step_reward: float = -1.0,
        goal_reward: float = -1.0,
        pit_reward: float = -100.0,
        pit_terminates: bool = False,
        observation: str = "onehot",
        render_mode: str | None = None,
    ):
        if layout not in LAYOUTS:
            raise EnvConfigError(f"layout: expected one of {', '.join(LAYOUTS)}, got {layout!r}")
        if observation not in OBSERVATIONS:
            raise EnvConfigError(f"observation: expected one of {', '.join(OBSERVATIONS)}, got {observation!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise EnvConfigError(f"render_mode: expected null or rgb_array, got {render_mode!r}")
        default_rows, default_cols = (4, 12) if layout == "cliff" else (5, 5)
        self.rows = _int_at_least("rows", default_rows if rows is None else rows, 2)
        self.cols = _int_at_least("cols", default_cols if cols is None else cols, 2)
        bottom = self.rows - 1
        if layout == "cliff":
            layout_start: Cell = (bottom, 0)
            layout_pits = [(bottom, c) for c in range(1, self.cols - 1)]
        else:
            layout_start, layout_pits = (0, 0), []
        layout_goal: Cell = (bottom, self.cols - 1)

        self.walls = {self._cell(f"walls[{i}]", w) for i, w in enumerate(walls)}
        self.pits = {self._cell(f"pits[{i}]", p) for i, p in enumerate(pits)} if pits is not None else set(layout_pits)
        self.start = self._cell("start", start) if start is not None else layout_start
        self.goal = self._cell("goal", goal) if goal is not None else layout_goal
        self._check_geometry()

        if not 0.0 <= float(slip) <= 1.0:
            raise EnvConfigError(f"slip: a probability in [0, 1] is required, got {slip}")
        self.slip = float(slip)
        self.step_reward = _finite("step_reward", step_reward)
        self.goal_reward = _finite("goal_reward", goal_reward)
        self.pit_reward = _finite("pit_reward", pit_reward)
        self.pit_terminates = bool(pit_terminates)
        self.layout = layout
        self.observation = observation
        self.render_mode = render_mode

        self.action_space = spaces.Discrete(4)
        n_obs = self.rows * self.cols if observation == "onehot" else 2
        self.observation_space = spaces.Box(0.0, 1.0, shape=(n_obs,), dtype=np.float32)
        self.pos: Cell = self.start

    # -- configuration checks --------------------------------------------------------------------

    def _cell(self, name: str, value: Any) -> Cell:
        try:
            row, col = (int(v) for v in value)
            if [row, col] != [v for v in value]:
                raise ValueError
        except (TypeError, ValueError):
            raise EnvConfigError(f"{name}: expected a cell [row, col] of two integers, got {value!r}") from None
        if not (0 <= row < self.rows and 0 <= col < self.cols):
            raise EnvConfigError(
                f"{name}: [{row}, {col}] is outside the {self.rows}x{self.cols} grid "
                f"(rows 0..{self.rows - 1}, cols 0..{self.cols - 1})"
            )
        return row, col

    def _check_geometry(self) -> None:
        if self.start == self.goal:
            raise EnvConfigError(f"goal: {list(self.goal)} is also the start cell")
        for name, cell in (("start", self.start), ("goal", self.goal)):
            if cell in self.walls:
                raise EnvConfigError(f"walls: {list(cell)} is the {name} cell; move the wall or set {name}")
            if cell in self.pits:
                raise EnvConfigError(f"pits: {list(cell)} is the {name} cell; move the pit or set {name}")
        both = sorted(self.walls & self.pits)
        if both:
            raise EnvConfigError(f"pits: {list(both[0])} is also a wall")
        # Pits never lead on (they end the episode or send the agent back), so a path must avoid them.
        blocked = self.walls | self.pits
        seen, todo = {self.start}, deque([self.start])
        while todo:
            row, col = todo.popleft()
            for dr, dc in MOVES:
                nxt = (row + dr, col + dc)
                if 0 <= nxt[0] < self.rows and 0 <= nxt[1] < self.cols and nxt not in blocked and nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        if self.goal not in seen:
            raise EnvConfigError(
                f"goal: {list(self.goal)} cannot be reached from start {list(self.start)} without crossing a wall or a pit"
            )

    # -- gymnasium API ---------------------------------------------------------------------------

    def _obs(self) -> np.ndarray:
        row, col = self.pos
        if self.observation == "onehot":
            obs = np.zeros(self.rows * self.cols, dtype=np.float32)
            obs[row * self.cols + col] = 1.0
            return obs
        return np.array([row / (self.rows - 1), col / (self.cols - 1)], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.pos = self.start
        return self._obs(), {"cell": self.pos}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action must be an int in [0, 4), got {action!r}")
        direction = int(action)
        slipped = False
        if self.slip > 0.0 and self.np_random.random() < self.slip:
            direction = (direction + (1 if self.np_random.random() < 0.5 else 3)) % 4
            slipped = True
        dr, dc = MOVES[direction]
        nxt = (self.pos[0] + dr, self.pos[1] + dc)
        if not (0 <= nxt[0] < self.rows and 0 <= nxt[1] < self.cols) or nxt in self.walls:
            nxt = self.pos
        terminated = False
        fell = nxt in self.pits
        if fell:
            reward = self.pit_reward
            terminated = self.pit_terminates
            self.pos = nxt if self.pit_terminates else self.start
        elif nxt == self.goal:
            reward, terminated, self.pos = self.goal_reward, True, nxt
        else:
            reward, self.pos = self.step_reward, nxt
        return self._obs(), reward, terminated, False, {"cell": self.pos, "slipped": slipped, "fell": fell}

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; create the env with render_mode='rgb_array'")
            return None
        px = CELL_PX
        img = _draw.canvas(self.rows * px, self.cols * px)
        _draw.fill_cell(img, *self.start, px, _draw.START)
        _draw.fill_cell(img, *self.goal, px, _draw.GOAL)
        for cell in self.walls:
            _draw.fill_cell(img, *cell, px, _draw.WALL)
        for cell in self.pits:
            _draw.fill_cell(img, *cell, px, _draw.PIT)
        _draw.grid_lines(img, px)
        _draw.fill_disc(img, *self.pos, px, _draw.AGENT)
        return img


def _int_at_least(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise EnvConfigError(f"{name}: an integer >= {minimum} is required, got {value!r}")
    return int(value)


def _finite(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise EnvConfigError(f"{name}: a number is required, got {value!r}") from None
    if not np.isfinite(number):
        raise EnvConfigError(f"{name}: a finite number is required, got {value!r}")
    return number
