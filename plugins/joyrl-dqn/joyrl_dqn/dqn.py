"""Deep Q-Network (Mnih et al., 2015) with its common variants, in plain PyTorch autograd.

Variants, each a switch in ``algo_cfg`` (``config.py``): Double DQN (van Hasselt et al., 2016;
``double``), dueling heads (Wang et al., 2016; ``dueling``), n-step returns (``n_step``, built by the
buffer at sample time) and prioritized replay (Schaul et al., 2016; ``buffer_type: PER_QUE``, in
``per.py``). One gradient step, on a batch of (possibly n-step) transitions with importance weights
``w`` (all 1 for uniform replay)::

    a*     = argmax_a Q_online(s', a) if double else argmax_a Q_target(s', a)
    target = R + discount * (1 - terminated) * Q_target(s', a*)      # discount = gamma^m
    loss   = mean(w * l(Q_online(s, a) - target))                   # l: squared error or Huber

then the optimizer step and, every ``target_update`` gradient steps, ``target += tau * (online - target)``.

This module is the algorithm. ``fast.py`` subclasses :class:`DQNAgent` with CPU speed paths that
compute the same numbers with fewer torch ops; ``algo_cfg.fast_path`` (``auto`` / ``off``) picks it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from joyrl_core import (
    Agent,
    Buffer,
    EnvSpec,
    LayerConfig,
    build_layers,
    load_module_weights,
    module_weights,
    obs_tensor,
)

from joyrl_dqn.config import DQNConfig


class DuelingHead(nn.Module):
    """``Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a')`` from a shared trunk's features."""

    def __init__(self, width: int, n_actions: int):
        super().__init__()
        self.value = nn.Linear(width, 1)
        self.advantage = nn.Linear(width, n_actions)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        advantage = self.advantage(features)
        return self.value(features) + advantage - advantage.mean(dim=1, keepdim=True)


def network_input_shape(layers: Sequence[LayerConfig], obs_shape: Sequence[int]) -> tuple[int, ...]:
    """The shape a Q-network sees an observation in: as is for a convolutional trunk, flattened for an
    MLP (so that an MLP's modules, and its checkpoints' state-dict keys, are the same on any obs shape)."""
    if layers[0].spatial:
        return tuple(obs_shape)
    return (math.prod(obs_shape),)


def build_q_network(layers: Sequence[LayerConfig], obs_shape: Sequence[int], n_actions: int,
                    dueling: bool = False, obs_dtype: Any = np.float32) -> nn.Sequential:
    """The trunk ``layers`` (the core's layer list) then a linear head per action, or a
    :class:`DuelingHead`. A plain MLP on float observations is ``Linear, activation, ..., Linear``:
    state-dict keys ``0.weight``, ``0.bias``, ``2.weight``, ... as in every DQN checkpoint JoyRL wrote;
    image observations (``obs_dtype`` uint8 or bool) go in as they are stored, the core's input module
    first scales them and puts their channels first."""
    modules, out_shape = build_layers(layers, network_input_shape(layers, obs_shape), obs_dtype=obs_dtype)
    if len(out_shape) != 1:
        raise ValueError(f"value_layers end in shape {out_shape}; end them with a flatten or linear layer")
    modules.append(DuelingHead(out_shape[0], n_actions) if dueling else nn.Linear(out_shape[0], n_actions))
    return nn.Sequential(*modules)


@dataclass
class TensorBatch:
    """A sampled batch on the agent's device. ``actions`` has shape ``(N, 1)`` (for ``gather``);
    ``discounts`` is ``gamma`` or, for n-step rows, ``gamma^m`` per row; ``weights`` is ``None`` where
    sampling was uniform (every weight 1)."""

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor
    discounts: torch.Tensor | float
    weights: torch.Tensor | None
    indices: np.ndarray


class DQNAgent(Agent):
    def __init__(self, config: DQNConfig, env_spec: EnvSpec, device: str, seed: int | None):
        if env_spec.action_kind != "discrete":
            raise ValueError(f"DQN needs a discrete action space; env {env_spec.env_id!r} has continuous actions")
        self.cfg = config
        self.env_spec = env_spec
        self.device = torch.device(device)
        self.n_actions = int(env_spec.n_actions)
        obs_shape = tuple(env_spec.obs_shape)
        self.input_shape = network_input_shape(config.value_layers, obs_shape)
        self.q_net = build_q_network(config.value_layers, obs_shape, self.n_actions, config.dueling,
                                     env_spec.obs_dtype).to(self.device)
        self.target_net = build_q_network(config.value_layers, obs_shape, self.n_actions, config.dueling,
                                          env_spec.obs_dtype).to(self.device)
        self.target_net.load_state_dict(self.q_net.state_dict())
        self.target_net.requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.q_net.parameters(), lr=config.lr)
        self._rng = np.random.default_rng(seed)
        self._updates = 0
        # env_steps at the last update() call: a fresh agent starts at 0; None after loading a checkpoint
        # that did not record it (the seed's DQN), where the first call counts one env step.
        self._last_env_steps: int | None = 0

    # -- acting: epsilon-greedy -----------------------------------------------------------------

    def epsilon(self, env_steps: int) -> float:
        cfg = self.cfg
        if cfg.epsilon_schedule == "linear":
            progress = min(env_steps / cfg.epsilon_decay, 1.0)
            return cfg.epsilon_start + (cfg.epsilon_end - cfg.epsilon_start) * progress
        return cfg.epsilon_end + (cfg.epsilon_start - cfg.epsilon_end) * math.exp(-env_steps / cfg.epsilon_decay)

    def exploration(self, env_steps: int) -> Mapping[str, float]:
        return {"epsilon": self.epsilon(env_steps)}

    def _obs_tensor(self, obs: np.ndarray) -> torch.Tensor:
        return obs_tensor(obs, self.device).reshape(len(obs), *self.input_shape)

    @torch.no_grad()
    def predict_action(self, obs: np.ndarray) -> np.ndarray:
        return self.q_values(self._obs_tensor(obs)).argmax(dim=1).cpu().numpy()

    def sample_action(self, obs: np.ndarray, env_steps: int) -> np.ndarray:
        explore = self._rng.random(len(obs)) < self.epsilon(env_steps)
        actions = self.predict_action(obs)
        if explore.any():
            actions[explore] = self._rng.integers(0, self.n_actions, size=int(explore.sum()))
        return actions

    # -- learning -------------------------------------------------------------------------------

    @property
    def update_steps(self) -> int:
        return self._updates

    def gradient_steps_due(self, env_steps: int) -> int:
        """How many gradient steps to take now that the run has reached ``env_steps``.

        ``gradient_steps`` for each multiple of ``train_freq`` that ``env_steps`` crossed since the
        last call: a call after a vectorized step of N envs counts N env steps, so the ratio of
        gradient steps to env steps does not depend on N. Before ``learning_starts``, none.
        """
        cfg = self.cfg
        previous = self._last_env_steps
        self._last_env_steps = env_steps
        if previous is None:
            previous = env_steps - 1
        if env_steps < cfg.learning_starts:
            return 0
        crossed = env_steps // cfg.train_freq - previous // cfg.train_freq
        return max(crossed, 0) * cfg.gradient_steps

    def update(self, buffer: Buffer, env_steps: int) -> Mapping[str, float] | None:
        n_steps = self.gradient_steps_due(env_steps)
        if n_steps == 0 or len(buffer) < self.cfg.batch_size:
            return None
        for _ in range(n_steps):
            batch = self.sample(buffer, self.cfg.batch_size)
            target = self.td_target(batch.rewards, batch.next_obs, batch.terminated, batch.discounts)
            q, loss = self.backward(batch.obs, batch.actions, target, batch.weights)
            self.step(buffer, batch.indices, q, target)
        return {"loss": float(loss.item()), "mean_q": float(q.mean().item())}

    def sample(self, buffer: Buffer, rows: int) -> TensorBatch:
        """``rows`` transitions from ``buffer`` (n-step ones with ``n_step > 1``) on the device. A buffer
        may hand out fewer (a learner replica's share of each batch; the replicas average gradients)."""
        cfg = self.cfg
        if cfg.n_step > 1:
            batch = buffer.sample(rows, n_step=cfg.n_step, gamma=cfg.gamma)
            discounts: torch.Tensor | float = self._tensor(batch.discounts)
        else:
            batch = buffer.sample(rows)
            discounts = cfg.gamma
        return TensorBatch(
            obs=self._obs_tensor(batch.obs),
            actions=self._tensor(batch.actions, torch.long).unsqueeze(1),
            rewards=self._tensor(batch.rewards),
            next_obs=self._obs_tensor(batch.next_obs),
            terminated=self._tensor(batch.terminated),
            discounts=discounts,
            weights=None if batch.weights.min() == 1.0 else self._tensor(batch.weights),
            indices=batch.indices,
        )

    def _tensor(self, array: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.as_tensor(array, dtype=dtype, device=self.device)

    def q_values(self, obs: torch.Tensor, online: bool = True) -> torch.Tensor:
        """``Q(obs, .)`` of the online network, or of the target network with ``online=False``."""
        return (self.q_net if online else self.target_net)(obs)

    @torch.no_grad()
    def td_target(self, rewards: torch.Tensor, next_obs: torch.Tensor, terminated: torch.Tensor,
                  discounts: torch.Tensor | float) -> torch.Tensor:
        """``rewards + discounts * (1 - terminated) * Q_target(next_obs, a*)``; ``a*`` picked by the online
        network with ``double``, by the target network without."""
        next_q_target = self.q_values(next_obs, online=False)
        if self.cfg.double:
            next_actions = self.q_values(next_obs).argmax(dim=1, keepdim=True)
            next_q = next_q_target.gather(1, next_actions).squeeze(1)
        else:
            next_q = next_q_target.amax(dim=1)
        return rewards + discounts * (1.0 - terminated) * next_q

    def loss(self, q: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
        """``mean(w * l(q - target))``: squared error or Huber (smooth L1, delta 1); ``weights`` (prioritized
        replay's importance weights) scale each sample's loss, ``None`` for uniform sampling."""
        loss_fn = F.smooth_l1_loss if self.cfg.loss == "huber" else F.mse_loss
        if weights is None:
            return loss_fn(q, target)
        return (loss_fn(q, target, reduction="none") * weights).mean()

    def backward(self, obs: torch.Tensor, actions: torch.Tensor, target: torch.Tensor,
                 weights: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss's gradients into the online network's ``.grad``; returns ``Q(s, a)`` and the loss."""
        return self.backward_q(self.q_values(obs).gather(1, actions).squeeze(1), target, weights)

    def backward_q(self, q: torch.Tensor, target: torch.Tensor,
                   weights: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`backward` from ``q = Q(s, a)`` (the online network's output, with its graph)."""
        loss = self.loss(q, target, weights)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        return q.detach(), loss.detach()

    def step(self, buffer: Buffer, indices: np.ndarray, q: torch.Tensor, target: torch.Tensor) -> None:
        """Apply the gradients in ``.grad`` (averaged across learner replicas, clipped) and, every
        ``target_update`` steps, update the target network; a prioritized buffer gets the TD errors."""
        cfg = self.cfg
        params = self.optimizer.param_groups[0]["params"]
        self.sync_gradients(params)
        if cfg.max_grad_norm is not None:
            nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        self.optimizer.step()
        if buffer.capabilities.priorities:
            buffer.update_priorities(indices, (target - q).cpu().numpy())
        self._updates += 1
        if self._updates % cfg.target_update == 0:
            self.update_target()

    @torch.no_grad()
    def update_target(self) -> None:
        """``target += tau * (online - target)``; ``tau == 1`` copies (lerp with weight 1 is exact)."""
        for target, online in zip(self.target_net.parameters(), self.q_net.parameters()):
            target.lerp_(online, self.cfg.tau)

    # -- weights and checkpoints ----------------------------------------------------------------

    def get_weights(self) -> dict[str, Any]:
        return module_weights(self.q_net)

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        load_module_weights(self.q_net, weights)

    def state_dict(self) -> dict[str, Any]:
        return {
            "q_net": self.q_net.state_dict(),
            "target_net": self.target_net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "update_steps": self._updates,
            "last_env_steps": -1 if self._last_env_steps is None else self._last_env_steps,
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
        last = int(state.get("last_env_steps", -1))
        self._last_env_steps = None if last < 0 else last
        if "rng" in state:
            self._rng.bit_generator.state = state["rng"]
