"""DQN for JoyRL: the ``DQN`` algorithm plugin."""

from joyrl_dqn.config import DQNConfig, LayerConfig

__all__ = ["DQNConfig", "LayerConfig"]
