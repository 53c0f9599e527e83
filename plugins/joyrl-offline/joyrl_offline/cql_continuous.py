"""Conservative Q-learning for continuous actions (Kumar et al., 2020, CQL(H) with importance-sampled
logsumexp, as in the authors' code) on SAC: joyrl-sac's squashed Gaussian actor and twin critics.

For a batch of dataset transitions ``(s, a, r, s', terminated)``, actions in the actor's [-1, 1] scale,
``d`` the action dimension and ``N`` = ``n_action_samples``::

    y = r + gamma (1 - terminated) (min_i Q_targ_i(s', a') - alpha_H log pi(a'|s')),   a' ~ pi(.|s')
    for each critic i, over N uniform actions u ~ U[-1, 1]^d, N actions b ~ pi(.|s), N actions b' ~ pi(.|s'):
        lse_i   = logsumexp([Q_i(s, u) + d log 2,  Q_i(s, b) - log pi(b|s),  Q_i(s, b') - log pi(b'|s')])
        penalty_i = mean(lse_i - Q_i(s, a))
    L_Q  = sum_i (1/2 mean (Q_i(s, a) - y)^2 + alpha * penalty_i)
    L_pi = mean(alpha_H log pi(b~|s) - min_i Q_i(s, b~))            # SAC's actor and temperature losses
    L_H  = -mean(log alpha_H (log pi(b~|s) - d))

``d log 2`` and ``- log pi`` divide each sampled Q by its sampling density, so the logsumexp estimates
``log integral exp Q(s, a) da``. The critics learn on ``lr``, the actor and ``alpha_H`` on ``actor_lr``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from joyrl_core import Agent, Buffer, ConfigError, EnvSpec, load_module_weights, module_weights
from joyrl_sac.networks import ActionScale, Critics, Encoder, SquashedGaussianActor, check_action_space, polyak

from joyrl_offline.common import Batches, check_keys
from joyrl_offline.config import CQLConfig

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0  # SAC's clamps of the actor's log std


class ContinuousCQLAgent(Agent):
    offline = True

    def __init__(self, config: CQLConfig, env_spec: EnvSpec, device: str, seed: int | None):
        check_action_space(env_spec, "CQL")
        self.cfg = config
        self.env_spec = env_spec
        self.device = torch.device(device)
        self.batches = Batches(env_spec, self.device)
        self.act_dim = int(np.prod(env_spec.action_shape))
        self.scale = ActionScale(env_spec.action_low.reshape(-1), env_spec.action_high.reshape(-1), str(self.device))
        self.generator = torch.Generator(device=self.device)
        if seed is not None:
            self.generator.manual_seed(seed)
        for key in ("actor_layers", "value_layers"):
            other = [layer.layer_type for layer in getattr(config, key) if layer.layer_type != "linear"]
            if other:
                raise ConfigError(f"algo_cfg.{key}: continuous actions take linear layers only, got {other[0]}; put "
                                  "convolutions, flatten and encoder presets in encoder_layers")
        self.actor = SquashedGaussianActor(self._encoder(), config.actor_layers, self.act_dim, LOG_STD_MIN,
                                           LOG_STD_MAX).to(self.device)
        self.critics = Critics(self._encoder(), config.value_layers, self.act_dim, 2).to(self.device)
        self.critics_target = copy.deepcopy(self.critics).requires_grad_(False)
        self.log_alpha = torch.zeros(1, device=self.device, requires_grad=True)
        self._actor_params = list(self.actor.parameters())
        self._critic_params = list(self.critics.parameters())
        self._target_params = list(self.critics_target.parameters())
        self.optimizers = {"actor": torch.optim.Adam(self._actor_params, lr=config.actor_lr),
                           "critics": torch.optim.Adam(self._critic_params, lr=config.lr),
                           "alpha": torch.optim.Adam([self.log_alpha], lr=config.actor_lr)}
        self._updates = 0

    def _encoder(self) -> Encoder:
        """A new encoder of ``encoder_layers`` (joyrl-sac's) for this env's observations."""
        try:
            return Encoder(self.cfg.encoder_layers, self.batches.shape, self.env_spec.obs_dtype)
        except ValueError as exc:
            raise ConfigError(f"CQL cannot run on env {self.env_spec.env_id!r}: {exc}") from None

    def _obs(self, obs: np.ndarray) -> torch.Tensor:
        return self.batches.obs(obs)

    def _to_env(self, actions: torch.Tensor) -> np.ndarray:
        return self.scale.to_env(actions.cpu().numpy()).reshape(len(actions), *self.env_spec.action_shape)

    @torch.no_grad()
    def predict_action(self, obs: np.ndarray) -> np.ndarray:
        return self._to_env(self.actor.greedy(self._obs(obs)))

    @torch.no_grad()
    def sample_action(self, obs: np.ndarray, env_steps: int) -> np.ndarray:
        return self._to_env(self.actor.sample(self._obs(obs), self.generator)[0])

    @property
    def update_steps(self) -> int:
        return self._updates

    def _repeated_q(self, features: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """``Q_i(s, a)`` for ``N`` actions per state from the critics' encoder features ``(B, f)`` (each
        state encoded once), actions ``(B * N, d)`` -> ``(2, B, N)``."""
        n = self.cfg.n_action_samples
        return self.critics.heads(features.repeat_interleave(n, dim=0), actions).reshape(2, len(features), n)

    def penalty(self, obs: torch.Tensor, next_obs: torch.Tensor, q_data: torch.Tensor) -> torch.Tensor:
        """Each critic's CQL(H) penalty (module docstring), shape ``(2,)``."""
        n, batch = self.cfg.n_action_samples, len(obs)
        uniform = torch.rand((batch * n, self.act_dim), generator=self.generator, device=self.device) * 2 - 1
        with torch.no_grad():
            policy, log_pi = self.actor.sample(obs.repeat_interleave(n, dim=0), self.generator)
            next_policy, next_log_pi = self.actor.sample(next_obs.repeat_interleave(n, dim=0), self.generator)
        features = self.critics.encoder(obs)
        sampled = torch.cat([
            self._repeated_q(features, uniform) + self.act_dim * math.log(2.0),
            self._repeated_q(features, policy) - log_pi.reshape(1, batch, n),
            self._repeated_q(features, next_policy) - next_log_pi.reshape(1, batch, n),
        ], dim=2)
        return (torch.logsumexp(sampled, dim=2) - q_data).mean(dim=1)

    def update(self, buffer: Buffer, env_steps: int) -> Mapping[str, float] | None:
        if len(buffer) == 0:
            return None
        cfg = self.cfg
        b = buffer.sample(cfg.batch_size)
        obs, next_obs = self._obs(b.obs), self._obs(b.next_obs)
        actions = self.scale.from_env(self.batches.tensor(b.actions).reshape(len(b.actions), -1))
        rewards, not_done = self.batches.tensor(b.rewards), 1.0 - self.batches.tensor(b.terminated)
        alpha_h = self.log_alpha.detach().exp()

        with torch.no_grad():
            next_actions, next_log_pi = self.actor.sample(next_obs, self.generator)
            next_q = self.critics_target(next_obs, next_actions).amin(dim=0) - alpha_h * next_log_pi
            target = rewards + cfg.gamma * not_done * next_q
        q = self.critics(obs, actions)  # (2, B)
        td = 0.5 * (q - target).pow(2).mean(dim=1)
        penalty = self.penalty(obs, next_obs, q)
        critic_loss = (td + cfg.alpha * penalty).sum()
        self.optimizers["critics"].zero_grad(set_to_none=True)
        critic_loss.backward()
        self.sync_gradients(self._critic_params)
        self.optimizers["critics"].step()

        new_actions, log_pi = self.actor.sample(obs, self.generator)
        actor_loss = (alpha_h * log_pi - self.critics(obs, new_actions).amin(dim=0)).mean()
        self.optimizers["actor"].zero_grad(set_to_none=True)
        actor_loss.backward(inputs=self._actor_params)
        self.sync_gradients(self._actor_params)
        self.optimizers["actor"].step()

        alpha_loss = -(self.log_alpha * (log_pi.detach() - self.act_dim)).mean()
        self.optimizers["alpha"].zero_grad(set_to_none=True)
        alpha_loss.backward()
        self.sync_gradients([self.log_alpha])
        self.optimizers["alpha"].step()

        polyak(self._target_params, self._critic_params, cfg.tau)
        self._updates += 1
        return {"loss": float(critic_loss.item()), "td_loss": float(td.sum().item()),
                "cql_penalty": float(penalty.mean().item()), "actor_loss": float(actor_loss.item()),
                "alpha_entropy": float(alpha_h.item()), "mean_q": float(q.detach().mean().item())}

    def get_weights(self) -> dict[str, Any]:
        return module_weights(self.actor)

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        load_module_weights(self.actor, weights)

    def state_dict(self) -> dict[str, Any]:
        return {"actor": self.actor.state_dict(), "critics": self.critics.state_dict(),
                "critics_target": self.critics_target.state_dict(),
                "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
                "log_alpha": self.log_alpha.detach().cpu().clone(), "update_steps": self._updates,
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        check_keys(state, ("actor", "critics", "critics_target", "optimizers", "log_alpha", "update_steps"), "CQL")
        self.actor.load_state_dict(state["actor"])
        self.critics.load_state_dict(state["critics"])
        self.critics_target.load_state_dict(state["critics_target"])
        for key, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][key])
        with torch.no_grad():
            self.log_alpha.copy_(torch.as_tensor(state["log_alpha"]))
        self._updates = int(state["update_steps"])
        if "generator" in state:
            self.generator.set_state(state["generator"])
