"""Layer lists: one YAML description of a network trunk, shared by every algorithm plugin.

An algorithm's config holds ``list[LayerConfig]`` (e.g. DQN's ``value_layers``, PPO's ``actor_layers``),
and builds it with :func:`build_layers` on the observation shape; the algorithm adds its own heads on
top of the returned output shape. Every layer is applied in order, each followed by its activation::

    value_layers:
      - {layer_type: linear, layer_dim: [64], activation: tanh}
      - {layer_type: linear, layer_dim: [64], activation: tanh}

``linear`` layers flatten what reaches them, so an MLP works on any observation shape; ``conv2d``
layers take ``(C, H, W)`` inputs; ``flatten`` makes the features of a convolutional stack a vector.
``nature_cnn`` and ``impala_cnn`` are named encoders (:data:`PRESETS`): the convolutional stack of the
Nature DQN (Mnih et al., 2015) and IMPALA's ResNet (Espeholt et al., 2018), each ending flattened, so
the Nature DQN's network is ``[{layer_type: nature_cnn}, {layer_type: linear, layer_dim: [512]}]``.

Given the observation dtype (``build_layers(..., obs_dtype=...)``), the network starts with the one
module that makes compact image observations float input in channels-first order
(:mod:`joyrl_core.networks.inputs`). A layer list that does not fit the observation shape is refused by
:func:`build_layers` with a ``ValueError`` naming the layer and the shapes (the run turns it into a
one-line error).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from joyrl_core.config import option
from joyrl_core.networks.inputs import observation_input

# The named encoders: what each expands to, as (kind, channels, kernel, stride, padding) steps, every
# conv followed by a ReLU except where a residual block or the final ReLU does it.
NATURE_CNN = (("conv", 32, 8, 4, 0), ("relu",), ("conv", 64, 4, 2, 0), ("relu",), ("conv", 64, 3, 1, 0), ("relu",))
IMPALA_CNN = tuple(
    step
    for channels in (16, 32, 32)
    for step in (("conv", channels, 3, 1, 1), ("maxpool", channels, 3, 2, 1), ("residual", channels),
                 ("residual", channels))
) + (("relu",),)
PRESETS = {"nature_cnn": NATURE_CNN, "impala_cnn": IMPALA_CNN}
SPATIAL = ("conv2d", *PRESETS)

Activation = Literal["relu", "tanh", "sigmoid", "elu", "leaky_relu", "gelu", "none"]
LayerType = Literal["linear", "conv2d", "flatten", "nature_cnn", "impala_cnn"]
Init = Literal["default", "orthogonal"]


@dataclass
class LayerConfig:
    """One layer of a network trunk."""

    # How config docs and errors name a list of these (`joyrl info layers` documents the entries).
    DESCRIBED_AS: ClassVar[str] = "a layer list (see `joyrl info layers`)"

    layer_type: LayerType = option(
        "linear", "layer type: linear, conv2d, flatten, or an encoder that ends flattened: nature_cnn (the Nature "
        "DQN's 3 convs, 32-64-64) or impala_cnn (IMPALA's 3 ResNet stacks, 16-32-32); presets take no other key")
    layer_dim: list[int] = option([256], "output width of a linear layer, or output channels of a conv2d, as a one-element list")
    activation: Activation = option("relu", "activation after the layer (none for a flatten)")
    kernel_size: int = option(3, "conv2d: kernel size", minimum=1)
    stride: int = option(1, "conv2d: stride", minimum=1)
    padding: int = option(0, "conv2d: zero padding on each side", minimum=0)

    def __post_init__(self) -> None:
        if self.layer_type in PRESETS:
            given = [f"{key}: {getattr(self, key)}" for key, default in _PRESET_UNSET.items()
                     if getattr(self, key) != default]
            if given:
                raise ValueError(f"layer_type: {self.layer_type} is a fixed encoder and takes no {', '.join(given)}; "
                                 "write conv2d layers for another shape")
        elif self.layer_type != "flatten" and (len(self.layer_dim) != 1 or self.layer_dim[0] < 1):
            raise ValueError(f"layer_dim: expected one positive width such as [256], got {self.layer_dim}")

    @property
    def spatial(self) -> bool:
        """Whether the layer takes ``(C, H, W)`` input (a convolution or a preset encoder)."""
        return self.layer_type in SPATIAL


# A preset's keys beyond layer_type must keep these defaults (its ReLUs are its own).
_PRESET_UNSET = {"layer_dim": [256], "activation": "relu", "kernel_size": 3, "stride": 1, "padding": 0}


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


def _conv_shape(shape: tuple[int, ...], kernel: int, stride: int, padding: int, where: str) -> tuple[int, int]:
    """Height and width after a convolution or pooling window; ``ValueError`` where it does not fit."""
    _, height, width = shape
    out_h = (height + 2 * padding - kernel) // stride + 1
    out_w = (width + 2 * padding - kernel) // stride + 1
    if out_h < 1 or out_w < 1:
        raise ValueError(f"{where} with kernel {kernel}, stride {stride}, padding {padding} does not fit input shape {shape}")
    return out_h, out_w


def _preset(name: str, shape: tuple[int, ...], where: str) -> tuple[list[Any], tuple[int, ...]]:
    """The modules of preset encoder ``name`` on ``(C, H, W)`` inputs of ``shape``, ending flattened."""
    from torch import nn

    from joyrl_core.networks.modules import ResidualBlock

    modules: list[Any] = []
    for step in PRESETS[name]:
        kind = step[0]
        if kind == "conv":
            _, channels, kernel, stride, padding = step
            out_h, out_w = _conv_shape(shape, kernel, stride, padding, f"{where}, its {channels}-channel conv")
            modules.append(nn.Conv2d(shape[0], channels, kernel, stride, padding))
            shape = (channels, out_h, out_w)
        elif kind == "maxpool":
            _, channels, kernel, stride, padding = step
            out_h, out_w = _conv_shape(shape, kernel, stride, padding, f"{where}, its max-pool")
            modules.append(nn.MaxPool2d(kernel, stride, padding))
            shape = (channels, out_h, out_w)
        elif kind == "residual":
            modules.append(ResidualBlock(shape[0]))
        else:
            modules.append(nn.ReLU())
    modules.append(nn.Flatten())
    return modules, (math.prod(shape),)


def build_layers(layers: Sequence[LayerConfig], in_shape: Sequence[int],
                 obs_dtype: Any = None) -> tuple[list[Any], tuple[int, ...]]:
    """Torch modules for ``layers`` applied to inputs of shape ``in_shape`` (one sample, no batch axis),
    and the shape of what comes out. Raise ``ValueError`` naming the first layer that does not fit.

    With ``obs_dtype`` (the env's observation dtype, ``EnvSpec.obs_dtype``), ``in_shape`` is the
    observation's shape as the env gives it and the network takes observations as
    :func:`joyrl_core.obs_tensor` makes them: where they are compact (``uint8`` pixels, ``bool``) or a
    convolution needs another channel order, the modules start with the input module of
    :func:`joyrl_core.networks.inputs.observation_input` (scaling, ``HWC -> CHW``; no parameters).

    A ``linear`` layer after a multi-dimensional input flattens it first; the modules are plain
    ``nn.Linear``/``nn.Conv2d``/activations (so ``nn.Sequential(*modules)`` has the usual state-dict keys).
    """
    shape = tuple(int(d) for d in in_shape)
    modules: list[Any] = []
    if obs_dtype is not None and layers:
        first, shape = observation_input(shape, obs_dtype, layers[0].spatial)
        if first is not None:
            modules.append(first)
    try:
        return _build(layers, shape, modules)
    except ValueError as exc:
        if shape != tuple(int(d) for d in in_shape):  # name the shape the user knows too
            raise ValueError(f"{exc} (observation shape {tuple(in_shape)}, channels first: {shape})") from None
        raise


def _build(layers: Sequence[LayerConfig], shape: tuple[int, ...], modules: list[Any]) -> tuple[list[Any], tuple[int, ...]]:
    from torch import nn

    for i, layer in enumerate(layers):
        where = f"layer {i} ({layer.layer_type})"
        if layer.spatial and len(shape) != 3:
            raise ValueError(f"{where} needs a (channels, height, width) input, got shape {shape}")
        if layer.layer_type in PRESETS:
            preset, shape = _preset(layer.layer_type, shape, where)
            modules.extend(preset)
            continue  # a preset ends in its own activations
        if layer.layer_type == "linear":
            if len(shape) != 1:
                modules.append(nn.Flatten())
                shape = (math.prod(shape),)
            modules.append(nn.Linear(shape[0], layer.layer_dim[0]))
            shape = (layer.layer_dim[0],)
        elif layer.layer_type == "conv2d":
            out_h, out_w = _conv_shape(shape, layer.kernel_size, layer.stride, layer.padding, where)
            modules.append(nn.Conv2d(shape[0], layer.layer_dim[0], layer.kernel_size, layer.stride, layer.padding))
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


__all__ = ["PRESETS", "Activation", "LayerConfig", "build_layers", "init_weights", "layer_list", "layers_field", "parse_layers"]
