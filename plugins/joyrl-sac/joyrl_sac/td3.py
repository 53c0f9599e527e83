"""Twin Delayed DDPG (Fujimoto et al., 2018, "Addressing Function Approximation Error in Actor-Critic
Methods"), and DDPG (Lillicrap et al., 2016) as TD3 with its three switches off. One gradient step on
a batch ``(s, a, r, s', d)``::

    eps = clip(N(0, sigma_target), -c, c)                             # target policy smoothing
    a'  = clip(mu_targ(s') + eps, -1, 1)
    y   = r + gamma (1 - d) min_i Q_targ_i(s', a')                    # clipped double Q (twin_critics)
    L_Q = sum_i mean (Q_i(s, a) - y)^2
    every policy_delay steps:                                         # delayed policy updates
        L_mu = -mean Q_1(s, mu(s))
        mu_targ += tau (mu - mu_targ);  Q_targ_i += tau (Q_i - Q_targ_i)

DDPG: one critic, ``sigma_target = 0``, ``policy_delay = 1``. Acting: ``clip(mu(s) + noise, -1, 1)``
with Gaussian or Ornstein-Uhlenbeck noise (``noise.py``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch

from joyrl_core import EnvSpec

from joyrl_sac.config import TD3Config
from joyrl_sac.networks import DeterministicActor, adam, polyak
from joyrl_sac.noise import ActionNoise
from joyrl_sac.off_policy import OffPolicyAgent


class TD3Agent(OffPolicyAgent):
    algo_name = "TD3"

    def __init__(self, config: TD3Config, env_spec: EnvSpec, device: str, seed: int | None):
        super().__init__(config, env_spec, device, seed)
        cfg = config
        self.actor = DeterministicActor(self.make_encoder(), cfg.actor_layers, self.act_dim).to(self.device)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critics = self.make_critics(2 if cfg.twin_critics else 1)
        self.critics_target = copy.deepcopy(self.critics).requires_grad_(False)
        self.networks = {"actor": self.actor, "actor_target": self.actor_target, "critics": self.critics,
                         "critics_target": self.critics_target}
        self.optimizers = {
            "actor": adam(list(self.actor.parameters()), cfg.actor_learning_rate, cfg.fused_adam),
            "critics": adam(list(self.critics.parameters()), cfg.critic_learning_rate, cfg.fused_adam),
        }
        self.noise = ActionNoise(cfg, self.act_dim, self.rng)
        self._actor_params = list(self.actor.parameters())
        self._critic_params = list(self.critics.parameters())
        self._targets = list(self.actor_target.parameters()) + list(self.critics_target.parameters())
        self._onlines = self._actor_params + self._critic_params
        self._last_actor_loss = torch.zeros((), device=self.device)

    def exploration(self, env_steps: int) -> Mapping[str, float]:
        return {"noise_std": self.noise.std(env_steps)}

    def explore(self, obs: torch.Tensor, env_steps: int) -> torch.Tensor:
        noise = torch.as_tensor(self.noise.sample(len(obs), env_steps), device=self.device)
        return (self.actor(obs) + noise).clamp_(-1.0, 1.0)

    def greedy(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(obs)

    @torch.no_grad()
    def td_target(self, rewards: torch.Tensor, next_obs: torch.Tensor, not_done: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        next_actions = self.actor_target(next_obs)
        if cfg.target_policy_noise > 0:
            eps = torch.randn(next_actions.shape, generator=self.generator, device=self.device)
            eps = (eps * cfg.target_policy_noise).clamp_(-cfg.target_noise_clip, cfg.target_noise_clip)
            next_actions = (next_actions + eps).clamp_(-1.0, 1.0)
        next_q = self.critics_target(next_obs, next_actions).amin(dim=0)
        return rewards + cfg.gamma * not_done * next_q

    def gradient_step(self, obs, actions, rewards, next_obs, not_done) -> dict[str, torch.Tensor]:
        target = self.td_target(rewards, next_obs, not_done)
        q = self.critics(obs, actions)  # (n_critics, B)
        critic_loss = (q - target).pow(2).mean(dim=1).sum()
        self.optimizers["critics"].zero_grad(set_to_none=True)
        critic_loss.backward()
        self.sync_gradients(self._critic_params)
        self.optimizers["critics"].step()

        # This is gradient step number update_steps + 1.
        if (self._updates + 1) % self.cfg.policy_delay == 0:
            actor_loss = -self.critics(obs, self.actor(obs))[0].mean()
            self.optimizers["actor"].zero_grad(set_to_none=True)
            actor_loss.backward(inputs=self._actor_params)
            self.sync_gradients(self._actor_params)
            self.optimizers["actor"].step()
            polyak(self._targets, self._onlines, self.cfg.tau)
            self._last_actor_loss = actor_loss.detach()
        return {"critic_loss": critic_loss.detach(), "actor_loss": self._last_actor_loss, "q_mean": q.detach().mean()}

    def extra_state(self) -> dict[str, Any]:
        return {"noise": self.noise.state_dict()}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        self.noise.load_state_dict(state["noise"])


class DDPGAgent(TD3Agent):
    algo_name = "DDPG"
