"""``TransitionLog``: transitions collected in order (an episode, a worker's batch) and handed on as arrays."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from joyrl_core.contracts.buffer import write_transitions
from joyrl_core.run.shipping import PackedTransitions, pack_transitions


class TransitionLog:
    """Transitions kept in order, in numpy arrays that double in size when full: the push side of a
    buffer (``push``/``push_batch``) for collecting an episode or a worker's batch and handing it on as
    arrays. Never sampled.

    The arrays take their shapes and dtypes from the first push (observations and actions as the env
    gives them; rewards float32; ``terminated``/``truncated`` bool; ``env_ids`` int64). The ``extras`` of
    the pushes (the agent's per-step arrays) are kept the same way, one growing column per name.
    """

    FIELDS = ("obs", "actions", "rewards", "next_obs", "terminated", "truncated", "env_ids")

    def __init__(self, capacity: int = 256):
        self._capacity = max(int(capacity), 1)
        self._columns: list[np.ndarray] | None = None
        self._extras: dict[str, np.ndarray] = {}
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def _grown(self, column: np.ndarray, rows: int) -> np.ndarray:
        if self._n + rows <= len(column):
            return column
        bigger = np.zeros((max(2 * len(column), self._n + rows), *column.shape[1:]), column.dtype)
        bigger[: self._n] = column[: self._n]
        return bigger

    def _reserve(self, obs: np.ndarray, action: np.ndarray, rows: int) -> list[np.ndarray]:
        """The columns, allocated (from one row's ``obs``/``action``) or grown to hold ``rows`` more."""
        columns = self._columns
        if columns is None:
            capacity = max(self._capacity, rows)
            columns = [np.zeros((capacity, *obs.shape), obs.dtype), np.zeros((capacity, *action.shape), action.dtype),
                       np.zeros(capacity, np.float32), np.zeros((capacity, *obs.shape), obs.dtype),
                       np.zeros(capacity, bool), np.zeros(capacity, bool), np.zeros(capacity, np.int64)]
        else:
            columns = [self._grown(column, rows) for column in columns]
        self._columns = columns
        return columns

    def _write_extras(self, rows: slice, extras: Mapping[str, Any], one_row: bool) -> None:
        n = rows.stop - rows.start
        for name, value in extras.items():
            value = np.asarray(value)
            column = self._extras.get(name)
            if column is None:
                row_shape = value.shape if one_row else value.shape[1:]
                column = np.zeros((len(self._columns[0]), *row_shape), value.dtype)
            self._extras[name] = column = self._grown(column, n)
            column[rows] = value

    def push(self, obs, action, reward: float, next_obs, terminated: bool, truncated: bool = False, *,
             env_id: int = 0, extras: Mapping[str, Any] | None = None) -> None:
        obs = np.asarray(obs)
        columns = self._reserve(obs, np.asarray(action), 1)
        write_transitions(columns[:6], self._n, obs, action, reward, next_obs, terminated, truncated)
        columns[6][self._n] = env_id
        if extras:
            self._write_extras(slice(self._n, self._n + 1), extras, one_row=True)
        self._n += 1

    def push_batch(self, obs, actions, rewards, next_obs, terminated, truncated=None, *,
                   env_ids: np.ndarray | None = None, extras: Mapping[str, np.ndarray] | None = None) -> None:
        n = len(rewards)
        if n == 0:
            return
        obs, actions = np.asarray(obs), np.asarray(actions)
        columns = self._reserve(obs[0], actions[0], n)
        rows = slice(self._n, self._n + n)
        write_transitions(columns[:6], rows, obs, actions, rewards, next_obs, terminated, truncated)
        columns[6][rows] = np.arange(n) if env_ids is None else env_ids
        if extras:
            self._write_extras(rows, extras, one_row=False)
        self._n += n

    def _views(self) -> dict[str, Any]:
        """The transitions pushed since the last :meth:`clear` as views of the log's arrays, by name, and
        their extras under ``"extras"``: valid until the next push."""
        views: dict[str, Any] = {name: column[: self._n] for name, column in zip(self.FIELDS, self._columns)}
        views["extras"] = {name: column[: self._n] for name, column in self._extras.items()}
        return views

    def arrays(self) -> dict[str, Any]:
        """Copies of the transitions pushed since the last :meth:`clear`, by name (:attr:`FIELDS`), and
        under ``"extras"`` the per-step arrays by name; empty dict when there are none."""
        if self._columns is None or self._n == 0:
            return {}
        views = self._views()
        arrays: dict[str, Any] = {name: view.copy() for name, view in views.items() if name != "extras"}
        arrays["extras"] = {name: view.copy() for name, view in views["extras"].items()}
        return arrays

    def packed(self, streams: int) -> PackedTransitions:
        """The transitions pushed since the last :meth:`clear`, packed for another process
        (:func:`joyrl_core.pack_transitions`; ``streams``: the env streams interleaved row by row)."""
        if self._columns is None:
            return pack_transitions({"obs": np.zeros((0,)), "next_obs": np.zeros((0,))}, streams)
        return pack_transitions(self._views(), streams)

    def clear(self) -> None:
        """Forget the transitions; the arrays are kept for the next ones."""
        self._n = 0
