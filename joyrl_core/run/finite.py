"""Refusing NaN and infinity where they would be trained on: env observations and rewards, update
metrics, and the agent state a checkpoint would keep."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np


def non_finite_env_value(obs: Any, reward: Any = 0.0) -> str | None:
    """What is not finite in one step's observation and reward (``"reward nan"``, ``"observation
    inf"``), or ``None``. Integer observations are finite by construction and are not scanned.

    It runs on every env step, so the common case takes one reduction: a sum of squares is finite only
    if every element is (it cannot cancel an inf or hide a NaN); only when it is not (a NaN, an inf, or
    an overflow of huge values) are the elements looked at one by one.
    """
    if isinstance(reward, (float, int)):
        if not math.isfinite(reward):
            return f"reward {float(reward)}"
    else:
        rewards = np.asarray(reward, dtype=np.float64)  # a vector env's rewards, or a numpy scalar
        if not np.isfinite(rewards).all():
            return f"reward {rewards[~np.isfinite(rewards)].flat[0]}"
    arr = np.asarray(obs)
    if arr.dtype.kind == "f" and not math.isfinite(np.vdot(arr, arr)) and not np.isfinite(arr).all():
        return f"observation {arr[~np.isfinite(arr)].flat[0]}"
    return None


def non_finite_metrics(metrics: Mapping[str, float]) -> list[str]:
    """The names of the metrics an update returned that are NaN or infinite."""
    return [key for key, value in metrics.items() if not math.isfinite(float(value))]


def non_finite_tensors(state: Any, where: str = "") -> Iterator[str]:
    """Paths (``['q_net']['0.weight']``) of floating tensors in a state dict holding NaN or inf.

    Plain floats are not scanned: a scheduler may keep ``inf`` as its best value so far.
    """
    import torch

    if isinstance(state, torch.Tensor):
        if state.is_floating_point() and not bool(torch.isfinite(state).all()):
            yield where
    elif isinstance(state, Mapping):
        for key, value in state.items():
            yield from non_finite_tensors(value, f"{where}[{key!r}]")
    elif isinstance(state, (list, tuple)):
        for i, value in enumerate(state):
            yield from non_finite_tensors(value, f"{where}[{i}]")
