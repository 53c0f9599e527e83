"""``algo_cfg`` of BC and CQL: typed defaults, tuned on CartPole datasets of 20 to 100 episodes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from joyrl_core import LayerConfig, dataset_field, layers_field, option, parse_layers

_NO_DATASET = ("dataset: {name} learns from a dataset: list trajectory files or task folders (globs allowed), "
               "or minari:<dataset id or path>, e.g. dataset: [tasks/Test_CartPole-v1_DQN_*]")


@dataclass
class BCConfig:
    """Behaviour cloning: a policy fitted to the dataset's actions by maximum likelihood."""

    dataset: list[str] = dataset_field()
    policy_layers: list[LayerConfig] = layers_field(
        256, 256, help="layers of the policy, input to output; image observations: start with convolutions")
    continuous_loss: Literal["gaussian", "mse"] = option(
        "gaussian", "continuous actions: gaussian (log-likelihood, learned state-independent log-std) or mse "
                    "(squared error of a deterministic policy)")
    batch_size: int = option(256, "transitions per gradient step", minimum=1)
    lr: float = option(0.001, "Adam learning rate", minimum=0.0)
    buffer_type: str = option("REPLAY_QUE", "buffer the dataset is read into (sized for it)")

    def __post_init__(self) -> None:
        if not self.dataset:
            raise ValueError(_NO_DATASET.format(name="BC"))
        self.policy_layers = parse_layers(self.policy_layers, "policy_layers")


@dataclass
class CQLConfig:
    """Conservative Q-learning: DQN's TD loss (continuous actions: SAC's) plus ``alpha`` times the CQL(H)
    penalty. ``double``, ``loss``, ``target_update`` and ``max_grad_norm`` are the discrete variant's."""

    dataset: list[str] = dataset_field()
    value_layers: list[LayerConfig] = layers_field(
        256, 256, help="layers of the Q-network, input to output (image observations: start with convolutions); "
        "continuous actions: linear layers of each of the two critics Q(s, a) on encoder_layers' features and the action")
    encoder_layers: list[LayerConfig] = option(
        [], "continuous actions: observation encoder of the actor, and another of the critics (joyrl-sac's "
        "encoder_layers, e.g. convolutions for images); [] = the flattened observation")
    alpha: float = option(1.0, "weight of the conservative penalty logsumexp_a Q(s, a) - Q(s, a_data); 0 = DQN "
                               "(continuous actions: SAC)", minimum=0.0)
    actor_layers: list[LayerConfig] = layers_field(
        256, 256, help="continuous actions: hidden layers of the SAC actor (joyrl-sac's squashed Gaussian)")
    actor_lr: float = option(0.0001, "continuous actions: Adam learning rate of the actor and the entropy "
                                     "coefficient", minimum=0.0)
    n_action_samples: int = option(10, "continuous actions: actions per state of each kind (uniform, policy at s, "
                                       "policy at s') in the penalty's logsumexp", minimum=1)
    gamma: float = option(0.99, "discount factor", minimum=0.0, maximum=1.0)
    batch_size: int = option(256, "transitions per gradient step", minimum=1)
    lr: float = option(0.001, "Adam learning rate", minimum=0.0)
    target_update: int = option(1, "update the target network every this many gradient steps (see tau)", minimum=1)
    tau: float = option(0.005, "target update rate: target += tau * (online - target); 1.0 = hard copy",
                        minimum=0.0, maximum=1.0)
    double: bool = option(True, "Double DQN targets: the online network picks the next action, the target values it")
    loss: Literal["mse", "huber"] = option("huber", "TD loss: mse, or huber (smooth L1, delta 1)")
    max_grad_norm: float | None = option(10.0, "clip the gradient's global L2 norm to this; null = no clipping",
                                         minimum=0.0)
    buffer_type: str = option("REPLAY_QUE", "buffer the dataset is read into (sized for it)")

    def __post_init__(self) -> None:
        if not self.dataset:
            raise ValueError(_NO_DATASET.format(name="CQL"))
        if self.tau == 0:
            raise ValueError("tau: must lie in (0, 1]; 0 would never update the target network")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            raise ValueError(f"max_grad_norm: must be > 0 or null, got {self.max_grad_norm}")
        self.value_layers = parse_layers(self.value_layers, "value_layers")
        self.actor_layers = parse_layers(self.actor_layers, "actor_layers")
        self.encoder_layers = parse_layers(self.encoder_layers, "encoder_layers") if self.encoder_layers else []
