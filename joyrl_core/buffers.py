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


class TransitionLog:
    """Transitions kept in order, in numpy arrays that double in size when full: the push side of a
    buffer (``push``/``push_batch``) for collecting an episode or a worker's batch and handing it on as
    arrays. Never sampled.

    The arrays take their shapes and dtypes from the first push (observations and actions as the env
    gives them; rewards float32; ``terminated``/``truncated`` bool).
    """

    FIELDS = ("obs", "actions", "rewards", "next_obs", "terminated", "truncated")

    def __init__(self, capacity: int = 256):
        self._capacity = max(int(capacity), 1)
        self._columns: list[np.ndarray] | None = None
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def _reserve(self, obs: np.ndarray, action: np.ndarray, rows: int) -> list[np.ndarray]:
        """The columns, allocated (from one row's ``obs``/``action``) or grown to hold ``rows`` more."""
        columns = self._columns
        if columns is None:
            capacity = max(self._capacity, rows)
            columns = [np.zeros((capacity, *obs.shape), obs.dtype), np.zeros((capacity, *action.shape), action.dtype),
                       np.zeros(capacity, np.float32), np.zeros((capacity, *obs.shape), obs.dtype),
                       np.zeros(capacity, bool), np.zeros(capacity, bool)]
        elif self._n + rows > len(columns[0]):
            capacity = max(2 * len(columns[0]), self._n + rows)
            grown = []
            for column in columns:
                bigger = np.zeros((capacity, *column.shape[1:]), column.dtype)
                bigger[: self._n] = column[: self._n]
                grown.append(bigger)
            columns = grown
        self._columns = columns
        return columns

    def push(self, obs, action, reward: float, next_obs, terminated: bool, truncated: bool = False) -> None:
        obs = np.asarray(obs)
        write_transitions(self._reserve(obs, np.asarray(action), 1), self._n, obs, action, reward, next_obs,
                          terminated, truncated)
        self._n += 1

    def push_batch(self, obs, actions, rewards, next_obs, terminated, truncated=None) -> None:
        n = len(rewards)
        if n == 0:
            return
        obs, actions = np.asarray(obs), np.asarray(actions)
        write_transitions(self._reserve(obs[0], actions[0], n), slice(self._n, self._n + n), obs, actions, rewards,
                          next_obs, terminated, truncated)
        self._n += n

    def arrays(self) -> dict[str, np.ndarray]:
        """Copies of the transitions pushed since the last :meth:`clear`, by name (:attr:`FIELDS`);
        empty dict when there are none."""
        if self._columns is None or self._n == 0:
            return {}
        return {name: column[: self._n].copy() for name, column in zip(self.FIELDS, self._columns)}

    def clear(self) -> None:
        """Forget the transitions; the arrays are kept for the next ones."""
        self._n = 0


