"""The ``Buffer`` contract, the ``Batch`` it hands out, and helpers for buffers' preallocated arrays."""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from joyrl_core.contracts.spaces import EnvSpec


@dataclass(frozen=True)
class Batch:
    """Transitions as arrays with a leading batch axis, ready for a learner.

    ``terminated`` is 1.0 where the episode really ended (no bootstrapping); a truncated episode's
    last transition has ``terminated == 0`` so its value is bootstrapped from ``next_obs``, and
    ``truncated == 1`` so that multi-step returns and on-policy methods see where the episode stopped.
    ``indices`` says where in the buffer each row came from (prioritized buffers update by them);
    ``weights`` are importance-sampling weights (all ones for uniform sampling).

    Multi-step rows (``sample(batch_size, n_step, gamma)``) cover ``m <= n_step`` transitions
    ``t .. t+m-1`` of one env: ``obs``/``actions`` are those of step ``t``, ``rewards`` is
    ``sum_{k<m} gamma^k r_{t+k}``, ``next_obs``/``terminated``/``truncated`` those of step ``t+m-1``,
    and ``discounts`` is ``gamma^m``, what the bootstrapped value is multiplied by::

        target = rewards + discounts * (1 - terminated) * V(next_obs)

    For one-step rows ``discounts`` is ``gamma``. It is ``None`` from buffers that do not compute it
    (one-step transitions; the learner uses its own ``gamma``).
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    discounts: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.rewards)


def allocate_transitions(capacity: int, env_spec: EnvSpec) -> tuple[np.ndarray, ...]:
    """Zeroed arrays for ``capacity`` transitions of ``env_spec``, for buffers to fill in place:
    ``(obs, actions, rewards, next_obs, terminated, truncated)``; flags and rewards are float32."""
    obs_shape = (capacity, *env_spec.obs_shape)
    return (
        np.zeros(obs_shape, dtype=env_spec.obs_dtype),
        np.zeros((capacity, *env_spec.action_shape), dtype=env_spec.action_dtype),
        np.zeros(capacity, dtype=np.float32),
        np.zeros(obs_shape, dtype=env_spec.obs_dtype),
        np.zeros(capacity, dtype=np.float32),
        np.zeros(capacity, dtype=np.float32),
    )


def write_transitions(columns: tuple[np.ndarray, ...] | list[np.ndarray], rows, obs, actions, rewards, next_obs,
                      terminated, truncated=None) -> None:
    """Write transitions into ``columns`` (the six arrays of :func:`allocate_transitions`, in its order)
    at ``rows``: an index for one transition, or a slice or index array for a batch. ``truncated=None``
    writes ``False``."""
    obs_column, actions_column, rewards_column, next_obs_column, terminated_column, truncated_column = columns
    obs_column[rows] = obs
    actions_column[rows] = actions
    rewards_column[rows] = rewards
    next_obs_column[rows] = next_obs
    terminated_column[rows] = terminated
    truncated_column[rows] = False if truncated is None else truncated


class Buffer(abc.ABC):
    """Storage of transitions. ``push``/``push_batch`` by the rollout, ``sample`` by the learner."""

    @abc.abstractmethod
    def push(self, obs, action, reward: float, next_obs, terminated: bool, truncated: bool = False) -> None:
        """Store one transition. ``truncated`` marks an episode cut short (time limit, ``max_step``)."""

    @abc.abstractmethod
    def push_batch(self, obs, actions, rewards, next_obs, terminated, truncated=None) -> None:
        """Store N transitions given as arrays with a leading axis of length N.

        From N vectorized envs, row ``i`` of every call is env ``i``: the next transition of the same
        env is N rows later (buffers that build multi-step returns rely on it).
        """

    @abc.abstractmethod
    def sample(self, batch_size: int) -> Batch:
        """A batch of ``batch_size`` stored transitions.

        Buffers that support multi-step returns take ``sample(batch_size, n_step=1, gamma=1.0)``
        (see :class:`Batch`); ``REPLAY_QUE`` does.
        """

    @abc.abstractmethod
    def __len__(self) -> int:
        """How many transitions are stored."""
