"""DQN for JoyRL: the ``DQN`` algorithm plugin (double, dueling, n-step) and the ``PER_QUE`` buffer."""

from joyrl_dqn.config import DQNConfig, LayerConfig, PERConfig

__all__ = ["DQNConfig", "LayerConfig", "PERConfig"]
