"""MinAtar (Young & Tian, 2019) through the ``minatar`` package's own gymnasium ids.

The ``minatar`` package (``pip install 'joyrl-envs-custom[minatar]'``) registers ``MinAtar/<Game>-v0``
(all 6 actions) and ``MinAtar/<Game>-v1`` (each game's minimal action set) for Asterix, Breakout,
Freeway, Seaquest and SpaceInvaders. Observations are 10x10 frames with one bool channel per object
kind, channels last ``(10, 10, C)``; JoyRL's network input puts the channels first.
"""

from __future__ import annotations

import difflib

import gymnasium as gym

from joyrl_core import EnvError

GAMES = ("Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders")
IDS = tuple(f"MinAtar/{game}-v{v}" for game in GAMES for v in (0, 1))


def make_minatar(config, render_mode: str | None) -> gym.Env:
    """``gymnasium.make`` of ``config.id`` with MinAtar's game options (``env_name: minatar``)."""
    if config.id not in IDS:
        close = difflib.get_close_matches(config.id, IDS, n=2)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise EnvError(f"env 'minatar': env_cfg.id: unknown MinAtar id {config.id!r}{hint} (allowed: {', '.join(IDS)})")
    if not 0.0 <= config.sticky_action_prob <= 1.0:
        raise EnvError(f"env 'minatar': env_cfg.sticky_action_prob: a probability in [0, 1] is required, "
                       f"got {config.sticky_action_prob}")
    if render_mode not in (None, "rgb_array"):
        raise EnvError(f"env 'minatar': render_mode {render_mode!r} is not offered; use rgb_array for a GIF")
    try:
        from minatar import gym as minatar_gym
    except ImportError:
        raise EnvError("env 'minatar' needs the minatar package: pip install 'joyrl-envs-custom[minatar]'") from None
    if config.id not in gym.envs.registry:
        minatar_gym.register_envs()
    return gym.make(config.id, render_mode=render_mode, max_episode_steps=config.max_episode_steps,
                    sticky_action_prob=config.sticky_action_prob, difficulty_ramping=config.difficulty_ramping)
