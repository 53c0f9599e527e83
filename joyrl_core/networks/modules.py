"""The torch modules the layer vocabulary builds beyond torch's own (imported only when a network is built)."""

from __future__ import annotations

import torch
from torch import nn


class ObservationInput(nn.Module):
    """Compact observations to float32 network input (see :mod:`joyrl_core.networks.inputs`): scaled by
    ``scale``, channels-last frames permuted to channels-first, a 2-D frame given a channel axis. It has
    no parameters, so it adds no state-dict keys."""

    def __init__(self, scale: float, permute: bool, add_channel: bool):
        super().__init__()
        self.scale = scale
        self.permute = permute
        self.add_channel = add_channel
        # What the convolutions after it take fastest; channels_last once use_channels_last() set them so.
        self.memory_format = torch.contiguous_format

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.to(torch.float32)
        if self.scale != 1.0:
            x = x * self.scale
        if self.permute:
            x = x.permute(0, 3, 1, 2)
        elif self.add_channel:
            x = x.unsqueeze(1)
        if self.memory_format is torch.contiguous_format:
            return x
        # Reordered as float here (a permuted copy of the uint8 frames is slower), and once: a
        # convolution handed a channels-first input would reorder it itself, more slowly.
        return x.contiguous(memory_format=self.memory_format)

    def extra_repr(self) -> str:
        layout = ", channels_last" if self.memory_format is torch.channels_last else ""
        return f"scale={self.scale:g}, permute={self.permute}, add_channel={self.add_channel}{layout}"


def use_channels_last(module: nn.Module) -> bool:
    """Store ``module``'s convolutions channels-last (NHWC) and have its :class:`ObservationInput` hand
    them channels-last input; ``False`` (and nothing changed) where it has no ``nn.Conv2d``.

    Speed only: the values are the channels-first network's up to float rounding (oneDNN sums a
    convolution in another order; ~1e-7 relative), state-dict keys and shapes are unchanged, and
    ``load_state_dict`` copies into the parameters whatever layout the saved tensors have. On CPUs with
    AVX-512 a Nature-CNN DQN gradient step at batch 32 took ~16% less time (``benchmarks/cpu_floors.py``
    measures it).
    """
    if not any(isinstance(sub, nn.Conv2d) for sub in module.modules()):
        return False
    module.to(memory_format=torch.channels_last)
    for sub in module.modules():
        if isinstance(sub, ObservationInput):
            sub.memory_format = torch.channels_last
    return True


class ResidualBlock(nn.Module):
    """IMPALA's residual block (Espeholt et al., 2018): ``x + conv(relu(conv(relu(x))))``, 3x3 convs
    that keep the shape."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv0 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv1(torch.relu(self.conv0(torch.relu(x))))
