"""Transitions packed for another process: each observation sent once, a frame stack's old frames not at all.

A collector's batch (:meth:`TransitionLog.arrays`) holds ``obs`` and ``next_obs`` for every row. Along an
env stream most of that repeats: a row's ``next_obs`` is the stream's next ``obs``, and with stacked frames
(``FrameStackObservation``: ``(k, *frame)``) a ``next_obs`` is its ``obs`` shifted by one frame with one new
frame at the end. :func:`pack_transitions` keeps only what does not repeat, proven by comparing bytes,
and :meth:`PackedTransitions.unpack` rebuilds the batch byte for byte: whatever the observations are
(vectors, images, stacks, float or ``uint8``), ``unpack(pack(arrays))`` equals ``arrays`` in every column,
shape and dtype; an observation that does not repeat is just sent in full. So a learner that pushes the
unpacked rows into its buffer stores exactly what it would store from the unpacked batch, whatever the
buffer is.

Row layout: the rows of ``streams`` env streams interleaved step by step (row ``t * streams + i`` is
stream ``i`` at step ``t``, as :class:`VectorEnvRunner` pushes them); a row's successor is
``streams`` rows later. Another layout stays exact and only saves less.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from joyrl_core.contracts.spaces import stack_depth

OBS_FIELDS = ("obs", "next_obs")
# Observations smaller than this are shipped whole: the comparisons and frame ids cost a few microseconds
# a step, more than the copy of so few bytes they would save (a CartPole state is 16 bytes).
MIN_PACKED_OBS_BYTES = 1024


def _words(a: np.ndarray, k: int) -> np.ndarray:
    """``a`` as ``(rows, k, words)`` of its raw bytes (8-byte words where a frame's length allows), so
    that equal words are equal bytes: NaN equals NaN, -0.0 differs from 0.0."""
    frames = np.ascontiguousarray(a).view(np.uint8).reshape(len(a), k, -1)
    return frames.view(np.uint64) if frames.shape[2] % 8 == 0 else frames


@dataclass
class PackedTransitions:
    """A batch of ``n`` transitions of ``streams`` interleaved env streams, packed by :func:`pack_transitions`.

    ``obs_stacks``: the observations that are not their stream's previous ``next_obs`` (the first of each
    stream, episode starts), where ``obs_sent``. ``next_stacks``: the ``next_obs`` that are not their ``obs``
    shifted by one frame, where ``~next_shifted``; ``next_frames``: the newest frame of the others.
    ``columns``: every other column (actions, rewards, flags, env ids) as it is, and ``extras``.
    """

    n: int
    streams: int
    obs_shape: tuple[int, ...]
    obs_sent: np.ndarray
    next_shifted: np.ndarray
    obs_stacks: np.ndarray
    next_stacks: np.ndarray
    next_frames: np.ndarray
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.n

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays it holds (what goes over the wire, less a few hundred of framing)."""
        arrays = [self.obs_sent, self.next_shifted, self.obs_stacks, self.next_stacks, self.next_frames,
                  *self.columns.values(), *self.extras.values()]
        return sum(a.nbytes for a in arrays)

    def unpack(self, start: int = 0, stop: int | None = None) -> dict[str, Any]:
        """Rows ``start:stop`` (default: all) of the batch as :meth:`TransitionLog.arrays` gave it: new
        ``obs``/``next_obs`` arrays (views where they were shipped whole), views of the other columns
        and ``extras``.

        A consumer that takes the batch in pieces (a learner pushing one vector step at a time) unpacks
        each piece as it goes: the frames are then copied once, into small arrays that stay in cache.
        """
        rows = slice(start, self.n if stop is None else stop)
        if len(self.obs_stacks) == len(self.next_stacks) == self.n:  # shipped whole
            arrays = {"obs": self.obs_stacks[rows], "next_obs": self.next_stacks[rows]}
        else:
            obs_ids, next_ids, pool = self._frame_ids
            arrays = {"obs": pool[obs_ids[rows]], "next_obs": pool[next_ids[rows]]}
        arrays = {name: value.reshape(-1, *self.obs_shape) for name, value in arrays.items()}
        arrays.update({name: column[rows] for name, column in self.columns.items()})
        arrays["extras"] = {name: column[rows] for name, column in self.extras.items()}
        return arrays

    @functools.cached_property
    def _frame_ids(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each row's ``obs`` and ``next_obs`` as ``k`` ids into a pool of the shipped frames, and the pool.

        All rows at once: a row whose obs is its stream's previous ``next_obs``, itself that row's obs
        shifted, is a link; ``c`` links back lies the row where the chain of frames starts with a whole
        stack, and frame ``j`` of the obs is frame ``j + c`` of that stack, or (past its end) the newest
        frame of the ``next_obs`` ``k - j`` steps back.
        """
        n, s, k = self.n, self.streams, stack_depth(self.obs_shape)
        sent, shifted = self.obs_sent, self.next_shifted
        frame_shape = self.next_frames.shape[1:]
        obs_frames, next_frames = len(self.obs_stacks) * k, len(self.next_stacks) * k
        pool = np.concatenate([self.obs_stacks.reshape(-1, *frame_shape), self.next_stacks.reshape(-1, *frame_shape),
                               self.next_frames])
        rows = np.arange(n)
        whole = np.zeros((n, k), dtype=np.int64)  # a chain's first stack: the sent obs, or the whole next_obs before
        whole[sent] = np.arange(obs_frames).reshape(-1, k)
        next_ids = np.zeros((n, k), dtype=np.int64)
        next_ids[~shifted] = obs_frames + np.arange(next_frames).reshape(-1, k)
        fresh = np.zeros(n, dtype=np.int64)
        fresh[shifted] = obs_frames + next_frames + np.arange(len(self.next_frames))
        link = np.zeros(n, dtype=bool)
        link[s:] = ~sent[s:] & shifted[:-s]
        start = ~link
        carried = start & ~sent
        whole[carried] = next_ids[rows[carried] - s]
        # Links back to the chain's start, per stream: the step now minus the step of its last start.
        steps = -(-n // s)
        last_start = np.zeros(steps * s, dtype=np.int64)
        last_start[:n] = np.where(start, rows // s, 0)
        links = rows // s - np.maximum.accumulate(last_start.reshape(steps, s), axis=0).reshape(-1)[:n]
        j = np.arange(k)
        pos = j + links[:, None]
        from_start = np.take_along_axis(whole[rows - links * s], np.minimum(pos, k - 1), axis=1)
        from_fresh = fresh[np.maximum(rows[:, None] - (k - j) * s, 0)]
        obs_ids = np.where(pos < k, from_start, from_fresh)
        next_ids[shifted, :-1] = obs_ids[shifted, 1:]
        next_ids[shifted, -1] = fresh[shifted]
        return obs_ids, next_ids, pool


def pack_transitions(arrays: dict[str, Any], streams: int) -> PackedTransitions:
    """Pack ``arrays`` (:meth:`TransitionLog.arrays`: ``obs``, ``next_obs``, the other columns and
    ``extras``) of ``streams`` interleaved env streams for sending; :meth:`PackedTransitions.unpack`
    gives them back exactly. The result shares no memory with ``arrays``."""
    obs, nxt = np.asarray(arrays["obs"]), np.asarray(arrays["next_obs"])
    if obs.dtype != nxt.dtype or obs.shape != nxt.shape:
        raise ValueError(f"obs {obs.dtype}{obs.shape} and next_obs {nxt.dtype}{nxt.shape} differ in dtype or shape")
    n, s = len(obs), max(1, int(streams))
    obs_shape = tuple(obs.shape[1:])
    k = stack_depth(obs_shape)
    frame_shape = obs_shape[1:] if len(obs_shape) >= 2 else obs_shape
    obs_sent = np.ones(n, dtype=bool)
    next_shifted = np.zeros(n, dtype=bool)
    if n and obs[0].nbytes >= MIN_PACKED_OBS_BYTES:
        obs_words, next_words = _words(obs, k), _words(nxt, k)
        # A row's obs need not be sent when it is its stream's previous next_obs (the episode went on).
        obs_sent[s:] = ~(next_words[: n - s] == obs_words[s:]).all(axis=(1, 2))
        next_shifted = (next_words[:, :-1] == obs_words[:, 1:]).all(axis=(1, 2))
    # Copies: the packed batch never shares memory with a collector's arrays, which it may reuse.
    columns = {name: np.array(value) for name, value in arrays.items() if name not in (*OBS_FIELDS, "extras")}
    extras = {name: np.array(value) for name, value in (arrays.get("extras") or {}).items()}
    return PackedTransitions(
        n=n, streams=s, obs_shape=obs_shape, obs_sent=obs_sent, next_shifted=next_shifted,
        obs_stacks=obs[obs_sent].reshape(-1, k, *frame_shape),
        next_stacks=nxt[~next_shifted].reshape(-1, k, *frame_shape),
        next_frames=nxt[next_shifted].reshape(-1, k, *frame_shape)[:, -1],
        columns=columns, extras=extras,
    )
