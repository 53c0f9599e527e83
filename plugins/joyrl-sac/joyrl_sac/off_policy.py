"""What an off-policy actor-critic agent does around its gradient step: acting in the env's action
scale, uniform random actions before ``learning_starts``, the ``train_freq``/``gradient_steps``
cadence, sampling, weights for workers and checkpoints. SAC (``sac.py``) and TD3/DDPG (``td3.py``)
add their networks, their exploration and their gradient step.

Observations go to the networks as :func:`joyrl_core.obs_tensor` makes them: image frames stay
``uint8`` (or ``bool``) from the env through the replay buffer to the device, and each network's
encoder scales them (``networks.Encoder``).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from joyrl_core import Agent, Buffer, ConfigError, EnvSpec, load_module_weights, module_weights, obs_tensor

from joyrl_sac.config import OffPolicyConfig
from joyrl_sac.fused import BatchedCritics
from joyrl_sac.networks import ActionScale, Critics, Encoder, check_action_space


class OffPolicyAgent(Agent):
    """The shared half of SAC, TD3 and DDPG. Subclasses set ``actor`` and fill ``networks`` and
    ``optimizers`` (everything a checkpoint holds), and implement the abstract methods."""

    algo_name = "OFF_POLICY"

    def __init__(self, config: OffPolicyConfig, env_spec: EnvSpec, device: str, seed: int | None):
        check_action_space(env_spec, self.algo_name)
        self.cfg = config
        self.device = torch.device(device)
        self.env_spec = env_spec
        self.obs_shape = tuple(env_spec.obs_shape) or (1,)  # a Discrete observation as one feature
        self.act_dim = math.prod(env_spec.action_shape)
        self.action_shape = env_spec.action_shape
        self.scale = ActionScale(env_spec.action_low.reshape(-1), env_spec.action_high.reshape(-1), device)
        self.rng = np.random.default_rng(seed)
        # The agent's own torch RNG for its Gaussian draws: a checkpoint restores it exactly.
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(int(self.rng.integers(2**62)))
        self.networks: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self._updates = 0
        self._last_env_steps: int | None = None

    def make_encoder(self) -> Encoder:
        """A new encoder of ``encoder_layers`` for this env's observations; a ``ConfigError`` naming the
        layer and the shapes where the list does not fit them."""
        try:
            return Encoder(self.cfg.encoder_layers, self.obs_shape, self.env_spec.obs_dtype)
        except ValueError as exc:
            raise ConfigError(f"{self.algo_name} cannot run on env {self.env_spec.env_id!r}: {exc}") from None

    def make_critics(self, n: int) -> nn.Module:
        """``n`` critics on one encoder of their own, as one batched network with ``batched_critics``
        (same values, see fused.py)."""
        critics = Critics(self.make_encoder(), self.cfg.critic_layers, self.act_dim, n)
        return (BatchedCritics(critics) if self.cfg.batched_critics else critics).to(self.device)

    # -- acting ---------------------------------------------------------------------------------

    def _obs_tensor(self, obs: np.ndarray) -> torch.Tensor:
        return obs_tensor(obs, self.device).reshape(len(obs), *self.obs_shape)

    def _to_env(self, action: torch.Tensor) -> np.ndarray:
        return self.scale.to_env(action.cpu().numpy()).reshape(len(action), *self.action_shape)

    def sample_action(self, obs: np.ndarray, env_steps: int) -> np.ndarray:
        if env_steps < self.cfg.learning_starts:
            uniform = self.rng.uniform(-1.0, 1.0, size=(len(obs), self.act_dim)).astype(np.float32)
            return self.scale.to_env(uniform).reshape(len(obs), *self.action_shape)
        with torch.no_grad():
            return self._to_env(self.explore(self._obs_tensor(obs), env_steps))

    def predict_action(self, obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self._to_env(self.greedy(self._obs_tensor(obs)))

    @abc.abstractmethod
    def explore(self, obs: torch.Tensor, env_steps: int) -> torch.Tensor:
        """Exploring actions in [-1, 1] for a batch of observations (no gradients)."""

    @abc.abstractmethod
    def greedy(self, obs: torch.Tensor) -> torch.Tensor:
        """Greedy actions in [-1, 1] (no gradients)."""

    # -- learning -------------------------------------------------------------------------------

    @property
    def update_steps(self) -> int:
        return self._updates

    def gradient_steps_due(self, env_steps: int) -> int:
        """``gradient_steps`` for each multiple of ``train_freq`` that ``env_steps`` crossed since the last
        call (a vectorized step of N envs counts N), none before ``learning_starts``."""
        cfg = self.cfg
        previous = env_steps - 1 if self._last_env_steps is None else self._last_env_steps
        self._last_env_steps = env_steps
        if env_steps < cfg.learning_starts:
            return 0
        return max(env_steps // cfg.train_freq - previous // cfg.train_freq, 0) * cfg.gradient_steps

    def update(self, buffer: Buffer, env_steps: int) -> Mapping[str, float] | None:
        n_steps = self.gradient_steps_due(env_steps)
        # As SB3: learning starts at learning_starts even with fewer than batch_size transitions stored
        # (sampling is with replacement).
        if n_steps == 0 or len(buffer) == 0:
            return None
        # The batches of all the steps due in one draw: uniform sampling with replacement makes k
        # batches of B the same draw as one of k * B, with one copy instead of k. A buffer may hand out
        # a share of the rows (a learner replica's part of each batch): each step takes an equal share.
        batch = buffer.sample(n_steps * self.cfg.batch_size)
        steps = min(n_steps, len(batch))
        rows = len(batch) // steps
        obs = self._obs_tensor(batch.obs)
        next_obs = self._obs_tensor(batch.next_obs)
        actions = self.scale.from_env(torch.as_tensor(batch.actions, device=self.device).reshape(len(batch), -1))
        rewards = torch.as_tensor(batch.rewards, device=self.device)
        not_done = 1.0 - torch.as_tensor(batch.terminated, device=self.device)
        metrics: dict[str, torch.Tensor] = {}
        for i in range(steps):
            r = slice(i * rows, (i + 1) * rows)
            metrics = self.gradient_step(obs[r], actions[r], rewards[r], next_obs[r], not_done[r])
            self._updates += 1
        # Metrics of the last gradient step only: one device sync per update call.
        return {key: float(value) for key, value in metrics.items()}

    @abc.abstractmethod
    def gradient_step(self, obs: torch.Tensor, actions: torch.Tensor, rewards: torch.Tensor,
                      next_obs: torch.Tensor, not_done: torch.Tensor) -> dict[str, torch.Tensor]:
        """One gradient step on a batch (actions in [-1, 1]; ``not_done = 1 - terminated``); its metrics
        as tensors. ``update_steps`` counts this step only after it returns."""

    # -- weights and checkpoints ----------------------------------------------------------------

    def get_weights(self) -> dict[str, Any]:
        return module_weights(self.actor)

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        try:
            load_module_weights(self.actor, weights)
        except ValueError as exc:
            raise ValueError(f"actor weights do not fit: {exc}") from None

    def extra_state(self) -> dict[str, Any]:
        """Algorithm state beyond networks and optimizers (entropy coefficient, noise process)."""
        return {}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`extra_state` returned."""

    def state_dict(self) -> dict[str, Any]:
        return {
            "algo": self.algo_name,
            "networks": {name: net.state_dict() for name, net in self.networks.items()},
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "update_steps": self._updates,
            "last_env_steps": -1 if self._last_env_steps is None else self._last_env_steps,
            "rng": self.rng.bit_generator.state,
            "generator": self.generator.get_state(),
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        missing = {"networks", "optimizers", "update_steps", "rng", "generator", "extra"} - set(state)
        if missing or state.get("algo") != self.algo_name:
            raise ValueError(f"not a {self.algo_name} checkpoint: algo {state.get('algo')!r}, missing {sorted(missing)}")
        for group, have in (("networks", self.networks), ("optimizers", self.optimizers)):
            if set(state[group]) != set(have):
                raise ValueError(f"{group}: checkpoint has {sorted(state[group])}, this config {sorted(have)} "
                                 "(twin_critics, or a fixed/tuned alpha, differ)")
        for name, net in self.networks.items():
            net.load_state_dict(state["networks"][name])
        for name, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        self._updates = int(state["update_steps"])
        last = int(state["last_env_steps"])
        self._last_env_steps = None if last < 0 else last
        self.rng.bit_generator.state = state["rng"]
        self.generator.set_state(state["generator"])
        self.load_extra_state(state["extra"])
