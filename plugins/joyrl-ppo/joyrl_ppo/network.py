"""The actor-critic network: layer lists for a shared trunk, the actor and the critic, and their heads."""

from __future__ import annotations

import math

import torch
from torch import nn

from joyrl_core import EnvSpec, build_layers, init_weights

from joyrl_ppo.config import ActorCriticConfig


def _trunk(layers, in_shape: tuple[int, ...], key: str, obs_dtype=None) -> tuple[nn.Sequential, int]:
    try:
        modules, shape = build_layers(layers, in_shape, obs_dtype=obs_dtype)
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None
    if len(shape) != 1:
        modules.append(nn.Flatten())
    return nn.Sequential(*modules), math.prod(shape)


class ActorCritic(nn.Module):
    """``forward(obs) -> (policy output, value)``: logits (discrete) or the Gaussian mean (continuous),
    and V(s). ``log_std`` is a learned parameter for continuous actions: one per action dimension, or
    with ``use_sde`` one per (policy feature, action dimension), gSDE's noise scales (``gsde.py``)."""

    def __init__(self, config: ActorCriticConfig, env_spec: EnvSpec):
        super().__init__()
        in_shape = tuple(env_spec.obs_shape) or (1,)
        # Observations as obs_tensor gives them (images compact): the first trunk's input module converts.
        obs_dtype = env_spec.obs_dtype
        if config.shared_layers:
            self.shared, width = _trunk(config.shared_layers, in_shape, "shared_layers", obs_dtype)
            in_shape, obs_dtype = (width,), None
        elif len(in_shape) != 1 and not (config.actor_layers[0].spatial or config.critic_layers[0].spatial):
            self.shared = nn.Sequential(nn.Flatten())  # two MLPs on a multi-dimensional observation
            in_shape = (math.prod(in_shape),)
        else:
            self.shared = nn.Identity()
        self.actor, actor_width = _trunk(config.actor_layers, in_shape, "actor_layers", obs_dtype)
        self.critic, critic_width = _trunk(config.critic_layers, in_shape, "critic_layers", obs_dtype)
        self.discrete = env_spec.action_kind == "discrete"
        n_out = int(env_spec.n_actions) if self.discrete else math.prod(env_spec.action_shape)
        self.policy_head = nn.Linear(actor_width, n_out)
        self.value_head = nn.Linear(critic_width, 1)
        if config.use_sde and self.discrete:
            raise ValueError("use_sde: gSDE explores continuous (Box) actions; this env's actions are discrete")
        std_shape = (actor_width, n_out) if config.use_sde else (n_out,)
        self.log_std = None if self.discrete else nn.Parameter(torch.full(std_shape, float(config.log_std_init)))
        if config.init == "orthogonal":
            # SB3's ortho_init: trunks with gain sqrt(2), a near-uniform initial policy, a unit-gain value head.
            for trunk in (self.shared, self.actor, self.critic):
                init_weights(trunk, "orthogonal", math.sqrt(2))
            init_weights(self.policy_head, "orthogonal", 0.01)
            init_weights(self.value_head, "orthogonal", 1.0)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, out, value = self.forward_latent(obs)
        return out, value

    def forward_latent(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(policy features, policy output, value)``: gSDE's noise is linear in the features."""
        features = self.shared(obs)
        latent = self.actor(features)
        return latent, self.policy_head(latent), self.value_head(self.critic(features)).squeeze(-1)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.value_head(self.critic(self.shared(obs))).squeeze(-1)