class ReplayQueue(Buffer):
    """A first-in-first-out ring buffer in preallocated numpy arrays, sampled uniformly.

    When full, each push overwrites the oldest transition. Sampling is with replacement, as in DQN.

    ``sample(batch_size, n_step, gamma)`` builds n-step returns at sample time (:class:`Batch`). Each
    row remembers which push call wrote it (a running count) and how many rows that call wrote (the
    stride: 1 for ``push``, N for ``push_batch`` of N envs), so the next transition of the same env is
    ``stride`` rows on, and it is that env's next step only if it was written by the very next push
    call with the same stride. A window stops at the first ``terminated`` or ``truncated`` step, and at
    the newest transition of its env (the rows after it are not yet written, or hold an older lap of
    the ring): there it bootstraps from that newest transition's own ``next_obs`` with ``gamma^m``,
    a shorter but exact return, so sampling probabilities (uniform, or a subclass's priorities) are
    left as they are. Everything is vectorized over the batch and the window.
    """

    def __init__(self, capacity: int, env_spec: EnvSpec, seed: int | None = None):
        if capacity < 1:
            raise ValueError(f"buffer capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._columns = allocate_transitions(capacity, env_spec)
        (self._obs, self._actions, self._rewards, self._next_obs, self._terminated, self._truncated) = self._columns
        # Which push call wrote each row (-1: never written) and how many rows that call wrote.
        self._push_id = np.full(capacity, -1, dtype=np.int64)
        self._stride = np.ones(capacity, dtype=np.int64)
        self._pushes = 0
        self._pushed = 0
        self._ones = np.ones(0, dtype=np.float32)
        self._discounts = np.ones(0, dtype=np.float32)
        self._discounts_gamma = None
        self._pos = 0
        self._size = 0
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self._size

    @property
    def transitions_pushed(self) -> int:
        """Transitions pushed since the buffer was made, overwritten ones included."""
        return self._pushed

    def push(self, obs, action, reward: float, next_obs, terminated: bool, truncated: bool = False) -> None:
        i = self._pos
        write_transitions(self._columns, i, obs, action, reward, next_obs, terminated, truncated)
        self._push_id[i] = self._pushes
        self._stride[i] = 1
        self._pushes += 1
        self._pushed += 1
        self._pos = (i + 1) % self.capacity
        if self._size < self.capacity:
            self._size += 1

    def push_batch(self, obs, actions, rewards, next_obs, terminated, truncated=None) -> None:
        n = len(rewards)
        stride = n
        self._pushed += n
        if truncated is None:
            truncated = np.zeros(n, dtype=np.float32)
        if n > self.capacity:
            # Only the newest `capacity` transitions would survive anyway.
            obs, actions, rewards, next_obs, terminated, truncated = (
                a[-self.capacity :] for a in (obs, actions, rewards, next_obs, terminated, truncated)
            )
            n = self.capacity
        idx = (self._pos + np.arange(n)) % self.capacity
        write_transitions(self._columns, idx, obs, actions, rewards, next_obs, terminated, truncated)
        self._push_id[idx] = self._pushes
        self._stride[idx] = stride
        self._pushes += 1
        self._pos = (self._pos + n) % self.capacity
        self._size = min(self._size + n, self.capacity)

    def sample(self, batch_size: int, n_step: int = 1, gamma: float = 1.0) -> Batch:
        if self._size == 0:
            raise ValueError("cannot sample from an empty buffer")
        idx = self._rng.integers(0, self._size, size=batch_size)
        if len(self._ones) != batch_size:
            self._ones = np.ones(batch_size, dtype=np.float32)
        return self._gather(idx, self._ones, n_step, gamma)

    def _gather(self, idx: np.ndarray, weights: np.ndarray, n_step: int, gamma: float) -> Batch:
        """The batch of rows ``idx`` with ``weights``, as ``n_step`` returns discounted by ``gamma``."""
        if n_step < 1:
            raise ValueError(f"n_step must be >= 1, got {n_step}")
        if n_step == 1:
            if len(self._discounts) != len(idx) or self._discounts_gamma != gamma:
                self._discounts = np.full(len(idx), gamma, dtype=np.float32)
                self._discounts_gamma = gamma
            return Batch(
                obs=self._obs[idx],
                actions=self._actions[idx],
                rewards=self._rewards[idx],
                next_obs=self._next_obs[idx],
                terminated=self._terminated[idx],
                truncated=self._truncated[idx],
                indices=idx,
                weights=weights,
                discounts=self._discounts,
            )
        ks = np.arange(n_step)
        # rows[b, k]: where step t+k of sample b's env would be; valid where the very next push calls wrote it.
        stride = self._stride[idx]
        rows = (idx[:, None] + ks * stride[:, None]) % self.capacity
        valid = (self._push_id[rows] == self._push_id[idx][:, None] + ks) & (self._stride[rows] == stride[:, None])
        done = (self._terminated[rows] + self._truncated[rows]) > 0
        # Step k is in the window when steps 0..k-1 are valid and not done, and step k is valid.
        carry_on = np.cumprod(valid & ~done, axis=1, dtype=bool)
        inside = valid.copy()
        inside[:, 1:] &= carry_on[:, :-1]
        m = inside.sum(axis=1)  # >= 1: step 0 is always valid
        last = rows[np.arange(len(idx)), m - 1]
        powers = np.float32(gamma) ** ks.astype(np.float32)
        rewards = (self._rewards[rows] * (inside * powers)).sum(axis=1, dtype=np.float32)
        return Batch(
            obs=self._obs[idx],
            actions=self._actions[idx],
            rewards=rewards,
            next_obs=self._next_obs[last],
            terminated=self._terminated[last],
            truncated=self._truncated[last],
            indices=idx,
            weights=weights,
            discounts=(np.float32(gamma) ** m.astype(np.float32)).astype(np.float32),
        )
