"""Behaviour cloning (Pomerleau, 1991; Bain & Sammut, 1995): supervised learning of the dataset's
actions from its observations, the baseline of offline RL.

For a batch of dataset transitions ``(s, a)``::

    discrete:              loss = cross_entropy(logits(s), a)
    continuous, gaussian:  loss = -log N(a_n; mu(s), exp(log_std)^2)   # log_std: learned, state-independent
    continuous, mse:       loss = |mu(s) - a_n|^2

with ``a_n`` the action rescaled from the env's bounds to [-1, 1] (bounded dimensions only). Greedy
actions are ``argmax logits`` or ``mu`` mapped back to the bounds; exploring ones are drawn from the
policy's distribution (a deterministic ``mse`` policy explores nothing).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from joyrl_core import Agent, Buffer, EnvSpec, load_module_weights, module_weights

from joyrl_offline.common import Batches, check_keys, head_network
from joyrl_offline.config import BCConfig


class GaussianPolicy(nn.Module):
    """``mu(s)`` from a network, with a learned log standard deviation per action dimension."""

    def __init__(self, mean: nn.Sequential, action_dim: int):
        super().__init__()
        self.mean = mean
        self.log_std = nn.Parameter(torch.zeros(action_dim))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.mean(obs)


class BCAgent(Agent):
    offline = True

    def __init__(self, config: BCConfig, env_spec: EnvSpec, device: str, seed: int | None):
        self.cfg = config
        self.env_spec = env_spec
        self.device = torch.device(device)
        self.discrete = env_spec.action_kind == "discrete"
        self.batches = Batches(env_spec, self.device)
        self._generator = torch.Generator(device=self.device)
        if seed is not None:
            self._generator.manual_seed(seed)
        if self.discrete:
            self.policy: nn.Module = head_network(config.policy_layers, env_spec, int(env_spec.n_actions), "policy_layers")
        else:
            action_dim = int(np.prod(env_spec.action_shape))
            self.policy = GaussianPolicy(head_network(config.policy_layers, env_spec, action_dim, "policy_layers"), action_dim)
            self._set_action_scale(env_spec)
        self.policy.to(self.device)
        params = [p for name, p in self.policy.named_parameters()
                  if not (name == "log_std" and config.continuous_loss == "mse")]
        self._params = params
        self.optimizer = torch.optim.Adam(params, lr=config.lr)
        self._updates = 0

    def _set_action_scale(self, env_spec: EnvSpec) -> None:
        """Centre and half-width of each action dimension; unbounded dimensions are left as they are."""
        low = np.asarray(env_spec.action_low, dtype=np.float32).reshape(-1)
        high = np.asarray(env_spec.action_high, dtype=np.float32).reshape(-1)
        bounded = np.isfinite(low) & np.isfinite(high)
        self._center = torch.as_tensor(np.where(bounded, (high + low) / 2, 0.0), dtype=torch.float32, device=self.device)
        self._half = torch.as_tensor(np.where(bounded, (high - low) / 2, 1.0), dtype=torch.float32, device=self.device)
        self._low = torch.as_tensor(low, device=self.device)
        self._high = torch.as_tensor(high, device=self.device)

    # -- acting ---------------------------------------------------------------------------------

    def _to_env(self, normalized: torch.Tensor) -> np.ndarray:
        actions = torch.clamp(normalized * self._half + self._center, self._low, self._high)
        return actions.reshape(len(actions), *self.env_spec.action_shape).cpu().numpy()

    @torch.no_grad()
    def predict_action(self, obs: np.ndarray) -> np.ndarray:
        out = self.policy(self.batches.obs(obs))
        return out.argmax(dim=1).cpu().numpy() if self.discrete else self._to_env(out)

    @torch.no_grad()
    def sample_action(self, obs: np.ndarray, env_steps: int) -> np.ndarray:
        out = self.policy(self.batches.obs(obs))
        if self.discrete:
            return torch.multinomial(F.softmax(out, dim=1), 1, generator=self._generator).squeeze(1).cpu().numpy()
        if self.cfg.continuous_loss == "mse":
            return self._to_env(out)
        noise = torch.randn(out.shape, generator=self._generator, device=self.device)
        return self._to_env(out + noise * self.policy.log_std.exp())

    # -- learning -------------------------------------------------------------------------------

    @property
    def update_steps(self) -> int:
        return self._updates

    def loss(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The behaviour-cloning loss of a batch and what is worth logging about it."""
        out = self.policy(obs)
        if self.discrete:
            loss = F.cross_entropy(out, actions)
            return loss, {"accuracy": (out.argmax(dim=1) == actions).float().mean()}
        target = (actions.reshape(len(actions), -1) - self._center) / self._half
        if self.cfg.continuous_loss == "mse":
            return F.mse_loss(out, target), {}
        log_std = self.policy.log_std
        nll = 0.5 * ((target - out) / log_std.exp()) ** 2 + log_std + 0.5 * math.log(2 * math.pi)
        return nll.sum(dim=1).mean(), {"std": log_std.exp().mean()}

    def update(self, buffer: Buffer, env_steps: int) -> Mapping[str, float] | None:
        if len(buffer) == 0:
            return None
        batch = buffer.sample(self.cfg.batch_size)
        actions = self.batches.tensor(batch.actions, torch.long if self.discrete else torch.float32)
        loss, extras = self.loss(self.batches.obs(batch.obs), actions)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.sync_gradients(self._params)
        self.optimizer.step()
        self._updates += 1
        return {"loss": float(loss.item()), **{k: float(v.item()) for k, v in extras.items()}}

    # -- weights and checkpoints ----------------------------------------------------------------

    def get_weights(self) -> dict[str, Any]:
        return module_weights(self.policy)

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        load_module_weights(self.policy, weights)

    def state_dict(self) -> dict[str, Any]:
        return {"policy": self.policy.state_dict(), "optimizer": self.optimizer.state_dict(),
                "update_steps": self._updates, "generator": self._generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        check_keys(state, ("policy", "optimizer", "update_steps", "generator"), "BC")
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self._updates = int(state["update_steps"])
        self._generator.set_state(state["generator"])
