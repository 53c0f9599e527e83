"""The ``Buffer`` contract, what a buffer declares it can do, the ``Batch`` it hands out, and helpers for
buffers' preallocated arrays."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from joyrl_core.contracts.spaces import EnvSpec
from joyrl_core.errors import ConfigError


@dataclass(frozen=True)
class BufferCapabilities:
    """What a buffer can serve (registered with it, and its class attribute ``capabilities``), or, as an
    algorithm's ``buffer_needs``, what the algorithm requires of its buffer.

    - ``random_sampling``: ``sample(batch_size)`` draws stored transitions at random (replay).
    - ``ordered_rollouts``: steps are kept in order per env stream and handed out as a whole rollout of
      ``n_steps`` steps of every stream (``full``, ``compute_gae``, ``minibatches``, ``clear``; see
      :class:`joyrl_core.RolloutBuffer`), then forgotten: on-policy learning.
    - ``whole_episodes``: complete episodes are handed out once each (``completed_episodes``,
      ``take_episodes()``; the ``EPISODES`` buffer of the REINFORCE example).
    - ``extra_columns``: the per-step arrays an agent's :meth:`Agent.act` returns (``log_prob``,
      ``value``, ...) are stored row-aligned and come back in ``Batch.extras``. A buffer without it drops them.
    - ``n_step``: ``sample(batch_size, n_step, gamma)`` builds multi-step returns.
    - ``priorities``: ``update_priorities(indices, td_errors)`` re-weights sampling.

    A run whose algorithm needs something its buffer lacks is refused before it starts, with one line
    naming both (:meth:`missing`).
    """

    random_sampling: bool = False
    ordered_rollouts: bool = False
    whole_episodes: bool = False
    extra_columns: bool = False
    n_step: bool = False
    priorities: bool = False

    def names(self) -> list[str]:
        """The capabilities set, by name."""
        return [f.name for f in dataclasses.fields(self) if getattr(self, f.name)]

    def missing(self, needed: BufferCapabilities) -> list[str]:
        """The capabilities ``needed`` asks for that this one lacks."""
        return [name for name in needed.names() if not getattr(self, name)]


REPLAY = BufferCapabilities(random_sampling=True)


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

    ``env_ids`` is the env stream each row came from (0 for one env, the sub-env index when vectorized,
    a backend's global stream index when several workers feed one buffer), ``None`` from buffers that do
    not keep it. ``extras`` holds the named per-step arrays of :meth:`Agent.act` (buffers with
    ``extra_columns``) and what a buffer computed from them (``ROLLOUT``: ``advantages``, ``returns``),
    each with the same leading axis as ``rewards``.
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
    env_ids: np.ndarray | None = None
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)

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


def transition_nbytes(env_spec: EnvSpec) -> int:
    """Bytes one transition takes in the arrays of :func:`allocate_transitions`: the least a buffer of
    ``capacity`` transitions needs is ``capacity`` times this."""
    obs = int(np.prod(env_spec.obs_shape, dtype=np.int64)) * env_spec.obs_dtype.itemsize
    action = int(np.prod(env_spec.action_shape, dtype=np.int64)) * env_spec.action_dtype.itemsize
    return 2 * obs + action + 3 * np.dtype(np.float32).itemsize


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


def read_transitions(columns: tuple[np.ndarray, ...] | list[np.ndarray], idx: np.ndarray, weights: np.ndarray,
                     **fields) -> Batch:
    """The rows ``idx`` of ``columns`` (the six arrays of :func:`allocate_transitions`, in its order) as
    a :class:`Batch` with ``weights``; ``fields`` fills its other fields (``discounts``, ``env_ids``,
    ``extras``). Fancy indexing copies, so the batch stays valid after the buffer reuses its rows."""
    obs, actions, rewards, next_obs, terminated, truncated = columns
    return Batch(obs=obs[idx], actions=actions[idx], rewards=rewards[idx], next_obs=next_obs[idx],
                 terminated=terminated[idx], truncated=truncated[idx], indices=idx, weights=weights, **fields)


class ExtraColumns:
    """Named per-step columns beside a buffer's six transition arrays, preallocated for ``capacity`` rows.

    Each column takes its shape and dtype from the first rows written under its name (so an agent's
    extras need no declaration) and is reused from then on; :meth:`gather` copies rows out by index.
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.columns: dict[str, np.ndarray] = {}

    def write(self, rows, extras: Mapping[str, Any], n: int) -> None:
        """Write ``extras`` (arrays with a leading axis of ``n`` rows, or one row's values when ``n`` is 0)
        at ``rows``."""
        for name, value in extras.items():
            value = np.asarray(value)
            column = self.columns.get(name)
            if column is None:
                row_shape = value.shape[1:] if n else value.shape
                column = self.columns[name] = np.zeros((self.capacity, *row_shape), dtype=value.dtype)
            column[rows] = value

    def gather(self, idx) -> dict[str, np.ndarray]:
        return {name: column[idx] for name, column in self.columns.items()}


class Buffer(abc.ABC):
    """Storage of transitions. ``push``/``push_batch`` by the rollout, the learner reads what its
    ``capabilities`` offer (``sample`` for replay; see :class:`BufferCapabilities`).

    ``env_ids`` and ``extras`` are keyword arguments of both push methods. ``env_ids`` (``env_id`` for
    ``push``) says which env stream the rows come from: omitted, a single push is stream 0 and row ``i``
    of ``push_batch`` is stream ``i`` (the vectorized env's sub-env ``i``). ``extras`` maps names to the
    per-step arrays the agent's :meth:`Agent.act` returned for these rows (leading axis N for
    ``push_batch``, one row's values for ``push``); the runners pass it only when the agent returned some.
    """

    capabilities: BufferCapabilities = REPLAY

    @abc.abstractmethod
    def push(self, obs, action, reward: float, next_obs, terminated: bool, truncated: bool = False, *,
             env_id: int = 0, extras: Mapping[str, Any] | None = None) -> None:
        """Store one transition. ``truncated`` marks an episode cut short (time limit, ``max_step``)."""

    @abc.abstractmethod
    def push_batch(self, obs, actions, rewards, next_obs, terminated, truncated=None, *,
                   env_ids: np.ndarray | None = None, extras: Mapping[str, np.ndarray] | None = None) -> None:
        """Store N transitions given as arrays with a leading axis of length N.

        From N vectorized envs, row ``i`` of every call is env ``i``: the next transition of the same
        env is N rows later (buffers that build multi-step returns rely on it).
        """

    def sample(self, batch_size: int) -> Batch:
        """A batch of ``batch_size`` stored transitions drawn at random (``random_sampling`` buffers).

        Buffers that support multi-step returns take ``sample(batch_size, n_step=1, gamma=1.0)``
        (see :class:`Batch`); ``REPLAY_QUE`` does. Buffers without ``random_sampling`` need not
        implement it: the run checks the algorithm's needs before it starts.
        """
        raise ConfigError(
            f"{type(self).__name__} does not sample at random (it offers: {', '.join(self.capabilities.names())})"
        )

    @abc.abstractmethod
    def __len__(self) -> int:
        """How many transitions are stored."""
