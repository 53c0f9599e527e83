"""Registers the envs with JoyRL (``general_cfg.env_name``); importing it registers the gymnasium ids too.

Each factory builds its env through ``gymnasium.make`` with the ``env_cfg`` keys as keyword arguments,
so a JoyRL run and ``gymnasium.make("joyrl/...")`` get the same env with the same wrappers
(order enforcing, the passive env checker and, where set, the ``max_episode_steps`` time limit).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import gymnasium as gym

from joyrl_core import EnvError, hookimpl

from joyrl_envs_custom.configs import (
    CatchConfig,
    GridWorldConfig,
    MinAtarConfig,
    PixelPointConfig,
    SlowNoisyConfig,
    SnakeConfig,
)
from joyrl_envs_custom.errors import EnvConfigError
from joyrl_envs_custom.minatar_envs import make_minatar
from joyrl_envs_custom.registration import NAMESPACE, register_gymnasium_envs

register_gymnasium_envs()  # a no-op when the package's __init__ already did it


def _factory(name: str, gym_id: str) -> Callable[[Any, str | None], gym.Env]:
    def make(config: Any, render_mode: str | None) -> gym.Env:
        kwargs = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
        kwargs.pop("render_mode", None)
        max_episode_steps = kwargs.pop("max_episode_steps", None)
        if render_mode == "human":
            _require_pygame(name)
        try:
            return gym.make(gym_id, render_mode=render_mode, max_episode_steps=max_episode_steps, **kwargs)
        except EnvConfigError as exc:
            raise EnvError(f"env {name!r}: env_cfg.{exc}") from None
        except gym.error.DependencyNotInstalled as exc:
            first_line = str(exc).strip().splitlines()[0]
            raise EnvError(
                f"env {name!r}: render_mode {render_mode!r} needs an extra package ({first_line}); "
                "use render_mode: rgb_array for a GIF"
            ) from None

    make.__name__ = f"make_{name}"
    make.__qualname__ = make.__name__
    return make


def _require_pygame(name: str) -> None:
    """``human`` goes through gymnasium's HumanRendering, which imports pygame only at the first reset."""
    try:
        import pygame  # noqa: F401
    except ImportError:
        raise EnvError(
            f"env {name!r}: render_mode 'human' needs pygame (pip install pygame); "
            "use render_mode: rgb_array for a GIF instead"
        ) from None


make_grid_world = _factory("grid_world", f"{NAMESPACE}/GridWorld-v0")
make_snake = _factory("snake", f"{NAMESPACE}/Snake-v0")
make_slow_noisy = _factory("slow_noisy", f"{NAMESPACE}/SlowNoisy-v0")
make_catch = _factory("catch", f"{NAMESPACE}/Catch-v0")
make_pixel_point = _factory("pixel_point", f"{NAMESPACE}/PixelPoint-v0")


@hookimpl
def register_envs(register):
    register("grid_world", make_grid_world, GridWorldConfig,
             "grid world: walls, pits, slip, rewards; layout: cliff is gymnasium's CliffWalking")
    register("snake", make_snake, SnakeConfig, "snake on a small board; 11 danger/heading/food flags, 3 relative actions")
    register("slow_noisy", make_slow_noisy, SlowNoisyConfig,
             "any gymnasium env (inner_id) with a sleep per step and Gaussian observation noise")
    register("catch", make_catch, CatchConfig, "Catch: catch a falling ball with a paddle; a 10x5 bool image, 3 actions")
    register("pixel_point", make_pixel_point, PixelPointConfig,
             "pixel point: move a point to the centre of a track seen as a 5x21 uint8 image; Box(1) actions")
    register("minatar", make_minatar, MinAtarConfig,
             "MinAtar's games (Breakout, Asterix, ...): 10x10xC bool frames; needs the minatar extra")
