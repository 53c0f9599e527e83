"""``TransitionLog``: transitions collected in order (an episode, a worker's batch) and handed on as arrays."""

from __future__ import annotations

import numpy as np

from joyrl_core.contracts.buffer import write_transitions


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
