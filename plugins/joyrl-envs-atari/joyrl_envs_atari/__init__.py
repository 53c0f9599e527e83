"""Atari 2600 games for JoyRL (``env_name: atari``), built on ale-py and gymnasium's Atari wrappers."""

from joyrl_envs_atari.config import AtariConfig
from joyrl_envs_atari.make import make_atari_env
from joyrl_envs_atari.wrappers import EpisodicLife, FireOnReset

__all__ = ["AtariConfig", "EpisodicLife", "FireOnReset", "make_atari_env"]
