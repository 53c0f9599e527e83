"""``algo_cfg`` of SAC, TD3 and DDPG: typed defaults.

The defaults are SB3's (``SAC``, ``TD3``, ``DDPG``) where SB3 has the key, so a config written for one
reads the same here. DDPG is TD3 with its three switches off (one critic, no target smoothing, no
delay), as in SB3 and in Fujimoto et al.'s "our DDPG".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from joyrl_core import LayerConfig, layers_field, option, parse_layers


@dataclass
class OffPolicyConfig:
    """What SAC, TD3 and DDPG share: networks, replay, cadence, target networks, speed switches.

    Networks (SB3's ``CnnPolicy`` for SAC/TD3): the actor is ``encoder_layers`` then ``actor_layers``; the
    critics are one ``encoder_layers`` encoder, shared by the twin Q-heads, whose features are joined by
    the action before each head's ``critic_layers``. Actor and critics have separate encoders, each
    trained by its own loss."""

    encoder_layers: list[LayerConfig] = option(
        [], "observation encoder (a layer list, see `joyrl info layers`) in front of the actor, and another in front of "
        "the critics, shared by their Q-heads; each learns from its own network's loss. For images e.g. "
        "[{layer_type: nature_cnn}, {layer_type: linear, layer_dim: [512]}]; uint8 frames are stored as they are "
        "and scaled to [0, 1] by the network; [] = the flattened observation")
    actor_layers: list[LayerConfig] = layers_field(
        256, 256, help="hidden linear layers of the actor on the encoder's features, input to output")
    critic_layers: list[LayerConfig] = layers_field(
        256, 256, help="hidden linear layers of each critic Q(s, a); the input is the critic encoder's features "
        "(the flattened obs without encoder_layers) and the action")
    lr: float = option(3e-4, "Adam learning rate of actor, critics (and SAC's alpha) unless set apart", minimum=0.0)
    actor_lr: float | None = option(None, "Adam learning rate of the actor; null = lr", minimum=0.0)
    critic_lr: float | None = option(None, "Adam learning rate of the critics; null = lr", minimum=0.0)
    batch_size: int = option(256, "transitions per gradient step", minimum=1)
    buffer_type: str = option("REPLAY_QUE", "replay buffer component: REPLAY_QUE (uniform), FRAME_QUE (stacked-frame "
                              "observations, each frame stored once)")
    buffer_size: int = option(1_000_000, "replay buffer capacity in transitions", minimum=1)
    gamma: float = option(0.99, "discount factor", minimum=0.0, maximum=1.0)
    tau: float = option(0.005, "Polyak rate of the target networks: target += tau * (online - target)",
                        minimum=0.0, maximum=1.0)
    learning_starts: int = option(100, "env steps of uniform random actions before learning starts", minimum=0)
    train_freq: int = option(1, "learn every this many env steps (counted over all envs)", minimum=1)
    gradient_steps: int = option(1, "gradient steps each time it learns", minimum=1)
    batched_critics: bool = option(
        True, "speed: evaluate the critics' heads as one batched network (same values and gradients; fused.py)")
    fused_adam: bool = option(True, "speed: torch's fused Adam kernel where it exists (same update, one kernel)")

    def __post_init__(self) -> None:
        self.encoder_layers = parse_layers(self.encoder_layers, "encoder_layers") if self.encoder_layers else []
        self.actor_layers = parse_layers(self.actor_layers, "actor_layers")
        self.critic_layers = parse_layers(self.critic_layers, "critic_layers")
        for key in ("actor_layers", "critic_layers"):
            other = [layer.layer_type for layer in getattr(self, key) if layer.layer_type != "linear"]
            if other:
                raise ValueError(f"{key}: only linear layers are allowed, got {other[0]}; put convolutions, flatten and "
                                 "encoder presets in encoder_layers (the critics join the action to its features)")
        if self.tau == 0:
            raise ValueError("tau: must lie in (0, 1]; 0 would never update the target networks")

    @property
    def actor_learning_rate(self) -> float:
        return self.lr if self.actor_lr is None else self.actor_lr

    @property
    def critic_learning_rate(self) -> float:
        return self.lr if self.critic_lr is None else self.critic_lr


@dataclass
class SACConfig(OffPolicyConfig):
    """``algo_cfg`` of SAC (Haarnoja et al., 2018, with automatic entropy tuning)."""

    alpha: float | None = option(None, "fixed entropy coefficient; null = tuned automatically towards target_entropy",
                                 minimum=0.0)
    alpha_init: float = option(1.0, "starting entropy coefficient when it is tuned", minimum=0.0)
    alpha_lr: float | None = option(None, "Adam learning rate of log(alpha); null = lr", minimum=0.0)
    target_entropy: float | None = option(None, "entropy the tuning aims at; null = -dim(A)")
    log_std_min: float = option(-20.0, "lower clamp of the actor's log standard deviation")
    log_std_max: float = option(2.0, "upper clamp of the actor's log standard deviation")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.alpha_init <= 0:
            raise ValueError(f"alpha_init: must be > 0 (it is tuned in log space), got {self.alpha_init}")
        if self.log_std_min >= self.log_std_max:
            raise ValueError(f"log_std_min: must be below log_std_max ({self.log_std_max}), got {self.log_std_min}")

    @property
    def alpha_learning_rate(self) -> float:
        return self.lr if self.alpha_lr is None else self.alpha_lr


@dataclass
class TD3Config(OffPolicyConfig):
    """``algo_cfg`` of TD3 (Fujimoto et al., 2018); exploration noise is added in the [-1, 1] action scale."""

    twin_critics: bool = option(True, "two critics, the target takes their minimum (clipped double Q)")
    policy_delay: int = option(2, "update the actor and the targets every this many critic updates", minimum=1)
    target_policy_noise: float = option(0.2, "std of the Gaussian noise on the target action (smoothing); 0 = none",
                                        minimum=0.0)
    target_noise_clip: float = option(0.5, "the target action noise is clipped to +-this", minimum=0.0)
    exploration_noise: Literal["normal", "ou"] = option(
        "normal", "acting noise: normal (Gaussian) or ou (Ornstein-Uhlenbeck, one process per env, never reset: the agent does not see episode ends)")
    noise_std: float = option(0.1, "std (sigma) of the acting noise at the start", minimum=0.0)
    noise_std_end: float | None = option(None, "std the acting noise decays to linearly; null = constant", minimum=0.0)
    noise_decay_steps: int = option(100_000, "env steps over which the acting noise decays to noise_std_end",
                                    minimum=1)
    ou_theta: float = option(0.15, "Ornstein-Uhlenbeck mean reversion rate", minimum=0.0)
    ou_dt: float = option(1e-2, "Ornstein-Uhlenbeck time step", minimum=0.0)


@dataclass
class DDPGConfig(TD3Config):
    """``algo_cfg`` of DDPG (Lillicrap et al., 2016): TD3's machinery, its switches off."""

    twin_critics: bool = option(False, "two critics, the target takes their minimum (TD3's clipped double Q)")
    policy_delay: int = option(1, "update the actor and the targets every this many critic updates", minimum=1)
    target_policy_noise: float = option(0.0, "std of the Gaussian noise on the target action (TD3's smoothing)",
                                        minimum=0.0)
