"""What BC and CQL share: a network from a layer list with a linear head, batches as tensors, checkpoint checks.

Image observations stay compact (``uint8``, ``bool``) from the dataset's buffer to the device
(:func:`joyrl_core.obs_tensor`); the first module :func:`joyrl_core.build_layers` puts in front of them
scales them and puts their channels first, so layer lists may start with convolutions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from joyrl_core import ConfigError, EnvSpec, LayerConfig, build_layers, obs_tensor


def obs_shape_of(env_spec: EnvSpec) -> tuple[int, ...]:
    """The shape networks see: a Discrete observation (a state index, shape ``()``) as one feature."""
    return env_spec.obs_shape or (1,)


def head_network(layers: Sequence[LayerConfig], env_spec: EnvSpec, outputs: int, key: str) -> nn.Sequential:
    """``layers`` (``algo_cfg.<key>``) on the observation, then a linear layer of ``outputs`` units; a
    ``ConfigError`` naming the key, the layer and the shapes where the layers do not fit the observation."""
    try:
        modules, out_shape = build_layers(layers, obs_shape_of(env_spec), obs_dtype=env_spec.obs_dtype)
    except ValueError as exc:
        raise ConfigError(f"algo_cfg.{key}: {exc}") from None
    if len(out_shape) != 1:
        modules.append(nn.Flatten())
    return nn.Sequential(*modules, nn.Linear(int(np.prod(out_shape)), outputs))


class Batches:
    """Turns numpy arrays (observations, buffer columns) into tensors on one device: observations as
    :func:`joyrl_core.obs_tensor` makes them (frames compact), columns as float or long."""

    def __init__(self, env_spec: EnvSpec, device: torch.device):
        self.shape = obs_shape_of(env_spec)
        self.device = device

    def obs(self, obs: np.ndarray) -> torch.Tensor:
        return obs_tensor(np.asarray(obs).reshape(len(obs), *self.shape), self.device)

    def tensor(self, array: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array), device=self.device).to(dtype)


def check_keys(state, keys: Sequence[str], name: str) -> None:
    """``load_state_dict``'s first check: ``state`` is a checkpoint of this algorithm."""
    missing = set(keys) - set(state)
    if missing:
        raise ValueError(f"not a {name} checkpoint: missing {sorted(missing)}")
