"""REINFORCE's ``algo_cfg``: typed defaults with their help texts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from joyrl_core import option


@dataclass
class REINFORCEConfig:
    """``algo_cfg`` of REINFORCE. The policy is an MLP of ``hidden_dims``; the baseline V(s) has the same shape."""

    hidden_dims: list[int] = option([64], "widths of the hidden layers of the policy (and value) network")
    activation: Literal["tanh", "relu"] = option("tanh", "activation after each hidden layer")
    lr: float = option(0.01, "Adam learning rate of the policy", minimum=0.0)
    gamma: float = option(0.99, "discount factor of the reward-to-go", minimum=0.0)
    episodes_per_update: int = option(4, "complete episodes per policy-gradient step", minimum=1)
    baseline: Literal["value", "none"] = option(
        "value", "value: subtract a learned V(s) from the reward-to-go; none: plain reward-to-go"
    )
    value_lr: float = option(0.01, "Adam learning rate of the value baseline", minimum=0.0)
    value_steps: int = option(5, "gradient steps of the value baseline per update", minimum=1)
    normalize_advantages: bool = option(True, "rescale each update's advantages to mean 0, std 1")
    entropy_coef: float = option(0.0, "weight of the entropy bonus in the policy loss", minimum=0.0)
    max_grad_norm: float = option(0.0, "clip the policy's gradient norm to this; 0 = no clipping", minimum=0.0)
    buffer_type: str = option("EPISODES", "buffer component; must hand out whole episodes (EPISODES does)")
    buffer_size: int = option(
        10000, "transitions the buffer holds; at least episodes_per_update * general_cfg.max_step", minimum=1
    )

    def __post_init__(self) -> None:
        if any(width < 1 for width in self.hidden_dims):
            raise ValueError(f"hidden_dims: every width must be >= 1, got {self.hidden_dims}")
        if self.gamma > 1:
            raise ValueError(f"gamma: must lie in [0, 1], got {self.gamma}")
