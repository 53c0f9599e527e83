"""Registers DQN with JoyRL. Kept free of torch so that ``joyrl list-plugins`` stays fast."""

from __future__ import annotations

from joyrl_core import hookimpl

from joyrl_dqn.config import DQNConfig


def make_dqn(config: DQNConfig, env_spec, device: str, seed: int | None):
    from joyrl_dqn.dqn import DQNAgent

    return DQNAgent(config, env_spec, device, seed)


@hookimpl
def register_algorithms(register):
    register("DQN", make_dqn, DQNConfig, "Deep Q-Network: epsilon-greedy, replay buffer, target network")
