"""PPO's and A2C's ``algo_cfg``: typed defaults (those of Stable-Baselines3) with their help texts.

The rollout length is the ``ROLLOUT`` buffer's own key ``n_steps`` (it sits in ``algo_cfg`` beside
these); a rollout is ``n_steps x env_cfg.n_envs`` steps. Network keys are layer lists (``joyrl info
layers``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from joyrl_core import LayerConfig, option, parse_layers
from joyrl_core.networks.layers import Init

Schedule = Literal["constant", "linear"]


@dataclass
class ActorCriticConfig:
    """The keys PPO and A2C share."""

    shared_layers: list[LayerConfig] = option(
        [], "trunk shared by actor and critic before their own layers; [] = separate networks (layer list)")
    actor_layers: list[LayerConfig] = option(
        [{"layer_type": "linear", "layer_dim": [64], "activation": "tanh"}] * 2,
        "the policy's layers, before its head (layer list; see `joyrl info layers`); [] only with shared_layers")
    critic_layers: list[LayerConfig] = option(
        [{"layer_type": "linear", "layer_dim": [64], "activation": "tanh"}] * 2,
        "the value function's layers, before its head (layer list); [] only with shared_layers")
    init: Init = option("orthogonal", "orthogonal: SB3's init (gain sqrt 2, policy head 0.01, value head 1); default: torch's")
    log_std_init: float = option(0.0, "continuous actions: initial log standard deviation of the Gaussian policy")
    use_sde: bool = option(
        False, "continuous actions: gSDE, exploration noise linear in the policy's last features (Raffin et al. 2021)")
    sde_sample_freq: int = option(
        -1, "use_sde: redraw the noise matrix every this many steps; -1 = once per rollout", minimum=-1)
    lr: float = option(3e-4, "learning rate (the start value with lr_schedule: linear)", minimum=0.0)
    lr_schedule: Schedule = option("constant", "linear: anneal lr to 0 over general_cfg.max_env_steps")
    optimizer: Literal["adam", "rmsprop"] = option("adam", "optimizer of actor and critic")
    optimizer_eps: float = option(1e-5, "epsilon of the optimizer (SB3: 1e-5)", minimum=0.0)
    gamma: float = option(0.99, "discount factor", minimum=0.0, maximum=1.0)
    gae_lambda: float = option(0.95, "GAE(lambda): 1 = Monte-Carlo advantages, 0 = one-step TD", minimum=0.0, maximum=1.0)
    normalize_advantage: bool = option(True, "rescale each minibatch's advantages to mean 0, std 1")
    ent_coef: float = option(0.0, "weight of the entropy bonus", minimum=0.0)
    vf_coef: float = option(0.5, "weight of the value loss", minimum=0.0)
    max_grad_norm: float = option(0.5, "clip the gradient norm to this; 0 = no clipping", minimum=0.0)
    buffer_type: str = option("ROLLOUT", "buffer component; must offer ordered rollouts with extras (ROLLOUT does)")
    fast_path: Literal["auto", "off"] = option(
        "auto", "auto: the CPU speed path of joyrl_ppo/fast.py (same numbers: explicit gradients of two plain MLPs, "
        "no autograd graph; other networks and GPUs keep autograd); off: the plain autograd update of joyrl_ppo/ppo.py")

    def __post_init__(self) -> None:
        # With a shared trunk the heads may sit on it directly (SB3's CnnPolicy: actor_layers: []).
        optional = ("shared_layers", "actor_layers", "critic_layers") if self.shared_layers else ("shared_layers",)
        for key in ("shared_layers", "actor_layers", "critic_layers"):
            layers = getattr(self, key)
            setattr(self, key, parse_layers(layers, key) if layers or key not in optional else [])


@dataclass
class PPOConfig(ActorCriticConfig):
    """``algo_cfg`` of PPO (Schulman et al., 2017)."""

    n_epochs: int = option(10, "passes over each rollout", minimum=1)
    batch_size: int = option(64, "minibatch size of each gradient step", minimum=1)
    clip_range: float = option(0.2, "clip the probability ratio to [1 - clip_range, 1 + clip_range]", minimum=0.0)
    clip_schedule: Schedule = option("constant", "linear: anneal clip_range to 0 over general_cfg.max_env_steps")
    clip_range_vf: float | None = option(
        None, "clip the value update around the rollout's values by this much; null = no value clipping", minimum=0.0)
    target_kl: float | None = option(
        None, "stop a rollout's epochs when the approximate KL exceeds 1.5 x this; null = never", minimum=0.0)


@dataclass
class A2CConfig(ActorCriticConfig):
    """``algo_cfg`` of A2C (Mnih et al., 2016): one gradient step on each whole rollout, no clipping."""

    lr: float = option(7e-4, "learning rate (the start value with lr_schedule: linear)", minimum=0.0)
    optimizer: Literal["adam", "rmsprop"] = option("rmsprop", "optimizer of actor and critic (SB3's A2C: RMSprop)")
    gae_lambda: float = option(1.0, "GAE(lambda): 1 = Monte-Carlo advantages, 0 = one-step TD", minimum=0.0, maximum=1.0)
    normalize_advantage: bool = option(False, "rescale each rollout's advantages to mean 0, std 1")
