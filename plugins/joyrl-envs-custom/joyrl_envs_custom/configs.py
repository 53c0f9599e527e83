"""The typed ``env_cfg`` of each env: defaults, help texts and lower bounds.

The keys are the env constructors' arguments (plus ``render_mode`` and, where the env has a time limit,
``max_episode_steps``). Types and lower bounds are checked when the YAML is read; the rest (cells inside
the grid, a reachable goal, probabilities up to 1, an inner env id that exists) is checked when the env
is built and reported as a :class:`joyrl_core.EnvError` naming the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from joyrl_core import option

RenderMode = Literal["human", "rgb_array"] | None
RENDER_HELP = "null, rgb_array (frames for the GIF) or human (a window; needs pygame)"


@dataclass
class GridWorldConfig:
    """``env_cfg`` of ``grid_world``. Cells are ``[row, col]`` lists from the top-left corner ``[0, 0]``."""

    layout: Literal["open", "cliff"] = option(
        "open", "open: an empty grid, start top-left, goal bottom-right; cliff: gymnasium's CliffWalking "
        "(4x12, start bottom-left, goal bottom-right, pits between them)"
    )
    rows: int | None = option(None, "grid height; null = the layout's (open 5, cliff 4)", minimum=2)
    cols: int | None = option(None, "grid width; null = the layout's (open 5, cliff 12)", minimum=2)
    walls: list[list[int]] = option([], "cells the agent cannot enter, as (row, col) pairs such as [[1, 2], [2, 2]]; bumping leaves it in place")
    pits: list[list[int]] | None = option(
        None, "cells that give pit_reward, as (row, col) pairs such as [[2, 4]]; null = the layout's (cliff: the bottom row between start and goal)"
    )
    start: list[int] | None = option(None, "start cell (row, col) such as [0, 0], from the top-left; null = the layout's (open: top-left, cliff: bottom-left)")
    goal: list[int] | None = option(None, "goal cell (row, col) such as [4, 4]; null = the bottom-right cell")
    slip: float = option(0.0, "probability (0..1) that a move goes to a perpendicular direction instead", minimum=0.0)
    step_reward: float = option(-1.0, "reward of an ordinary step")
    goal_reward: float = option(-1.0, "reward of the step that enters the goal (-1: like any step, so return = -path length)")
    pit_reward: float = option(-100.0, "reward of the step that enters a pit")
    pit_terminates: bool = option(False, "false: a pit sends the agent back to the start (CliffWalking); true: it ends the episode")
    observation: Literal["onehot", "coords"] = option(
        "onehot", "onehot: rows*cols vector with a 1 at the agent (fastest for DQN); coords: (row, col) scaled to [0, 1]"
    )
    max_episode_steps: int = option(100, "time limit: the episode is truncated after this many steps", minimum=1)
    render_mode: RenderMode = option(None, RENDER_HELP)


@dataclass
class SnakeConfig:
    """``env_cfg`` of ``snake``."""

    size: int = option(8, "board width and height in cells", minimum=4)
    initial_length: int = option(3, "snake length at reset (at most size // 2)", minimum=1)
    food_reward: float = option(1.0, "reward for eating food (the snake grows by one)")
    death_reward: float = option(-1.0, "reward for hitting a wall or itself (ends the episode)")
    step_reward: float = option(0.0, "reward of every other step")
    max_steps_without_food: int = option(100, "truncate the episode after this many steps without eating", minimum=1)
    max_episode_steps: int = option(1000, "time limit: the episode is truncated after this many steps", minimum=1)
    render_mode: RenderMode = option(None, RENDER_HELP)


@dataclass
class SlowNoisyConfig:
    """``env_cfg`` of ``slow_noisy``: any gymnasium env, slowed down and/or with noisy observations."""

    inner_id: str = option("CartPole-v1", "gymnasium id of the env to wrap (any registered id, joyrl/... included)")
    step_latency_ms: float = option(0.0, "milliseconds to sleep in every step (a stand-in for a slow simulator)", minimum=0.0)
    obs_noise_std: float = option(0.0, "std of Gaussian noise added to float Box observations (seeded by reset)", minimum=0.0)
    inner_kwargs: dict[str, Any] = option({}, "further keyword arguments of gymnasium.make for the inner env")
    render_mode: RenderMode = option(None, RENDER_HELP)


@dataclass
class CatchConfig:
    """``env_cfg`` of ``catch``."""

    rows: int = option(10, "board height: the ball falls for rows - 1 steps", minimum=2)
    columns: int = option(5, "board width: the ball starts in a random one of these columns", minimum=1)
    render_mode: RenderMode = option(None, "null or rgb_array (frames for the GIF)")


@dataclass
class PixelPointConfig:
    """``env_cfg`` of ``pixel_point``."""

    width: int = option(21, "image width in pixels: the track [-1, 1] is drawn over these columns", minimum=3)
    height: int = option(5, "image height in pixels (every row shows the point)", minimum=2)
    step_size: float = option(0.2, "how far action 1.0 moves the point on the track [-1, 1] (at most 2)", minimum=0.0)
    max_episode_steps: int = option(20, "time limit: the episode is truncated after this many steps", minimum=1)
    render_mode: RenderMode = option(None, "null or rgb_array (frames for the GIF)")


@dataclass
class MinAtarConfig:
    """``env_cfg`` of ``minatar`` (needs ``pip install 'joyrl-envs-custom[minatar]'``)."""

    id: str = option("MinAtar/Breakout-v1", "MinAtar/<Game>-v1 (minimal action set) or -v0 (all 6 actions); games: "
                     "Asterix, Breakout, Freeway, Seaquest, SpaceInvaders")
    sticky_action_prob: float = option(0.1, "probability that the previous action is repeated instead (MinAtar's default)",
                                       minimum=0.0)
    difficulty_ramping: bool = option(True, "games speed up as the episode goes on (MinAtar's default)")
    max_episode_steps: int | None = option(None, "truncate episodes after this many steps; null = only the game ends them",
                                           minimum=1)
    render_mode: RenderMode = option(None, "null or rgb_array (frames for the GIF)")
