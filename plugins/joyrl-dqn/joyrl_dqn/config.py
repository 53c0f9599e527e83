"""DQN's ``algo_cfg``: typed defaults, as in the product document's example."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from joyrl_core import option

Activation = Literal["relu", "tanh", "sigmoid", "elu", "leaky_relu", "gelu", "none"]


@dataclass
class LayerConfig:
    """One hidden layer of the Q-network."""

    layer_type: Literal["linear"] = option("linear", "layer type")
    layer_dim: list[int] = option([256], "output width of the layer, as a one-element list")
    activation: Activation = option("relu", "activation after the layer")

    def __post_init__(self) -> None:
        if len(self.layer_dim) != 1 or self.layer_dim[0] < 1:
            raise ValueError(f"layer_dim: expected one positive width such as [256], got {self.layer_dim}")


@dataclass
class DQNConfig:
    """``algo_cfg`` of DQN. The Q-network is ``value_layers`` followed by a linear head per action."""

    value_layers: list[LayerConfig] = option(
        [{"layer_type": "linear", "layer_dim": [256], "activation": "relu"}] * 2,
        "hidden layers of the Q-network, input to output",
    )
    batch_size: int = option(64, "transitions per gradient step", minimum=1)
    buffer_type: str = option("REPLAY_QUE", "replay buffer component (see `joyrl list-plugins --kind buffer`)")
    buffer_size: int = option(100000, "replay buffer capacity in transitions", minimum=1)
    epsilon_start: float = option(0.95, "exploration rate at the first env step", minimum=0.0)
    epsilon_end: float = option(0.01, "exploration rate it decays to", minimum=0.0)
    epsilon_decay: float = option(500, "env steps of exponential decay: eps = end + (start-end)*exp(-t/decay)", minimum=1e-9)
    gamma: float = option(0.95, "discount factor", minimum=0.0)
    lr: float = option(0.0001, "Adam learning rate", minimum=0.0)
    target_update: int = option(4, "copy the Q-network to the target network every this many updates", minimum=1)

    def __post_init__(self) -> None:
        # Dataclass defaults cannot hold dataclass instances in a list; build them here.
        self.value_layers = [LayerConfig(**layer) if isinstance(layer, dict) else layer for layer in self.value_layers]
        if not self.value_layers:
            raise ValueError("value_layers: at least one hidden layer is required")
        if self.epsilon_start > 1 or self.epsilon_end > 1:
            raise ValueError("epsilon_start: exploration rates must lie in [0, 1]")
        if self.gamma > 1:
            raise ValueError(f"gamma: must lie in [0, 1], got {self.gamma}")
