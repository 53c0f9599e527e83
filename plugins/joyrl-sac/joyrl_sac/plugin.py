"""Registers SAC, TD3 and DDPG with JoyRL. Kept free of torch so that ``joyrl list-plugins`` stays fast."""

from __future__ import annotations

from joyrl_core import hookimpl

from joyrl_sac.config import DDPGConfig, SACConfig, TD3Config


def make_sac(config: SACConfig, env_spec, device: str, seed: int | None, shape=None):
    from joyrl_sac.sac import SACAgent

    return SACAgent(config, env_spec, device, seed)


def make_td3(config: TD3Config, env_spec, device: str, seed: int | None, shape=None):
    from joyrl_sac.td3 import TD3Agent

    return TD3Agent(config, env_spec, device, seed)


def make_ddpg(config: DDPGConfig, env_spec, device: str, seed: int | None, shape=None):
    from joyrl_sac.td3 import DDPGAgent

    return DDPGAgent(config, env_spec, device, seed)


@hookimpl
def register_algorithms(register):
    register("SAC", make_sac, SACConfig,
             "Soft Actor-Critic: squashed Gaussian actor, twin Q, automatic entropy tuning (continuous actions)")
    register("TD3", make_td3, TD3Config,
             "Twin Delayed DDPG: deterministic actor, twin Q, target smoothing, delayed actor (continuous actions)")
    register("DDPG", make_ddpg, DDPGConfig,
             "Deep Deterministic Policy Gradient: TD3 with one critic, no smoothing, no delay (continuous actions)")
