"""The built-in ``gym`` env plugin: any gymnasium id, with extra ``env_cfg`` keys passed to ``make``."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Literal

import gymnasium as gym

from joyrl_core.config import ExtraKeys, option
from joyrl_core.errors import EnvError


@dataclass
class GymEnvConfig(ExtraKeys):
    """``env_cfg`` of the ``gym`` env. Keys beyond these are passed to ``gymnasium.make``."""

    id: str = option("CartPole-v1", "gymnasium env id, e.g. CartPole-v1, LunarLander-v3")
    render_mode: Literal["human", "rgb_array"] | None = option(None, "null, human (a window) or rgb_array (GIF)")
    extra: dict[str, Any] = field(default_factory=dict, metadata={"help": "further keyword arguments of gymnasium.make"})


def make_gym_env(config: GymEnvConfig, render_mode: str | None) -> gym.Env:
    registered = gym.envs.registry
    # "module:Id" imports the module (which registers the id) inside gymnasium.make.
    if ":" not in config.id and config.id not in registered:
        close = difflib.get_close_matches(config.id, list(registered), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise EnvError(f"env_cfg.id: unknown gymnasium env id {config.id!r}{hint}")
    try:
        return gym.make(config.id, render_mode=render_mode, **config.extra)
    except TypeError as exc:
        raise EnvError(f"env_cfg: gymnasium.make({config.id!r}) rejected the extra keys {sorted(config.extra)}: {exc}") from None
    except gym.error.DependencyNotInstalled as exc:
        raise EnvError(f"env {config.id!r} needs an extra package: {exc}") from None
    except (gym.error.Error, ModuleNotFoundError) as exc:
        raise EnvError(f"env {config.id!r} could not be created: {exc}") from None
