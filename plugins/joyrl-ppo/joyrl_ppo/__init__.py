"""PPO and A2C for JoyRL: on-policy actor-critic on the core's ``ROLLOUT`` buffer."""

from joyrl_ppo.config import A2CConfig, PPOConfig

__all__ = ["A2CConfig", "PPOConfig"]
