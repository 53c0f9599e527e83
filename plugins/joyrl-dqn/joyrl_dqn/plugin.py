"""Registers DQN and the ``PER_QUE`` buffer with JoyRL. Kept free of torch so that ``joyrl
list-plugins`` stays fast."""

from __future__ import annotations

from joyrl_core import BufferCapabilities, RunShape, hookimpl

from joyrl_dqn.config import DQNConfig, PERConfig
from joyrl_dqn.per import PER_CAPABILITIES


def make_dqn(config: DQNConfig, env_spec, device: str, seed: int | None, shape=None):
    """``fast_path: auto``: :class:`joyrl_dqn.fast.FastDQNAgent`; ``off``: the plain :class:`joyrl_dqn.dqn.DQNAgent`."""
    if config.fast_path == "off":
        from joyrl_dqn.dqn import DQNAgent

        return DQNAgent(config, env_spec, device, seed)
    from joyrl_dqn.fast import FastDQNAgent

    return FastDQNAgent(config, env_spec, device, seed)


def make_per_queue(capacity: int, env_spec, config: PERConfig | None, seed: int | None, shape=None):
    from joyrl_dqn.per import PrioritizedReplayQueue

    return PrioritizedReplayQueue(capacity, env_spec, config, seed)


def buffer_needs(config: DQNConfig, shape: RunShape) -> BufferCapabilities:
    """Replay sampling, and multi-step returns built by the buffer when ``n_step > 1``. Priorities are
    used when the buffer has them (``PER_QUE``), not required."""
    return BufferCapabilities(random_sampling=True, n_step=config.n_step > 1)


@hookimpl
def register_algorithms(register):
    register("DQN", make_dqn, DQNConfig,
             "Deep Q-Network: epsilon-greedy, replay, target network; double, dueling, n-step switches",
             buffer_needs=buffer_needs)


@hookimpl
def register_buffers(register):
    register("PER_QUE", make_per_queue, PERConfig,
             "prioritized replay: numpy sum-tree, stratified sampling, importance weights, n-step returns",
             capabilities=PER_CAPABILITIES)
