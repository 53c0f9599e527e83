"""Speed: the critics of SAC and TD3 evaluated as one batched network (``algo_cfg.batched_critics``).

:class:`Critics` runs each Q-head on its own: per layer, one matrix product per critic. Here the
heads' weights are stacked, so a layer is one batched product (``torch.baddbmm``) for all of them,
and the first layer, whose input is the same for every critic, one plain product with the weights
side by side. The observation encoder, which the heads share anyway, is taken over as it is (the same
module, so its state-dict keys are those of :class:`Critics`). The values and gradients are those of
:class:`Critics` with the same weights (tested, with and without a conv encoder); the network is made
from a :class:`Critics` and copies its initial weights, so the switch does not change what a seeded
run starts from. Checkpoints hold the stacked layout.
"""

from __future__ import annotations

import torch
from torch import nn

from joyrl_sac.networks import Critics


class BatchedCritics(nn.Module):
    """``n`` Q-heads with stacked weights on the critics' encoder; ``forward(obs, action)`` gives ``(n, B)``
    as :class:`Critics`."""

    def __init__(self, critics: Critics):
        super().__init__()
        self.encoder = critics.encoder
        nets = list(critics.q)
        self.n = len(nets)
        linears = [[m for m in net if isinstance(m, nn.Linear)] for net in nets]
        # What follows each linear layer (its activation, or nothing), taken from the first critic.
        self.activations = nn.ModuleList()
        after: list[nn.Module] = []
        for module in nets[0]:
            if isinstance(module, nn.Linear):
                after.append(nn.Identity())
            else:
                after[-1] = module
        self.activations.extend(after)
        first = [layers[0] for layers in linears]
        # First layer: (in, n * out), so one product serves every critic.
        self.w0 = nn.Parameter(torch.cat([lin.weight.detach().T for lin in first], dim=1).contiguous())
        self.b0 = nn.Parameter(torch.cat([lin.bias.detach() for lin in first]).contiguous())
        self.out0 = first[0].out_features
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for depth in range(1, len(linears[0])):
            layer = [layers[depth] for layers in linears]
            self.weights.append(nn.Parameter(torch.stack([lin.weight.detach().T for lin in layer]).contiguous()))
            self.biases.append(nn.Parameter(torch.stack([lin.bias.detach() for lin in layer]).unsqueeze(1).contiguous()))

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.encoder(obs), action], dim=1)
        h = torch.addmm(self.b0, x, self.w0)  # (B, n * out)
        h = self.activations[0](h.view(len(x), self.n, self.out0).transpose(0, 1))  # (n, B, out)
        for i, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            h = self.activations[i + 1](torch.baddbmm(bias, h, weight))
        return h.squeeze(2)
