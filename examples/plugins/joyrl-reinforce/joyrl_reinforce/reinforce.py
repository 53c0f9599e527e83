"""REINFORCE (Williams, 1992): Monte-Carlo policy gradient on whole episodes, with a learned baseline.

Each update takes ``episodes_per_update`` complete episodes from the EPISODES buffer, computes the
discounted reward-to-go G_t of every step, and ascends ``log pi(a_t|s_t) * (G_t - V(s_t))``. V is a
separate network fitted to G_t by regression (``baseline: value``); with ``baseline: none`` the
advantage is G_t itself. An episode cut by a time limit (``truncated``) bootstraps its tail from V.
Discrete actions use a softmax policy, continuous ones a Gaussian with a learned, state-independent
standard deviation (sampled actions are clipped to the action bounds).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from joyrl_core import Agent, Buffer, EnvSpec, load_module_weights, module_weights

from joyrl_reinforce.config import REINFORCEConfig

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


def mlp(in_dim: int, hidden_dims: list[int], out_dim: int, activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in hidden_dims:
        layers += [nn.Linear(in_dim, width), _ACTIVATIONS[activation]()]
        in_dim = width
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


class Policy(nn.Module):
    """Logits (discrete) or the Gaussian mean (continuous) from ``net``; ``log_std`` for continuous."""

    def __init__(self, net: nn.Sequential, continuous_dim: int | None):
        super().__init__()
        self.net = net
        self.log_std = nn.Parameter(torch.zeros(continuous_dim)) if continuous_dim else None

    def distribution(self, obs: torch.Tensor) -> torch.distributions.Distribution:
        out = self.net(obs)
        if self.log_std is None:
            return torch.distributions.Categorical(logits=out)
        return torch.distributions.Normal(out, self.log_std.exp())


class REINFORCEAgent(Agent):
    def __init__(self, config: REINFORCEConfig, env_spec: EnvSpec, device: str, seed: int | None):
        self.cfg = config
        self.env_spec = env_spec
        self.device = torch.device(device)
        self.discrete = env_spec.action_kind == "discrete"
        in_dim = int(np.prod(env_spec.obs_shape)) if env_spec.obs_shape else 1
        out_dim = int(env_spec.n_actions) if self.discrete else int(np.prod(env_spec.action_shape))
        net = mlp(in_dim, config.hidden_dims, out_dim, config.activation)
        self.policy = Policy(net, None if self.discrete else out_dim).to(self.device)
        self.policy_optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.lr)
        self.value: nn.Sequential | None = None
        self.value_optimizer: torch.optim.Optimizer | None = None
        if config.baseline == "value":
            self.value = mlp(in_dim, config.hidden_dims, 1, config.activation).to(self.device)
            self.value_optimizer = torch.optim.Adam(self.value.parameters(), lr=config.value_lr)
        self._rng = np.random.default_rng(seed)
        self._updates = 0

    # -- acting ---------------------------------------------------------------------------------

    def _obs_tensor(self, obs: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(obs, dtype=torch.float32, device=self.device).reshape(len(obs), -1)

    def sample_action(self, obs: np.ndarray, env_steps: int) -> np.ndarray:
        with torch.inference_mode():
            out = self.policy.net(self._obs_tensor(obs)).cpu().numpy().astype(np.float64)
        if self.discrete:
            # Inverse-CDF sampling in numpy: much cheaper per step than a torch Categorical.
            probs = np.exp(out - out.max(axis=1, keepdims=True))
            cdf = np.cumsum(probs, axis=1)
            u = self._rng.random((len(out), 1)) * cdf[:, -1:]
            return np.minimum((u > cdf).sum(axis=1), out.shape[1] - 1)
        std = self.policy.log_std.detach().exp().cpu().numpy()
        actions = out + std * self._rng.standard_normal(out.shape)
        spec = self.env_spec
        return np.clip(actions, spec.action_low, spec.action_high).astype(np.float32).reshape(len(obs), *spec.action_shape)

    @torch.inference_mode()
    def predict_action(self, obs: np.ndarray) -> np.ndarray:
        out = self.policy.net(self._obs_tensor(obs))
        if self.discrete:
            return out.argmax(dim=1).cpu().numpy()
        spec = self.env_spec
        return np.clip(out.cpu().numpy(), spec.action_low, spec.action_high).reshape(len(obs), *spec.action_shape)

    # -- learning -------------------------------------------------------------------------------

    @property
    def update_steps(self) -> int:
        return self._updates

    def _reward_to_go(self, rewards: np.ndarray, ends: np.ndarray, tail_values: np.ndarray) -> np.ndarray:
        """Discounted return from each step to the end of its episode, plus ``tail_values`` at the ends."""
        returns = np.empty(len(rewards), dtype=np.float32)
        running = 0.0
        gamma = self.cfg.gamma
        for t in range(len(rewards) - 1, -1, -1):
            if ends[t]:
                running = tail_values[t]
            running = rewards[t] + gamma * running
            returns[t] = running
        return returns

    def update(self, buffer: Buffer, env_steps: int) -> Mapping[str, float] | None:
        # The run checked before it started that the buffer hands out whole episodes (buffer_needs).
        if buffer.completed_episodes < self.cfg.episodes_per_update:
            return None
        batch = buffer.take_episodes()
        cfg = self.cfg
        obs = self._obs_tensor(batch.obs)
        ends = np.logical_or(batch.terminated > 0, batch.truncated > 0)
        # A truncated episode did not end: its tail is worth V(next_obs), when there is a V.
        tail_values = np.zeros(len(batch), dtype=np.float32)
        cut = np.flatnonzero((batch.truncated > 0) & (batch.terminated == 0))
        if self.value is not None and len(cut):
            with torch.no_grad():
                tail_values[cut] = self.value(self._obs_tensor(batch.next_obs[cut])).squeeze(1).cpu().numpy()
        returns = torch.as_tensor(self._reward_to_go(batch.rewards, ends, tail_values), device=self.device)

        advantages = returns
        if self.value is not None:
            with torch.no_grad():
                advantages = returns - self.value(obs).squeeze(1)
        if cfg.normalize_advantages and len(advantages) > 1:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)

        actions = torch.as_tensor(batch.actions, device=self.device)
        dist = self.policy.distribution(obs)
        log_prob = dist.log_prob(actions.long() if self.discrete else actions)
        if not self.discrete:
            log_prob = log_prob.reshape(len(batch), -1).sum(dim=1)
        entropy = dist.entropy().reshape(len(batch), -1).sum(dim=1).mean()
        policy_loss = -(log_prob * advantages).mean() - cfg.entropy_coef * entropy
        self.policy_optimizer.zero_grad(set_to_none=True)
        policy_loss.backward()
        self.sync_gradients(self.policy.parameters())  # a no-op unless a multi-learner backend hooks in
        if cfg.max_grad_norm > 0:
            nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
        self.policy_optimizer.step()

        metrics = {"policy_loss": float(policy_loss.item()), "entropy": float(entropy.item())}
        if self.value is not None:
            for _ in range(cfg.value_steps):
                value_loss = (self.value(obs).squeeze(1) - returns).pow(2).mean()
                self.value_optimizer.zero_grad(set_to_none=True)
                value_loss.backward()
                self.sync_gradients(self.value.parameters())
                self.value_optimizer.step()
            metrics["value_loss"] = float(value_loss.item())
        self._updates += 1
        return metrics

    # -- weights and checkpoints ----------------------------------------------------------------

    def get_weights(self) -> dict[str, Any]:
        return module_weights(self.policy)

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        load_module_weights(self.policy, weights)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "policy": self.policy.state_dict(),
            "policy_optimizer": self.policy_optimizer.state_dict(),
            "update_steps": self._updates,
            "rng": self._rng.bit_generator.state,
        }
        if self.value is not None:
            state["value"] = self.value.state_dict()
            state["value_optimizer"] = self.value_optimizer.state_dict()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        required = {"policy", "policy_optimizer", "update_steps"}
        if self.value is not None:
            required |= {"value", "value_optimizer"}
        missing = required - set(state)
        if missing:
            hint = " (was it trained with baseline: none?)" if "value" in missing and "policy" in state else ""
            raise ValueError(f"not a REINFORCE checkpoint of this config: missing {sorted(missing)}{hint}")
        self.policy.load_state_dict(state["policy"])
        self.policy_optimizer.load_state_dict(state["policy_optimizer"])
        if self.value is not None:
            self.value.load_state_dict(state["value"])
            self.value_optimizer.load_state_dict(state["value_optimizer"])
        self._updates = int(state["update_steps"])
        if "rng" in state:
            self._rng.bit_generator.state = state["rng"]
