"""Registers ``atari`` with JoyRL (``general_cfg.env_name: atari``)."""

from __future__ import annotations

from joyrl_core import hookimpl

from joyrl_envs_atari.config import AtariConfig


def make_atari(config: AtariConfig, render_mode: str | None):
    from joyrl_envs_atari.make import make_atari_env  # ale-py and the wrappers only when a run needs them

    return make_atari_env(config, render_mode)


@hookimpl
def register_envs(register):
    register("atari", make_atari, AtariConfig,
             "Atari 2600 games (ale-py) with DeepMind's preprocessing; results record game scores")
