"""Deep Q-Network (Mnih et al., 2015): config in ``config.py``, network, acting and learning here."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from joyrl_core import Agent, Buffer, EnvSpec

from joyrl_dqn.config import DQNConfig, LayerConfig

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
}


def build_q_network(layers: list[LayerConfig], in_dim: int, n_actions: int) -> nn.Sequential:
    modules: list[nn.Module] = []
    width = in_dim
    for layer in layers:
        modules.append(nn.Linear(width, layer.layer_dim[0]))
        if layer.activation != "none":
            modules.append(_ACTIVATIONS[layer.activation]())
        width = layer.layer_dim[0]
    modules.append(nn.Linear(width, n_actions))
    return nn.Sequential(*modules)


class DQNAgent(Agent):
    def __init__(self, config: DQNConfig, env_spec: EnvSpec, device: str, seed: int | None):
        if env_spec.action_kind != "discrete":
            raise ValueError(f"DQN needs a discrete action space; env {env_spec.env_id!r} has continuous actions")
        self.cfg = config
        self.env_spec = env_spec
        self.device = torch.device(device)
        self.n_actions = int(env_spec.n_actions)
        in_dim = int(np.prod(env_spec.obs_shape)) if env_spec.obs_shape else 1
        self.q_net = build_q_network(config.value_layers, in_dim, self.n_actions).to(self.device)
        self.target_net = build_q_network(config.value_layers, in_dim, self.n_actions).to(self.device)
        self.target_net.load_state_dict(self.q_net.state_dict())
        self.target_net.requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.q_net.parameters(), lr=config.lr)
        self._rng = np.random.default_rng(seed)
        self._updates = 0

    # -- acting ---------------------------------------------------------------------------------

    def epsilon(self, env_steps: int) -> float:
        cfg = self.cfg
        return cfg.epsilon_end + (cfg.epsilon_start - cfg.epsilon_end) * math.exp(-env_steps / cfg.epsilon_decay)

    def exploration(self, env_steps: int) -> Mapping[str, float]:
        return {"epsilon": self.epsilon(env_steps)}

    def _obs_tensor(self, obs: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(obs, dtype=torch.float32, device=self.device).reshape(len(obs), -1)

    @torch.inference_mode()
    def predict_action(self, obs: np.ndarray) -> np.ndarray:
        return self.q_net(self._obs_tensor(obs)).argmax(dim=1).cpu().numpy()

    def sample_action(self, obs: np.ndarray, env_steps: int) -> np.ndarray:
        n = len(obs)
        explore = self._rng.random(n) < self.epsilon(env_steps)
        if explore.all():
            return self._rng.integers(0, self.n_actions, size=n)
        actions = self.predict_action(obs)
        if explore.any():
            actions[explore] = self._rng.integers(0, self.n_actions, size=int(explore.sum()))
        return actions

    # -- learning -------------------------------------------------------------------------------

    @property
    def update_steps(self) -> int:
        return self._updates

    def update(self, buffer: Buffer, env_steps: int) -> Mapping[str, float] | None:
        if len(buffer) < self.cfg.batch_size:
            return None
        batch = buffer.sample(self.cfg.batch_size)
        obs = self._obs_tensor(batch.obs)
        next_obs = self._obs_tensor(batch.next_obs)
        actions = torch.as_tensor(batch.actions, device=self.device).long()
        rewards = torch.as_tensor(batch.rewards, device=self.device)
        terminated = torch.as_tensor(batch.terminated, device=self.device)

        q = self.q_net(obs).gather(1, actions.unsqueeze(1)).squeeze(1)
        with torch.no_grad():
            next_q = self.target_net(next_obs).max(dim=1).values
            target = rewards + self.cfg.gamma * (1.0 - terminated) * next_q
        loss = F.mse_loss(q, target)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.sync_gradients(self.q_net.parameters())
        self.optimizer.step()

        self._updates += 1
        if self._updates % self.cfg.target_update == 0:
            self.target_net.load_state_dict(self.q_net.state_dict())
        return {"loss": float(loss.item())}

    # -- weights and checkpoints ----------------------------------------------------------------

    def get_weights(self) -> dict[str, Any]:
        return {k: v.detach().cpu().clone() for k, v in self.q_net.state_dict().items()}

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        self.q_net.load_state_dict({k: torch.as_tensor(v) for k, v in weights.items()})

    def state_dict(self) -> dict[str, Any]:
        return {
            "q_net": self.q_net.state_dict(),
            "target_net": self.target_net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "update_steps": self._updates,
            "rng": self._rng.bit_generator.state,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        missing = {"q_net", "target_net", "optimizer", "update_steps"} - set(state)
        if missing:
            raise ValueError(f"not a DQN checkpoint: missing {sorted(missing)}")
        self.q_net.load_state_dict(state["q_net"])
        self.target_net.load_state_dict(state["target_net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._updates = int(state["update_steps"])
        if "rng" in state:
            self._rng.bit_generator.state = state["rng"]
