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

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.to(torch.float32)
        if self.scale != 1.0:
            x = x * self.scale
        if self.permute:
            return x.permute(0, 3, 1, 2)
        if self.add_channel:
            return x.unsqueeze(1)
        return x

    def extra_repr(self) -> str:
        return f"scale={self.scale:g}, permute={self.permute}, add_channel={self.add_channel}"


class ResidualBlock(nn.Module):
    """IMPALA's residual block (Espeholt et al., 2018): ``x + conv(relu(conv(relu(x))))``, 3x3 convs
    that keep the shape."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv0 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv1(torch.relu(self.conv0(torch.relu(x))))
