"""Registers REINFORCE and the EPISODES buffer with JoyRL. Free of torch so `joyrl list-plugins` stays fast."""

from __future__ import annotations

from joyrl_core import BufferCapabilities, EnvSpec, RunShape, hookimpl

from joyrl_reinforce.buffer import EpisodeBuffer
from joyrl_reinforce.config import REINFORCEConfig


def make_reinforce(config: REINFORCEConfig, env_spec: EnvSpec, device: str, seed: int | None,
                   shape: RunShape | None = None):
    from joyrl_reinforce.reinforce import REINFORCEAgent

    return REINFORCEAgent(config, env_spec, device, seed)


def reinforce_buffer_needs(config: REINFORCEConfig, shape: RunShape) -> BufferCapabilities:
    return BufferCapabilities(whole_episodes=True)


def make_episode_buffer(capacity: int, env_spec: EnvSpec, config: None, seed: int | None,
                        shape: RunShape | None = None) -> EpisodeBuffer:
    return EpisodeBuffer(capacity, env_spec, seed)


@hookimpl
def register_algorithms(register):
    register("REINFORCE", make_reinforce, REINFORCEConfig,
             "Monte-Carlo policy gradient over whole episodes, with a learned value baseline",
             buffer_needs=reinforce_buffer_needs)


@hookimpl
def register_buffers(register):
    register("EPISODES", make_episode_buffer, None,
             "whole episodes for on-policy learners: hands out complete episodes and forgets them",
             capabilities=EpisodeBuffer.capabilities)
