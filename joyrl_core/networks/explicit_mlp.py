"""The forward and backward passes of a plain MLP written out as matrix products, for learning on CPU.

At DQN's sizes (a batch of 64, a few layers 256 wide) autograd's bookkeeping -- recording the graph in
the forward pass, running its engine, accumulating into fresh ``.grad`` tensors -- costs about as much
on CPU as the arithmetic itself. A stack of linear layers has a backward pass of three products per layer,
so the learner computes it directly: the same gradients (the tests hold them to autograd's within
float32 rounding), a third less time a gradient step (see joyrl-dqn's README). Networks this does not
cover (a dueling head, activations other than those below) and GPUs keep autograd.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

# Each activation's backward pass from its *output* y, which the forward pass keeps anyway: autograd's own
# kernels (relu's is threshold_backward(grad, y, 0)), one op each instead of a derivative and a product.
_BACKWARD_FROM_OUTPUT: dict[type, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    nn.ReLU: lambda grad, y: torch.ops.aten.threshold_backward(grad, y, 0),
    nn.Tanh: torch.ops.aten.tanh_backward,
    nn.Sigmoid: torch.ops.aten.sigmoid_backward,
}


def _numpy_tanh_(x: torch.Tensor) -> torch.Tensor:
    # numpy's float32 tanh is ~20x faster than torch's CPU kernel at these sizes (3 us against 65 us for
    # 256 x 64) and agrees with it to the last bit or two.
    np.tanh(x.numpy(), out=x.numpy())
    return x


# In place on the layer's fresh output: the pre-activation is not needed for the backward pass.
_ACTIVATION_: dict[type, Callable[[torch.Tensor], torch.Tensor]] = {
    nn.ReLU: torch.relu_,
    nn.Tanh: _numpy_tanh_,
    nn.Sigmoid: torch.sigmoid_,
}


class ExplicitMLP:
    """``net`` (an ``nn.Sequential`` of ``nn.Linear`` layers, each optionally followed by one of the
    activations above) with a forward pass that keeps what the backward pass needs and a backward pass
    that writes the parameters' gradients in place.

    CPU tensors only (tanh runs in numpy). It reads and writes the module's own parameters: the optimizer,
    ``load_state_dict`` and the target network's copies all see the same tensors.
    """

    def __init__(self, layers: list[tuple[nn.Linear, type | None]]):
        self.weights = [linear.weight for linear, _ in layers]
        # Transposed views, made once (outside autograd): updates to the weights are in place, so the
        # views stay current.
        with torch.no_grad():
            self._weights_t = [weight.t() for weight in self.weights]
        self.biases = [linear.bias for linear, _ in layers]
        self.activations = [activation for _, activation in layers]

    @classmethod
    def of(cls, net: nn.Module) -> ExplicitMLP | None:
        """The explicit version of ``net``, or ``None`` where it has a layer this module does not cover."""
        if not isinstance(net, nn.Sequential):
            return None
        layers: list[tuple[nn.Linear, type | None]] = []
        for module in net:
            if isinstance(module, nn.Linear) and module.bias is not None:
                layers.append((module, None))
            elif type(module) in _ACTIVATION_ and layers and layers[-1][1] is None:
                layers[-1] = (layers[-1][0], type(module))
            else:
                return None
        return cls(layers) if layers else None

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``net(x)`` and the input of every layer (for :meth:`backward`)."""
        inputs = []
        for weight_t, bias, activation in zip(self._weights_t, self.biases, self.activations):
            inputs.append(x)
            x = torch.addmm(bias, x, weight_t)
            if activation is not None:
                x = _ACTIVATION_[activation](x)
        return x, inputs

    @torch.no_grad()
    def backward(self, grad_output: torch.Tensor, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Gradients of ``sum(grad_output * net(x))`` with respect to the parameters, written into their
        ``.grad`` (allocated on first use, then overwritten in place); returns them in
        ``net.parameters()`` order. ``inputs`` is what :meth:`forward` returned for ``x``."""
        grads: list[torch.Tensor] = [torch.empty(0)] * (2 * len(self.weights))
        grad = grad_output
        for i in reversed(range(len(self.weights))):
            weight, bias = self.weights[i], self.biases[i]
            if weight.grad is None:
                weight.grad, bias.grad = torch.empty_like(weight), torch.empty_like(bias)
            torch.mm(grad.t(), inputs[i], out=weight.grad)
            torch.sum(grad, dim=0, out=bias.grad)
            grads[2 * i], grads[2 * i + 1] = weight.grad, bias.grad
            if i > 0:  # the network's input needs no gradient
                grad = grad @ weight
                previous = self.activations[i - 1]
                if previous is not None:
                    # inputs[i] is the previous layer's activation output
                    grad = _BACKWARD_FROM_OUTPUT[previous](grad, inputs[i])
        return grads
