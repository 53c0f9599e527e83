"""Observations on their way into a network: the one place that decides dtype, scale and channel order.

Image observations stay compact (``uint8``, or ``bool`` for binary frames such as MinAtar's) in the env,
the buffers and on the way to the device; :func:`obs_tensor` makes them a tensor without a float copy,
and the network's first module, :class:`ObservationInput`, turns them into what a convolution expects:

- ``uint8`` is taken to be pixels on 0..255 and scaled to [0, 1] (as SB3 does for image spaces);
  ``bool`` becomes 0.0/1.0;
- before a spatial layer (``conv2d`` or a preset encoder), channels-last frames ``(H, W, C)`` are
  permuted to ``(C, H, W)`` and a 2-D frame ``(H, W)`` gets one channel axis. Channels-last is
  recognised as SB3 does: the last axis is the smallest and smaller than the first (``(84, 84, 4)``,
  MinAtar's ``(10, 10, 4)``); ``(4, 84, 84)`` is already channels-first.

Float observations need none of it, so an MLP on float observations has no input module (its
state-dict keys stay ``0.weight``, ``0.bias``, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# Pixels: the dtype scaled by 1/255 on the way in.
PIXEL_DTYPE = np.dtype(np.uint8)
# Kept as they are by obs_tensor and converted by the network: small to store and to copy to a device.
COMPACT_DTYPES = (np.dtype(np.uint8), np.dtype(np.bool_))


def channels_last(shape: Sequence[int]) -> bool:
    """Whether a 3-D frame ``shape`` is ``(H, W, C)``: its last axis is the smallest and smaller than the
    first (SB3's rule, so ``(84, 84, 4)`` is channels-last and ``(4, 84, 84)`` channels-first)."""
    return len(shape) == 3 and shape[-1] < shape[0] and shape[-1] == min(shape)


def obs_tensor(obs: Any, device: Any = "cpu"):
    """A batch of observations as a torch tensor on ``device``: ``uint8``/``bool`` frames as they are
    (the network converts them, see :class:`ObservationInput`), anything else as float32."""
    import torch

    array = np.asarray(obs)
    if array.dtype in COMPACT_DTYPES:
        return torch.as_tensor(array, device=device)
    return torch.as_tensor(array, dtype=torch.float32, device=device)


def observation_input(obs_shape: Sequence[int], obs_dtype: Any, spatial: bool) -> tuple[Any, tuple[int, ...]]:
    """The input module for observations of ``obs_shape``/``obs_dtype`` going into a first layer that is
    ``spatial`` (a convolution) or not, and the shape the next layer sees: ``(None, obs_shape)`` where
    nothing needs doing (float observations already channels-first, or any float MLP)."""
    shape = tuple(int(d) for d in obs_shape)
    dtype = np.dtype(obs_dtype)
    permute = spatial and channels_last(shape)
    add_channel = spatial and len(shape) == 2
    if dtype not in COMPACT_DTYPES and not permute and not add_channel:
        return None, shape
    if permute:
        shape = (shape[2], shape[0], shape[1])
    elif add_channel:
        shape = (1, *shape)
    from joyrl_core.networks.modules import ObservationInput

    scale = 1.0 / 255.0 if dtype == PIXEL_DTYPE else 1.0
    return ObservationInput(scale, permute, add_channel), shape


__all__ = ["channels_last", "obs_tensor", "observation_input"]
