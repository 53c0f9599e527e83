"""SAC, TD3 and DDPG for JoyRL (the ``joyrl-sac`` distribution)."""

from joyrl_sac.config import DDPGConfig, OffPolicyConfig, SACConfig, TD3Config

__all__ = ["DDPGConfig", "OffPolicyConfig", "SACConfig", "TD3Config"]
