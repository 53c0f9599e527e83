"""Conservative Q-learning (Kumar et al., 2020), the discrete-action CQL(H) variant on a DQN-style
Q-network.

For a batch of dataset transitions ``(s, a, r, s', terminated)``::

    a*      = argmax_a' Q(s', a') if double else argmax_a' Q_target(s', a')
    target  = r + gamma * (1 - terminated) * Q_target(s', a*)
    td      = l(Q(s, a) - target)                                  # l: Huber or squared error
    penalty = mean(logsumexp_a' Q(s, a') - Q(s, a))                # eq. 4 with the entropy regulariser
    loss    = td + alpha * penalty

The penalty pushes down the Q-values of actions the dataset did not take and up those it took, so the
greedy policy stays on the data's support instead of exploiting over-estimated unseen actions; with
``alpha = 0`` it is offline DQN. Continuous actions: ``cql_continuous.py``, on joyrl-sac's pieces.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from joyrl_core import Agent, Buffer, ConfigError, EnvSpec, load_module_weights, module_weights

from joyrl_offline.common import Batches, check_keys, head_network
from joyrl_offline.config import CQLConfig


def make_cql_agent(config: CQLConfig, env_spec: EnvSpec, device: str, seed: int | None) -> Agent:
    if env_spec.action_kind == "discrete":
        return DiscreteCQLAgent(config, env_spec, device, seed)
    try:
        from joyrl_offline.cql_continuous import ContinuousCQLAgent
    except ImportError:
        raise ConfigError(
            f"CQL on continuous actions ({env_spec.env_id}) builds on SAC's actor and twin critics: "
            "pip install joyrl-sac (plugins/joyrl-sac); discrete-action CQL needs nothing more"
        ) from None
    return ContinuousCQLAgent(config, env_spec, device, seed)


class DiscreteCQLAgent(Agent):
    offline = True

    def __init__(self, config: CQLConfig, env_spec: EnvSpec, device: str, seed: int | None):
        self.cfg = config
        self.device = torch.device(device)
        self.batches = Batches(env_spec, self.device)
        n_actions = int(env_spec.n_actions)
        if config.encoder_layers:
            raise ConfigError("algo_cfg.encoder_layers: continuous actions only (the critics join the action to its "
                              f"features); env {env_spec.env_id!r} has discrete actions: start value_layers with the "
                              "convolutions instead")
        self.q_net = head_network(config.value_layers, env_spec, n_actions, "value_layers").to(self.device)
        self.target_net = head_network(config.value_layers, env_spec, n_actions, "value_layers").to(self.device)
        self.target_net.load_state_dict(self.q_net.state_dict())
        self.target_net.requires_grad_(False)
        self._params = list(self.q_net.parameters())
        self._target_params = list(self.target_net.parameters())
        self.optimizer = torch.optim.Adam(self._params, lr=config.lr)
        self._updates = 0

    # -- acting: greedy; CQL learns from its dataset and has nothing to explore -----------------

    @torch.no_grad()
    def predict_action(self, obs: np.ndarray) -> np.ndarray:
        return self.q_net(self.batches.obs(obs)).argmax(dim=1).cpu().numpy()

    def sample_action(self, obs: np.ndarray, env_steps: int) -> np.ndarray:
        return self.predict_action(obs)

    # -- learning -------------------------------------------------------------------------------

    @property
    def update_steps(self) -> int:
        return self._updates

    @torch.no_grad()
    def td_target(self, rewards: torch.Tensor, next_obs: torch.Tensor, terminated: torch.Tensor) -> torch.Tensor:
        next_q_target = self.target_net(next_obs)
        if self.cfg.double:
            next_actions = self.q_net(next_obs).argmax(dim=1, keepdim=True)
            next_q = next_q_target.gather(1, next_actions).squeeze(1)
        else:
            next_q = next_q_target.amax(dim=1)
        return rewards + self.cfg.gamma * (1.0 - terminated) * next_q

    def loss(self, obs, actions, rewards, next_obs, terminated) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The CQL loss of a batch (module docstring) and its parts, for the logs."""
        q_all = self.q_net(obs)
        q = q_all.gather(1, actions.unsqueeze(1)).squeeze(1)
        target = self.td_target(rewards, next_obs, terminated)
        td = F.smooth_l1_loss(q, target) if self.cfg.loss == "huber" else F.mse_loss(q, target)
        penalty = (torch.logsumexp(q_all, dim=1) - q).mean()
        loss = td + self.cfg.alpha * penalty
        return loss, {"td_loss": td.detach(), "cql_penalty": penalty.detach(), "mean_q": q.detach().mean()}

    def update(self, buffer: Buffer, env_steps: int) -> Mapping[str, float] | None:
        if len(buffer) == 0:
            return None
        b = buffer.sample(self.cfg.batch_size)
        loss, parts = self.loss(self.batches.obs(b.obs), self.batches.tensor(b.actions, torch.long),
                                self.batches.tensor(b.rewards), self.batches.obs(b.next_obs),
                                self.batches.tensor(b.terminated))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.sync_gradients(self._params)
        if self.cfg.max_grad_norm is not None:
            nn.utils.clip_grad_norm_(self._params, self.cfg.max_grad_norm)
        self.optimizer.step()
        self._updates += 1
        if self._updates % self.cfg.target_update == 0:
            self.update_target()
        return {"loss": float(loss.item()), **{k: float(v.item()) for k, v in parts.items()}}

    @torch.no_grad()
    def update_target(self) -> None:
        """``target += tau * (online - target)``; with ``tau == 1`` a plain copy."""
        if self.cfg.tau >= 1.0:
            torch._foreach_copy_(self._target_params, self._params)
        else:
            torch._foreach_lerp_(self._target_params, self._params, self.cfg.tau)

    # -- weights and checkpoints ----------------------------------------------------------------

    def get_weights(self) -> dict[str, Any]:
        return module_weights(self.q_net)

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        load_module_weights(self.q_net, weights)

    def state_dict(self) -> dict[str, Any]:
        return {"q_net": self.q_net.state_dict(), "target_net": self.target_net.state_dict(),
                "optimizer": self.optimizer.state_dict(), "update_steps": self._updates}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        check_keys(state, ("q_net", "target_net", "optimizer", "update_steps"), "CQL")
        self.q_net.load_state_dict(state["q_net"])
        self.target_net.load_state_dict(state["target_net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._updates = int(state["update_steps"])
