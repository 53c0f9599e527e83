"""Registers PPO and A2C with JoyRL. Free of torch so that `joyrl list-plugins` stays fast."""

from __future__ import annotations

from joyrl_core import BufferCapabilities, EnvSpec, RunShape, hookimpl

from joyrl_ppo.config import A2CConfig, ActorCriticConfig, PPOConfig

ON_POLICY = BufferCapabilities(ordered_rollouts=True, extra_columns=True)


def buffer_needs(config: ActorCriticConfig, shape: RunShape) -> BufferCapabilities:
    """An ordered rollout with the acting policy's extras; linear schedules need a budget to anneal over."""
    if shape.mode == "train" and shape.max_env_steps is None:
        for key in ("lr_schedule", "clip_schedule"):
            if getattr(config, key, "constant") == "linear":
                raise ValueError(f"{key}: linear anneals over general_cfg.max_env_steps, which is null; "
                                 "set max_env_steps or use constant")
    return ON_POLICY


def make_agent(config: ActorCriticConfig, env_spec: EnvSpec, device: str, seed: int | None, shape: RunShape):
    """``fast_path: auto``: :class:`joyrl_ppo.fast.FastActorCriticAgent`; ``off``: the plain
    :class:`joyrl_ppo.ppo.ActorCriticAgent`."""
    if config.fast_path == "off":
        from joyrl_ppo.ppo import ActorCriticAgent

        return ActorCriticAgent(config, env_spec, device, seed, shape)
    from joyrl_ppo.fast import FastActorCriticAgent

    return FastActorCriticAgent(config, env_spec, device, seed, shape)


@hookimpl
def register_algorithms(register):
    register("PPO", make_agent, PPOConfig,
             "Proximal Policy Optimization: clipped surrogate, GAE, minibatch epochs; discrete and Box actions",
             buffer_needs=buffer_needs)
    register("A2C", make_agent, A2CConfig,
             "Advantage Actor-Critic: one gradient step per rollout, RMSprop; discrete and Box actions",
             buffer_needs=buffer_needs)
