"""Soft Actor-Critic (Haarnoja et al., 2018, "Soft Actor-Critic Algorithms and Applications"):
squashed Gaussian policy, twin soft Q-functions with Polyak-averaged targets, and automatic tuning of
the entropy coefficient alpha. One gradient step on a batch ``(s, a, r, s', d)``::

    a' ~ pi(.|s')                                                    # with log pi(a'|s')
    y  = r + gamma (1 - d) (min_i Q_targ_i(s', a') - alpha log pi(a'|s'))
    L_Q     = 1/2 sum_i mean (Q_i(s, a) - y)^2
    a~ ~ pi(.|s)  (reparameterised)
    L_pi    = mean (alpha log pi(a~|s) - min_i Q_i(s, a~))
    L_alpha = -mean (log alpha (log pi(a~|s) + H_target))           # H_target = -dim(A) by default
    Q_targ_i += tau (Q_i - Q_targ_i)

alpha is the value before this step's alpha update in both losses, as in SB3.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import torch

from joyrl_core import EnvSpec

from joyrl_sac.config import SACConfig
from joyrl_sac.networks import SquashedGaussianActor, adam, polyak
from joyrl_sac.off_policy import OffPolicyAgent


class SACAgent(OffPolicyAgent):
    algo_name = "SAC"

    def __init__(self, config: SACConfig, env_spec: EnvSpec, device: str, seed: int | None):
        super().__init__(config, env_spec, device, seed)
        cfg = config
        self.actor = SquashedGaussianActor(self.make_encoder(), cfg.actor_layers, self.act_dim,
                                           cfg.log_std_min, cfg.log_std_max).to(self.device)
        self.critics = self.make_critics(2)
        self.critics_target = copy.deepcopy(self.critics).requires_grad_(False)
        self.networks = {"actor": self.actor, "critics": self.critics, "critics_target": self.critics_target}
        self.optimizers = {
            "actor": adam(list(self.actor.parameters()), cfg.actor_learning_rate, cfg.fused_adam),
            "critics": adam(list(self.critics.parameters()), cfg.critic_learning_rate, cfg.fused_adam),
        }
        self.target_entropy = -float(self.act_dim) if cfg.target_entropy is None else cfg.target_entropy
        self.tune_alpha = cfg.alpha is None
        initial = cfg.alpha_init if self.tune_alpha else max(cfg.alpha, 1e-30)
        self.log_alpha = torch.tensor([math.log(initial)], device=self.device, requires_grad=self.tune_alpha)
        if self.tune_alpha:
            self.optimizers["alpha"] = torch.optim.Adam([self.log_alpha], lr=cfg.alpha_learning_rate)
        self._actor_params = list(self.actor.parameters())
        self._critic_params = list(self.critics.parameters())
        self._target_params = list(self.critics_target.parameters())

    @property
    def alpha(self) -> torch.Tensor:
        return torch.zeros(1, device=self.device) if self.cfg.alpha == 0 else self.log_alpha.detach().exp()

    def exploration(self, env_steps: int) -> Mapping[str, float]:
        return {"alpha": float(self.alpha)}

    def explore(self, obs: torch.Tensor, env_steps: int) -> torch.Tensor:
        return self.actor.sample(obs, self.generator)[0]

    def greedy(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor.greedy(obs)

    @torch.no_grad()
    def soft_target(self, rewards: torch.Tensor, next_obs: torch.Tensor, not_done: torch.Tensor,
                    alpha: torch.Tensor) -> torch.Tensor:
        next_actions, next_log_prob = self.actor.sample(next_obs, self.generator)
        next_q = self.critics_target(next_obs, next_actions).amin(dim=0) - alpha * next_log_prob
        return rewards + self.cfg.gamma * not_done * next_q

    def gradient_step(self, obs, actions, rewards, next_obs, not_done) -> dict[str, torch.Tensor]:
        alpha = self.alpha

        # Critics: regress both onto the soft Bellman target.
        target = self.soft_target(rewards, next_obs, not_done, alpha)
        q = self.critics(obs, actions)  # (2, B)
        critic_loss = 0.5 * (q - target).pow(2).mean(dim=1).sum()
        self.optimizers["critics"].zero_grad(set_to_none=True)
        critic_loss.backward()
        self.sync_gradients(self._critic_params)
        self.optimizers["critics"].step()

        # Actor: maximise min_i Q_i(s, a~) + alpha * entropy. Only the actor's gradients are computed;
        # the critics are not being optimised here.
        new_actions, log_prob = self.actor.sample(obs, self.generator)
        q_new = self.critics(obs, new_actions).amin(dim=0)
        actor_loss = (alpha * log_prob - q_new).mean()
        self.optimizers["actor"].zero_grad(set_to_none=True)
        actor_loss.backward(inputs=self._actor_params)
        self.sync_gradients(self._actor_params)
        self.optimizers["actor"].step()

        # Temperature: move the policy's entropy towards the target entropy.
        if self.tune_alpha:
            alpha_loss = -(self.log_alpha * (log_prob.detach() + self.target_entropy)).mean()
            self.optimizers["alpha"].zero_grad(set_to_none=True)
            alpha_loss.backward()
            self.sync_gradients([self.log_alpha])
            self.optimizers["alpha"].step()

        polyak(self._target_params, self._critic_params, self.cfg.tau)
        return {"critic_loss": critic_loss.detach(), "actor_loss": actor_loss.detach(), "alpha": alpha,
                "entropy": -log_prob.detach().mean(), "q_mean": q.detach().mean()}

    def extra_state(self) -> dict[str, Any]:
        return {"log_alpha": self.log_alpha.detach().cpu().clone()}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        with torch.no_grad():
            self.log_alpha.copy_(torch.as_tensor(state["log_alpha"]))
