"""Experience buffers: the ``Buffer`` contract, the ``Batch`` it hands out, and ``REPLAY_QUE``."""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from joyrl_core.spaces import EnvSpec


@dataclass(frozen=True)
class Batch:
    """Transitions as arrays with a leading batch axis, ready for a learner.

    ``terminated`` is 1.0 where the episode really ended (no bootstrapping); a truncated episode's
    last transition has ``terminated == 0`` so its value is bootstrapped from ``next_obs``, and
    ``truncated == 1`` so that multi-step returns and on-policy methods see where the episode stopped.
    ``indices`` says where in the buffer each row came from (prioritized buffers update by them);
    ``weights`` are importance-sampling weights (all ones for uniform sampling).
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    indices: np.ndarray
    weights: np.ndarray

    def __len__(self) -> int:
        return len(self.rewards)


class Buffer(abc.ABC):
    """Storage of transitions. ``push``/``push_batch`` by the rollout, ``sample`` by the learner."""

    @abc.abstractmethod
    def push(self, obs, action, reward: float, next_obs, terminated: bool, truncated: bool = False) -> None:
        """Store one transition. ``truncated`` marks an episode cut short (time limit, ``max_step``)."""

    @abc.abstractmethod
    def push_batch(self, obs, actions, rewards, next_obs, terminated, truncated=None) -> None:
        """Store N transitions given as arrays with a leading axis of length N."""

    @abc.abstractmethod
    def sample(self, batch_size: int) -> Batch:
        """A batch of ``batch_size`` stored transitions."""

    @abc.abstractmethod
    def __len__(self) -> int:
        """How many transitions are stored."""


class ReplayQueue(Buffer):
    """A first-in-first-out ring buffer in preallocated numpy arrays, sampled uniformly.

    When full, each push overwrites the oldest transition. Sampling is with replacement, as in DQN.
    """

    def __init__(self, capacity: int, env_spec: EnvSpec, seed: int | None = None):
        if capacity < 1:
            raise ValueError(f"buffer capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        obs_shape = (capacity, *env_spec.obs_shape)
        self._obs = np.zeros(obs_shape, dtype=env_spec.obs_dtype)
        self._next_obs = np.zeros(obs_shape, dtype=env_spec.obs_dtype)
        self._actions = np.zeros((capacity, *env_spec.action_shape), dtype=env_spec.action_dtype)
        self._rewards = np.zeros(capacity, dtype=np.float32)
        self._terminated = np.zeros(capacity, dtype=np.float32)
        self._truncated = np.zeros(capacity, dtype=np.float32)
        self._ones = np.ones(0, dtype=np.float32)
        self._pos = 0
        self._size = 0
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self._size

    def push(self, obs, action, reward: float, next_obs, terminated: bool, truncated: bool = False) -> None:
        i = self._pos
        self._obs[i] = obs
        self._actions[i] = action
        self._rewards[i] = reward
        self._next_obs[i] = next_obs
        self._terminated[i] = terminated
        self._truncated[i] = truncated
        self._pos = (i + 1) % self.capacity
        if self._size < self.capacity:
            self._size += 1

    def push_batch(self, obs, actions, rewards, next_obs, terminated, truncated=None) -> None:
        n = len(rewards)
        if truncated is None:
            truncated = np.zeros(n, dtype=np.float32)
        if n > self.capacity:
            # Only the newest `capacity` transitions would survive anyway.
            obs, actions, rewards, next_obs, terminated, truncated = (
                a[-self.capacity :] for a in (obs, actions, rewards, next_obs, terminated, truncated)
            )
            n = self.capacity
        idx = (self._pos + np.arange(n)) % self.capacity
        self._obs[idx] = obs
        self._actions[idx] = actions
        self._rewards[idx] = rewards
        self._next_obs[idx] = next_obs
        self._terminated[idx] = terminated
        self._truncated[idx] = truncated
        self._pos = (self._pos + n) % self.capacity
        self._size = min(self._size + n, self.capacity)

    def sample(self, batch_size: int) -> Batch:
        if self._size == 0:
            raise ValueError("cannot sample from an empty buffer")
        idx = self._rng.integers(0, self._size, size=batch_size)
        if len(self._ones) != batch_size:
            self._ones = np.ones(batch_size, dtype=np.float32)
        return Batch(
            obs=self._obs[idx],
            actions=self._actions[idx],
            rewards=self._rewards[idx],
            next_obs=self._next_obs[idx],
            terminated=self._terminated[idx],
            truncated=self._truncated[idx],
            indices=idx,
            weights=self._ones,
        )
