"""What BC and CQL share: a network from a layer list with a linear head, batches as tensors, checkpoint checks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from joyrl_core import EnvSpec, LayerConfig, build_layers


def obs_shape_of(env_spec: EnvSpec) -> tuple[int, ...]:
    """The shape networks see: a Discrete observation (a state index, shape ``()``) as one feature."""
    return env_spec.obs_shape or (1,)


def head_network(layers: Sequence[LayerConfig], env_spec: EnvSpec, outputs: int) -> nn.Sequential:
    """``layers`` on the observation, then a linear layer of ``outputs`` units."""
    modules, out_shape = build_layers(layers, obs_shape_of(env_spec))
    if len(out_shape) != 1:
        modules.append(nn.Flatten())
    return nn.Sequential(*modules, nn.Linear(int(np.prod(out_shape)), outputs))


class Batches:
    """Turns numpy arrays (observations, buffer columns) into float or long tensors on one device."""

    def __init__(self, env_spec: EnvSpec, device: torch.device):
        self.shape = obs_shape_of(env_spec)
        self.device = device

    def obs(self, obs: np.ndarray) -> torch.Tensor:
        return self.tensor(np.asarray(obs).reshape(len(obs), *self.shape))

    def tensor(self, array: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array), device=self.device).to(dtype)


def check_keys(state, keys: Sequence[str], name: str) -> None:
    """``load_state_dict``'s first check: ``state`` is a checkpoint of this algorithm."""
    missing = set(keys) - set(state)
    if missing:
        raise ValueError(f"not a {name} checkpoint: missing {sorted(missing)}")
