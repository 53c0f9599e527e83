"""Layer lists: one YAML description of a network trunk, shared by every algorithm plugin.

An algorithm's config holds ``list[LayerConfig]`` (e.g. DQN's ``value_layers``, PPO's ``actor_layers``),
and builds it with :func:`build_layers` on the observation shape; the algorithm adds its own heads on
top of the returned output shape. Every layer is applied in order, each followed by its activation::

    value_layers:
      - {layer_type: linear, layer_dim: [64], activation: tanh}
      - {layer_type: linear, layer_dim: [64], activation: tanh}

``linear`` layers flatten what reaches them, so an MLP works on any observation shape; ``conv2d``
layers take ``(C, H, W)`` inputs; ``flatten`` makes the features of a convolutional stack a vector.
A layer list that does not fit the observation shape is refused by :func:`build_layers` with a
``ValueError`` naming the layer and the shapes (the run turns it into a one-line error).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from joyrl_core.config import option

Activation = Literal["relu", "tanh", "sigmoid", "elu", "leaky_relu", "gelu", "none"]
LayerType = Literal["linear", "conv2d", "flatten"]
Init = Literal["default", "orthogonal"]


@dataclass
class LayerConfig:
    """One layer of a network trunk."""

    # How config docs and errors name a list of these (`joyrl info layers` documents the entries).
    DESCRIBED_AS: ClassVar[str] = "a layer list (see `joyrl info layers`)"

    layer_type: LayerType = option("linear", "layer type: linear, conv2d or flatten")
    layer_dim: list[int] = option([256], "output width of a linear layer, or output channels of a conv2d, as a one-element list")
    activation: Activation = option("relu", "activation after the layer (none for a flatten)")
    kernel_size: int = option(3, "conv2d: kernel size", minimum=1)
    stride: int = option(1, "conv2d: stride", minimum=1)
    padding: int = option(0, "conv2d: zero padding on each side", minimum=0)

    def __post_init__(self) -> None:
        if self.layer_type != "flatten" and (len(self.layer_dim) != 1 or self.layer_dim[0] < 1):
            raise ValueError(f"layer_dim: expected one positive width such as [256], got {self.layer_dim}")


def parse_layers(layers: Sequence[LayerConfig | dict[str, Any]], key: str) -> list[LayerConfig]:
    """``layers`` as :class:`LayerConfig` instances (YAML gives dicts); ``key`` names the config key in errors."""
    parsed = [LayerConfig(**layer) if isinstance(layer, dict) else layer for layer in layers]
    if not parsed:
        raise ValueError(f"{key}: at least one layer is required")
    return parsed


def layer_list(*widths: int, activation: Activation = "relu") -> list[dict[str, Any]]:
    """A default for a config field: linear layers of ``widths`` with one activation (YAML's form)."""
    return [{"layer_type": "linear", "layer_dim": [w], "activation": activation} for w in widths]


def layers_field(*widths: int, activation: Activation = "relu", help: str) -> Any:
    """A dataclass field holding a layer list, defaulting to linear layers of ``widths``."""
    return option(layer_list(*widths, activation=activation), help)


def _activation(name: str):
    from torch import nn

    return {
        "relu": nn.ReLU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "elu": nn.ELU,
        "leaky_relu": nn.LeakyReLU,
        "gelu": nn.GELU,
    }[name]()


def build_layers(layers: Sequence[LayerConfig], in_shape: Sequence[int]) -> tuple[list[Any], tuple[int, ...]]:
    """Torch modules for ``layers`` applied to inputs of shape ``in_shape`` (one sample, no batch axis),
    and the shape of what comes out. Raise ``ValueError`` naming the first layer that does not fit.

    A ``linear`` layer after a multi-dimensional input flattens it first; the modules are plain
    ``nn.Linear``/``nn.Conv2d``/activations (so ``nn.Sequential(*modules)`` has the usual state-dict keys).
    """
    from torch import nn

    shape = tuple(int(d) for d in in_shape)
    modules: list[Any] = []
    for i, layer in enumerate(layers):
        where = f"layer {i} ({layer.layer_type})"
        if layer.layer_type == "linear":
            if len(shape) != 1:
                modules.append(nn.Flatten())
                shape = (math.prod(shape),)
            modules.append(nn.Linear(shape[0], layer.layer_dim[0]))
            shape = (layer.layer_dim[0],)
        elif layer.layer_type == "conv2d":
            if len(shape) != 3:
                raise ValueError(f"{where} needs a (channels, height, width) input, got shape {shape}")
            channels, height, width = shape
            out_h = (height + 2 * layer.padding - layer.kernel_size) // layer.stride + 1
            out_w = (width + 2 * layer.padding - layer.kernel_size) // layer.stride + 1
            if out_h < 1 or out_w < 1:
                raise ValueError(f"{where} with kernel {layer.kernel_size}, stride {layer.stride}, padding "
                                 f"{layer.padding} does not fit input shape {shape}")
            modules.append(nn.Conv2d(channels, layer.layer_dim[0], layer.kernel_size, layer.stride, layer.padding))
            shape = (layer.layer_dim[0], out_h, out_w)
        else:  # flatten
            modules.append(nn.Flatten())
            shape = (math.prod(shape),)
        if layer.activation != "none":
            modules.append(_activation(layer.activation))
    return modules, shape


def init_weights(module: Any, init: Init, gain: float = math.sqrt(2)) -> None:
    """Re-initialise every linear and conv layer in ``module``: ``orthogonal`` (weights orthogonal with
    ``gain``, biases zero, as SB3's ``ortho_init``) or ``default`` (torch's own init; nothing to do)."""
    if init == "default":
        return
    from torch import nn

    for sub in module.modules():
        if isinstance(sub, (nn.Linear, nn.Conv2d)):
            nn.init.orthogonal_(sub.weight, gain=gain)
            nn.init.zeros_(sub.bias)


__all__ = ["Activation", "LayerConfig", "build_layers", "init_weights", "layer_list", "layers_field", "parse_layers"]
