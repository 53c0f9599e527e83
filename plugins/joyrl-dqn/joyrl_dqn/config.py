"""DQN's ``algo_cfg`` and ``PER_QUE``'s options: typed defaults, as in the product document's example.

The defaults keep the seed's behaviour: one gradient step per env step from the first full batch on,
MSE loss, a hard target copy every ``target_update`` gradient steps, vanilla (not double, not dueling)
one-step DQN. Every variant is a switch: ``double``, ``dueling``, ``n_step``, ``buffer_type: PER_QUE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from joyrl_core import LayerConfig, PriorityConfig, layers_field, option, parse_layers


@dataclass
class DQNConfig:
    """``algo_cfg`` of DQN. The Q-network is ``value_layers`` followed by a linear head per action
    (with ``dueling``: ``value_layers`` is a shared trunk followed by a value and an advantage head)."""

    value_layers: list[LayerConfig] = layers_field(256, 256, help="hidden layers of the Q-network, input to output")
    batch_size: int = option(64, "transitions per gradient step", minimum=1)
    buffer_type: str = option("REPLAY_QUE", "replay buffer component: REPLAY_QUE (uniform), PER_QUE (prioritized), "
                              "FRAME_QUE / FRAME_PER_QUE (stacked-frame observations, each frame stored once)")
    buffer_size: int = option(100000, "replay buffer capacity in transitions", minimum=1)
    epsilon_start: float = option(0.95, "exploration rate at the first env step", minimum=0.0, maximum=1.0)
    epsilon_end: float = option(0.01, "exploration rate it decays to", minimum=0.0, maximum=1.0)
    epsilon_decay: float = option(
        500, "env steps of decay: exp: eps = end + (start-end)*exp(-t/decay); linear: reaches end at t = decay",
        minimum=1e-9,
    )
    epsilon_schedule: Literal["exp", "linear"] = option("exp", "epsilon decay: exp (the product's) or linear (SB3's)")
    gamma: float = option(0.95, "discount factor", minimum=0.0, maximum=1.0)
    lr: float = option(0.0001, "Adam learning rate", minimum=0.0)
    target_update: int = option(4, "update the target network every this many gradient steps (see tau)", minimum=1)
    tau: float = option(1.0, "target update rate: target += tau * (online - target); 1.0 = hard copy", minimum=0.0, maximum=1.0)
    double: bool = option(False, "Double DQN: the online network picks the next action, the target network values it")
    dueling: bool = option(False, "dueling heads: Q = V + A - mean(A) on top of value_layers")
    n_step: int = option(1, "n-step returns: bootstrap after this many env steps of the same env", minimum=1)
    train_freq: int = option(1, "learn every this many env steps (counted over all envs)", minimum=1)
    gradient_steps: int = option(1, "gradient steps each time it learns", minimum=1)
    learning_starts: int = option(0, "env steps before the first gradient step (and at least batch_size stored)", minimum=0)
    loss: Literal["mse", "huber"] = option("mse", "TD loss: mse, or huber (smooth L1, delta 1)")
    max_grad_norm: float | None = option(None, "clip the gradient's global L2 norm to this; null = no clipping", minimum=0.0)
    fast_path: Literal["auto", "off"] = option(
        "auto", "auto: the speed paths of joyrl_dqn/fast.py (same numbers, fewer torch ops; CPU parts on CPU; "
        "channels-last convolutions, equal to float rounding); "
        "off: the plain autograd DQN of joyrl_dqn/dqn.py")

    def __post_init__(self) -> None:
        self.value_layers = parse_layers(self.value_layers, "value_layers")
        if self.tau == 0:
            raise ValueError("tau: must lie in (0, 1]; 0 would never update the target network")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            raise ValueError(f"max_grad_norm: must be > 0 or null, got {self.max_grad_norm}")


# ``PER_QUE``'s options are the core's prioritized-replay options (shared with ``FRAME_PER_QUE``).
PERConfig = PriorityConfig
